//! The process API of a native worker: its CPU affinity and other limits, CPU profiles and
//! process information, as `crossbar.worker.<id>.*` procedures on the management realm.
//!
//! Procedures take Crossbar.io's arguments (by position or keyword) and return its shapes where
//! Crossbar.io has the procedure (`get_cpu_affinity`, `set_cpu_affinity(cpus, relative=True)`,
//! `get_profilers`, `start_profiler(profiler="vmprof", runtime=10, start_async=True)`,
//! `get_profile`, `get_process_info`); the limits and the profile listing are ours.
//! Limit and procfs work runs on the blocking pool, profiles on a thread of their own.

mod info;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use mgmt_api::procedures::process as p;
use mgmt_api::{ApiError, Args, handler};
use router_core::client::{ClientError, PublishOptions, Registration, Session, WeakSession};
use router_core::value::{Dict, List, Value};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::limits::{self, LimitChange, LimitError, ProcessLimits};
use crate::profiler::{self, ProfileError, ProfileEvent, ProfileInfo, Profiler};
use mgmt_api::vocabulary::{Kind, Status, error, process_event, worker_prefix};

pub use info::process_info;

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

    let registrations = mgmt_api::serve(
        &session,
        &inner.prefix,
        &inner,
        &procedures(),
        error::NOT_RUNNING,
    )
    .await?;
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
    ) -> Result<serde_json::Value, ApiError> {
        let change = apply_limit(&self.inner, limit_id, setting, None).await?;
        Ok(change.new)
    }
}

type Entry = mgmt_api::Entry<Inner>;

/// Every procedure of the process API with its handler.
fn procedures() -> Vec<Entry> {
    vec![
        (
            p::GET_CPU_AFFINITY,
            handler!(|inner, _a| {
                let limits = inner.limits()?;
                blocking(move || limits.cpu_affinity().map(|c| json!(c))).await
            }),
        ),
        (
            p::SET_CPU_AFFINITY,
            handler!(|inner, a| set_cpu_affinity(&inner, &a).await),
        ),
        (
            p::GET_LIMITS,
            handler!(|inner, _a| {
                let limits = inner.limits()?;
                blocking(move || limits.get_limits().map(serde_json::Value::Object)).await
            }),
        ),
        (
            p::GET_LIMIT,
            handler!(|inner, a| {
                let limits = inner.limits()?;
                let id = a.string(0, "limit_id")?;
                blocking(move || limits.get_limit(&id)).await
            }),
        ),
        (
            p::SET_LIMIT,
            handler!(|inner, a| {
                let id = a.string(0, "limit_id")?;
                let Some(setting) = a.get_raw(1, "setting") else {
                    return Err(ApiError::invalid_argument(
                        "missing argument setting (null removes the limit)",
                    ));
                };
                let setting = serde_json::Value::from(setting.clone());
                let change = apply_limit(&inner, &id, setting, a.caller).await?;
                Ok::<_, ApiError>(change.new)
            }),
        ),
        (
            p::GET_PROFILERS,
            handler!(|inner, _a| Ok::<_, ApiError>(json!(inner.profiler.profilers()))),
        ),
        (
            p::START_PROFILER,
            handler!(|inner, a| start_profiler(&inner, &a).await),
        ),
        (
            p::STOP_PROFILER,
            handler!(|inner, a| {
                let id = a.string(0, "profile_id")?;
                inner.profiler.stop(&id).map_err(profile_error)?;
                // Returns once the profile has ended (as stop_worker does): what the caller
                // lists next no longer shows it running.
                let info = inner.profiler.wait(&id).await.map_err(profile_error)?;
                Ok::<_, ApiError>(info.to_json())
            }),
        ),
        (
            p::GET_PROFILES,
            handler!(|inner, a| {
                let only_running = a.bool_or(0, "filter_running", false)?;
                let list: List = inner
                    .profiler
                    .list(only_running)
                    .into_iter()
                    .map(|p| {
                        Value::List(vec![p.id.into(), p.status.as_str().into(), p.ended.into()])
                    })
                    .collect();
                Ok::<_, ApiError>(Value::List(list))
            }),
        ),
        (
            p::GET_PROFILE,
            handler!(|inner, a| {
                let id = a.string(0, "profile_id")?;
                profile_value(&inner.profiler, &id)
            }),
        ),
        (
            p::GET_PROCESS_INFO,
            handler!(|_inner, _a| {
                let pid = std::process::id();
                tokio::task::spawn_blocking(move || process_info(pid))
                    .await
                    .map_err(|e| ApiError::runtime(format!("process info task failed: {e}")))?
                    .map_err(|e| ApiError::runtime(format!("cannot read process info: {e}")))
            }),
        ),
    ]
}

