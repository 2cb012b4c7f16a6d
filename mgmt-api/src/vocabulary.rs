//! One vocabulary for the management API: statuses, object kinds, event topics and error URIs.
//!
//! Every managed object (worker, realm, role, grant, transport, web service, component,
//! profile, limit) has a [`Status`]; every change is published as
//! `<prefix>.on_<kind>_status(<ids…>, old, new)`. Crossbar.io's own, irregular event names
//! (`on_realm_started`, `on_router_transport_starting`, …) are published beside them so that
//! both kinds of management center can follow a node; they are listed here and nowhere else.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Lifecycle state of a managed object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Starting,
    Started,
    Stopping,
    Stopped,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Started => "started",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of managed objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Worker,
    Realm,
    Role,
    Grant,
    Transport,
    WebService,
    Component,
    Profile,
    Limit,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Worker,
        Kind::Realm,
        Kind::Role,
        Kind::Grant,
        Kind::Transport,
        Kind::WebService,
        Kind::Component,
        Kind::Profile,
        Kind::Limit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Worker => "worker",
            Kind::Realm => "realm",
            Kind::Role => "role",
            Kind::Grant => "grant",
            Kind::Transport => "transport",
            Kind::WebService => "web_service",
            Kind::Component => "component",
            Kind::Profile => "profile",
            Kind::Limit => "limit",
        }
    }

    /// The status event suffix: `on_<kind>_status`.
    pub fn status_event(self) -> String {
        format!("on_{}_status", self.as_str())
    }

    /// How many object IDs precede `old, new` in this kind's status event (a grant is named
    /// by its realm, role and grant IDs).
    pub fn ids(self) -> usize {
        match self {
            Kind::Role | Kind::WebService => 2,
            Kind::Grant => 3,
            _ => 1,
        }
    }

    /// Is the status event published under the worker's prefix (all but workers')?
    pub fn worker_level(self) -> bool {
        self != Kind::Worker
    }

    /// The CDC seed's name of this kind's status event, `on_<name>_status@1` (the seed calls
    /// Web services resources and has `on_limit_set@1` for limits).
    pub fn seed_event(self) -> String {
        match self {
            Kind::WebService => "on_web_resource_status".into(),
            Kind::Limit => "on_limit_set".into(),
            k => k.status_event(),
        }
    }

    /// Crossbar.io's event for a status change of this kind, if it has one. Crossbar.io has no
    /// `stopping`/`failed` events for most kinds and no worker-stopped event at all.
    pub fn crossbar_event(self, status: Status, worker_type: Option<&str>) -> Option<String> {
        use Status::*;
        Some(match (self, status) {
            (Kind::Worker, Starting | Started) => {
                format!("on_{}_{}", worker_type.unwrap_or("worker"), status.as_str())
            }
            (Kind::Realm, Started | Stopped) => format!("on_realm_{}", status.as_str()),
            (Kind::Role, Started | Stopped) => format!("on_router_realm_role_{}", status.as_str()),
            (Kind::Transport, Starting | Started | Stopping | Stopped) => {
                format!("on_router_transport_{}", status.as_str())
            }
            (Kind::WebService, Starting | Started | Stopping | Stopped) => {
                format!("on_web_transport_service_{}", status.as_str())
            }
            (Kind::Component, Starting) => "on_component_start".into(),
            (Kind::Component, Started) => "on_component_ready".into(),
            (Kind::Component, Stopped | Failed) => "on_component_stop".into(),
            (Kind::Profile, Started) => "on_profile_started".into(),
            (Kind::Profile, Stopped | Failed) => "on_profile_finished".into(),
            _ => return None,
        })
    }
}

/// The management realm on the controller's local router.
pub const MANAGEMENT_REALM: &str = "crossbar";
/// Prefix of the controller's procedures and events.
pub const CONTROLLER_PREFIX: &str = "crossbar";

/// Prefix of a worker's procedures and events: `crossbar.worker.<id>`.
pub fn worker_prefix(worker_id: &str) -> String {
    format!("crossbar.worker.{worker_id}")
}

/// Prefix of every node's procedures and events on a management center's realm (the uplink
/// mirrors the node's `crossbar.<suffix>` as `crossbarfabriccenter.node.<node_id>.<suffix>`).
pub const UPLINK_NODE_PREFIX: &str = "crossbarfabriccenter.node.";

/// `crossbarfabriccenter.node.<node_id>.`
pub fn uplink_node_prefix(node_id: &str) -> String {
    format!("{UPLINK_NODE_PREFIX}{node_id}.")
}

/// The uplink's heartbeat topics: `(node_id, {timestamp, period, mrealm_id, seq, workers, …})`
/// and `(node_id, worker_id, {…})`.
pub const NODE_HEARTBEAT: &str = "crossbarfabriccenter.node.on_heartbeat";
pub const WORKER_HEARTBEAT: &str = "crossbarfabriccenter.node.on_worker_heartbeat";

/// The role a worker's session gets on the management realm.
pub fn worker_role(worker_id: &str) -> String {
    format!("crossbar.worker.{worker_id}")
}

