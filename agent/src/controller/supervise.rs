//! One worker's supervisor: spawn the process, wait until it is ready, watch it, stop it on
//! request, and restart it per its `restart` policy with backoff when it exits.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mgmt_api::vocabulary::{Status, error};
use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use worker_host::log::LogRecord;
use worker_host::supervisor::spawn::signal_group_of;
use worker_host::supervisor::{Backoff, output, pipe, spawn, terminate};

use super::launch::{Output, launch};
use super::watch::DirWatch;
use super::workers::Worker;
use super::{ApiError, Controller, events, realm};
use worker_host::components::RestartPolicy;

/// Records waiting to be published live per worker process; beyond that they are only kept
/// in the log buffer (a worker logging faster than the management realm delivers must not
/// be slowed down by it, nor grow the controller's memory).
const LIVE_LOG_QUEUE: usize = 1024;
/// How long output readers may take to finish after the process exited.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Log lines attached to a `cannot_start` error.
const START_ERROR_LOG_LINES: usize = 50;

enum Outcome {
    /// Stopped on request (`stop_worker`, node shutdown).
    Stopped,
    /// A guest's watched files changed: it was stopped and starts again now.
    Changed(String),
    /// The process ended by itself, or never got ready (`started: false`).
    Exited {
        started: bool,
        success: bool,
        reason: String,
    },
}

/// Runs `worker` until it is stopped for good; `first` gets the outcome of the first start
/// (Crossbar.io's `started_info`, or `cannot_start` with the worker's log).
pub(crate) async fn supervise(
    ctl: Arc<Controller>,
    w: Arc<Worker>,
    first: oneshot::Sender<Result<Value, ApiError>>,
) {
    let mut first = Some(first);
    let mut backoff = Backoff::default();
    loop {
        let t0 = Instant::now();
        let (started, success) = match run_once(&ctl, &w, &mut first).await {
            Outcome::Stopped => {
                ctl.workers.remove(&w);
                break;
            }
            Outcome::Changed(path) => {
                tracing::info!(worker = w.id(), %path, "watched file changed; restarting the guest");
                w.update(|st| st.restarts += 1);
                continue;
            }
            Outcome::Exited {
                started,
                success,
                reason,
            } => {
                tracing::warn!(worker = w.id(), started, %reason, "worker process ended");
                w.update(|st| st.last_exit = Some(reason.clone()));
                if let Some(tx) = first.take().filter(|_| !started) {
                    ctl.set_status(&w, Status::Failed).await;
                    ctl.workers.remove(&w);
                    let log: Vec<Value> = w
                        .log_tail(START_ERROR_LOG_LINES)
                        .into_iter()
                        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                        .collect();
                    let _ = tx.send(Err(ApiError::new(
                        error::CANNOT_START,
                        format!("worker \"{}\" could not start: {reason}", w.id()),
                    )
                    .with_arg(Value::Array(log))));
                    break;
                }
                (started, success)
            }
        };
        let clean = started && success;
        ctl.set_status(
            &w,
            if clean {
                Status::Stopped
            } else {
                Status::Failed
            },
        )
        .await;
        let restart = match w.spec.restart {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !clean,
            RestartPolicy::Never => false,
        };
        if !restart || w.stop.is_cancelled() {
            break;
        }
        let delay = backoff.after_run(t0.elapsed());
        tracing::info!(
            worker = w.id(),
            delay_ms = delay.as_millis() as u64,
            "restarting worker"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {
                w.update(|st| st.restarts += 1);
            }
            _ = w.stop.cancelled() => {
                ctl.set_status(&w, Status::Stopped).await;
                ctl.workers.remove(&w);
                break;
            }
        }
    }
    if w.spec.kind != crate::config::WorkerKind::Guest {
        realm::remove_worker_role(&ctl.realm, w.id());
    }
    w.finished.cancel();
}

