//! Rebuild when the embedded web client changes: `include_dir!` does not
//! tell cargo which files it read.

fn main() {
    println!("cargo:rerun-if-changed=../web-client");
    println!("cargo:rerun-if-changed=../migrations");
}
