//! Node events → CDC events: the node publishes `crossbarfabriccenter.node.<node_id>.
//! [worker.<worker_id>.]on_<kind>_status(<ids…>, old, new)` (its local `crossbar.*` events,
//! mirrored by its uplink); the CDC republishes each as the seed's `cdc.remote.on_<kind>_status@1`
//! with the payload tuple the seed lists (node ID first), and worker log lines on the topic
//! that `map_worker_log_topic@1` hands out.
//!
//! This module only maps; the management realm's backend subscribes and publishes.

use router_core::value::{Dict, List, Value};

use mgmt_api::vocabulary::{Kind, UPLINK_NODE_PREFIX, process_event};

pub const ON_NODE_STATUS: &str = "cdc.remote.on_node_status@1";
pub const ON_WORKER_STATUS: &str = "cdc.remote.on_worker_status@1";
pub const ON_REALM_STATUS: &str = "cdc.remote.on_realm_status@1";
pub const ON_ROLE_STATUS: &str = "cdc.remote.on_role_status@1";
pub const ON_GRANT_STATUS: &str = "cdc.remote.on_grant_status@1";
pub const ON_TRANSPORT_STATUS: &str = "cdc.remote.on_transport_status@1";
pub const ON_WEB_RESOURCE_STATUS: &str = "cdc.remote.on_web_resource_status@1";
pub const ON_COMPONENT_STATUS: &str = "cdc.remote.on_component_status@1";
pub const ON_PROFILE_STATUS: &str = "cdc.remote.on_profile_status@1";
pub const ON_LIMIT_SET: &str = "cdc.remote.on_limit_set@1";

/// Every event the CDC publishes on a management realm (besides worker log topics).
pub const ALL: &[&str] = &[
    ON_NODE_STATUS,
    ON_WORKER_STATUS,
    ON_REALM_STATUS,
    ON_ROLE_STATUS,
    ON_GRANT_STATUS,
    ON_TRANSPORT_STATUS,
    ON_WEB_RESOURCE_STATUS,
    ON_COMPONENT_STATUS,
    ON_PROFILE_STATUS,
    ON_LIMIT_SET,
];

/// Prefix of worker log topics: `cdc.remote.worker_log.<node_id>.<worker_id>`.
pub const WORKER_LOG_PREFIX: &str = "cdc.remote.worker_log.";

/// The topic carrying the log lines of one worker.
pub fn worker_log_topic(node_id: &str, worker_id: &str) -> String {
    format!("{WORKER_LOG_PREFIX}{node_id}.{worker_id}")
}

/// Where a node event came from, parsed from its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTopic<'a> {
    pub node_id: &'a str,
    pub worker_id: Option<&'a str>,
    pub event: &'a str,
}

/// Parses `crossbarfabriccenter.node.<node>.[worker.<w>.]<event>`; `None` for other topics
/// (the heartbeat topics have no node component and are handled apart).
pub fn parse_topic(topic: &str) -> Option<NodeTopic<'_>> {
    let rest = topic.strip_prefix(UPLINK_NODE_PREFIX)?;
    let (node_id, rest) = rest.split_once('.')?;
    if let Some(w) = rest.strip_prefix("worker.") {
        let (worker_id, event) = w.split_once('.')?;
        if event.contains('.') {
            return None;
        }
        Some(NodeTopic {
            node_id,
            worker_id: Some(worker_id),
            event,
        })
    } else if !rest.contains('.') {
        Some(NodeTopic {
            node_id,
            worker_id: None,
            event: rest,
        })
    } else {
        None
    }
}

/// An event to publish on the management realm.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcEvent {
    pub topic: String,
    pub args: List,
    pub kwargs: Dict,
}

/// How a node's status event becomes a CDC event: the seed topic and how many IDs precede
/// `old, new` in the node's arguments.
struct StatusMap {
    topic: String,
    ids: usize,
}

/// The seed topic of a node's status event `on_<kind>_status` (worker-level for all kinds but
/// workers), from the management vocabulary; and the node's `on_limit_set`, which announces
/// the same change as `on_limit_status` (the realm backend publishes one of the two).
fn status_map(worker_level: bool, event: &str) -> Option<StatusMap> {
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.worker_level() == worker_level && k.status_event() == event)
        .or_else(|| {
            (worker_level && event == process_event::ON_LIMIT_SET).then_some(Kind::Limit)
        })?;
    Some(StatusMap {
        topic: seed_topic(kind),
        ids: kind.ids(),
    })
}

