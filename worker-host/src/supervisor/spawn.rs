//! Starting and stopping one worker process.
//!
//! Every child gets `PR_SET_PDEATHSIG(SIGKILL)` so it dies with the controller even when the
//! controller is killed without a chance to clean up, and its own process group so that
//! stopping a guest also stops what the guest started (a shell script's children).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// What the child's stdin is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdinMode {
    /// A pipe from the controller (native workers: the control channel; guests: a JSON value).
    Piped,
    /// `/dev/null` (a closed stdin).
    Null,
}

/// How to run one worker process. stdout and stderr are always pipes to the controller
/// (`capture_*: false` sends them to `/dev/null` instead).
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The whole environment of the child (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    pub workdir: Option<PathBuf>,
    pub stdin: StdinMode,
    pub capture_stdout: bool,
    pub capture_stderr: bool,
}

/// Spawns the process.
///
/// Must be called on a runtime worker thread (any async task): the parent-death signal fires
/// when the *thread* that forked exits, and tokio's worker threads live as long as the runtime,
/// unlike `spawn_blocking` threads.
pub fn spawn(spec: &ProcessSpec) -> io::Result<Child> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(&spec.env)
        // The service manager's notify socket and watchdog belong to the node, not its workers.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(match spec.stdin {
            StdinMode::Piped => Stdio::piped(),
            StdinMode::Null => Stdio::null(),
        })
        .stdout(pipe_or_null(spec.capture_stdout))
        .stderr(pipe_or_null(spec.capture_stderr))
        // A child handle dropped by accident (a panicking task) must not leave a process.
        .kill_on_drop(true);
    if let Some(dir) = &spec.workdir {
        cmd.current_dir(dir);
    }
    set_death_signal(&mut cmd);
    cmd.spawn()
}

fn pipe_or_null(capture: bool) -> Stdio {
    if capture {
        Stdio::piped()
    } else {
        Stdio::null()
    }
}

#[allow(unsafe_code)]
fn set_death_signal(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe system calls (prctl, setpgid) without allocating.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(io::Error::from)?;
            Ok(())
        });
    }
}

/// Stops a child: SIGTERM to its process group (SIGKILL right away with `kill`), then SIGKILL
/// if it has not exited after `grace`. Returns how it exited.
pub async fn terminate(child: &mut Child, grace: Duration, kill: bool) -> io::Result<ExitStatus> {
    let pgid = child.id();
    if let Some(status) = child.try_wait()? {
        pgid.inspect(|&p| signal_group_of(p, Signal::SIGKILL));
        return Ok(status);
    }
    let first = if kill {
        Signal::SIGKILL
    } else {
        Signal::SIGTERM
    };
    signal_group(child, first);
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(r) => r?,
        Err(_) => {
            tracing::warn!(
                pid = child.id(),
                grace_ms = grace.as_millis() as u64,
                "worker did not exit after SIGTERM; killing it"
            );
            signal_group(child, Signal::SIGKILL);
            child.wait().await?
        }
    };
    // Whatever the worker left behind in its group goes with it.
    pgid.inspect(|&p| signal_group_of(p, Signal::SIGKILL));
    Ok(status)
}

/// Signals the child's process group (its pid: every child leads its own group).
fn signal_group(child: &Child, sig: Signal) {
    if let Some(pid) = child.id() {
        signal_group_of(pid, sig);
    }
}

/// Sends `sig` to process group `pgid` (ignoring "no such process").
pub fn signal_group_of(pgid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(raw), sig);
    }
}