/// The `old` status of a status event for an object that did not exist before.
pub const NEW_OBJECT_STATUS: Status = Status::Stopped;

/// Events of a worker's process API (`crossbar.worker.<id>.<event>`) beside the status events.
pub mod process_event {
    /// `(limit_id, old, new)` after a limit changed (our own; Crossbar.io has no limits API).
    pub const ON_LIMIT_SET: &str = "on_limit_set";
    /// Crossbar.io's `{cpus, relative, affinity, who}` after `set_cpu_affinity`.
    pub const ON_CPU_AFFINITY_SET: &str = "on_cpu_affinity_set";
}

/// Events of the node controller and of every worker, without their prefix.
pub mod event {
    /// `crossbar.on_ready`: the controller has joined its realm (no payload).
    pub const ON_READY: &str = "on_ready";
    /// `crossbar.on_shutdown(info)`: the node is shutting down on request.
    pub const ON_SHUTDOWN: &str = "on_shutdown";
    /// `crossbar.on_stop_requested(info)`: `stop_worker` was called.
    pub const ON_STOP_REQUESTED: &str = "on_stop_requested";
    /// `crossbar.worker.<id>.on_worker_ready({type, id, pid})`: a native worker has booted.
    pub const ON_WORKER_READY: &str = "on_worker_ready";
    /// `crossbar.worker.<id>.on_log(record)`: one log record of the worker.
    pub const ON_LOG: &str = "on_log";
}

/// Crossbar.io's worker lifecycle event `on_<worker_type>_<status>` (`on_router_starting`,
/// `on_guest_started`); unlike Crossbar.io, published for every status, stopping and
/// stopped included.
pub fn worker_event(worker_type: &str, status: Status) -> String {
    format!("on_{worker_type}_{}", status.as_str())
}

/// Error URIs of the management API (`crossbar.error.<reason>`).
pub mod error {
    pub const NO_SUCH_WORKER: &str = "crossbar.error.no_such_worker";
    pub const NO_SUCH_OBJECT: &str = "crossbar.error.no_such_object";
    pub const ALREADY_RUNNING: &str = "crossbar.error.already_running";
    pub const WORKER_ALREADY_RUNNING: &str = "crossbar.error.worker_already_running";
    pub const ALREADY_EXISTS: &str = "crossbar.error.already_exists";
    pub const NOT_RUNNING: &str = "crossbar.error.not_running";
    pub const WORKER_NOT_RUNNING: &str = "crossbar.error.worker_not_running";
    pub const INVALID_CONFIGURATION: &str = "crossbar.error.invalid_configuration";
    pub const INVALID_ARGUMENT: &str = "crossbar.error.invalid_argument";
    pub const CANNOT_START: &str = "crossbar.error.cannot_start";
    pub const CANNOT_STOP: &str = "crossbar.error.cannot_stop";
    pub const CANNOT_LISTEN: &str = "crossbar.error.cannot_listen";
    pub const STOP_WORKER_FAILED: &str = "crossbar.error.stop_worker_failed";
    pub const FEATURE_UNAVAILABLE: &str = "crossbar.error.feature_unavailable";
    pub const RUNTIME_ERROR: &str = "crossbar.error.runtime_error";
    /// A `class` component's class could not be imported (Crossbar.io's URI).
    pub const CLASS_IMPORT_FAILED: &str = "crossbar.error.class_import_failed";

    /// Every error URI above, for the consistency test.
    pub const ALL: &[&str] = &[
        NO_SUCH_WORKER,
        NO_SUCH_OBJECT,
        ALREADY_RUNNING,
        WORKER_ALREADY_RUNNING,
        ALREADY_EXISTS,
        NOT_RUNNING,
        WORKER_NOT_RUNNING,
        INVALID_CONFIGURATION,
        INVALID_ARGUMENT,
        CANNOT_START,
        CANNOT_STOP,
        CANNOT_LISTEN,
        STOP_WORKER_FAILED,
        FEATURE_UNAVAILABLE,
        RUNTIME_ERROR,
        CLASS_IMPORT_FAILED,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_pattern() {
        for uri in error::ALL {
            let reason = uri
                .strip_prefix("crossbar.error.")
                .expect("crossbar.error. prefix");
            assert!(
                reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{uri}"
            );
        }
        let mut seen = std::collections::HashSet::new();
        for k in Kind::ALL {
            let e = k.status_event();
            assert!(e.starts_with("on_") && e.ends_with("_status"), "{e}");
            assert!(seen.insert(e));
        }
    }

    #[test]
    fn crossbar_names() {
        assert_eq!(
            Kind::Realm.crossbar_event(Status::Started, None).unwrap(),
            "on_realm_started"
        );
        assert_eq!(
            Kind::Worker
                .crossbar_event(Status::Starting, Some("router"))
                .unwrap(),
            "on_router_starting"
        );
        assert_eq!(
            Kind::Worker.crossbar_event(Status::Stopped, Some("router")),
            None
        );
        assert_eq!(
            Kind::Component
                .crossbar_event(Status::Started, None)
                .unwrap(),
            "on_component_ready"
        );
    }
}
