//! The remote procedures with handlers of their own: the realm's status and nodes (answered
//! from the registry), and those whose arguments the node takes in another shape.

use mgmt_api::procedures::{container, controller, process, router, router_components};
use router_core::message::Payload;
use router_core::value::{Dict, List, Value};

use super::{RResult, RemoteError, forward, payload, require_node};
use crate::args::{Args, SeedArgs};
use crate::error::CdcError;
use crate::mrealm::RealmState;
use crate::registry::NodeStatus;

pub(crate) fn status(st: &RealmState) -> Result<Dict, CdcError> {
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

pub(crate) fn list_nodes(st: &RealmState, a: &Args) -> RResult<Value> {
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

pub(crate) fn query_node(st: &RealmState, a: &Args) -> RResult<Value> {
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

pub(crate) async fn stop_node(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    match forward(st, &node_id, None, controller::SHUTDOWN, List::new()).await {
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
pub(crate) async fn start_worker(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let worker_id = a.object_id(1, "worker_id")?;
    // The tutorials' (and the node's own) form: `(node_id, worker_id, worker_type,
    // worker_options)`; the seed's: `(node_id, worker_id, worker_config)`.
    if let Some(Value::String(kind)) = a.get_raw(2, "worker_type") {
        let options = a.opt_dict(3, "worker_options")?.unwrap_or_default();
        let r = forward(
            st,
            &node_id,
            None,
            controller::START_WORKER,
            vec![
                Value::from(worker_id),
                Value::from(kind.as_str()),
                Value::Dict(options),
            ],
        )
        .await?;
        return Ok(payload(r));
    }
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
        item.shift_remove("id");
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
        controller::START_WORKER,
        vec![Value::from(worker_id), Value::from(kind), options],
    )
    .await?;
    Ok(payload(r))
}

/// `start_profile@1(node_id, worker_id, profiler="vmprof", run_secs=10, run_async=True)`:
/// returns the profile ID and remembers where the profile runs, so that
/// `query_profile@1(profile_id)` finds it.
pub(crate) async fn start_profile(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let worker_id = a.object_id(1, "worker_id")?;
    let profiler = a.opt_str(2, "profiler")?.unwrap_or("vmprof").to_owned();
    crate::names::check_object_id("profiler", &profiler)?;
    let run_secs = a.u64_in(3, "run_secs", 10, 3600)?;
    let run_async = a.bool_or(4, "run_async", true)?;
    let r = forward(
        st,
        &node_id,
        Some(&worker_id),
        process::START_PROFILER,
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

pub(crate) async fn query_profile(st: &RealmState, a: &Args) -> RResult<Payload> {
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
        process::GET_PROFILE,
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
        let Ok(workers) = forward(st, &node_id, None, controller::GET_WORKERS, List::new()).await
        else {
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
                process::GET_PROFILES,
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
pub(crate) async fn stop_role(st: &RealmState, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let worker_id = a.object_id(1, "worker_id")?;
    let realm_id = a.object_id(2, "realm_id")?;
    let role_id = a.object_id(3, "role_id")?;
    let (proc_, mut args) = match a.get(4, "grant_id") {
        Some(_) => (
            router::STOP_ROUTER_REALM_ROLE_GRANT,
            vec![Value::from(a.object_id(4, "grant_id")?)],
        ),
        None => (router::STOP_ROUTER_REALM_ROLE, vec![]),
    };
    args.insert(0, Value::from(role_id));
    args.insert(0, Value::from(realm_id));
    let r = forward(st, &node_id, Some(&worker_id), proc_, args).await?;
    Ok(payload(r))
}

/// Components live in router workers (`…_router_component`) and container workers
/// (`…_component`): the worker's type decides.
pub(crate) async fn component(st: &RealmState, name: &str, a: &Args) -> RResult<Payload> {
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
        controller::GET_WORKER,
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
        ("router", "list_components") => router_components::GET_ROUTER_COMPONENTS,
        ("router", "query_component") => router_components::GET_ROUTER_COMPONENT,
        ("router", "start_component") => router_components::START_ROUTER_COMPONENT,
        ("router", "stop_component") => router_components::STOP_ROUTER_COMPONENT,
        ("container", "list_components") => container::GET_COMPONENTS,
        ("container", "query_component") => container::GET_COMPONENT,
        ("container", "start_component") => container::START_COMPONENT,
        ("container", "stop_component") => container::STOP_COMPONENT,
        _ => {
            return Err(CdcError::invalid(format!(
                "worker \"{worker_id}\" on node \"{node_id}\" is a {} worker: only router and container workers host components",
                if kind.is_empty() { "unknown" } else { &kind }
            ))
            .into());
        }
    };
    match forward(st, &node_id, Some(&worker_id), proc_, args).await {
        Ok(r) if name == "list_components" => Ok(super::table::ids_only(payload(r))),
        Ok(r) => Ok(payload(r)),
        // The worker exists (it answered get_worker): what is missing is the procedure, on a
        // node whose workers have no component API.
        Err(RemoteError::Cdc(CdcError::NoSuchWorker(_))) => Err(RemoteError::Node(
            router_core::client::CallError::with_message(
                mgmt_api::vocabulary::error::FEATURE_UNAVAILABLE,
                format!(
                    "worker \"{worker_id}\" on node \"{node_id}\" is a {kind} worker without {}: this node offers no component API",
                    proc_.name
                ),
            ),
        )),
        Err(e) => Err(e),
    }
}
