//! `crossbar-cdc`: parses the command line and calls the library (`cdc::run`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a bad configuration or command line (`EX_USAGE`).
const EX_USAGE: u8 = 64;

#[derive(Parser)]
#[command(
    name = "crossbar-cdc",
    about = "Crossbar CDC: the management center for crossbar-edge nodes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a CDC directory: a configuration file and the registry database.
    Init {
        /// The CDC directory (default: $CROSSBAR_CDC_DIR, else ./.cdc).
        #[arg(long)]
        cbdir: Option<PathBuf>,
    },
    /// Run the CDC in the foreground until SIGINT or SIGTERM.
    Start {
        #[arg(long)]
        cbdir: Option<PathBuf>,
        /// Log filter (`info`, `debug`, `cdc=debug,router_core=info`, …); default info.
        #[arg(long)]
        loglevel: Option<String>,
    },
    /// Print the version.
    Version,
}

fn cbdir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("CROSSBAR_CDC_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".cdc"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("crossbar-cdc {}", cdc::VERSION);
            ExitCode::SUCCESS
        }
        Command::Init { cbdir: dir } => match cdc::init(&cbdir(dir)) {
            Ok(config) => {
                println!(
                    "initialized CDC directory {} (config {}, registry {}); start it with `crossbar-cdc start --cbdir {}`, it will listen on {}",
                    config.cbdir.display(),
                    config.cbdir.join(cdc::config::CONFIG_FILE).display(),
                    config.database_path().display(),
                    config.cbdir.display(),
                    config.listen.url()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("crossbar-cdc init: {e}");
                ExitCode::from(EX_USAGE)
            }
        },
        Command::Start {
            cbdir: dir,
            loglevel,
        } => {
            init_logging(loglevel.as_deref());
            let config = match cdc::CdcConfig::load(&cbdir(dir)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("crossbar-cdc start: {e}");
                    return ExitCode::from(EX_USAGE);
                }
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("crossbar-cdc start: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(async move {
                let shutdown = tokio_util::sync::CancellationToken::new();
                tokio::spawn(on_signal(shutdown.clone()));
                match cdc::run(config, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("crossbar-cdc start: {e}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
    }
}

fn init_logging(level: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_new(level.unwrap_or("info"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn on_signal(shutdown: tokio_util::sync::CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
