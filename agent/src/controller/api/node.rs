//! `crossbar.get_status`, `get_system_stats`, `shutdown`, `get_public_key`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mgmt_api::handler;
use mgmt_api::procedures::controller as p;
use mgmt_api::vocabulary::{Status, event};
use serde_json::{Value, json};

use super::{ApiError, Args, Entry};
use crate::controller::Controller;
use crate::controller::workers::utcstr;

/// Crossbar.io stops its reactor this long after answering `shutdown`, so the answer and
/// the `on_shutdown` event get out first.
const SHUTDOWN_DELAY: Duration = Duration::from_millis(200);

pub(super) fn procedures() -> Vec<Entry> {
    vec![
        (
            p::GET_STATUS,
            handler!(|c, _a| Ok::<_, ApiError>(get_status(&c))),
        ),
        (
            p::GET_SYSTEM_STATS,
            handler!(|_c, _a| {
                tokio::task::spawn_blocking(super::stats::system_stats)
                    .await
                    .map_err(|e| ApiError::runtime(e.to_string()))
            }),
        ),
        (p::SHUTDOWN, handler!(|c, a| shutdown(c, a).await)),
        (
            p::GET_PUBLIC_KEY,
            handler!(|c, _a| Ok::<_, ApiError>(Value::String(c.key.public_key_hex()))),
        ),
    ]
}

fn get_status(c: &Controller) -> Value {
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    let mut running = 0;
    for w in c.workers.all() {
        if matches!(w.state().status, Status::Starting | Status::Started) {
            running += 1;
            *by_type.entry(w.kind()).or_default() += 1;
        }
    }
    // Crossbar.io's `management_*` keys, plus the uplink's whole state under `uplink`.
    let uplink = c
        .opts
        .uplink
        .as_ref()
        .map(|rx| rx.borrow().to_json())
        .unwrap_or(Value::Null);
    let from_uplink = |k: &str| uplink.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "management_realm": from_uplink("management_realm"),
        "management_node_id": from_uplink("management_node_id"),
        "management_session_id": from_uplink("management_session_id"),
        "management_node_extra": from_uplink("management_node_extra"),
        "uplink": uplink,
        "title": format!("crossbar-edge {}", env!("CARGO_PKG_VERSION")),
        "started": utcstr(c.started),
        "controller_pid": std::process::id(),
        "running_workers": running,
        "workers_by_type": by_type,
        "directory": c.cbdir.display().to_string(),
        "pubkey": c.key.public_key_hex(),
        "ethadr": c.key.info().public_adr_eth,
        "node_id": node_id(c),
    })
}

/// The node's ID: as in Crossbar.io, the management uplink's (the WELCOME authid) overrides
/// `controller.id` once the node has joined its management realm.
fn node_id(c: &Controller) -> Value {
    c.opts
        .uplink
        .as_ref()
        .and_then(|rx| rx.borrow().to_json().get("management_node_id").cloned())
        .filter(|v| v.is_string())
        .or_else(|| c.node_id.clone().map(Value::String))
        .unwrap_or(Value::Null)
}

async fn shutdown(c: Arc<Controller>, a: Args) -> Result<Value, ApiError> {
    let restart = a.bool_or(0, "restart", false)?;
    let mode = a.get(1, "mode").map(|v| Value::from(v.clone()));
    let info = json!({
        "node_id": node_id(&c),
        "restart": restart,
        "mode": mode,
        "who": a.caller,
        "when": utcstr(std::time::SystemTime::now()),
        "was_clean": true,
    });
    tracing::info!(who = a.caller, "node shutdown requested");
    c.publish(
        &format!("crossbar.{}", event::ON_SHUTDOWN),
        vec![info.clone()],
    )
    .await;
    let token = c.shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(SHUTDOWN_DELAY).await;
        token.cancel();
    });
    Ok(info)
}
