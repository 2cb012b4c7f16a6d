//! The `crossbar-edge` command line: Crossbar.io's verbs, parsed with clap and dispatched to
//! [`files`] (init, check, convert, keys, version) and [`lifecycle`] (start, stop, status).

mod admin;
mod files;
mod lifecycle;
mod logging;
mod pair;

pub use logging::LogFormat;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes (sysexits.h).
pub mod exit {
    /// A bad config or bad arguments.
    pub const USAGE: u8 = 64;
    /// `stop`: no node is running; `status --assert`: the assertion failed.
    pub const UNAVAILABLE: u8 = 69;
    /// Anything else that went wrong.
    pub const FAILURE: u8 = 1;
}

#[derive(Debug, Parser)]
#[command(
    name = "crossbar-edge",
    version,
    about = "A Crossbar.io-compatible WAMP edge node"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node directory with the default config and a node key pair.
    Init(DirArgs),
    /// Run the node in the foreground until SIGINT/SIGTERM.
    Start(StartArgs),
    /// Stop the node running from the node directory.
    Stop(DirArgs),
    /// Tell whether a node is running from the node directory.
    Status(StatusArgs),
    /// Validate the node config.
    Check(ConfigArgs),
    /// Convert the node config between JSON and YAML (the source is kept).
    Convert(ConfigArgs),
    /// Print the node's public key (creating the key pair if needed).
    Keys(DirArgs),
    /// Print what an operator needs to pair this node with a crossbar-cdc.
    Pair(pair::PairArgs),
    /// Print version information.
    Version,
    /// List the workers of the running node (through node.sock).
    Workers(DirArgs),
    /// Print a worker's log (through node.sock); `-f` follows it.
    Logs(LogsArgs),
    /// Call a management procedure (through node.sock) and print the result as JSON.
    Call(CallArgs),
    /// Runs a native worker process (started by the node controller, not by hand).
    #[command(name = "_exec_worker", hide = true)]
    ExecWorker(ExecWorkerArgs),
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// The worker ID.
    pub worker: String,
    /// Keep printing new records as they arrive.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// How many past records to print.
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// The procedure URI (`crossbar.get_status`; a leading `crossbar.` may be left out).
    pub procedure: String,
    /// Positional arguments: a JSON list (`'["worker1", true]'`) or a single JSON value.
    pub args: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecWorkerArgs {
    #[arg(long, value_name = "DIR")]
    pub cbdir: PathBuf,
    #[arg(long)]
    pub worker: String,
    #[arg(long = "type", value_enum)]
    pub kind: crate::worker_main::NativeType,
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub loglevel: LogLevel,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// Node directory (overrides $CROSSBAR_DIR and the default ./.crossbar).
    #[arg(long, value_name = "DIR")]
    pub cbdir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// Config file, relative to the node directory (default: config.yaml, else config.json).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Log level.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub loglevel: LogLevel,
    /// Log line format: `plain` (journald-aware) or `json` (for log shippers).
    #[arg(long, value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// Exit with 69 unless the node is in this state.
    #[arg(long = "assert", value_enum)]
    pub assert_state: Option<State>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum State {
    Running,
    Stopped,
}

/// Crossbar.io's log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    None,
    Critical,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn filter(self) -> &'static str {
        match self {
            LogLevel::None => "off",
            LogLevel::Critical | LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

/// Runs a parsed command; what `main` and in-process tests call.
pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Init(a) => files::init(&a),
        Command::Start(a) => lifecycle::start(&a),
        Command::Stop(a) => lifecycle::stop(&a),
        Command::Status(a) => lifecycle::status(&a),
        Command::Check(a) => files::check(&a),
        Command::Convert(a) => files::convert(&a),
        Command::Keys(a) => files::keys(&a),
        Command::Pair(a) => pair::pair(&a),
        Command::Version => files::version(),
        Command::Workers(a) => admin::workers(&a),
        Command::Logs(a) => admin::logs(&a),
        Command::Call(a) => admin::call_cmd(&a),
        Command::ExecWorker(a) => {
            crate::worker_main::exec_worker(a.cbdir, a.worker, a.kind, a.loglevel.filter())
        }
    };
    ExitCode::from(code)
}

/// Installs the global log subscriber (stderr, plain lines). Ignored if one is installed
/// already.
fn init_tracing(level: LogLevel) {
    logging::init(level.filter(), LogFormat::Plain);
}
