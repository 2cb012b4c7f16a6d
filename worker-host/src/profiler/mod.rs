//! CPU profiles of this process: a sampling profiler (pprof) started for a given time, one
//! profile at a time, with the results kept for `get_profile`.
//!
//! Each profile goes `starting → started → stopping → stopped` (or `failed`); every change is
//! sent as a [`ProfileEvent`] for the management API to publish. The profiler is a process-wide
//! signal handler, hence one profile at a time in the whole process.

mod sampler;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::{mpsc as tokio_mpsc, watch};
use tracing::{info, warn};

use mgmt_api::vocabulary::{Status, error};

pub use sampler::{FREQUENCY_HZ, ProfileOutput};

/// The profiler's id, and the names it also answers to (`vmprof`: Crossbar.io's default).
pub const PPROF: &str = "pprof";
pub const ALIASES: [&str; 1] = ["vmprof"];
/// Allowed run times, in seconds.
pub const MIN_RUNTIME_SECS: f64 = 1.0;
pub const MAX_RUNTIME_SECS: f64 = 3600.0;
/// Finished profiles kept; the oldest go first (a profile holds a flamegraph of up to a few MB).
pub const KEEP_FINISHED: usize = 16;

/// Why a profiling request failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("profile {0} is running: one profile at a time")]
    AlreadyRunning(String),
    #[error("no profile \"{0}\"")]
    NoSuchProfile(String),
    #[error("profile {0} is not running")]
    NotRunning(String),
}

impl ProfileError {
    pub fn error_uri(&self) -> &'static str {
        match self {
            ProfileError::InvalidArgument(_) => error::INVALID_ARGUMENT,
            ProfileError::AlreadyRunning(_) => error::ALREADY_RUNNING,
            ProfileError::NoSuchProfile(_) => error::NO_SUCH_OBJECT,
            ProfileError::NotRunning(_) => error::NOT_RUNNING,
        }
    }
}

/// What is known about one profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileInfo {
    pub id: String,
    pub profiler: String,
    pub runtime: f64,
    pub status: Status,
    /// RFC 3339 times.
    pub started: String,
    pub ended: Option<String>,
    pub samples: u64,
    pub error: Option<String>,
}

impl ProfileInfo {
    pub fn is_running(&self) -> bool {
        matches!(
            self.status,
            Status::Starting | Status::Started | Status::Stopping
        )
    }

    /// The profile as JSON, without its data.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "profiler": self.profiler,
            "runtime": self.runtime,
            "status": self.status.as_str(),
            "started": self.started,
            "ended": self.ended,
            "samples": self.samples,
            "error": self.error,
        })
    }
}

/// A status change of a profile.
#[derive(Clone, Debug)]
pub struct ProfileEvent {
    pub info: ProfileInfo,
    /// `None` for the first status (`starting`).
    pub old: Option<Status>,
    pub new: Status,
}

struct Entry {
    info: ProfileInfo,
    output: Option<Arc<ProfileOutput>>,
    /// Ends the sampling early; `None` once the profile is over.
    stop: Option<mpsc::Sender<()>>,
    status: watch::Sender<Status>,
}

#[derive(Default)]
struct State {
    profiles: BTreeMap<String, Entry>,
    finished: VecDeque<String>,
    running: Option<String>,
}

struct Inner {
    state: Mutex<State>,
    /// Unbounded, but bounded in practice: one profile at a time, at most four changes each.
    events: Option<tokio_mpsc::UnboundedSender<ProfileEvent>>,
}

/// The profiles of this process. Cheap to clone.
#[derive(Clone)]
pub struct Profiler {
    inner: Arc<Inner>,
}

impl Default for Profiler {
    fn default() -> Self {
        Profiler::new(None)
    }
}

/// The profile running in this process, whichever [`Profiler`] started it: the sampler is a
/// process-wide signal handler.
static RUNNING: Mutex<Option<String>> = Mutex::new(None);

fn running_slot() -> std::sync::MutexGuard<'static, Option<String>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn new_id() -> String {
    use rand::RngExt as _;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// The canonical profiler name for a requested one.
