//! `function` authenticators (Crossbar.io's Python callables): each `create` named in a
//! transport's `auth` runs once in a Python child of this worker, a hidden router component
//! (the embedded bootstrap's built-in `crossbar_edge_builtin.FunctionAuthenticator`) that calls
//! `create(config, None)` and registers the authenticator it returns as
//! [`FunctionAuth::procedure`] on the worker's first realm (role `trusted`). The transport's
//! authenticator then calls that procedure as it calls a dynamic authenticator.

use std::sync::Arc;

use router_core::Router;
use router_core::auth::config::{AuthConfig, FunctionAuth};
use serde_json::{Value, json};

use crate::components::{ComponentApi, INTERNAL_ID_PREFIX};

/// The bootstrap's built-in class that hosts one callable.
pub const HOST_CLASS: &str = "crossbar_edge_builtin.FunctionAuthenticator";

/// Every `function` method in the `auth` blocks of a transport item (at any depth: Web paths,
/// Universal parts, MQTT options).
fn functions_in(config: &Value, out: &mut Vec<FunctionAuth>) {
    match config {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "auth"
                    && let Ok(mut auth) = AuthConfig::from_value(v.clone())
                {
                    out.extend(auth.functions_mut().map(|f| f.clone()));
                } else {
                    functions_in(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| functions_in(v, out)),
        _ => {}
    }
}

/// Starts the hosts the transport item needs that are not running yet. The error is the
/// readable message (a missing module or function, an exception in `create`).
pub async fn ensure_hosts(
    components: Option<&Arc<ComponentApi>>,
    router: &Router,
    transport: &Value,
) -> Result<(), String> {
    let mut functions = Vec::new();
    functions_in(transport, &mut functions);
    if functions.is_empty() {
        return Ok(());
    }
    let components = components
        .ok_or("\"function\" authenticators need a router worker that hosts components")?;
    let realm = crate::router_worker::function_host_realm(router)
        .ok_or("\"function\" authenticators need a realm on the router worker to run on")?;
    for f in functions {
        let id = format!("{INTERNAL_ID_PREFIX}function:{}", f.create);
        if components.host().is_running(&id).await {
            continue;
        }
        let item = json!({
            "type": "class",
            "classname": HOST_CLASS,
            "realm": realm,
            "role": "trusted",
            "extra": {
                "create": f.create,
                "config": f.config.clone().unwrap_or_else(|| json!({})),
                "procedure": f.procedure(),
            },
        });
        components
            .host()
            .start(&id, &item)
            .await
            .map_err(|e| format!("function authenticator {}: {e}", f.create))?;
    }
    Ok(())
}
