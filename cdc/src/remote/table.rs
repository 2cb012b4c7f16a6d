//! The remote procedures that forward their arguments to one node procedure unchanged, and how
//! their parameters are checked.

use mgmt_api::Procedure;
use mgmt_api::procedures::{container, controller, process, router, router_components};
use router_core::message::Payload;
use router_core::value::{List, Value};

use super::{RResult, forward, payload};
use crate::args::{Args, SeedArgs};
use crate::error::CdcError;
use crate::mrealm::RealmState;

/// A parameter of a forwarded procedure (after `node_id`, and `worker_id` for worker-level
/// procedures), passed to the node in this order.
#[derive(Clone, Copy)]
pub(crate) enum P {
    /// An object ID on the node (`worker_id`, `realm_id`, …).
    Id(&'static str),
    /// A web resource path.
    Path(&'static str),
    /// A dictionary (a configuration).
    Config(&'static str),
    /// A configuration as a dictionary or as a config file's text (JSON or YAML), which the
    /// node parses and validates.
    ConfigOrText(&'static str),
    /// Any value, null included (a limit setting).
    Any(&'static str),
    /// A free-form token (profile IDs).
    Token(&'static str),
    Uint(&'static str, u64, u64),
    Bool(&'static str, bool),
    /// Not an argument of the seed: a fixed value the node procedure needs after the others.
    Fixed(bool),
}

/// A procedure that forwards its arguments as they are to one node procedure (a worker's
/// when the node procedure is worker-level: its `worker_id` follows `node_id`).
pub(crate) struct Forward {
    pub(crate) name: &'static str,
    pub(crate) node_proc: Procedure,
    params: &'static [P],
}

const fn fwd(name: &'static str, node_proc: Procedure, params: &'static [P]) -> Forward {
    Forward {
        name,
        node_proc,
        params,
    }
}

/// The plain forwards: seed name (without `cdc.remote.` and `@1`) → node procedure.
pub(crate) const FORWARDS: &[Forward] = &[
    fwd("save_config", controller::SAVE_CONFIG, &[]),
    fwd(
        "upload_config",
        controller::UPLOAD_CONFIG,
        &[P::ConfigOrText("node_config")],
    ),
    fwd("download_config", controller::DOWNLOAD_CONFIG, &[]),
    fwd("list_workers", controller::GET_WORKERS, &[]),
    fwd(
        "query_worker",
        controller::GET_WORKER,
        &[P::Id("worker_id")],
    ),
    fwd(
        "stop_worker",
        controller::STOP_WORKER,
        &[P::Id("worker_id")],
    ),
    fwd(
        "query_worker_log",
        controller::GET_WORKER_LOG,
        &[P::Id("worker_id"), P::Uint("limit", 50, 100_000)],
    ),
    fwd("list_limits", process::GET_LIMITS, &[]),
    fwd("get_limit", process::GET_LIMIT, &[P::Id("limit_id")]),
    fwd(
        "set_limit",
        process::SET_LIMIT,
        &[P::Id("limit_id"), P::Any("setting")],
    ),
    fwd(
        "list_profiles",
        process::GET_PROFILES,
        &[P::Bool("filter_running", false)],
    ),
    fwd(
        "stop_profile",
        process::STOP_PROFILER,
        &[P::Token("profile_id")],
    ),
    fwd("list_realms", router::GET_ROUTER_REALMS, &[]),
    fwd(
        "query_realm",
        router::GET_ROUTER_REALM,
        &[P::Id("realm_id")],
    ),
    fwd(
        "start_realm",
        router::START_ROUTER_REALM,
        &[P::Id("realm_id"), P::Config("realm_config")],
    ),
    fwd(
        "stop_realm",
        router::STOP_ROUTER_REALM,
        &[P::Id("realm_id")],
    ),
    fwd(
        "list_roles",
        router::GET_ROUTER_REALM_ROLES,
        &[P::Id("realm_id")],
    ),
    fwd(
        "query_role",
        router::GET_ROUTER_REALM_ROLE,
        &[P::Id("realm_id"), P::Id("role_id")],
    ),
    fwd(
        "start_role",
        router::START_ROUTER_REALM_ROLE,
        &[
            P::Id("realm_id"),
            P::Id("role_id"),
            P::Config("role_config"),
        ],
    ),
    fwd(
        "list_grants",
        router::GET_ROUTER_REALM_ROLE_GRANTS,
        &[P::Id("realm_id"), P::Id("role_id")],
    ),
    fwd(
        "query_grant",
        router::GET_ROUTER_REALM_ROLE_GRANT,
        &[P::Id("realm_id"), P::Id("role_id"), P::Id("grant_id")],
    ),
    fwd(
        "start_grant",
        router::START_ROUTER_REALM_ROLE_GRANT,
        &[
            P::Id("realm_id"),
            P::Id("role_id"),
            P::Id("grant_id"),
            P::Config("grant_config"),
        ],
    ),
    // Beyond the seed (which stops grants with stop_role@1): the name one would look for.
    fwd(
        "stop_grant",
        router::STOP_ROUTER_REALM_ROLE_GRANT,
        &[P::Id("realm_id"), P::Id("role_id"), P::Id("grant_id")],
    ),
    fwd("list_transports", router::GET_ROUTER_TRANSPORTS, &[]),
    fwd(
        "query_transport",
        router::GET_ROUTER_TRANSPORT,
        &[P::Id("transport_id")],
    ),
    // `create_paths`: the seed's transport_config is the whole transport, Web paths included
    // (the node, as Crossbar.io, starts a Web transport's root only unless asked).
    fwd(
        "start_transport",
        router::START_ROUTER_TRANSPORT,
        &[
            P::Id("transport_id"),
            P::Config("transport_config"),
            P::Fixed(true),
        ],
    ),
    fwd(
        "stop_transport",
        router::STOP_ROUTER_TRANSPORT,
        &[P::Id("transport_id")],
    ),
    fwd(
        "list_web_resources",
        router::GET_WEB_TRANSPORT_SERVICES,
        &[P::Id("transport_id")],
    ),
    fwd(
        "query_web_resource",
        router::GET_WEB_TRANSPORT_SERVICE,
        &[P::Id("transport_id"), P::Path("resource_id")],
    ),
    fwd(
        "start_web_resource",
        router::START_WEB_TRANSPORT_SERVICE,
        &[
            P::Id("transport_id"),
            P::Path("resource_id"),
            P::Config("resource_config"),
        ],
    ),
    fwd(
        "stop_web_resource",
        router::STOP_WEB_TRANSPORT_SERVICE,
        &[P::Id("transport_id"), P::Path("resource_id")],
    ),
];

/// The node's own spelling of the seed's realm, role, grant, transport and component
/// procedures (`start_router_realm@1` for `start_realm@1`), as the seed's tutorials call
/// them: alias → seed name.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("list_router_realms", "list_realms"),
    ("query_router_realm", "query_realm"),
    ("start_router_realm", "start_realm"),
    ("stop_router_realm", "stop_realm"),
    ("list_router_realm_roles", "list_roles"),
    ("query_router_realm_role", "query_role"),
    ("start_router_realm_role", "start_role"),
    ("stop_router_realm_role", "stop_role"),
    ("list_router_realm_role_grants", "list_grants"),
    ("query_router_realm_role_grant", "query_grant"),
    ("start_router_realm_role_grant", "start_grant"),
    ("stop_router_realm_role_grant", "stop_grant"),
    ("list_router_transports", "list_transports"),
    ("query_router_transport", "query_transport"),
    ("start_router_transport", "start_transport"),
    ("stop_router_transport", "stop_transport"),
    ("list_router_components", "list_components"),
    ("query_router_component", "query_component"),
    ("start_router_component", "start_component"),
    ("stop_router_component", "stop_component"),
];

/// The seed name of `name` (itself, unless it is an alias).
pub(crate) fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, seed)| seed)
}

/// Procedures with handlers of their own, and the node procedures each calls.
pub(crate) const SPECIAL: &[(&str, &[Procedure])] = &[
    ("status", &[]),
    ("list_nodes", &[]),
    ("query_node", &[]),
    ("stop_node", &[controller::SHUTDOWN]),
    ("start_worker", &[controller::START_WORKER]),
    ("map_worker_log_topic", &[]),
    ("start_profile", &[process::START_PROFILER]),
    (
        "query_profile",
        &[
            process::GET_PROFILE,
            controller::GET_WORKERS,
            process::GET_PROFILES,
        ],
    ),
    (
        "stop_role",
        &[
            router::STOP_ROUTER_REALM_ROLE,
            router::STOP_ROUTER_REALM_ROLE_GRANT,
        ],
    ),
    ("list_components", COMPONENT_PROCEDURES),
    ("query_component", COMPONENT_PROCEDURES),
    ("start_component", COMPONENT_PROCEDURES),
    ("stop_component", COMPONENT_PROCEDURES),
];

/// What the component handlers call: the worker's type, then its component procedure.
const COMPONENT_PROCEDURES: &[Procedure] = &[
    controller::GET_WORKER,
    router_components::GET_ROUTER_COMPONENTS,
    router_components::GET_ROUTER_COMPONENT,
    router_components::START_ROUTER_COMPONENT,
    router_components::STOP_ROUTER_COMPONENT,
    container::GET_COMPONENTS,
    container::GET_COMPONENT,
    container::START_COMPONENT,
    container::STOP_COMPONENT,
];

/// Node procedures the seed API does not offer, and why (the completeness test reads it).
#[cfg(test)]
pub(crate) const NODE_LOCAL: &[(Procedure, &str)] = &[
    (
        controller::GET_STATUS,
        "the node's status reaches the CDC by heartbeat",
    ),
    (
        controller::GET_SYSTEM_STATS,
        "the node's system stats reach the CDC by heartbeat",
    ),
    (
        controller::GET_PUBLIC_KEY,
        "the CDC knows the node's key from pairing",
    ),
    (
        process::GET_CPU_AFFINITY,
        "the seed reads it as the limit cpu_affinity (get_limit@1)",
    ),
    (
        process::SET_CPU_AFFINITY,
        "the seed sets it as the limit cpu_affinity (set_limit@1)",
    ),
    (
        process::GET_PROFILERS,
        "the seed has one profiler argument, checked by the node",
    ),
    (
        process::GET_PROCESS_INFO,
        "the seed has no process information procedure",
    ),
    (
        router::GET_LIVE_CONFIG,
        "the controller's save_config@1 and download_config@1 use it",
    ),
    (
        container::RESTART_COMPONENT,
        "the seed restarts a component by stop and start",
    ),
    (
        container::SHUTDOWN,
        "the seed stops a container with stop_worker@1",
    ),
];

/// Reads the parameters of `f` starting at argument `first`.
pub(crate) fn read_params(a: &Args, first: usize, params: &[P]) -> Result<List, CdcError> {
    let mut out = List::with_capacity(params.len());
    for (k, p) in params.iter().enumerate() {
        let i = first + k;
        out.push(match *p {
            P::Fixed(b) => Value::Bool(b),
            P::Id(n) => Value::from(a.object_id(i, n)?),
            P::Path(n) => Value::from(a.resource_id(i, n)?),
            P::Config(n) => Value::Dict(a.dict(i, n)?),
            P::ConfigOrText(n) => match a.get_raw(i, n) {
                Some(Value::String(text)) => Value::String(text.clone()),
                _ => Value::Dict(a.dict(i, n)?),
            },
            P::Any(n) => a
                .get_raw(i, n)
                .cloned()
                .ok_or_else(|| CdcError::invalid(format!("missing argument {n}")))?,
            P::Token(n) => Value::from(a.token_id(i, n)?),
            P::Uint(n, default, max) => Value::from(a.u64_in(i, n, default, max)?),
            P::Bool(n, default) => Value::from(a.bool_or(i, n, default)?),
        });
    }
    Ok(out)
}

/// Reads `a` as every plain forward's handler does before it calls the node (node ID, worker
/// ID for worker-level procedures, then the parameters), ignoring the errors.
///
/// Only for the fuzz target `cdc_args` (`fuzz-harness`): the table and `read_params` are
/// private to this crate. Not an API.
#[doc(hidden)]
pub fn fuzz_read_forward_args(a: &Args) {
    for f in FORWARDS {
        let _ = a.node_id(0);
        let first = if f.node_proc.api.worker_level() {
            let _ = a.object_id(1, "worker_id");
            2
        } else {
            1
        };
        let _ = read_params(a, first, f.params);
    }
}

pub(crate) async fn forward_simple(st: &RealmState, f: &Forward, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let (worker_id, first) = if f.node_proc.api.worker_level() {
        (Some(a.object_id(1, "worker_id")?), 2)
    } else {
        (None, 1)
    };
    let params = read_params(a, first, f.params)?;
    let r = forward(st, &node_id, worker_id.as_deref(), f.node_proc, params).await?;
    let mut p = payload(r);
    if lists_ids(f.name) {
        p = ids_only(p);
    }
    Ok(p)
}

/// The seed's `list_*@1` procedures answer "a list of IDs" (`list_profiles@1`: tuples).
pub(crate) fn lists_ids(name: &str) -> bool {
    name.starts_with("list_") && name != "list_profiles"
}

/// A node's list of objects (each with its `id`) as the list of their IDs; IDs stay IDs.
pub(crate) fn ids_only(mut p: Payload) -> Payload {
    if let Some(Value::List(items)) = p.args.first_mut() {
        for item in items.iter_mut() {
            if let Value::Dict(d) = item
                && let Some(id) = d.get("id").cloned()
            {
                *item = id;
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node procedure is reached by a remote procedure, or said to be node-local; a
    /// procedure added to the node without either fails here.
    #[test]
    fn every_node_procedure_is_mapped_or_node_local() {
        for p in mgmt_api::procedures::all() {
            let forwarded = FORWARDS.iter().any(|f| f.node_proc == *p)
                || SPECIAL.iter().any(|(_, uses)| uses.contains(p));
            let local = NODE_LOCAL.iter().any(|(q, _)| q == p);
            assert!(
                forwarded != local,
                "{:?} {}: forwarded {forwarded}, node-local {local}",
                p.api,
                p.name
            );
        }
    }

    /// A forward passes no more arguments than the node procedure has parameters.
    #[test]
    fn forwards_fit_the_node_parameters() {
        for f in FORWARDS {
            assert!(
                f.params.len() <= f.node_proc.params.len(),
                "{} passes {} arguments to {} ({:?})",
                f.name,
                f.params.len(),
                f.node_proc.name,
                f.node_proc.params
            );
        }
    }
}
