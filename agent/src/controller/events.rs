//! What the controller publishes: worker status changes (in both vocabularies) and worker
//! log records.

use std::sync::Arc;

use mgmt_api::vocabulary::{Kind, Status, event, worker_event, worker_prefix};
use router_core::client::PublishOptions;
use router_core::{Dict, List, Value as WampValue};
use serde_json::{Value, json};
use worker_host::log::LogRecord;

use super::Controller;
use super::workers::{Worker, utcstr};

impl Controller {
    /// Publishes an event from the controller's session (not acknowledged: a management event
    /// that cannot be delivered must not hold up the worker it is about).
    pub(crate) async fn publish(&self, topic: &str, args: Vec<Value>) {
        let Some(s) = self.session.get() else { return };
        let args: List = args.into_iter().map(WampValue::from).collect();
        if let Err(e) = s
            .publish(topic, args, Dict::new(), PublishOptions::default())
            .await
        {
            tracing::debug!(topic, error = %e, "cannot publish");
        }
    }

    /// Moves `worker` to `new` and publishes `crossbar.on_worker_status(id, old, new)` and
    /// Crossbar.io's `crossbar.on_<type>_<status>(info)`.
    pub(crate) async fn set_status(&self, worker: &Arc<Worker>, new: Status) {
        let old = worker.update(|st| {
            st.status = new;
            if new == Status::Started {
                st.started = Some(std::time::SystemTime::now());
            }
        });
        if old == new {
            return;
        }
        tracing::info!(worker = worker.id(), kind = worker.kind(), %old, %new, "worker status");
        self.publish(
            &format!("crossbar.{}", Kind::Worker.status_event()),
            vec![json!(worker.id()), json!(old.as_str()), json!(new.as_str())],
        )
        .await;
        self.publish(
            &format!("crossbar.{}", worker_event(worker.kind(), new)),
            vec![status_info(worker)],
        )
        .await;
    }

    /// Keeps `record` in the worker's log and echoes it into the controller's own log. The
    /// live event goes out through [`Controller::publish_log`].
    pub(crate) fn keep_log(&self, worker: &Worker, record: &LogRecord) {
        worker.push_log(record.clone());
        let mut text = record.text.clone();
        for (k, v) in &record.fields {
            if k != "target" && k != "span" && k != "spans" {
                match v {
                    Value::String(s) => text.push_str(&format!(" {k}={s}")),
                    v => text.push_str(&format!(" {k}={v}")),
                }
            }
        }
        let (w, pid) = (worker.id(), record.pid);
        match record.level.as_str() {
            "error" | "critical" => tracing::error!(worker = w, pid, "{text}"),
            "warn" | "warning" => tracing::warn!(worker = w, pid, "{text}"),
            "debug" => tracing::debug!(worker = w, pid, "{text}"),
            "trace" => tracing::trace!(worker = w, pid, "{text}"),
            _ => tracing::info!(worker = w, pid, "{text}"),
        }
    }

    /// `crossbar.worker.<id>.on_log(record)`.
    pub(crate) async fn publish_log(&self, worker_id: &str, record: LogRecord) {
        let value = serde_json::to_value(record).unwrap_or(Value::Null);
        self.publish(
            &format!("{}.{}", worker_prefix(worker_id), event::ON_LOG),
            vec![value],
        )
        .await;
    }
}

/// Crossbar.io's `starting_info` / `started_info`, extended to the other statuses.
pub(crate) fn status_info(worker: &Worker) -> Value {
    let st = worker.state();
    let mut info = json!({
        "id": worker.id(),
        "type": worker.kind(),
        "status": st.status.as_str(),
        "created": utcstr(st.created),
        "who": worker.who,
    });
    if st.status != Status::Starting {
        info["pid"] = json!(st.pid);
        info["started"] = json!(st.started.map(utcstr));
        info["startup_time"] = json!(st.started.map(|s| {
            s.duration_since(st.created)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        }));
    }
    if matches!(st.status, Status::Stopped | Status::Failed) {
        info["exit"] = json!(st.last_exit);
    }
    info
}