/// What ended a wait on a running process.
enum Wake<T> {
    Done(T),
    Exited(std::io::Result<ExitStatus>),
    Stop,
    Timeout,
}

async fn run_once(
    ctl: &Arc<Controller>,
    w: &Arc<Worker>,
    first: &mut Option<oneshot::Sender<Result<Value, ApiError>>>,
) -> Outcome {
    ctl.set_status(w, Status::Starting).await;
    let launch = launch(ctl, &w.spec);
    let ready = launch.native.then(|| w.expect_ready());
    let mut child = match spawn(&launch.process) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Exited {
                started: false,
                success: false,
                reason: format!("cannot run {}: {e}", launch.process.program.display()),
            };
        }
    };
    let pid = child.id().unwrap_or(0);
    w.update(|st| {
        st.pid = Some(pid);
        st.started = None;
    });
    tracing::debug!(worker = w.id(), pid, "worker process spawned");

    let (live_tx, live_rx) = mpsc::channel(LIVE_LOG_QUEUE);
    tokio::spawn(publish_live(ctl.clone(), w.id().to_owned(), live_rx));
    let mut readers = Vec::new();
    if let Some(s) = child.stderr.take() {
        let src = Source {
            native: launch.native,
            fd: 2,
            mode: launch.stderr,
        };
        readers.push(capture(ctl, w, pid, s, src, &live_tx));
    }
    if !launch.native
        && let Some(s) = child.stdout.take()
    {
        let src = Source {
            native: false,
            fd: 1,
            mode: launch.stdout,
        };
        readers.push(capture(ctl, w, pid, s, src, &live_tx));
    }
    drop(live_tx);

    let mut _guest_stdin = None;
    if let Some(ready) = ready {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return fail_start(&mut child, readers, "no pipes to the worker".into()).await;
        };
        let setup = pipe::serve_worker(ctl.router.clone(), w.id(), &w.spec.item, stdin, stdout);
        let serve = match wait(&mut child, w, None, setup).await {
            Wake::Done(Ok(serve)) => serve,
            Wake::Done(Err(e)) => return fail_start(&mut child, readers, e.to_string()).await,
            Wake::Exited(s) => return exited(pid, s, false, readers).await,
            Wake::Stop => return stop(ctl, w, &mut child, readers).await,
            Wake::Timeout => unreachable!("no timeout given"),
        };
        tokio::spawn(serve);
        match wait(&mut child, w, Some(ctl.opts.ready_timeout), ready).await {
            Wake::Done(_) => {}
            Wake::Exited(s) => return exited(pid, s, false, readers).await,
            Wake::Stop => return stop(ctl, w, &mut child, readers).await,
            Wake::Timeout => {
                let why = format!("not ready within {:?}", ctl.opts.ready_timeout);
                return fail_start(&mut child, readers, why).await;
            }
        }
    } else if let Some((value, close)) = launch.stdin_json
        && let Some(mut stdin) = child.stdin.take()
    {
        let mut text = serde_json::to_vec(&value).unwrap_or_default();
        text.push(b'\n');
        if let Err(e) = stdin.write_all(&text).await {
            tracing::warn!(worker = w.id(), error = %e, "cannot write the guest's stdin");
        }
        if !close {
            _guest_stdin = Some(stdin);
        }
    }

    let mut watch = match DirWatch::for_worker(&w.spec.config, &ctl.cbdir) {
        Ok(watch) => watch,
        Err(e) => {
            tracing::warn!(worker = w.id(), error = %e, "cannot watch options.watch directories");
            None
        }
    };
    ctl.set_status(w, Status::Started).await;
    if let Some(tx) = first.take() {
        let _ = tx.send(Ok(events::status_info(w)));
    }
    let changed = async {
        match watch.as_mut() {
            Some(d) => d.changed().await,
            None => std::future::pending().await,
        }
    };
    match wait(&mut child, w, None, changed).await {
        Wake::Exited(s) => exited(pid, s, true, readers).await,
        Wake::Done(path) => {
            stop(ctl, w, &mut child, readers).await;
            Outcome::Changed(path.display().to_string())
        }
        _ => stop(ctl, w, &mut child, readers).await,
    }
}

