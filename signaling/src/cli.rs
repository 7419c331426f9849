//! The command line: `cerca serve` (the default), `cerca admin create` for
//! the first account of a fresh install, and `cerca audit verify`.

use std::io::{BufRead, IsTerminal};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::api::users::{create_clinic_record, create_user, Clinic, NewUser};
use crate::audit::{verify, Verdict};
use crate::auth::Role;
use crate::config::Config;
use crate::db::Db;

#[derive(Parser, Debug)]
#[command(name = "cerca", version, about = "Cerca: telemedicine consults for rural Mexico")]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// A `key = value` config file (see README). Flags and environment win over it.
    #[arg(long, env = "CERCA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// postgres://… or sqlite:…; unset means a SQLite file under --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Folder for the default SQLite database.
    #[arg(long, env = "CERCA_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web client, the API and signaling (the default).
    Serve(ServeArgs),
    /// Create the first admin account.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Create specialist, staff or admin accounts from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Register clinics from the command line.
    #[command(subcommand)]
    Clinic(ClinicCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Listen address, e.g. 127.0.0.1:8080.
    #[arg(long, env = "CERCA_ADDR")]
    pub addr: Option<SocketAddr>,
    /// Base URL patients reach the server at (used in join links).
    #[arg(long, env = "CERCA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The media relay's UDP address, e.g. 0.0.0.0:3478 (port 0: any free port).
    #[arg(long, env = "CERCA_MEDIA_ADDR")]
    pub media_addr: Option<SocketAddr>,
    /// The IP browsers reach the media relay at (default: the IP of --media-addr).
    #[arg(long, env = "CERCA_MEDIA_PUBLIC_IP")]
    pub media_public_ip: Option<IpAddr>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an admin account. The password is read from a prompt, or from
    /// the first line of standard input when it is not a terminal.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrador")]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account; the password is read as for `admin create`.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, specialist or staff.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Cédula profesional (required for specialists).
        #[arg(long)]
        cedula: Option<String>,
        #[arg(long)]
        specialty: Option<String>,
        /// The clinic's CLUES (required for staff).
        #[arg(long)]
        clinic: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not one of admin, specialist, staff"))
}

#[derive(Subcommand, Debug)]
pub enum ClinicCommand {
    /// Register a clinic by its CLUES code.
    Create {
        #[arg(long)]
        clues: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        state: String,
        #[arg(long, default_value = "America/Mexico_City")]
        time_zone: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain; exit status 1 and the first broken row if it is broken.
    Verify,
}

/// Resolves the configuration: defaults, then the file, then flags/env.
pub fn load_config(common: &Common, serve: Option<&ServeArgs>) -> anyhow::Result<Config> {
    let mut config = Config::default();
    if let Some(path) = &common.config {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
        config.apply_file(&text)?;
    }
    if let Some(url) = &common.database_url {
        config.database_url = Some(url.clone()).filter(|u| !u.is_empty());
    }
    if let Some(dir) = &common.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(serve) = serve {
        if let Some(addr) = serve.addr {
            config.addr = addr;
        }
        if let Some(url) = &serve.public_url {
            config.public_url = Some(url.trim_end_matches('/').to_string());
        }
        if let Some(addr) = serve.media_addr {
            config.media_addr = addr;
        }
        if let Some(ip) = serve.media_public_ip {
            config.media_public_ip = Some(ip);
        }
    }
    Ok(config)
}

/// Creates an account; the password comes from a prompt or standard input.
pub async fn user_create(config: &Config, mut new: NewUser) -> anyhow::Result<()> {
    new.password = read_password()?;
    let db = Db::connect(config.database_url.as_deref(), &config.data_dir).await?;
    let user = create_user(&db, new)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()));
    db.close().await;
    let user = user?;
    println!(
        "created {} {} (id {}) in the {} database",
        user.role,
        user.email,
        user.id,
        db.backend()
    );
    Ok(())
}

pub async fn clinic_create(config: &Config, clinic: Clinic) -> anyhow::Result<()> {
    let db = Db::connect(config.database_url.as_deref(), &config.data_dir).await?;
    let clinic = create_clinic_record(&db, clinic)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()));
    db.close().await;
    let clinic = clinic?;
    println!("registered clinic {} ({})", clinic.clues, clinic.name);
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 10 characters): ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        anyhow::ensure!(first == second, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// Returns whether the chain is intact.
pub async fn audit_verify(config: &Config) -> anyhow::Result<bool> {
    let db = Db::connect(config.database_url.as_deref(), &config.data_dir).await?;
    let verdict = verify(&db).await?;
    db.close().await;
    Ok(match verdict {
        Verdict::Intact { rows, head } => {
            println!("audit log intact: {rows} rows, head {head}");
            true
        }
        Verdict::Broken { row_id, reason } => {
            println!("audit log BROKEN at row {row_id}: {reason}");
            false
        }
    })
}