async fn set_cpu_affinity(inner: &Arc<Inner>, a: &Args) -> Result<Value, ApiError> {
    let cpus = a
        .get(0, "cpus")
        .map(|v| serde_json::Value::from(v.clone()))
        .unwrap_or_default();
    let list = limits::parse_cpu_list(&cpus).map_err(limit_error)?;
    let relative = a.bool_or(1, "relative", true)?;
    let setting = json!({"cpus": list, "relative": relative});
    let change = apply_limit(inner, limits::CPU_AFFINITY, setting, a.caller).await?;
    Ok(change.new.into())
}

/// Applies a limit on the blocking pool, then publishes `on_limit_set(limit_id, old, new)` and,
/// for the CPU affinity, Crossbar.io's `on_cpu_affinity_set` (to all but the caller).
async fn apply_limit(
    inner: &Arc<Inner>,
    limit_id: &str,
    setting: serde_json::Value,
    who: Option<u64>,
) -> Result<LimitChange, ApiError> {
    let limits = inner.limits()?;
    let id = limit_id.to_owned();
    let requested = setting.clone();
    let change = tokio::task::spawn_blocking(move || limits.set_limit(&id, &setting))
        .await
        .map_err(|e| ApiError::runtime(format!("limit task failed: {e}")))?
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

async fn start_profiler(inner: &Arc<Inner>, a: &Args) -> Result<Value, ApiError> {
    let name = a.opt_str(0, "profiler")?.unwrap_or("vmprof").to_owned();
    let runtime = a.f64_or(1, "runtime", 10.0)?;
    // Crossbar.io's keyword is `start_async`; its docs say `async`.
    let start_async = match a.get_raw(2, "start_async") {
        Some(_) => a.bool_or(2, "start_async", true)?,
        None => a.bool_or(usize::MAX, "async", true)?,
    };
    let runtime = profiler::check_runtime(runtime).map_err(profile_error)?;
    let who = a.caller;
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
fn profile_value(profiler: &Profiler, id: &str) -> Result<Value, ApiError> {
    let (info, output) = profiler.get(id).map_err(profile_error)?;
    let Value::Dict(mut d) = Value::from(info.to_json()) else {
        return Err(ApiError::runtime("profile is not a dict"));
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
    fn limits(&self) -> Result<Arc<ProcessLimits>, ApiError> {
        self.limits.clone().map_err(|e| {
            ApiError::new(
                error::FEATURE_UNAVAILABLE,
                format!("process limits are unavailable: {e}"),
            )
        })
    }
}

/// Runs a limit read on the blocking pool.
async fn blocking<F>(f: F) -> Result<Value, ApiError>
where
    F: FnOnce() -> Result<serde_json::Value, LimitError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::runtime(format!("limit task failed: {e}")))?
        .map(Value::from)
        .map_err(limit_error)
}

fn limit_error(e: LimitError) -> ApiError {
    ApiError::new(e.error_uri(), e.to_string())
}

fn profile_error(e: ProfileError) -> ApiError {
    ApiError::new(e.error_uri(), e.to_string())
}

#[cfg(test)]
mod procedure_table_tests {
    #[test]
    fn every_process_procedure_has_a_handler() {
        let (extra, missing) = mgmt_api::serve::table_mismatch(&super::procedures(), super::p::ALL);
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{extra:?} {missing:?}"
        );
    }
}