/// `cdc.remote.<seed event>@1` of a kind.
fn seed_topic(kind: Kind) -> String {
    format!("cdc.remote.{}@1", kind.seed_event())
}

/// Maps one node event to the CDC event(s) it stands for; `None` for events the seed has no
/// counterpart for (Crossbar.io's `on_realm_started`…, which a node publishes beside its status
/// events) and for malformed payloads.
pub fn map_event(t: &NodeTopic<'_>, args: &List, kwargs: &Dict) -> Option<CdcEvent> {
    let node = Value::from(t.node_id);
    if t.event == "on_log" {
        let worker_id = t.worker_id?;
        return Some(CdcEvent {
            topic: worker_log_topic(t.node_id, worker_id),
            args: args.clone(),
            kwargs: kwargs.clone(),
        });
    }
    let map = status_map(t.worker_id.is_some(), t.event)?;
    if args.len() != map.ids + 2 || !args[..map.ids].iter().all(|v| v.as_str().is_some()) {
        tracing::debug!(
            event = t.event,
            node = t.node_id,
            "status event with unexpected arguments: dropped"
        );
        return None;
    }
    let ids = &args[..map.ids];
    let (old, new) = (args[map.ids].clone(), args[map.ids + 1].clone());
    let mut out: List = vec![node];
    if let Some(w) = t.worker_id {
        out.push(Value::from(w));
    }
    let mut kw = Dict::new();
    match map.topic.as_str() {
        // The seed's tuple has no grant ID: (node, worker, realm, role, old, new). It is
        // added as a keyword argument so subscribers can tell grants apart.
        ON_GRANT_STATUS => {
            out.extend_from_slice(&ids[..2]);
            kw.insert("grant_id".into(), ids[2].clone());
            out.push(old);
            out.push(new);
        }
        // The seed's tuple is (node, worker, profile, status): the new status only.
        ON_PROFILE_STATUS => {
            out.extend_from_slice(ids);
            kw.insert("old_status".into(), old);
            out.push(new);
        }
        _ => {
            out.extend_from_slice(ids);
            out.push(old);
            out.push(new);
        }
    }
    Some(CdcEvent {
        topic: map.topic,
        args: out,
        kwargs: kw,
    })
}

