//! Test harness: real WebRTC peers ([`media_relay::test_peer`]) on real UDP
//! sockets on 127.0.0.1, talking to a relay through
//! [`media_relay::test_call::Call`], optionally across an emulated link.
//!
//! The peers are str0m itself in normal (non-lite, controlling) mode. That
//! checks the relay's I/O, demultiplexing, renegotiation and forwarding end to
//! end with one WebRTC implementation on both ends; `interop.rs` does the same
//! with webrtc-rs participants (`webrtc_bot`).

// Each test binary compiles this module and uses only part of it.
#[allow(unused_imports)]
pub use link_emulator::{Impairment, LinkProxy};
#[allow(unused_imports)]
pub use media_relay::test_call::*;
pub use media_relay::test_peer::*;
