//! The process API of a native worker: its CPU affinity and other limits, CPU profiles and
//! process information, as `crossbar.worker.<id>.*` procedures on the management realm.
//!
//! Procedures take Crossbar.io's arguments (by position or keyword) and return its shapes where
//! Crossbar.io has the procedure (`get_cpu_affinity`, `set_cpu_affinity(cpus, relative=True)`,
//! `get_profilers`, `start_profiler(profiler="vmprof", runtime=10, start_async=True)`,
//! `get_profile`, `get_process_info`); the limits and the profile listing are ours.
//! Limit and procfs work runs on the blocking pool, profiles on a thread of their own.

mod args;
mod info;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use router_core::Payload;
use router_core::client::{
    CallError, ClientError, Invocation, PublishOptions, RegisterOptions, Registration, Session,
    WeakSession,
};
use router_core::value::{Dict, List, Value};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::limits::{self, LimitChange, LimitError, ProcessLimits};
use crate::profiler::{self, ProfileError, ProfileEvent, ProfileInfo, Profiler};
use crate::vocabulary::{Kind, Status, error, process_event, worker_prefix};

pub use info::process_info;

/// The procedures [`serve_process_api`] registers (after `crossbar.worker.<id>.`).
pub const PROCEDURES: [&str; 11] = [
    "get_cpu_affinity",
    "set_cpu_affinity",
    "get_limits",
    "get_limit",
    "set_limit",
    "get_profilers",
    "start_profiler",
    "stop_profiler",
    "get_profiles",
    "get_profile",
    "get_process_info",
];

/// The process API of this worker process, serving on one session.
pub struct ProcessApi {
    inner: Arc<Inner>,
    registrations: Vec<Registration>,
}

/// How a profile was requested, for Crossbar.io's profile events.
#[derive(Clone, Copy)]
struct ProfileRequest {
    who: Option<u64>,
    start_async: bool,
}

struct Inner {
    prefix: String,
    session: WeakSession,
    /// `None` when this process's limits could not be read at start (the error says why).
    limits: Result<Arc<ProcessLimits>, String>,
    profiler: Profiler,
    /// Locked across `Profiler::start`, so the event publisher never sees a profile before
    /// its request is recorded.
    requests: Mutex<HashMap<String, ProfileRequest>>,
}

/// Registers `crossbar.worker.<worker_id>.{get_cpu_affinity, set_cpu_affinity, get_limits,
/// get_limit, set_limit, get_profilers, start_profiler, stop_profiler, get_profiles,
/// get_profile, get_process_info}` for this process on `session`.
pub async fn serve_process_api(
    session: Session,
    worker_id: &str,
) -> Result<ProcessApi, ClientError> {
    // Unbounded, but bounded in practice: one profile at a time, four status changes each.
    let (tx, rx) = mpsc::unbounded_channel();
    let limits = ProcessLimits::of_self().map(Arc::new).map_err(|e| {
        warn!(worker = worker_id, error = %e, "process limits unavailable");
        e.to_string()
    });
    let inner = Arc::new(Inner {
        prefix: worker_prefix(worker_id),
        session: session.downgrade(),
        limits,
        profiler: Profiler::new(Some(tx)),
        requests: Mutex::new(HashMap::new()),
    });
    tokio::spawn(publish_profile_events(Arc::downgrade(&inner), rx));

    let mut registrations = Vec::with_capacity(PROCEDURES.len());
    for name in PROCEDURES {
        let uri = format!("{}.{name}", inner.prefix);
        let handler_inner = inner.clone();
        let reg = session
            .register(&uri, RegisterOptions::default(), move |inv| {
                let inner = handler_inner.clone();
                async move {
                    dispatch(&inner, name, inv)
                        .await
                        .map(|v| Payload::args(vec![v]))
                }
            })
            .await?;
        registrations.push(reg);
    }
    info!(worker = worker_id, "process API registered");
    Ok(ProcessApi {
        inner,
        registrations,
    })
}

impl ProcessApi {
    pub fn registrations(&self) -> &[Registration] {
        &self.registrations
    }

    /// This process's limits (for the worker's own boot: `options.cpu_affinity`).
    pub fn limits(&self) -> Option<&Arc<ProcessLimits>> {
        self.inner.limits.as_ref().ok()
    }

    pub fn profiler(&self) -> &Profiler {
        &self.inner.profiler
    }

    /// Sets a limit as `set_limit` does, events included (for boot from config: e.g.
    /// `set_limit("cpu_affinity", {"cpus": [0], "relative": true})`). Returns the new setting.
    pub async fn set_limit(
        &self,
        limit_id: &str,
        setting: serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let change = apply_limit(&self.inner, limit_id, setting, None).await?;
        Ok(change.new)
    }
}

