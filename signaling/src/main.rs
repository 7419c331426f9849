//! `cerca`: parses the command line and hands over to the library.

use clap::Parser;
use signaling::api::users::{Clinic, NewUser};
use signaling::auth::Role;
use signaling::cli::{self, AdminCommand, AuditCommand, Cli, ClinicCommand, Command, ServeArgs, UserCommand};
use signaling::{server, AppState};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("CERCA_LOG_FORMAT").is_ok_and(|f| f == "json");
    // Colour codes only for a person at a terminal, never in files or pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }

    let cli = Cli::parse();
    match cli.command {
        None => serve(&cli.common, &ServeArgs::default()).await,
        Some(Command::Serve(args)) => serve(&cli.common, &args).await,
        Some(Command::Admin(AdminCommand::Create { email, name })) => {
            let config = cli::load_config(&cli.common, None)?;
            let new = NewUser {
                email,
                password: String::new(),
                role: Role::Admin,
                full_name: name,
                cedula: None,
                specialty: None,
                clinic_clues: None,
            };
            cli::user_create(&config, new).await
        }
        Some(Command::User(UserCommand::Create {
            email,
            name,
            role,
            cedula,
            specialty,
            clinic,
        })) => {
            let config = cli::load_config(&cli.common, None)?;
            let new = NewUser {
                email,
                password: String::new(),
                role,
                full_name: name,
                cedula,
                specialty,
                clinic_clues: clinic,
            };
            cli::user_create(&config, new).await
        }
        Some(Command::Clinic(ClinicCommand::Create {
            clues,
            name,
            state,
            time_zone,
        })) => {
            let config = cli::load_config(&cli.common, None)?;
            cli::clinic_create(
                &config,
                Clinic {
                    clues,
                    name,
                    state,
                    time_zone,
                },
            )
            .await
        }
        Some(Command::Audit(AuditCommand::Verify)) => {
            let config = cli::load_config(&cli.common, None)?;
            if cli::audit_verify(&config).await? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
    }
}

async fn serve(common: &cli::Common, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = cli::load_config(common, Some(args))?;
    let db = signaling::db::Db::connect(config.database_url.as_deref(), &config.data_dir).await?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    // With port 0 (or no public URL configured), links must name the port actually bound.
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{}", listener.local_addr()?));
    }
    let state = AppState::start(db, config).await?;
    server::run(listener, state, server::shutdown_signal()).await?;
    Ok(())
}
