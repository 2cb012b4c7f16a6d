//! The remote procedures that forward their arguments to one node procedure unchanged, and how
//! their parameters are checked.

use router_core::message::Payload;
use router_core::value::{List, Value};

use super::{RResult, forward, payload};
use crate::args::Args;
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

/// A procedure that forwards its arguments as they are.
pub(crate) struct Forward {
    pub(crate) name: &'static str,
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
pub(crate) const FORWARDS: &[Forward] = &[
    node("save_config", "save_config", &[]),
    node(
        "upload_config",
        "upload_config",
        &[P::ConfigOrText("node_config")],
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
    // `create_paths`: the seed's transport_config is the whole transport, Web paths included
    // (the node, as Crossbar.io, starts a Web transport's root only unless asked).
    worker(
        "start_transport",
        "start_router_transport",
        &[
            P::Id("transport_id"),
            P::Config("transport_config"),
            P::Fixed(true),
        ],
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

/// Procedures with handlers of their own.
pub(crate) const SPECIAL: &[&str] = &[
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
            P::Uint(n, default, max) => Value::from(a.opt_uint(i, n, default, max)?),
            P::Bool(n, default) => Value::from(a.opt_bool(i, n, default)?),
        });
    }
    Ok(out)
}

pub(crate) async fn forward_simple(st: &RealmState, f: &Forward, a: &Args) -> RResult<Payload> {
    let node_id = a.node_id(0)?;
    let (worker_id, first) = if f.worker_level {
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