/// Waits for `fut`, the process's exit, a stop request or the timeout, whichever is first.
async fn wait<T>(
    child: &mut Child,
    w: &Worker,
    timeout: Option<Duration>,
    fut: impl Future<Output = T>,
) -> Wake<T> {
    let expired = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        s = child.wait() => Wake::Exited(s),
        _ = w.stop.cancelled() => Wake::Stop,
        v = fut => Wake::Done(v),
        _ = expired => Wake::Timeout,
    }
}

async fn stop(
    ctl: &Controller,
    w: &Arc<Worker>,
    child: &mut Child,
    readers: Vec<JoinHandle<()>>,
) -> Outcome {
    ctl.set_status(w, Status::Stopping).await;
    let how = match terminate(child, ctl.opts.stop_grace, w.kill_requested()).await {
        Ok(s) => describe(s),
        Err(e) => format!("cannot wait for it: {e}"),
    };
    drain(readers).await;
    w.update(|st| st.last_exit = Some(how));
    ctl.set_status(w, Status::Stopped).await;
    Outcome::Stopped
}

async fn fail_start(child: &mut Child, readers: Vec<JoinHandle<()>>, reason: String) -> Outcome {
    let _ = terminate(child, Duration::from_secs(1), true).await;
    drain(readers).await;
    Outcome::Exited {
        started: false,
        success: false,
        reason,
    }
}

async fn exited(
    pid: u32,
    status: std::io::Result<ExitStatus>,
    started: bool,
    readers: Vec<JoinHandle<()>>,
) -> Outcome {
    // What the worker started in its process group goes with it.
    signal_group_of(pid, Signal::SIGKILL);
    drain(readers).await;
    let (success, reason) = match status {
        Ok(s) => (s.success(), describe(s)),
        Err(e) => (false, format!("cannot wait for it: {e}")),
    };
    Outcome::Exited {
        started,
        success,
        reason,
    }
}

async fn drain(readers: Vec<JoinHandle<()>>) {
    for r in readers {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, r).await;
    }
}

fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(name) => format!("signal {sig} ({name})"),
            Err(_) => format!("signal {sig}"),
        },
        _ => s.to_string(),
    }
}

/// One output stream of a process: tracing JSON (native) or plain lines, its fd, and
/// whether it is logged.
#[derive(Clone, Copy)]
struct Source {
    native: bool,
    fd: u8,
    mode: Output,
}

/// Reads one output stream of the process into log records.
fn capture<R: AsyncRead + Unpin + Send + 'static>(
    ctl: &Arc<Controller>,
    w: &Arc<Worker>,
    pid: u32,
    stream: R,
    source: Source,
    live: &mpsc::Sender<LogRecord>,
) -> JoinHandle<()> {
    let Source { native, fd, mode } = source;
    let (ctl, w, live) = (ctl.clone(), w.clone(), live.clone());
    tokio::spawn(async move {
        output::read_lines(stream, |line| {
            if mode != Output::Log {
                return;
            }
            let record = if native {
                LogRecord::from_native_line(line, w.id(), pid)
            } else {
                let mut r = LogRecord::plain(line, "info", w.id(), pid);
                r.fields.insert("fd".into(), fd.into());
                r
            };
            ctl.keep_log(&w, &record);
            // Full queue: the record is in the buffer, only the live event is skipped.
            let _ = live.try_send(record);
        })
        .await;
    })
}

async fn publish_live(ctl: Arc<Controller>, worker_id: String, mut rx: mpsc::Receiver<LogRecord>) {
    while let Some(r) = rx.recv().await {
        ctl.publish_log(&worker_id, r).await;
    }
}