async fn dispatch(inner: &Arc<Inner>, name: &str, inv: Invocation) -> Result<Value, CallError> {
    match name {
        "get_cpu_affinity" => {
            let limits = inner.limits()?;
            blocking(move || limits.cpu_affinity().map(|c| json!(c))).await
        }
        "set_cpu_affinity" => set_cpu_affinity(inner, &inv).await,
        "get_limits" => {
            let limits = inner.limits()?;
            blocking(move || limits.get_limits().map(serde_json::Value::Object)).await
        }
        "get_limit" => {
            let limits = inner.limits()?;
            let id = args::string(&inv, 0, "limit_id")?;
            blocking(move || limits.get_limit(&id)).await
        }
        "set_limit" => {
            let id = args::string(&inv, 0, "limit_id")?;
            if args::arg(&inv, 1, "setting").is_none() {
                return Err(args::invalid(
                    "missing argument setting (null removes the limit)",
                ));
            }
            let setting = args::json(&inv, 1, "setting");
            let change = apply_limit(inner, &id, setting, inv.caller()).await?;
            Ok(change.new.into())
        }
        "get_profilers" => Ok(json!(inner.profiler.profilers()).into()),
        "start_profiler" => start_profiler(inner, &inv).await,
        "stop_profiler" => {
            let id = args::string(&inv, 0, "profile_id")?;
            inner.profiler.stop(&id).map_err(profile_error)?;
            // Returns once the profile has ended (as stop_worker does): what the caller
            // lists next no longer shows it running.
            let info = inner.profiler.wait(&id).await.map_err(profile_error)?;
            Ok(info.to_json().into())
        }
        "get_profiles" => {
            let only_running = args::boolean(&inv, 0, "filter_running", false)?;
            let list: List = inner
                .profiler
                .list(only_running)
                .into_iter()
                .map(|p| Value::List(vec![p.id.into(), p.status.as_str().into(), p.ended.into()]))
                .collect();
            Ok(Value::List(list))
        }
        "get_profile" => {
            let id = args::string(&inv, 0, "profile_id")?;
            profile_value(&inner.profiler, &id)
        }
        "get_process_info" => {
            let pid = std::process::id();
            let info = tokio::task::spawn_blocking(move || process_info(pid))
                .await
                .map_err(|e| runtime_error(format!("process info task failed: {e}")))?
                .map_err(|e| runtime_error(format!("cannot read process info: {e}")))?;
            Ok(info.into())
        }
        other => Err(CallError::with_message(
            "wamp.error.no_such_procedure",
            format!("no procedure {other}"),
        )),
    }
}

async fn set_cpu_affinity(inner: &Arc<Inner>, inv: &Invocation) -> Result<Value, CallError> {
    let cpus = args::json(inv, 0, "cpus");
    let list = limits::parse_cpu_list(&cpus).map_err(limit_error)?;
    let relative = args::boolean(inv, 1, "relative", true)?;
    let setting = json!({"cpus": list, "relative": relative});
    let change = apply_limit(inner, limits::CPU_AFFINITY, setting, inv.caller()).await?;
    Ok(change.new.into())
}

/// Applies a limit on the blocking pool, then publishes `on_limit_set(limit_id, old, new)` and,
/// for the CPU affinity, Crossbar.io's `on_cpu_affinity_set` (to all but the caller).
async fn apply_limit(
    inner: &Arc<Inner>,
    limit_id: &str,
    setting: serde_json::Value,
    who: Option<u64>,
) -> Result<LimitChange, CallError> {
    let limits = inner.limits()?;
    let id = limit_id.to_owned();
    let requested = setting.clone();
    let change = tokio::task::spawn_blocking(move || limits.set_limit(&id, &setting))
        .await
        .map_err(|e| runtime_error(format!("limit task failed: {e}")))?
        .map_err(limit_error)?;
    info!(limit = %change.limit_id, old = %change.old, new = %change.new, "limit set");
    let Some(session) = inner.session.upgrade() else {
        return Ok(change);
    };
    let topic = format!("{}.{}", inner.prefix, process_event::ON_LIMIT_SET);
    let args = vec![
        change.limit_id.clone().into(),
        change.old.clone().into(),
        change.new.clone().into(),
    ];
    publish(&session, &topic, args, PublishOptions::default()).await;
    if change.limit_id == limits::CPU_AFFINITY {
        let (cpus, relative) = match &requested {
            serde_json::Value::Object(m) => (
                m.get("cpus").cloned().unwrap_or_default(),
                m.get("relative").and_then(|r| r.as_bool()).unwrap_or(false),
            ),
            other => (other.clone(), false),
        };
        let event = json!({"cpus": cpus, "relative": relative, "affinity": change.new, "who": who});
        let topic = format!("{}.{}", inner.prefix, process_event::ON_CPU_AFFINITY_SET);
        publish(&session, &topic, vec![event.into()], exclude(who)).await;
    }
    Ok(change)
}

