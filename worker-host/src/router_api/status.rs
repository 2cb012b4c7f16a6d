//! Statuses of the worker's objects and the events announcing their changes: our
//! `on_<kind>_status(<ids…>, old, new)` and Crossbar.io's own names beside them.

use std::collections::HashMap;
use std::sync::Mutex;

use router_core::Id;
use router_core::client::PublishOptions;
use router_core::{List, Value};
use serde_json::Value as Json;
use tracing::warn;

use super::{RouterApi, no_kwargs};
use mgmt_api::vocabulary::{Kind, NEW_OBJECT_STATUS, Status};

/// Objects in a transition (`starting`, `stopping`) or running (`started`); an object that
/// stopped or failed is forgotten, as it no longer exists.
#[derive(Default)]
pub(super) struct Statuses(Mutex<HashMap<(Kind, Vec<String>), Status>>);

impl Statuses {
    /// Records `new`; returns the previous status.
    fn set(&self, kind: Kind, ids: &[&str], new: Status) -> Status {
        let key = (kind, ids.iter().map(|s| (*s).to_owned()).collect());
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let old = match new {
            Status::Stopped | Status::Failed => map.remove(&key),
            _ => map.insert(key, new),
        };
        old.unwrap_or(NEW_OBJECT_STATUS)
    }

    fn get(&self, kind: Kind, ids: &[&str]) -> Option<Status> {
        let key = (kind, ids.iter().map(|s| (*s).to_owned()).collect());
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied()
    }
}

impl RouterApi {
    /// Moves an object to `new` and publishes `on_<kind>_status(<ids…>, old, new)` to every
    /// subscriber.
    pub(super) async fn set_status(&self, kind: Kind, ids: &[&str], new: Status) {
        let old = self.statuses.set(kind, ids, new);
        if old == new {
            return;
        }
        let mut args: Vec<Json> = ids.iter().map(|s| Json::from(*s)).collect();
        args.push(Json::from(old.as_str()));
        args.push(Json::from(new.as_str()));
        self.publish(&kind.status_event(), args, None).await;
    }

    /// The status of an object the worker runs (`started` unless it is in a transition).
    pub(super) fn status_of(&self, kind: Kind, ids: &[&str]) -> Status {
        self.statuses.get(kind, ids).unwrap_or(Status::Started)
    }

    /// Publishes Crossbar.io's event for `kind` reaching `status`, if it has one.
    pub(super) async fn publish_crossbar(
        &self,
        kind: Kind,
        status: Status,
        args: Vec<Json>,
        exclude: Option<Id>,
    ) {
        if let Some(event) = kind.crossbar_event(status, None) {
            self.publish(&event, args, exclude).await;
        }
    }

    /// Publishes `<prefix>.<event>`; a failure is logged, as events are best effort.
    pub(super) async fn publish(&self, event: &str, args: Vec<Json>, exclude: Option<Id>) {
        let topic = format!("{}.{event}", self.prefix);
        let opts = PublishOptions {
            exclude: exclude.into_iter().collect(),
            ..PublishOptions::default()
        };
        let args: List = args.into_iter().map(Value::from).collect();
        if let Err(e) = self.session.publish(&topic, args, no_kwargs(), opts).await {
            warn!(worker = %self.worker_id, %topic, error = %e, "cannot publish a management event");
        }
    }
}
