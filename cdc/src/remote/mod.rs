//! The remote API of a management realm (`cdc.remote.*@1`): each procedure checks its
//! arguments, then either answers from the registry (nodes, status) or forwards to the node's
//! own procedure `crossbarfabriccenter.node.<node_id>.[worker.<worker_id>.]<proc>` (the
//! node's local `crossbar.<proc>`, mirrored by its uplink).
//!
//! Most procedures are plain forwards described by a table (`table`); the rest (start_worker,
//! components, stop_role with a grant, profiles, logs, nodes) have handlers (`handlers`).
//! Errors of the CDC are `cdc.error.*`; errors of the node (`crossbar.error.*`) pass through
//! unchanged. Every call that changes something (start_*, stop_*, set_*, save_*, upload_*) is
//! written to the audit log.

use std::sync::Arc;
use std::time::Duration;

use mgmt_api::Procedure;
use router_core::client::{CallError, CallOptions, CallResult, Invocation};
use router_core::message::Payload;
use router_core::value::{Dict, List, Value};

use crate::args::{Args, SeedArgs};
use crate::error::CdcError;
use crate::events;
use crate::mrealm::{RealmState, call_error};
use crate::registry::AuditEntry;
use crate::roles;

mod handlers;
mod table;

use handlers::*;
#[doc(hidden)]
pub use table::fuzz_read_forward_args;
use table::{FORWARDS, SPECIAL, forward_simple};
#[cfg(test)]
use table::{P, read_params};

pub const PREFIX: &str = "cdc.remote.";
pub const SUFFIX: &str = "@1";

/// The error of a remote call: the CDC's own, or the node's passed through.
#[derive(Debug)]
pub enum RemoteError {
    Cdc(CdcError),
    Node(CallError),
}

impl From<CdcError> for RemoteError {
    fn from(e: CdcError) -> Self {
        RemoteError::Cdc(e)
    }
}

impl From<mgmt_api::ArgError> for RemoteError {
    fn from(e: mgmt_api::ArgError) -> Self {
        RemoteError::Cdc(e.into())
    }
}

impl RemoteError {
    fn into_call_error(self) -> CallError {
        match self {
            RemoteError::Cdc(e) => call_error(&e),
            RemoteError::Node(e) => e,
        }
    }

    fn summary(&self) -> String {
        match self {
            RemoteError::Cdc(e) => format!("{}: {e}", e.uri()),
            RemoteError::Node(e) => e.to_string(),
        }
    }
}

pub(crate) type RResult<T> = std::result::Result<T, RemoteError>;

/// Every remote procedure URI the CDC offers.
pub fn procedures() -> Vec<String> {
    FORWARDS
        .iter()
        .map(|f| f.name)
        .chain(SPECIAL.iter().map(|(n, _)| *n))
        .chain(table::ALIASES.iter().map(|(alias, _)| *alias))
        .map(|n| format!("{PREFIX}{n}{SUFFIX}"))
        .collect()
}

