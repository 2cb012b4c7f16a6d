//! A component's child process: spawning, its output as log lines, the marker lines the Python
//! bootstrap writes, exit tracking, and SIGTERM → grace → SIGKILL.

use std::collections::VecDeque;
use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::log::MAX_LINE;

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line a component wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentLogLine {
    pub component_id: String,
    pub pid: u32,
    pub stream: LogStream,
    pub line: String,
}

/// Receives every output line of every component (the worker feeds them into its log). Called
/// from the reader tasks: it must not block.
pub type LogSink = Arc<dyn Fn(ComponentLogLine) + Send + Sync>;

/// Lines starting with this are messages from the bootstrap to the host, not log output.
pub const MARKER: &str = "@@crossbar-component ";
/// How many of the last output lines are kept for error messages.
const TAIL_LINES: usize = 20;

/// How a child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    fn from_status(s: ExitStatus) -> ExitInfo {
        use std::os::unix::process::ExitStatusExt as _;
        ExitInfo {
            code: s.code(),
            signal: s.signal(),
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            _ => f.write_str("ended"),
        }
    }
}

/// What the Python bootstrap reported on its marker lines.
#[derive(Clone, Debug, PartialEq)]
pub enum BootstrapSignal {
    Nothing,
    /// The session joined and `onJoin` finished.
    Ready {
        session: Option<u64>,
    },
    /// It could not start: an error URI and a readable message.
    Error {
        uri: String,
        message: String,
    },
}

/// The last lines of a child's output, for error messages.
#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: &str) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line.to_owned());
    }

    /// The kept lines, joined, or `None` when there are none.
    pub fn text(&self) -> Option<String> {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (!t.is_empty()).then(|| t.iter().cloned().collect::<Vec<_>>().join("\n"))
    }
}

/// A running child process. Its exit is reaped by a task of its own; signals go by pid and only
/// while the child has not been reaped (so a recycled pid is never hit).
pub struct ChildProcess {
    pub pid: u32,
    pub exited: watch::Receiver<Option<ExitInfo>>,
    pub signal: watch::Receiver<BootstrapSignal>,
    pub tail: Tail,
}

/// The pipes the caller asked to keep.
pub struct Pipes {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
}

/// Spawns `cmd`. stderr always goes to the log; stdout goes to the log too unless
/// `keep_stdout` (it is the WAMP wire then). stdin is piped when `pipe_stdin`, else /dev/null.
pub fn spawn(
    mut cmd: Command,
    component_id: &str,
    sink: LogSink,
    pipe_stdin: bool,
    keep_stdout: bool,
) -> std::io::Result<(ChildProcess, Pipes)> {
    cmd.stdin(if pipe_stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // A worker that dies must not leave components behind.
    .kill_on_drop(true);
    let mut child: Child = cmd.spawn()?;
    let pid = child.id().unwrap_or_default();
    let tail = Tail::default();
    let (sig_tx, sig_rx) = watch::channel(BootstrapSignal::Nothing);
    let sig_tx = Arc::new(sig_tx);
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(
            err,
            component_id.to_owned(),
            pid,
            LogStream::Stderr,
            sink.clone(),
            tail.clone(),
            sig_tx.clone(),
        ));
    }
    let mut stdout = child.stdout.take();
    if !keep_stdout && let Some(out) = stdout.take() {
        tokio::spawn(pump(
            out,
            component_id.to_owned(),
            pid,
            LogStream::Stdout,
            sink,
            tail.clone(),
            sig_tx,
        ));
    }
    let stdin = child.stdin.take();
    let (exit_tx, exit_rx) = watch::channel(None);
    let id = component_id.to_owned();
    tokio::spawn(async move {
        let info = match child.wait().await {
            Ok(s) => ExitInfo::from_status(s),
            Err(e) => {
                warn!(component_id = %id, error = %e, "waiting for component process failed");
                ExitInfo {
                    code: None,
                    signal: None,
                }
            }
        };
        debug!(component_id = %id, pid, %info, "component process ended");
        exit_tx.send_replace(Some(info));
    });
    Ok((
        ChildProcess {
            pid,
            exited: exit_rx,
            signal: sig_rx,
            tail,
        },
        Pipes { stdin, stdout },
    ))
}

async fn pump<R: AsyncRead + Unpin>(
    reader: R,
    component_id: String,
    pid: u32,
    stream: LogStream,
    sink: LogSink,
    tail: Tail,
    signal: Arc<watch::Sender<BootstrapSignal>>,
) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Lines are cut at MAX_LINE: the rest of an over-long line is read and dropped, so a
        // runaway child cannot grow this buffer without bound.
        match read_line_bounded(&mut reader, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(s) = line.strip_prefix(MARKER).and_then(parse_marker) {
            signal.send_replace(s);
            continue;
        }
        tail.push(line);
        sink(ComponentLogLine {
            component_id: component_id.clone(),
            pid,
            stream,
            line: line.to_owned(),
        });
    }
}

async fn read_line_bounded<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..n.min(room)]);
        r.consume(n);
        total += n;
        if done {
            return Ok(total);
        }
    }
}

fn parse_marker(json: &str) -> Option<BootstrapSignal> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    match v.get("event")?.as_str()? {
        "ready" => Some(BootstrapSignal::Ready {
            session: v.get("session").and_then(serde_json::Value::as_u64),
        }),
        "error" => Some(BootstrapSignal::Error {
            uri: v
                .get("uri")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(mgmt_api::vocabulary::error::CANNOT_START)
                .to_owned(),
            message: v
                .get("message")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("component failed to start")
                .to_owned(),
        }),
        _ => None,
    }
}

impl ChildProcess {
    pub fn has_exited(&self) -> Option<ExitInfo> {
        *self.exited.borrow()
    }

    /// Resolves when the process has ended.
    pub async fn wait(&self) -> ExitInfo {
        let mut rx = self.exited.clone();
        loop {
            if let Some(info) = *rx.borrow_and_update() {
                return info;
            }
            if rx.changed().await.is_err() {
                // The reaper task is gone without a result: treat as ended.
                return rx.borrow().unwrap_or(ExitInfo {
                    code: None,
                    signal: None,
                });
            }
        }
    }

    /// Waits up to `timeout` for the end.
    pub async fn wait_for(&self, timeout: Duration) -> Option<ExitInfo> {
        tokio::time::timeout(timeout, self.wait()).await.ok()
    }

    fn signal(&self, sig: Signal) {
        if self.has_exited().is_none()
            && let Ok(pid) = i32::try_from(self.pid)
            && pid > 0
        {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    /// SIGTERM, up to `grace` to end, then SIGKILL.
    pub async fn terminate(&self, grace: Duration) -> ExitInfo {
        if let Some(info) = self.has_exited() {
            return info;
        }
        self.signal(Signal::SIGTERM);
        if let Some(info) = self.wait_for(grace).await {
            return info;
        }
        warn!(
            pid = self.pid,
            "component did not end after SIGTERM; killing it"
        );
        self.signal(Signal::SIGKILL);
        self.wait_for(grace).await.unwrap_or(ExitInfo {
            code: None,
            signal: Some(9),
        })
    }
}
