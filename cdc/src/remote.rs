//! The remote API of a management realm (`cdc.remote.*@1`): each procedure checks its
//! arguments, then either answers from the registry (nodes, status) or forwards to the node's
//! own procedure `crossbarfabriccenter.node.<node_id>.[worker.<worker_id>.]<proc>` (the
//! node's local `crossbar.<proc>`, mirrored by its uplink).
//!
//! Most procedures are plain forwards described by the [`FORWARDS`] table; the rest
//! (start_worker, components, stop_role with a grant, profiles, logs) have handlers below.
//! Errors of the CDC are `cdc.error.*`; errors of the node (`crossbar.error.*`) pass through
//! unchanged. Every call that changes something (start_*, stop_*, set_*, save_*, upload_*) is
//! written to the audit log.

use std::sync::Arc;

use router_core::client::{CallError, CallOptions, CallResult, Invocation};
use router_core::message::Payload;
use router_core::value::{Dict, List, Value};

use crate::args::Args;
use crate::error::CdcError;
use crate::events;
use crate::mrealm::{RealmState, call_error};
use crate::registry::{AuditEntry, NodeStatus};
use crate::roles;

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

type RResult<T> = std::result::Result<T, RemoteError>;

/// A parameter of a forwarded procedure (after `node_id`, and `worker_id` for worker-level
/// procedures), passed to the node in this order.
#[derive(Clone, Copy)]
enum P {
    /// An object ID on the node (`worker_id`, `realm_id`, …).
    Id(&'static str),
    /// A web resource path.
    Path(&'static str),
    /// A dictionary (a configuration).
    Config(&'static str),
    /// Any value, null included (a limit setting).
    Any(&'static str),
    /// A free-form token (profile IDs).
    Token(&'static str),
    Uint(&'static str, u64, u64),
    Bool(&'static str, bool),
}

/// A procedure that forwards its arguments as they are.
struct Forward {
    name: &'static str,
    worker_level: bool,
    node_proc: &'static str,
    params: &'static [P],
}

const fn node(name: &'static str, node_proc: &'static str, params: &'static [P]) -> Forward {
    Forward {
        name,
        worker_level: false,
        node_proc,
        params,
    }
}

const fn worker(name: &'static str, node_proc: &'static str, params: &'static [P]) -> Forward {
    Forward {
        name,
        worker_level: true,
        node_proc,
        params,
    }
}

/// The plain forwards: seed name (without `cdc.remote.` and `@1`) → node procedure.
const FORWARDS: &[Forward] = &[
    node("save_config", "save_config", &[]),
    node(
        "upload_config",
        "upload_config",
        &[P::Config("node_config")],
    ),
    node("download_config", "download_config", &[]),
    node("list_workers", "get_workers", &[]),
    node("query_worker", "get_worker", &[P::Id("worker_id")]),
    node("stop_worker", "stop_worker", &[P::Id("worker_id")]),
    node(
        "query_worker_log",
        "get_worker_log",
        &[P::Id("worker_id"), P::Uint("limit", 50, 100_000)],
    ),
    worker("list_limits", "get_limits", &[]),
    worker("get_limit", "get_limit", &[P::Id("limit_id")]),
    worker(
        "set_limit",
        "set_limit",
        &[P::Id("limit_id"), P::Any("setting")],
    ),
    worker(
        "list_profiles",
        "get_profiles",
        &[P::Bool("filter_running", false)],
    ),
    worker("stop_profile", "stop_profiler", &[P::Token("profile_id")]),
    worker("list_realms", "get_router_realms", &[]),
    worker("query_realm", "get_router_realm", &[P::Id("realm_id")]),
    worker(
        "start_realm",
        "start_router_realm",
        &[P::Id("realm_id"), P::Config("realm_config")],
    ),
    worker("stop_realm", "stop_router_realm", &[P::Id("realm_id")]),
    worker("list_roles", "get_router_realm_roles", &[P::Id("realm_id")]),
    worker(
        "query_role",
        "get_router_realm_role",
        &[P::Id("realm_id"), P::Id("role_id")],
    ),
    worker(
        "start_role",
        "start_router_realm_role",
        &[
            P::Id("realm_id"),
            P::Id("role_id"),
            P::Config("role_config"),
        ],
    ),
    worker(
        "list_grants",
        "get_router_realm_role_grants",
        &[P::Id("realm_id"), P::Id("role_id")],
    ),
    worker(
        "query_grant",
        "get_router_realm_role_grant",
        &[P::Id("realm_id"), P::Id("role_id"), P::Id("grant_id")],
    ),
    worker(
        "start_grant",
        "start_router_realm_role_grant",
        &[
            P::Id("realm_id"),
            P::Id("role_id"),
            P::Id("grant_id"),
            P::Config("grant_config"),
        ],
    ),
    // Beyond the seed (which stops grants with stop_role@1): the name one would look for.
    worker(
        "stop_grant",
        "stop_router_realm_role_grant",
        &[P::Id("realm_id"), P::Id("role_id"), P::Id("grant_id")],
    ),
    worker("list_transports", "get_router_transports", &[]),
    worker(
        "query_transport",
        "get_router_transport",
        &[P::Id("transport_id")],
    ),
    worker(
        "start_transport",
        "start_router_transport",
        &[P::Id("transport_id"), P::Config("transport_config")],
    ),
    worker(
        "stop_transport",
        "stop_router_transport",
        &[P::Id("transport_id")],
    ),
    worker(
        "list_web_resources",
        "get_web_transport_services",
        &[P::Id("transport_id")],
    ),
    worker(
        "query_web_resource",
        "get_web_transport_service",
        &[P::Id("transport_id"), P::Path("resource_id")],
    ),
    worker(
        "start_web_resource",
        "start_web_transport_service",
        &[
            P::Id("transport_id"),
            P::Path("resource_id"),
            P::Config("resource_config"),
        ],
    ),
    worker(
        "stop_web_resource",
        "stop_web_transport_service",
        &[P::Id("transport_id"), P::Path("resource_id")],
    ),
];

/// Procedures with handlers of their own.
const SPECIAL: &[&str] = &[
    "status",
    "list_nodes",
    "query_node",
    "stop_node",
    "start_worker",
    "map_worker_log_topic",
    "start_profile",
    "query_profile",
    "stop_role",
    "list_components",
    "query_component",
    "start_component",
    "stop_component",
];

/// Every remote procedure URI the CDC offers.
pub fn procedures() -> Vec<String> {
    FORWARDS
        .iter()
        .map(|f| f.name)
        .chain(SPECIAL.iter().copied())
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
        .filter(|n| FORWARDS.iter().any(|f| f.name == *n) || SPECIAL.contains(n))
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
        let entry = AuditEntry::new(
            &st.name,
            &who,
            &role,
            &uri,
            &crate::args::to_json(&args),
            outcome,
        );
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

fn payload(r: CallResult) -> Payload {
    Payload::new(r.args, r.kwargs)
}

/// Reads the parameters of `f` starting at argument `first`.
fn read_params(a: &Args, first: usize, params: &[P]) -> Result<List, CdcError> {
    let mut out = List::with_capacity(params.len());
    for (k, p) in params.iter().enumerate() {
        let i = first + k;
        out.push(match *p {
            P::Id(n) => Value::from(a.object_id(i, n)?),
            P::Path(n) => Value::from(a.resource_id(i, n)?),
            P::Config(n) => Value::Dict(a.dict(i, n)?),
            P::Any(n) => a
                .get_raw(i, n)
                .cloned()
                .ok_or_else(|| CdcError::invalid(format!("missing argument {n}")))?,
            P::Token(n) => Value::from(a.token_id(i, n)?),
            P::Uint(n, default, max) => Value::from(a.opt_uint(i, n, default, max)?),
            P::Bool(n, default) => Value::from(a.opt_bool(i, n, default)?),
        });
    }
    Ok(out)
}

async fn forward_simple(st: &RealmState, f: &Forward, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let (worker_id, first) = if f.worker_level {
        (Some(a.object_id(1, "worker_id")?), 2)
    } else {
        (None, 1)
    };
    let params = read_params(a, first, f.params)?;
    let r = forward(st, &node_id, worker_id.as_deref(), f.node_proc, params).await?;
    Ok(payload(r))
}

/// The node's registration record, or `no_such_node`.
fn require_node(st: &RealmState, node_id: &str) -> RResult<crate::registry::NodeRecord> {
    st.registry.node(&st.name, node_id)?.ok_or_else(|| {
        RemoteError::Cdc(CdcError::NoSuchNode(format!(
            "no node \"{node_id}\" on management realm \"{}\"",
            st.name
        )))
    })
}

/// Calls `crossbarfabriccenter.node.<node_id>.[worker.<worker_id>.]<proc>(args)`.
pub async fn forward(
    st: &RealmState,
    node_id: &str,
    worker_id: Option<&str>,
    proc_: &str,
    args: List,
) -> RResult<CallResult> {
    require_node(st, node_id)?;
    if !st.tracker.is_online(node_id) {
        return Err(CdcError::NodeOffline(format!("node \"{node_id}\" is offline")).into());
    }
    let session = st.session()?;
    let uri = match worker_id {
        Some(w) => format!("{}worker.{w}.{proc_}", roles::node_prefix(node_id)),
        None => format!("{}{proc_}", roles::node_prefix(node_id)),
    };
    let opts = CallOptions {
        timeout: Some(st.nodes.call_timeout()),
        ..Default::default()
    };
    match session.call(&uri, args, Dict::new(), opts).await {
        Ok(r) => Ok(r),
        Err(e) => Err(node_error(node_id, worker_id, proc_, e)),
    }
}

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

fn status(st: &RealmState) -> Result<Dict, CdcError> {
    let nodes = st.registry.nodes(&st.name)?;
    let online = st.tracker.online().len();
    Ok(router_core::dict! {
        "realm" => st.name.clone(),
        "now" => router_core::util::utcnow(),
        "started" => st.started_at().to_owned(),
        "uptime" => st.uptime().as_secs_f64(),
        "version" => crate::VERSION,
        "nodes" => Value::Dict(router_core::dict! {
            "total" => nodes.len(),
            "online" => online,
            "offline" => nodes.len().saturating_sub(online),
        }),
    })
}

fn list_nodes(st: &RealmState, a: &Args) -> RResult<Value> {
    let filter = match a.opt_str(0, "filter_status")? {
        None => None,
        Some(s) => Some(NodeStatus::parse(s).ok_or_else(|| {
            CdcError::invalid(format!(
                "invalid filter_status \"{s}\": must be \"online\" or \"offline\""
            ))
        })?),
    };
    let ids: List = st
        .registry
        .nodes(&st.name)?
        .into_iter()
        .filter(|n| {
            let status = if st.tracker.is_online(&n.node_id) {
                NodeStatus::Online
            } else {
                NodeStatus::Offline
            };
            filter.is_none_or(|f| f == status)
        })
        .map(|n| Value::from(n.node_id))
        .collect();
    Ok(Value::List(ids))
}

fn query_node(st: &RealmState, a: &Args) -> RResult<Value> {
    let node_id = a.node_id(0)?;
    let n = require_node(st, &node_id)?;
    let live = st.tracker.info(&node_id);
    let mut d = router_core::dict! {
        "node_id" => n.node_id.clone(),
        "management_realm" => n.realm.clone(),
        "pubkey" => n.pubkey.clone(),
        "node_extra" => n.extra.clone().map(Value::from),
        "status" => if live.is_some() { "online" } else { "offline" },
        "registered" => n.created.clone(),
        "last_heartbeat" => n.last_heartbeat.clone(),
    };
    if let Some(l) = live {
        d.insert("online_since".into(), Value::from(l.online_since));
        d.insert("heartbeat".into(), l.heartbeat.unwrap_or_default());
        d.insert("node_status".into(), l.status.unwrap_or_default());
    }
    Ok(Value::Dict(d))
}

async fn stop_node(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    match forward(st, &node_id, None, "shutdown", List::new()).await {
        Ok(r) => Ok(payload(r)),
        // A node that exits before answering has done what was asked.
        Err(RemoteError::Cdc(CdcError::NodeOffline(m))) if m.contains("went away") => {
            Ok(Payload::args(vec![Value::Dict(router_core::dict! {
                "node_id" => node_id,
                "stopped" => true,
            })]))
        }
        Err(e) => Err(e),
    }
}

/// `start_worker@1(node_id, worker_id, worker_config)`: the worker item of a node config
/// (`{type, options, …}`) becomes the node's `start_worker(worker_id, type, options)`; a
/// guest worker takes the whole item as its options, as Crossbar.io's node expects.
async fn start_worker(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let worker_id = a.object_id(1, "worker_id")?;
    let config = a.dict(2, "worker_config")?;
    let Some(kind) = config
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(CdcError::invalid(
            "worker_config.type is required (\"router\", \"container\", \"guest\", …)",
        )
        .into());
    };
    if let Some(Value::String(id)) = config.get("id")
        && *id != worker_id
    {
        return Err(CdcError::invalid(format!(
            "worker_config.id \"{id}\" differs from worker_id \"{worker_id}\""
        ))
        .into());
    }
    let options = if kind == "guest" {
        let mut item = config.clone();
        item.remove("id");
        Value::Dict(item)
    } else {
        config
            .get("options")
            .cloned()
            .unwrap_or(Value::Dict(Dict::new()))
    };
    let r = forward(
        st,
        &node_id,
        None,
        "start_worker",
        vec![Value::from(worker_id), Value::from(kind), options],
    )
    .await?;
    Ok(payload(r))
}

/// `start_profile@1(node_id, worker_id, profiler="vmprof", run_secs=10, run_async=True)`:
/// returns the profile ID and remembers where the profile runs, so that
/// `query_profile@1(profile_id)` finds it.
async fn start_profile(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let worker_id = a.object_id(1, "worker_id")?;
    let profiler = a.opt_str(2, "profiler")?.unwrap_or("vmprof").to_owned();
    crate::names::check_object_id("profiler", &profiler)?;
    let run_secs = a.opt_uint(3, "run_secs", 10, 3600)?;
    let run_async = a.opt_bool(4, "run_async", true)?;
    let r = forward(
        st,
        &node_id,
        Some(&worker_id),
        "start_profiler",
        vec![profiler.into(), run_secs.into(), run_async.into()],
    )
    .await?;
    let id = match r.args.first() {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Dict(d)) => d.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    match id {
        Some(id) => {
            st.registry
                .remember_profile(&st.name, &id, &node_id, &worker_id)?;
            Ok(Payload::args(vec![Value::from(id)]))
        }
        None => Ok(payload(r)),
    }
}

async fn query_profile(st: &RealmState, a: &Args) -> RResult<Payload> {
    let profile_id = a.token_id(0, "profile_id")?;
    let location = match st.registry.profile_location(&st.name, &profile_id)? {
        Some(l) => Some(l),
        None => find_profile(st, &profile_id).await,
    };
    let Some((node_id, worker_id)) = location else {
        return Err(CdcError::NoSuchProfile(format!(
            "no profile \"{profile_id}\" on any online node of management realm \"{}\"",
            st.name
        ))
        .into());
    };
    let r = forward(
        st,
        &node_id,
        Some(&worker_id),
        "get_profile",
        vec![Value::from(profile_id)],
    )
    .await?;
    Ok(payload(r))
}

/// Looks for a profile that was not started through the CDC (e.g. on the node itself): asks
/// every worker of every online node for its profiles, and remembers where it was found.
async fn find_profile(st: &RealmState, profile_id: &str) -> Option<(String, String)> {
    fn id_of(v: &Value) -> Option<&str> {
        match v {
            Value::String(s) => Some(s),
            Value::List(l) => l.first().and_then(Value::as_str),
            Value::Dict(d) => d.get("id").and_then(Value::as_str),
            _ => None,
        }
    }
    for node_id in st.tracker.online() {
        let Ok(workers) = forward(st, &node_id, None, "get_workers", List::new()).await else {
            continue;
        };
        let workers: Vec<String> = match workers.value() {
            Value::List(l) => l.iter().filter_map(id_of).map(str::to_owned).collect(),
            _ => continue,
        };
        for worker_id in workers {
            let Ok(r) = forward(
                st,
                &node_id,
                Some(&worker_id),
                "get_profiles",
                vec![Value::Bool(false)],
            )
            .await
            else {
                continue;
            };
            if let Value::List(l) = r.value()
                && l.iter().any(|p| id_of(p) == Some(profile_id))
            {
                let _ = st
                    .registry
                    .remember_profile(&st.name, profile_id, &node_id, &worker_id);
                return Some((node_id, worker_id));
            }
        }
    }
    None
}

/// `stop_role@1(node_id, worker_id, realm_id, role_id)` stops a role; with a fifth argument
/// (`grant_id`, as the seed documents stopping a grant) it stops that grant.
async fn stop_role(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let worker_id = a.object_id(1, "worker_id")?;
    let realm_id = a.object_id(2, "realm_id")?;
    let role_id = a.object_id(3, "role_id")?;
    let (proc_, mut args) = match a.get(4, "grant_id") {
        Some(_) => (
            "stop_router_realm_role_grant",
            vec![Value::from(a.object_id(4, "grant_id")?)],
        ),
        None => ("stop_router_realm_role", vec![]),
    };
    args.insert(0, Value::from(role_id));
    args.insert(0, Value::from(realm_id));
    let r = forward(st, &node_id, Some(&worker_id), proc_, args).await?;
    Ok(payload(r))
}

/// Components live in router workers (`…_router_component`) and container workers
/// (`…_component`): the worker's type decides.
async fn component(st: &RealmState, name: &str, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let worker_id = a.object_id(1, "worker_id")?;
    let mut args = List::new();
    if name != "list_components" {
        args.push(Value::from(a.object_id(2, "component_id")?));
    }
    if name == "start_component" {
        args.push(Value::Dict(a.dict(3, "component_config")?));
    }
    let info = forward(
        st,
        &node_id,
        None,
        "get_worker",
        vec![Value::from(worker_id.as_str())],
    )
    .await?;
    let kind = info
        .value()
        .as_dict()
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let proc_ = match (kind.as_str(), name) {
        ("router", "list_components") => "get_router_components",
        ("router", "query_component") => "get_router_component",
        ("router", "start_component") => "start_router_component",
        ("router", "stop_component") => "stop_router_component",
        ("container", "list_components") => "get_components",
        ("container", "query_component") => "get_component",
        ("container", "start_component") => "start_component",
        ("container", "stop_component") => "stop_component",
        _ => {
            return Err(CdcError::invalid(format!(
                "worker \"{worker_id}\" on node \"{node_id}\" is a {} worker: only router and container workers host components",
                if kind.is_empty() { "unknown" } else { &kind }
            ))
            .into());
        }
    };
    let r = forward(st, &node_id, Some(&worker_id), proc_, args).await?;
    Ok(payload(r))
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
            .chain(SPECIAL.iter().copied())
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
    }
}