/// The node-status event.
pub fn node_status(node_id: &str, old: &str, new: &str) -> CdcEvent {
    CdcEvent {
        topic: ON_NODE_STATUS.to_owned(),
        args: vec![node_id.into(), old.into(), new.into()],
        kwargs: Dict::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: serde_json::Value) -> List {
        match Value::from(v) {
            Value::List(l) => l,
            _ => unreachable!(),
        }
    }

    fn map(
        topic: &str,
        args: serde_json::Value,
    ) -> Option<(String, serde_json::Value, serde_json::Value)> {
        let t = parse_topic(topic)?;
        map_event(&t, &l(args), &Dict::new()).map(|e| {
            (
                e.topic,
                serde_json::Value::from(Value::List(e.args)),
                serde_json::Value::from(Value::Dict(e.kwargs)),
            )
        })
    }

    #[test]
    fn topics() {
        assert_eq!(
            parse_topic("crossbarfabriccenter.node.n1.on_worker_status"),
            Some(NodeTopic {
                node_id: "n1",
                worker_id: None,
                event: "on_worker_status"
            })
        );
        assert_eq!(
            parse_topic("crossbarfabriccenter.node.n1.worker.w1.on_log"),
            Some(NodeTopic {
                node_id: "n1",
                worker_id: Some("w1"),
                event: "on_log"
            })
        );
        assert_eq!(parse_topic("crossbarfabriccenter.node.on_heartbeat"), None);
        assert_eq!(
            parse_topic("crossbarfabriccenter.node.n1.worker.w1.a.b"),
            None
        );
        assert_eq!(parse_topic("crossbarfabriccenter.node.n1.a.b"), None);
        assert_eq!(parse_topic("other.topic"), None);
    }

    #[test]
    fn every_seed_status_event_is_mapped() {
        use serde_json::json;
        let cases = [
            (
                "crossbarfabriccenter.node.n1.on_worker_status",
                json!(["w1", "starting", "started"]),
                ON_WORKER_STATUS,
                json!(["n1", "w1", "starting", "started"]),
                json!({}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_realm_status",
                json!(["r1", "stopped", "started"]),
                ON_REALM_STATUS,
                json!(["n1", "w1", "r1", "stopped", "started"]),
                json!({}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_role_status",
                json!(["r1", "ro1", "starting", "started"]),
                ON_ROLE_STATUS,
                json!(["n1", "w1", "r1", "ro1", "starting", "started"]),
                json!({}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_grant_status",
                json!(["r1", "ro1", "g1", "started", "stopped"]),
                ON_GRANT_STATUS,
                json!(["n1", "w1", "r1", "ro1", "started", "stopped"]),
                json!({"grant_id": "g1"}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_transport_status",
                json!(["t1", "starting", "started"]),
                ON_TRANSPORT_STATUS,
                json!(["n1", "w1", "t1", "starting", "started"]),
                json!({}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_web_service_status",
                json!(["t1", "info", "starting", "started"]),
                ON_WEB_RESOURCE_STATUS,
                json!(["n1", "w1", "t1", "info", "starting", "started"]),
                json!({}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_component_status",
                json!(["c1", "starting", "started"]),
                ON_COMPONENT_STATUS,
                json!(["n1", "w1", "c1", "starting", "started"]),
                json!({}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_profile_status",
                json!(["p1", "starting", "started"]),
                ON_PROFILE_STATUS,
                json!(["n1", "w1", "p1", "started"]),
                json!({"old_status": "starting"}),
            ),
            (
                "crossbarfabriccenter.node.n1.worker.w1.on_limit_set",
                json!(["nice", null, 5]),
                ON_LIMIT_SET,
                json!(["n1", "w1", "nice", null, 5]),
                json!({}),
            ),
        ];
        let mut seen = std::collections::HashSet::new();
        for (topic, args, want_topic, want_args, want_kwargs) in cases {
            let (t, a, k) = map(topic, args).unwrap_or_else(|| panic!("{topic} not mapped"));
            assert_eq!(t, want_topic, "{topic}");
            assert_eq!(a, want_args, "{topic}");
            assert_eq!(k, want_kwargs, "{topic}");
            seen.insert(t);
        }
        // Every seed event but on_node_status (the CDC's own) comes from a node event.
        assert_eq!(seen.len(), ALL.len() - 1);
    }

    #[test]
    fn every_kind_has_a_seed_event() {
        for k in Kind::ALL {
            assert!(ALL.contains(&seed_topic(k).as_str()), "{}", seed_topic(k));
        }
    }

    #[test]
    fn logs_and_unknown_events() {
        let (t, a, _) = map(
            "crossbarfabriccenter.node.n1.worker.w1.on_log",
            serde_json::json!([{"text": "hi"}]),
        )
        .unwrap();
        assert_eq!(t, "cdc.remote.worker_log.n1.w1");
        assert_eq!(a, serde_json::json!([{"text": "hi"}]));
        assert!(
            map(
                "crossbarfabriccenter.node.n1.on_log",
                serde_json::json!(["x"])
            )
            .is_none()
        );
        assert!(
            map(
                "crossbarfabriccenter.node.n1.worker.w1.on_realm_started",
                serde_json::json!(["r1"])
            )
            .is_none()
        );
        // Wrong shapes are dropped, not forwarded half-mapped.
        assert!(
            map(
                "crossbarfabriccenter.node.n1.worker.w1.on_realm_status",
                serde_json::json!(["r1", "x"])
            )
            .is_none()
        );
        assert!(
            map(
                "crossbarfabriccenter.node.n1.worker.w1.on_realm_status",
                serde_json::json!([1, "a", "b"])
            )
            .is_none()
        );
        // Worker-level names are not node-level ones.
        assert!(
            map(
                "crossbarfabriccenter.node.n1.on_realm_status",
                serde_json::json!(["r1", "a", "b"])
            )
            .is_none()
        );
    }

    #[test]
    fn event_names_follow_one_pattern() {
        for e in ALL {
            let name = e.strip_prefix("cdc.remote.").unwrap();
            assert!(name.starts_with("on_") && name.ends_with("@1"), "{e}");
        }
    }
}
