//! Transport, endpoint and component items: kept as JSON values in the config model (they
//! travel to the worker as they are) and checked here, one place per kind; listening
//! transports with router-core's typed [`router_core::transport::TransportConfig`].

use serde_json::Value;

use router_core::config::ConfigError;

use worker_host::components::config::{ConnectingTransport, UrlRule};
use worker_host::components::{ComponentConfig, Placement};

use super::controller::expect_one_of;
use super::path;

/// Listening transport types of a router worker: router-core's list.
pub use router_core::transport::config::TRANSPORT_TYPES;

/// Listening endpoint types.
pub const LISTENING_ENDPOINT_TYPES: &[&str] = &["tcp", "unix", "twisted", "onion"];

/// Checks one listening transport item of a router worker (`at`: its key path, e.g.
/// `workers[0].transports[1]`) with router-core's typed transport config, so every key of
/// every endpoint, path and auth block is checked with its full path.
pub fn validate_transport(value: &Value, at: &str) -> Result<(), ConfigError> {
    let kind = tagged_object(value, at, "a transport")?;
    expect_one_of(&path::key(at, "type"), kind, TRANSPORT_TYPES)?;
    check_id_type(value, at)?;
    router_core::transport::TransportConfig::from_json(value.clone())
        .map(|_| ())
        .map_err(|e| e.within(at))
}

/// Checks one component item of a router (`placement` Router) or container worker with the
/// workers' own component parser, so `check` refuses what the worker would refuse at boot,
/// with the item's key path.
pub fn validate_component(
    value: &Value,
    at: &str,
    placement: Placement,
) -> Result<(), ConfigError> {
    ComponentConfig::from_json(value, placement)
        .map(|_| ())
        .map_err(|e| e.within(at))
}

/// Checks the uplink's connecting transport with the parser every connecting transport goes
/// through (its URL may be derived from the endpoint).
pub fn validate_connecting_transport(value: &Value, at: &str) -> Result<(), ConfigError> {
    ConnectingTransport::from_json_with(value, UrlRule::FromEndpoint)
        .map(|_| ())
        .map_err(|e| e.within(at))
}

/// Checks a listening endpoint (`{type: tcp, port, …}`).
pub fn validate_listening_endpoint(value: &Value, at: &str) -> Result<(), ConfigError> {
    let kind = tagged_object(value, at, "an endpoint")?;
    expect_one_of(&path::key(at, "type"), kind, LISTENING_ENDPOINT_TYPES)
}

fn tagged_object<'v>(value: &'v Value, at: &str, what: &str) -> Result<&'v str, ConfigError> {
    let Value::Object(map) = value else {
        return Err(ConfigError::new(
            at,
            format!("{what} must be an object, found {}", kind_of(value)),
        ));
    };
    match map.get("type") {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ConfigError::new(
            path::key(at, "type"),
            format!("invalid type: {}, expected a string", kind_of(other)),
        )),
        None => Err(ConfigError::new(at, "missing field `type`")),
    }
}

fn check_id_type(value: &Value, at: &str) -> Result<(), ConfigError> {
    match value.get("id") {
        None | Some(Value::String(_)) => Ok(()),
        Some(other) => Err(ConfigError::new(
            path::key(at, "id"),
            format!("invalid type: {}, expected a string", kind_of(other)),
        )),
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
