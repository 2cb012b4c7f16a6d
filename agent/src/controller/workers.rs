//! The worker registry: one [`Worker`] per worker id the controller knows, with its status,
//! process id, log buffer and the signals its supervisor listens to.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use mgmt_api::vocabulary::Status;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use worker_host::log::{LogBuffer, LogRecord};

use crate::config::{WorkerConfig, WorkerKind};
use worker_host::components::RestartPolicy;

/// What a worker is, fixed when it is started.
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    pub id: String,
    pub kind: WorkerKind,
    /// The item as written (config file or API call), `${VAR}`s unresolved: what
    /// `save_config` writes back.
    pub raw: Value,
    /// The validated item with `${VAR}`s resolved: what the worker process gets.
    pub item: Value,
    pub restart: RestartPolicy,
    /// The typed item (process options).
    pub config: WorkerConfig,
}

/// The changing part of a worker.
#[derive(Clone, Debug)]
pub struct State {
    pub status: Status,
    pub pid: Option<u32>,
    pub created: SystemTime,
    pub started: Option<SystemTime>,
    /// Restarts by the supervisor since the worker was started.
    pub restarts: u32,
    /// How the last process exited (`exit code 1`, `signal 9 (SIGKILL)`).
    pub last_exit: Option<String>,
}

/// One worker known to the controller.
pub struct Worker {
    pub spec: WorkerSpec,
    /// Position in `save_config`'s output (config order, then start order).
    pub seq: u64,
    /// The session that started it (Crossbar.io's `who`), if any.
    pub who: Option<u64>,
    state: Mutex<State>,
    log: Mutex<LogBuffer>,
    /// Cancelled to stop the worker for good (`stop_worker`, node shutdown).
    pub stop: CancellationToken,
    kill: AtomicBool,
    /// Cancelled when its supervisor has finished (process gone, no restart pending).
    pub finished: CancellationToken,
    /// Fired by the `on_worker_ready` event of the current process.
    ready: Mutex<Option<oneshot::Sender<()>>>,
}

impl Worker {
    pub fn new(spec: WorkerSpec, seq: u64, who: Option<u64>, log_capacity: usize) -> Worker {
        Worker {
            spec,
            seq,
            who,
            state: Mutex::new(State {
                // The supervisor's first step (starting) is published as stopped → starting.
                status: Status::Stopped,
                pid: None,
                created: SystemTime::now(),
                started: None,
                restarts: 0,
                last_exit: None,
            }),
            log: Mutex::new(LogBuffer::new(log_capacity)),
            stop: CancellationToken::new(),
            kill: AtomicBool::new(false),
            finished: CancellationToken::new(),
            ready: Mutex::new(None),
        }
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn kind(&self) -> &'static str {
        self.spec.kind.as_str()
    }

    pub fn state(&self) -> State {
        lock(&self.state).clone()
    }

    /// Changes the state; returns the status before.
    pub fn update(&self, f: impl FnOnce(&mut State)) -> Status {
        let mut st = lock(&self.state);
        let old = st.status;
        f(&mut st);
        old
    }

    /// Is its supervisor still running (a process, or a restart pending)?
    pub fn is_active(&self) -> bool {
        !self.finished.is_cancelled()
    }

    pub fn request_stop(&self, kill: bool) {
        if kill {
            self.kill.store(true, Ordering::SeqCst);
        }
        self.stop.cancel();
    }

    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }

    pub fn push_log(&self, r: LogRecord) {
        lock(&self.log).push(r);
    }

    pub fn log_tail(&self, limit: usize) -> Vec<LogRecord> {
        lock(&self.log).last(limit)
    }

    /// Arms the ready signal for a new process.
    pub fn expect_ready(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *lock(&self.ready) = Some(tx);
        rx
    }

    pub fn fire_ready(&self) {
        if let Some(tx) = lock(&self.ready).take() {
            let _ = tx.send(());
        }
    }

    /// `get_worker`'s answer (Crossbar.io's shape, plus `restarts` and `last_exit`).
    pub fn info(&self) -> Value {
        let st = self.state();
        let now = SystemTime::now();
        let secs = |from: SystemTime, to: SystemTime| {
            to.duration_since(from)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        };
        json!({
            "id": self.id(),
            "pid": st.pid,
            "type": self.kind(),
            "status": st.status.as_str(),
            "created": utcstr(st.created),
            "started": st.started.map(utcstr),
            "startup_time": st.started.map(|s| secs(st.created, s)),
            "uptime": st.started.map(|s| secs(s, now)),
            "restarts": st.restarts,
            "last_exit": st.last_exit,
        })
    }
}

/// Crossbar.io's timestamp format: `2020-07-05T11:49:59.125Z`.
pub fn utcstr(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every worker by id.
#[derive(Default)]
pub struct Registry {
    map: Mutex<BTreeMap<String, Arc<Worker>>>,
    seq: AtomicU64,
}

impl Registry {
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Worker>> {
        lock(&self.map).get(id).cloned()
    }

    /// Adds `worker` unless a worker with its id is active; an inactive one (failed, not
    /// restarting) is replaced. Returns the active one on conflict.
    pub fn insert(&self, worker: Arc<Worker>) -> Result<(), Arc<Worker>> {
        let mut map = lock(&self.map);
        if let Some(w) = map.get(worker.id())
            && w.is_active()
        {
            return Err(w.clone());
        }
        map.insert(worker.id().to_owned(), worker);
        Ok(())
    }

    /// Removes `worker` if it is still the registered one for its id.
    pub fn remove(&self, worker: &Arc<Worker>) {
        let mut map = lock(&self.map);
        if map.get(worker.id()).is_some_and(|w| Arc::ptr_eq(w, worker)) {
            map.remove(worker.id());
        }
    }

    /// All workers, by id.
    pub fn all(&self) -> Vec<Arc<Worker>> {
        lock(&self.map).values().cloned().collect()
    }
}