pub fn resolve_profiler(name: &str) -> Result<&'static str, ProfileError> {
    if name == PPROF || ALIASES.contains(&name) {
        Ok(PPROF)
    } else {
        Err(ProfileError::InvalidArgument(format!(
            "no profiler \"{name}\" (profilers: {PPROF}, alias {})",
            ALIASES.join(", ")
        )))
    }
}

/// Checks a run time in seconds.
pub fn check_runtime(secs: f64) -> Result<Duration, ProfileError> {
    if !(MIN_RUNTIME_SECS..=MAX_RUNTIME_SECS).contains(&secs) {
        return Err(ProfileError::InvalidArgument(format!(
            "runtime must be {MIN_RUNTIME_SECS}..={MAX_RUNTIME_SECS} seconds, not {secs}"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl Profiler {
    /// A profiler sending every status change to `events` (if given).
    pub fn new(events: Option<tokio_mpsc::UnboundedSender<ProfileEvent>>) -> Profiler {
        Profiler {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                events,
            }),
        }
    }

    /// The available profilers, shaped like Crossbar.io's `Profiler.marshal()`.
    pub fn profilers(&self) -> Vec<Value> {
        let st = self.inner.lock();
        let running = st.running.as_ref().and_then(|id| st.profiles.get(id));
        vec![json!({
            "id": PPROF,
            "aliases": ALIASES,
            "config": {"frequency": FREQUENCY_HZ},
            "state": if running.is_some() { "running" } else { "stopped" },
            "started": running.map(|e| e.info.started.clone()),
        })]
    }

    /// Starts a profile of `runtime` (checked with [`check_runtime`]); returns it in status
    /// `starting`. Fails with `AlreadyRunning` while another one runs.
    pub fn start(&self, profiler: &str, runtime: Duration) -> Result<ProfileInfo, ProfileError> {
        let profiler = resolve_profiler(profiler)?;
        check_runtime(runtime.as_secs_f64())?;
        let (stop_tx, stop_rx) = mpsc::channel();
        let info = {
            let mut st = self.inner.lock();
            let mut running = running_slot();
            if let Some(id) = running.as_ref().or(st.running.as_ref()) {
                return Err(ProfileError::AlreadyRunning(id.clone()));
            }
            let id = new_id();
            *running = Some(id.clone());
            let info = ProfileInfo {
                id: id.clone(),
                profiler: profiler.to_owned(),
                runtime: runtime.as_secs_f64(),
                status: Status::Starting,
                started: now(),
                ended: None,
                samples: 0,
                error: None,
            };
            st.profiles.insert(
                id.clone(),
                Entry {
                    info: info.clone(),
                    output: None,
                    stop: Some(stop_tx),
                    status: watch::channel(Status::Starting).0,
                },
            );
            st.running = Some(id);
            info
        };
        self.inner.emit(ProfileEvent {
            info: info.clone(),
            old: None,
            new: Status::Starting,
        });
        let inner = self.inner.clone();
        let id = info.id.clone();
        let spawned = std::thread::Builder::new()
            .name("pprof-profile".into())
            .spawn(move || {
                let result = sampler::run(
                    runtime,
                    stop_rx,
                    || inner.set_status(&id, Status::Started),
                    || inner.set_status(&id, Status::Stopping),
                );
                inner.finish(&id, result);
            });
        if let Err(e) = spawned {
            self.inner.finish(
                &info.id,
                Err(format!("cannot start the profiler thread: {e}")),
            );
        }
        info!(profile = %info.id, runtime = info.runtime, "profile starting");
        Ok(info)
    }

    /// Ends a running profile early (it still renders what it sampled).
    pub fn stop(&self, id: &str) -> Result<ProfileInfo, ProfileError> {
        let st = self.inner.lock();
        let entry = st
            .profiles
            .get(id)
            .ok_or_else(|| ProfileError::NoSuchProfile(id.to_owned()))?;
        match &entry.stop {
            Some(tx) if entry.info.is_running() => {
                let _ = tx.send(());
                Ok(entry.info.clone())
            }
            _ => Err(ProfileError::NotRunning(id.to_owned())),
        }
    }

    /// Waits until profile `id` is over; returns it.
    pub async fn wait(&self, id: &str) -> Result<ProfileInfo, ProfileError> {
        let mut rx = {
            let st = self.inner.lock();
            let entry = st
                .profiles
                .get(id)
                .ok_or_else(|| ProfileError::NoSuchProfile(id.to_owned()))?;
            entry.status.subscribe()
        };
        // The sender lives in the entry; eviction (only of finished profiles) ends the wait too.
        let _ = rx
            .wait_for(|s| matches!(s, Status::Stopped | Status::Failed))
            .await;
        self.get(id).map(|(info, _)| info)
    }

    /// Profiles, newest last; only the running ones (`starting` or `started`, not those
    /// already stopping) if `only_running`.
    pub fn list(&self, only_running: bool) -> Vec<ProfileInfo> {
        let st = self.inner.lock();
        let mut out: Vec<ProfileInfo> = st
            .profiles
            .values()
            .map(|e| e.info.clone())
            .filter(|i| !only_running || matches!(i.status, Status::Starting | Status::Started))
            .collect();
        out.sort_by(|a, b| a.started.cmp(&b.started).then(a.id.cmp(&b.id)));
        out
    }

    /// A profile and, once it has stopped, its data.
    pub fn get(&self, id: &str) -> Result<(ProfileInfo, Option<Arc<ProfileOutput>>), ProfileError> {
        let st = self.inner.lock();
        st.profiles
            .get(id)
            .map(|e| (e.info.clone(), e.output.clone()))
            .ok_or_else(|| ProfileError::NoSuchProfile(id.to_owned()))
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: ProfileEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    fn set_status(&self, id: &str, new: Status) {
        let event = {
            let mut st = self.lock();
            let Some(entry) = st.profiles.get_mut(id) else {
                return;
            };
            let old = entry.info.status;
            entry.info.status = new;
            entry.status.send_replace(new);
            ProfileEvent {
                info: entry.info.clone(),
                old: Some(old),
                new,
            }
        };
        self.emit(event);
    }

    fn finish(&self, id: &str, result: Result<ProfileOutput, String>) {
        let event = {
            let mut st = self.lock();
            if st.running.as_deref() == Some(id) {
                st.running = None;
            }
            let mut running = running_slot();
            if running.as_deref() == Some(id) {
                *running = None;
            }
            drop(running);
            let Some(entry) = st.profiles.get_mut(id) else {
                return;
            };
            let old = entry.info.status;
            entry.stop = None;
            entry.info.ended = Some(now());
            let new = match result {
                Ok(output) => {
                    entry.info.samples = output.samples;
                    entry.output = Some(Arc::new(output));
                    info!(profile = %id, samples = entry.info.samples, "profile stopped");
                    Status::Stopped
                }
                Err(e) => {
                    warn!(profile = %id, error = %e, "profile failed");
                    entry.info.error = Some(e);
                    Status::Failed
                }
            };
            entry.info.status = new;
            entry.status.send_replace(new);
            let event = ProfileEvent {
                info: entry.info.clone(),
                old: Some(old),
                new,
            };
            st.finished.push_back(id.to_owned());
            while st.finished.len() > KEEP_FINISHED {
                if let Some(old_id) = st.finished.pop_front() {
                    st.profiles.remove(&old_id);
                }
            }
            event
        };
        self.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_runtimes() {
        assert_eq!(resolve_profiler("vmprof").unwrap(), PPROF);
        assert_eq!(resolve_profiler("pprof").unwrap(), PPROF);
        assert!(resolve_profiler("yappi").is_err());
        assert!(check_runtime(0.5).is_err());
        assert!(check_runtime(3601.0).is_err());
        assert!(check_runtime(f64::NAN).is_err());
        assert_eq!(check_runtime(2.0).unwrap(), Duration::from_secs(2));
        assert_eq!(new_id().len(), 16);
    }
}