/// Does the procedure change something on a node (and so need devops and an audit entry)?
pub fn mutates(name: &str) -> bool {
    ["start_", "stop_", "set_", "save_", "upload_"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Answers one invocation of the prefix registration `cdc.remote.`.
pub async fn handle(st: &Arc<RealmState>, inv: Invocation) -> Result<Payload, CallError> {
    let uri = inv.procedure().unwrap_or_default().to_owned();
    let Some(name) = uri
        .strip_prefix(PREFIX)
        .and_then(|n| n.strip_suffix(SUFFIX))
        .map(table::canonical)
        .filter(|n| FORWARDS.iter().any(|f| f.name == *n) || SPECIAL.iter().any(|(s, _)| s == n))
    else {
        return Err(CallError::with_message(
            "wamp.error.no_such_procedure",
            format!("no procedure \"{uri}\" on this CDC"),
        ));
    };
    let who = inv.caller_authid().unwrap_or("?").to_owned();
    let role = inv.caller_authrole().unwrap_or("?").to_owned();
    let args = Args::new(inv.args, inv.kwargs);
    let result = dispatch(st, name, &args).await;
    if mutates(name) {
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.summary(),
        };
        let entry = AuditEntry::new(&st.name, &who, &role, &uri, &args.to_json(), outcome);
        if let Err(e) = st.registry.audit(&entry) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
    result.map_err(RemoteError::into_call_error)
}

async fn dispatch(st: &Arc<RealmState>, name: &str, a: &Args) -> RResult<Payload> {
    if let Some(f) = FORWARDS.iter().find(|f| f.name == name) {
        return forward_simple(st, f, a).await;
    }
    let one = |v: Value| Ok(Payload::args(vec![v]));
    match name {
        "status" => one(Value::Dict(status(st)?)),
        "list_nodes" => one(list_nodes(st, a)?),
        "query_node" => one(query_node(st, a)?),
        "stop_node" => stop_node(st, a).await,
        "start_worker" => start_worker(st, a).await,
        "map_worker_log_topic" => {
            let node_id = a.node_id(0)?;
            let worker_id = a.object_id(1, "worker_id")?;
            require_node(st, &node_id)?;
            one(Value::from(events::worker_log_topic(&node_id, &worker_id)))
        }
        "start_profile" => start_profile(st, a).await,
        "query_profile" => query_profile(st, a).await,
        "stop_role" => stop_role(st, a).await,
        "list_components" | "query_component" | "start_component" | "stop_component" => {
            component(st, name, a).await
        }
        _ => Err(CdcError::Internal(format!("no handler for {name}")).into()),
    }
}

pub(crate) fn payload(r: CallResult) -> Payload {
    Payload::new(r.args, r.kwargs)
}

/// The node's registration record, or `no_such_node`.
pub(crate) fn require_node(st: &RealmState, node_id: &str) -> RResult<crate::registry::NodeRecord> {
    st.registry.node(&st.name, node_id)?.ok_or_else(|| {
        RemoteError::Cdc(CdcError::NoSuchNode(format!(
            "no node \"{node_id}\" on management realm \"{}\"",
            st.name
        )))
    })
}

/// Calls `crossbarfabriccenter.node.<node_id>.[worker.<worker_id>.]<proc>(args)` (`worker_id`
/// is required by, and only used for, worker-level procedures).
pub async fn forward(
    st: &RealmState,
    node_id: &str,
    worker_id: Option<&str>,
    procedure: Procedure,
    args: List,
) -> RResult<CallResult> {
    let proc_ = procedure.name;
    let worker_id = worker_id.filter(|_| procedure.api.worker_level());
    require_node(st, node_id)?;
    if !st.tracker.is_online(node_id) {
        return Err(CdcError::NodeOffline(format!("node \"{node_id}\" is offline")).into());
    }
    let session = st.session()?;
    let uri = match worker_id {
        Some(w) => format!("{}worker.{w}.{proc_}", roles::uplink_node_prefix(node_id)),
        None => format!("{}{proc_}", roles::uplink_node_prefix(node_id)),
    };
    let opts = CallOptions {
        timeout: Some(st.nodes.call_timeout()),
        ..Default::default()
    };
    let mut pause = Duration::from_millis(20);
    loop {
        match session
            .call(&uri, args.clone(), Dict::new(), opts.clone())
            .await
        {
            Ok(r) => return Ok(r),
            // A node is online from the moment its uplink session joins, and registers its
            // API just after: a call in that window waits for the registration (bounded).
            Err(e)
                if worker_id.is_none()
                    && e.error == "wamp.error.no_such_procedure"
                    && st
                        .tracker
                        .online_for(node_id)
                        .is_some_and(|t| t + pause < API_REGISTRATION_GRACE) =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(node_error(node_id, worker_id, proc_, e)),
        }
    }
}

/// How long after a node came online a call to a procedure it does not (yet) offer waits for
/// the node's uplink to register it.
const API_REGISTRATION_GRACE: Duration = Duration::from_secs(10);

/// Turns the failure of a forwarded call into the caller's error.
fn node_error(node_id: &str, worker_id: Option<&str>, proc_: &str, e: CallError) -> RemoteError {
    match e.error.as_str() {
        "wamp.error.no_such_procedure" => RemoteError::Cdc(match worker_id {
            Some(w) => CdcError::NoSuchWorker(format!(
                "node \"{node_id}\" has no worker \"{w}\" offering {proc_}"
            )),
            None => CdcError::NodeOffline(format!(
                "node \"{node_id}\" does not offer {proc_} (is its management uplink ready?)"
            )),
        }),
        router_core::client::TIMEOUT => RemoteError::Cdc(CdcError::NodeTimeout(format!(
            "node \"{node_id}\" did not answer {proc_} in time"
        ))),
        router_core::client::CANCELED => {
            if e.message().is_some_and(|m| m.contains("timeout")) {
                RemoteError::Cdc(CdcError::NodeTimeout(format!(
                    "node \"{node_id}\" did not answer {proc_} in time"
                )))
            } else {
                RemoteError::Cdc(CdcError::NodeOffline(format!(
                    "node \"{node_id}\" went away during {proc_}"
                )))
            }
        }
        u if u.starts_with("wamp.close.") => RemoteError::Cdc(CdcError::Internal(format!(
            "the CDC's session ended during {proc_}: {e}"
        ))),
        _ => RemoteError::Node(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_procedure_is_offered() {
        let seed = [
            "status",
            "list_nodes",
            "query_node",
            "stop_node",
            "save_config",
            "upload_config",
            "download_config",
            "list_workers",
            "query_worker",
            "start_worker",
            "stop_worker",
            "query_worker_log",
            "map_worker_log_topic",
            "list_limits",
            "get_limit",
            "set_limit",
            "list_profiles",
            "query_profile",
            "start_profile",
            "stop_profile",
            "list_realms",
            "query_realm",
            "start_realm",
            "stop_realm",
            "list_roles",
            "query_role",
            "start_role",
            "stop_role",
            "list_grants",
            "query_grant",
            "start_grant",
            "list_transports",
            "query_transport",
            "start_transport",
            "stop_transport",
            "list_web_resources",
            "query_web_resource",
            "start_web_resource",
            "stop_web_resource",
            "list_components",
            "query_component",
            "start_component",
            "stop_component",
        ];
        let offered = procedures();
        for n in seed {
            let uri = format!("cdc.remote.{n}@1");
            assert!(offered.contains(&uri), "{uri}");
        }
        // Each name is handled exactly once.
        let mut names: Vec<&str> = FORWARDS
            .iter()
            .map(|f| f.name)
            .chain(SPECIAL.iter().map(|(n, _)| *n))
            .collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn mutating_procedures_are_those_devops_may_call() {
        for uri in procedures() {
            let name = uri
                .strip_prefix(PREFIX)
                .unwrap()
                .strip_suffix(SUFFIX)
                .unwrap();
            let c = crate::roles::management_realm("m", []);
            let guest = router_core::authorization::Role::from_config(
                c.roles.iter().find(|r| r.name == "guest").unwrap(),
            );
            let guest_may = guest
                .authorize(&uri, router_core::authorization::Action::Call)
                .allow;
            if name == "download_config" {
                assert!(!guest_may && !mutates(name));
                continue;
            }
            assert_eq!(guest_may, !mutates(name), "{uri}");
        }
    }

    #[test]
    fn parameters_are_checked() {
        let a = Args::new(
            vec!["realm1".into(), Value::Null, "x y".into()],
            router_core::dict! {"role_config" => Value::Dict(Dict::new())},
        );
        let p = read_params(&a, 0, &[P::Id("realm_id"), P::Config("role_config")]).unwrap();
        assert_eq!(p[0], Value::from("realm1"));
        assert!(read_params(&a, 2, &[P::Path("resource_id")]).is_err());
        assert!(read_params(&a, 1, &[P::Id("role_id")]).is_err());
        let p = read_params(&a, 1, &[P::Any("setting")]).unwrap();
        assert_eq!(p[0], Value::Null);
        let p = read_params(&a, 5, &[P::Uint("limit", 50, 100), P::Bool("f", false)]).unwrap();
        assert_eq!(p, vec![Value::from(50u64), Value::from(false)]);
        // A fixed value follows the caller's arguments whatever they passed.
        let p = read_params(&a, 0, &[P::Id("realm_id"), P::Fixed(true)]).unwrap();
        assert_eq!(p, vec![Value::from("realm1"), Value::Bool(true)]);
    }
}
