//! Heartbeats to the master, as Crossbar.io's edge node sends them (the first after
//! `startup_delay`, then every `heartbeat_period`):
//! `crossbarfabriccenter.node.on_heartbeat(node_id, {timestamp, period, mrealm_id, seq, workers,
//! system, state, pubkey})` and, per worker (the controller included),
//! `crossbarfabriccenter.node.on_worker_heartbeat(node_id, worker_id, {...})`.
//!
//! Worker counts and system stats come from the local management API (`crossbar.get_workers`,
//! `crossbar.get_worker`, `crossbar.get_system_stats`) with short timeouts; when it is not
//! there (yet), the heartbeat still goes out with what is known.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mgmt_api::procedures::controller;
use router_core::client::{CallOptions, PublishOptions, Session};
use router_core::dict;
use router_core::value::{Dict, List, Value};
use tokio_util::sync::CancellationToken;

use super::target::HeartbeatSettings;

use mgmt_api::vocabulary::{NODE_HEARTBEAT, WORKER_HEARTBEAT};

/// A local call that takes longer than this is left out of the heartbeat.
const LOCAL_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Who the heartbeats are from.
#[derive(Clone, Debug)]
pub struct Identity {
    pub node_id: String,
    pub mrealm: String,
    pub pubkey: String,
}

/// Sends heartbeats until `stop` is cancelled or the uplink session ends.
pub async fn run(
    uplink: Session,
    local: Session,
    who: Identity,
    settings: HeartbeatSettings,
    stop: CancellationToken,
) {
    let mut next = tokio::time::Instant::now() + settings.startup_delay;
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        if uplink.is_closed() {
            return;
        }
        seq += 1;
        next += settings.period;
        let beat = tokio::select! {
            _ = stop.cancelled() => return,
            b = beat(&uplink, &local, &who, &settings, seq) => b,
        };
        if let Err(e) = beat {
            tracing::debug!(node_id = %who.node_id, seq, error = %e, "heartbeat not delivered");
        }
        // After a long stall, do not fire a burst to catch up.
        let now = tokio::time::Instant::now();
        if next < now {
            next = now + settings.period;
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// Seconds as the master expects them: an integer when whole.
fn period_value(p: Duration) -> Value {
    if p.subsec_nanos() == 0 {
        Value::from(p.as_secs())
    } else {
        Value::from(p.as_secs_f64())
    }
}

async fn local_call(local: &Session, procedure: &str, args: List) -> Option<Value> {
    let opts = CallOptions {
        timeout: Some(LOCAL_CALL_TIMEOUT),
        ..Default::default()
    };
    local
        .call(procedure, args, Dict::new(), opts)
        .await
        .ok()
        .map(|r| r.value())
}

/// The node's workers by id with their type, from the local management API.
async fn workers(local: &Session) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(Value::List(ids)) =
        local_call(local, &controller::GET_WORKERS.uri(None), List::new()).await
    else {
        return out;
    };
    for id in ids.iter().filter_map(Value::as_str) {
        let kind = local_call(
            local,
            &controller::GET_WORKER.uri(None),
            vec![Value::from(id)],
        )
        .await
        .and_then(|w| {
            w.as_dict()
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".into());
        out.insert(id.to_owned(), kind);
    }
    out
}

async fn beat(
    uplink: &Session,
    local: &Session,
    who: &Identity,
    settings: &HeartbeatSettings,
    seq: u64,
) -> Result<(), router_core::client::ClientError> {
    let workers = workers(local).await;
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    by_type.insert("controller", 1);
    for kind in workers.values() {
        *by_type.entry(kind.as_str()).or_default() += 1;
    }
    let system = if settings.include_system_stats {
        local_call(local, &controller::GET_SYSTEM_STATS.uri(None), List::new())
            .await
            .filter(|v| v.as_dict().is_some())
            .unwrap_or_else(|| Value::Dict(Dict::new()))
    } else {
        Value::Dict(Dict::new())
    };
    let timestamp = now_ns();
    let period = period_value(settings.period);
    let counts: Dict = by_type
        .iter()
        .map(|(k, n)| ((*k).to_owned(), Value::from(*n)))
        .collect();
    let node = dict! {
        "timestamp" => timestamp,
        "period" => period.clone(),
        "mrealm_id" => who.mrealm.clone(),
        "seq" => seq,
        "workers" => counts,
        "system" => system,
        "state" => 1u64,
        "pubkey" => who.pubkey.clone(),
    };
    uplink
        .publish(
            NODE_HEARTBEAT,
            vec![Value::from(who.node_id.as_str()), Value::Dict(node)],
            Dict::new(),
            PublishOptions::acknowledged(),
        )
        .await?;
    if settings.send_workers_heartbeats {
        let all = std::iter::once(("controller", "controller"))
            .chain(workers.iter().map(|(id, t)| (id.as_str(), t.as_str())));
        for (id, kind) in all {
            let hb = dict! {
                "timestamp" => timestamp,
                "period" => period.clone(),
                "mrealm_id" => who.mrealm.clone(),
                "seq" => seq,
                "type" => kind,
                "state" => 1u64,
            };
            uplink
                .publish(
                    WORKER_HEARTBEAT,
                    vec![
                        Value::from(who.node_id.as_str()),
                        Value::from(id),
                        Value::Dict(hb),
                    ],
                    Dict::new(),
                    PublishOptions::acknowledged(),
                )
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_an_integer_when_whole() {
        assert_eq!(period_value(Duration::from_secs(10)), Value::from(10u64));
        assert_eq!(
            period_value(Duration::from_millis(1500)),
            Value::from(1.5f64)
        );
    }
}
