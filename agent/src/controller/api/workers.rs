//! `crossbar.get_workers`, `get_worker`, `start_worker`, `stop_worker`, `get_worker_log`.

use std::sync::Arc;
use std::time::Duration;

use mgmt_api::handler;
use mgmt_api::procedures::controller as p;
use mgmt_api::vocabulary::{error, event};
use serde_json::{Value, json};

use super::{ApiError, Args, Entry};
use crate::config::NodeConfig;
use crate::config::worker::WORKER_TYPES;
use crate::controller::workers::utcstr;
use crate::controller::{Controller, spec_from_config};

pub(super) fn procedures() -> Vec<Entry> {
    vec![
        (p::GET_WORKERS, handler!(|c, a| get_workers(c, a).await)),
        (p::GET_WORKER, handler!(|c, a| get_worker(c, a).await)),
        (p::START_WORKER, handler!(|c, a| start_worker(c, a).await)),
        (p::STOP_WORKER, handler!(|c, a| stop_worker(c, a).await)),
        (
            p::GET_WORKER_LOG,
            handler!(|c, a| get_worker_log(c, a).await),
        ),
    ]
}

fn no_such_worker(id: &str) -> ApiError {
    ApiError::new(error::NO_SUCH_WORKER, format!("no worker with ID \"{id}\""))
}

async fn get_workers(c: Arc<Controller>, a: Args) -> Result<Value, ApiError> {
    let filter: Vec<String> = match a.get(0, "filter_types") {
        None => Vec::new(),
        Some(v) => serde_json::from_value(Value::from(v.clone())).map_err(|_| {
            ApiError::invalid_argument("filter_types must be a list of worker types")
        })?,
    };
    let mut out: Vec<String> = c
        .workers
        .all()
        .iter()
        .filter(|w| filter.is_empty() || filter.iter().any(|t| t == w.kind()))
        .map(|w| w.id().to_owned())
        .collect();
    out.sort();
    Ok(json!(out))
}

async fn get_worker(c: Arc<Controller>, a: Args) -> Result<Value, ApiError> {
    let id = a.str(0, "worker_id")?;
    let w = c.workers.get(id).ok_or_else(|| no_such_worker(id))?;
    let mut info = w.info();
    if a.bool_or(1, "include_stats", false)? {
        // The process as the kernel sees it (any worker type, guests included), plus the log.
        let process = w
            .state()
            .pid
            .and_then(|pid| worker_host::process_api::process_info(pid).ok())
            .unwrap_or(Value::Null);
        info["stats"] = json!({
            "log_records": w.log_tail(usize::MAX).len(),
            "process": process,
        });
    }
    Ok(info)
}

async fn start_worker(c: Arc<Controller>, a: Args) -> Result<Value, ApiError> {
    let id = a.str(0, "worker_id")?.to_owned();
    if id.is_empty() || id == "controller" {
        return Err(ApiError::invalid_argument(format!(
            "invalid worker ID \"{id}\""
        )));
    }
    let kind = a.str(1, "worker_type")?.to_owned();
    if !WORKER_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::new(
            error::INVALID_CONFIGURATION,
            format!(
                "invalid worker type \"{kind}\" (one of: {})",
                WORKER_TYPES.join(", ")
            ),
        ));
    }
    let options = a.get(2, "worker_options").map(|v| Value::from(v.clone()));
    let raw = worker_item(&id, &kind, options)?;
    let cfg =
        NodeConfig::from_value(json!({"version": 2, "workers": [raw.clone()]})).map_err(|e| {
            ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("worker \"{id}\": invalid configuration: {e}"),
            )
        })?;
    let w = cfg
        .workers
        .first()
        .ok_or_else(|| ApiError::new(error::INVALID_CONFIGURATION, "no worker in the item"))?;
    let spec =
        spec_from_config(w, raw).map_err(|e| ApiError::new(error::INVALID_CONFIGURATION, e))?;
    tracing::info!(worker = %id, kind = %kind, who = a.caller, "start_worker");
    let seq = c.workers.next_seq();
    c.start_worker(spec, seq, a.caller).await
}

/// The config item of a worker started through the API. Guests pass the whole item
/// (Crossbar.io); native workers pass their `options`, or — beyond Crossbar.io — a whole
/// item (recognized by its `type`) so a router can be started with its realms and
/// transports in one call.
fn worker_item(id: &str, kind: &str, options: Option<Value>) -> Result<Value, ApiError> {
    let mut item = match options {
        Some(Value::Object(o)) if kind == "guest" || o.contains_key("type") => Value::Object(o),
        Some(Value::Object(o)) => json!({"type": kind, "options": o}),
        None if kind != "guest" => json!({"type": kind}),
        None => {
            return Err(ApiError::new(
                error::INVALID_CONFIGURATION,
                "a guest worker needs its config item (executable, arguments, options)",
            ));
        }
        Some(other) => {
            return Err(ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("worker_options must be a dict, not {other}"),
            ));
        }
    };
    match item.get("type").and_then(Value::as_str) {
        None => item["type"] = json!(kind),
        Some(t) if t != kind => {
            return Err(ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("worker_type is \"{kind}\" but the item says \"{t}\""),
            ));
        }
        Some(_) => {}
    }
    item["id"] = json!(id);
    Ok(item)
}

async fn stop_worker(c: Arc<Controller>, a: Args) -> Result<Value, ApiError> {
    let id = a.str(0, "worker_id")?;
    let kill = a.bool_or(1, "kill", false)?;
    let w = c.workers.get(id).ok_or_else(|| no_such_worker(id))?;
    if !w.is_active() {
        return Err(ApiError::new(
            error::WORKER_NOT_RUNNING,
            format!(
                "worker \"{id}\" is not running (status {})",
                w.state().status
            ),
        ));
    }
    let info = json!({
        "id": id,
        "type": w.kind(),
        "kill": kill,
        "who": a.caller,
        "when": utcstr(std::time::SystemTime::now()),
    });
    c.publish(
        &format!("crossbar.{}", event::ON_STOP_REQUESTED),
        vec![info.clone()],
    )
    .await;
    w.request_stop(kill);
    let bound = c.opts.stop_grace + Duration::from_secs(10);
    if tokio::time::timeout(bound, w.finished.cancelled())
        .await
        .is_err()
    {
        return Err(ApiError::new(
            error::STOP_WORKER_FAILED,
            format!("worker \"{id}\" did not stop within {bound:?}"),
        ));
    }
    Ok(info)
}

async fn get_worker_log(c: Arc<Controller>, a: Args) -> Result<Value, ApiError> {
    let id = a.str(0, "worker_id")?;
    let limit = a.u64_or(1, "limit", 100)?;
    let w = c.workers.get(id).ok_or_else(|| no_such_worker(id))?;
    let records = w.log_tail(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(serde_json::to_value(records).unwrap_or(Value::Null))
}
