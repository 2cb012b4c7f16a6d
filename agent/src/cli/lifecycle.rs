//! `start`, `stop` and `status`: the node process's life, marked by `node.pid`.

use std::time::Duration;

use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::files::report_load_error;
use super::{DirArgs, LogLevel, StartArgs, State, StatusArgs, exit, init_tracing, logging};
use crate::config::load;
use crate::keys::NodeKey;
use crate::node::{self, RunConfig};
use crate::nodedir;
use crate::pidfile::{self, PidFile, Stopped};

/// How long `stop` waits after SIGINT, then after SIGTERM (Crossbar.io: 5 s each).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// `start`: validate the config, write `node.pid`, run the node in the foreground until
/// SIGINT or SIGTERM, remove `node.pid`.
pub(super) fn start(args: &StartArgs) -> u8 {
    logging::init(args.loglevel.filter(), args.log_format);
    let cbdir = nodedir::resolve_cbdir(args.config.dir.cbdir.as_deref());
    match nodedir::ensure_cbdir(&cbdir) {
        Ok(true) => tracing::info!(cbdir = %cbdir.display(), "node directory created"),
        Ok(false) => {}
        Err(e) => {
            eprintln!(
                "Error: cannot create node directory {}: {e}",
                cbdir.display()
            );
            return exit::FAILURE;
        }
    }
    if let Some(pid) = pidfile::running_pid(&cbdir) {
        eprintln!(
            "Error: a node is already running from {} (PID {pid})",
            cbdir.display()
        );
        return exit::FAILURE;
    }
    let loaded = match load::load(&cbdir, args.config.config.as_deref()) {
        Ok(l) => l,
        Err(e) => return report_load_error(&e),
    };
    let key = match NodeKey::load_or_generate(&cbdir) {
        Ok((key, _)) => key,
        Err(e) => {
            eprintln!("Error: {e}");
            return exit::FAILURE;
        }
    };
    let argv: Vec<String> = std::env::args().collect();
    let options = json!({
        "cbdir": cbdir,
        "config": args.config.config,
        "loglevel": format!("{:?}", args.loglevel).to_lowercase(),
    });
    let pid_file = match PidFile::create(&cbdir, &argv, options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}");
            return exit::FAILURE;
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = match shutdown_on_signals(shutdown.clone()) {
            Ok(task) => task,
            Err(e) => return Err(format!("cannot install signal handlers: {e}")),
        };
        let config = RunConfig {
            cbdir: cbdir.clone(),
            config: loaded,
            key,
        };
        let r = node::run(config, shutdown).await.map_err(|e| e.to_string());
        signals.abort();
        r
    });
    // Bounded: tasks the node left behind get this long to notice the runtime is going away.
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Err(e) = pid_file.remove() {
        tracing::warn!("cannot remove node.pid: {e}");
    }
    match result {
        Ok(()) => {
            tracing::info!("node stopped");
            0
        }
        Err(e) => {
            eprintln!("Error: {e}");
            exit::FAILURE
        }
    }
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
fn shutdown_on_signals(
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = shutdown.cancelled() => return,
        };
        tracing::info!("{name} received");
        shutdown.cancel();
    }))
}

/// `stop`: SIGINT, then SIGTERM, then SIGKILL, waiting in between.
pub(super) fn stop(args: &DirArgs) -> u8 {
    init_tracing(LogLevel::Warn);
    let cbdir = nodedir::resolve_cbdir(args.cbdir.as_deref());
    let Some(pid) = pidfile::running_pid(&cbdir) else {
        println!(
            "No node is running from node directory {}.",
            cbdir.display()
        );
        return exit::UNAVAILABLE;
    };
    println!(
        "Stopping the node running from {} (PID {pid}) ...",
        cbdir.display()
    );
    match pidfile::stop(pid, STOP_GRACE) {
        Ok(Stopped::Gracefully) => println!("Process {pid} has exited gracefully."),
        Ok(Stopped::Terminated) => println!("Process {pid} terminated (SIGTERM)."),
        Ok(Stopped::Killed) => println!("Process {pid} killed (SIGKILL)."),
        Err(e) => {
            eprintln!("Error: cannot signal process {pid}: {e}");
            return exit::FAILURE;
        }
    }
    0
}

/// `status`: running or stopped, the node directory and the PID.
pub(super) fn status(args: &StatusArgs) -> u8 {
    init_tracing(LogLevel::Warn);
    let cbdir = nodedir::resolve_cbdir(args.dir.cbdir.as_deref());
    let pid = pidfile::running_pid(&cbdir);
    println!("Node directory: {}", cbdir.display());
    match pid {
        Some(pid) => {
            println!("Status: RUNNING (PID {pid})");
            if let Some(uplink) = super::admin::uplink_summary(&cbdir) {
                println!("Uplink: {uplink}");
            }
        }
        None => println!("Status: STOPPED"),
    }
    let state = if pid.is_some() {
        State::Running
    } else {
        State::Stopped
    };
    match args.assert_state {
        Some(want) if want != state => exit::UNAVAILABLE,
        _ => 0,
    }
}