async fn start_profiler(inner: &Arc<Inner>, inv: &Invocation) -> Result<Value, CallError> {
    let name = args::string_or(inv, 0, "profiler", "vmprof")?;
    let runtime = args::number(inv, 1, "runtime", 10.0)?;
    // Crossbar.io's keyword is `start_async`; its docs say `async`.
    let start_async = match args::arg(inv, 2, "start_async") {
        Some(_) => args::boolean(inv, 2, "start_async", true)?,
        None => args::boolean(inv, usize::MAX, "async", true)?,
    };
    let runtime = profiler::check_runtime(runtime).map_err(profile_error)?;
    let who = inv.caller();
    let info = {
        let mut requests = inner.requests.lock().unwrap_or_else(|p| p.into_inner());
        let info = inner
            .profiler
            .start(&name, runtime)
            .map_err(profile_error)?;
        requests.insert(info.id.clone(), ProfileRequest { who, start_async });
        info
    };
    if start_async {
        return Ok(started_event(&info, who, start_async).into());
    }
    inner.profiler.wait(&info.id).await.map_err(profile_error)?;
    profile_value(&inner.profiler, &info.id)
}

/// `get_profile`: the profile and, once stopped, its data (`folded`, `flamegraph`, `pprof`);
/// the data keys are null while it runs or if it failed.
fn profile_value(profiler: &Profiler, id: &str) -> Result<Value, CallError> {
    let (info, output) = profiler.get(id).map_err(profile_error)?;
    let Value::Dict(mut d) = Value::from(info.to_json()) else {
        return Err(runtime_error("profile is not a dict"));
    };
    let (folded, flamegraph, pprof) = match output {
        Some(o) => (
            Value::from(o.folded.clone()),
            Value::from(o.flamegraph.clone()),
            Value::Bytes(bytes::Bytes::from(o.pprof.clone())),
        ),
        None => (Value::Null, Value::Null, Value::Null),
    };
    d.insert("folded".into(), folded);
    d.insert("flamegraph".into(), flamegraph);
    d.insert("pprof".into(), pprof);
    Ok(Value::Dict(d))
}

fn started_event(info: &ProfileInfo, who: Option<u64>, start_async: bool) -> serde_json::Value {
    json!({
        "id": info.id,
        "who": who,
        "profiler": info.profiler,
        "runtime": info.runtime,
        "async": start_async,
        "status": info.status.as_str(),
        "started": info.started,
    })
}

/// Publishes every profile status change: `on_profile_status(id, old, new)` and Crossbar.io's
/// `on_profile_started` / `on_profile_finished`. Ends with the profiler or the session.
async fn publish_profile_events(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<ProfileEvent>) {
    while let Some(ev) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { break };
        let Some(session) = inner.session.upgrade() else {
            break;
        };
        let id = ev.info.id.clone();
        let request = {
            let mut requests = inner.requests.lock().unwrap_or_else(|p| p.into_inner());
            let r = requests.get(&id).copied();
            if matches!(ev.new, Status::Stopped | Status::Failed) {
                requests.remove(&id);
            }
            r
        };
        let (who, start_async) = request.map_or((None, true), |r| (r.who, r.start_async));
        let topic = format!("{}.{}", inner.prefix, Kind::Profile.status_event());
        let args = vec![
            id.clone().into(),
            ev.old.map(|s| s.as_str()).into(),
            ev.new.as_str().into(),
        ];
        publish(&session, &topic, args, PublishOptions::default()).await;

        let Some(name) = Kind::Profile.crossbar_event(ev.new, None) else {
            continue;
        };
        let payload = match ev.new {
            Status::Started => started_event(&ev.info, who, start_async),
            _ => json!({"id": id, "error": ev.info.error, "profile": ev.info.to_json()}),
        };
        // Crossbar.io: a synchronous caller gets the result, not the events.
        let opts = if start_async {
            PublishOptions::default()
        } else {
            exclude(who)
        };
        let topic = format!("{}.{name}", inner.prefix);
        publish(&session, &topic, vec![payload.into()], opts).await;
    }
    debug!("profile event publisher ended");
}

async fn publish(session: &Session, topic: &str, args: List, opts: PublishOptions) {
    if let Err(e) = session.publish(topic, args, Dict::new(), opts).await {
        debug!(topic, error = %e, "event not published");
    }
}

fn exclude(who: Option<u64>) -> PublishOptions {
    PublishOptions {
        exclude: who.into_iter().collect(),
        ..PublishOptions::default()
    }
}

impl Inner {
    fn limits(&self) -> Result<Arc<ProcessLimits>, CallError> {
        self.limits.clone().map_err(|e| {
            CallError::with_message(
                error::FEATURE_UNAVAILABLE,
                format!("process limits are unavailable: {e}"),
            )
        })
    }
}

/// Runs a limit read on the blocking pool.
async fn blocking<F>(f: F) -> Result<Value, CallError>
where
    F: FnOnce() -> Result<serde_json::Value, LimitError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| runtime_error(format!("limit task failed: {e}")))?
        .map(Value::from)
        .map_err(limit_error)
}

fn limit_error(e: LimitError) -> CallError {
    CallError::with_message(e.error_uri(), e.to_string())
}

fn profile_error(e: ProfileError) -> CallError {
    CallError::with_message(e.error_uri(), e.to_string())
}

fn runtime_error(msg: impl Into<String>) -> CallError {
    CallError::with_message(error::RUNTIME_ERROR, msg)
}
