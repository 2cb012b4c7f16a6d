//! Which nodes of a management realm are online: a node is online while it has a session on
//! the realm. Joins and leaves come from the WAMP meta events (and are reconciled with the
//! realm's session list on every poll, so a missed event heals); heartbeats and answers to the
//! periodic `get_status` call keep a node fresh, and a node that stays silent longer than the
//! heartbeat timeout is disconnected, which makes it offline.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use router_core::message::Id;
use router_core::value::Value;

use crate::events::{self, CdcEvent};
use crate::registry::{NodeStatus, Registry};

/// What the CDC knows about a connected node.
#[derive(Debug, Clone)]
struct Live {
    sessions: BTreeSet<Id>,
    last_seen: Instant,
    /// When the node came online: its uplink registers its API just after joining.
    came_online: Instant,
    online_since: String,
    heartbeat: Option<Value>,
    status: Option<Value>,
}

/// A snapshot for `query_node@1`.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveInfo {
    pub online_since: String,
    pub sessions: Vec<Id>,
    pub heartbeat: Option<Value>,
    pub status: Option<Value>,
}

/// The online nodes of one management realm.
pub struct NodeTracker {
    realm: String,
    registry: Arc<Registry>,
    nodes: Mutex<HashMap<String, Live>>,
}

impl NodeTracker {
    pub fn new(realm: &str, registry: Arc<Registry>) -> Self {
        NodeTracker {
            realm: realm.to_owned(),
            registry,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    fn persist(&self, node_id: &str, status: NodeStatus, heartbeat: Option<&str>) {
        if let Err(e) = self
            .registry
            .set_node_status(&self.realm, node_id, status, heartbeat)
        {
            tracing::warn!(realm = %self.realm, node = node_id, error = %e, "cannot record node status");
        }
    }

    /// A session of the node joined; the status event if the node came online.
    pub fn joined(&self, node_id: &str, session: Id) -> Option<CdcEvent> {
        let came_online = {
            let mut nodes = self.nodes.lock();
            match nodes.get_mut(node_id) {
                Some(l) => {
                    l.sessions.insert(session);
                    l.last_seen = Instant::now();
                    false
                }
                None => {
                    nodes.insert(
                        node_id.to_owned(),
                        Live {
                            sessions: BTreeSet::from([session]),
                            last_seen: Instant::now(),
                            came_online: Instant::now(),
                            online_since: router_core::util::utcnow(),
                            heartbeat: None,
                            status: None,
                        },
                    );
                    true
                }
            }
        };
        came_online.then(|| {
            tracing::info!(realm = %self.realm, node = node_id, "node online");
            self.persist(node_id, NodeStatus::Online, None);
            events::node_status(node_id, "offline", "online")
        })
    }

    /// A session of the node left; the status event if the node went offline.
    pub fn left(&self, node_id: &str, session: Id) -> Option<CdcEvent> {
        let went_offline = {
            let mut nodes = self.nodes.lock();
            match nodes.get_mut(node_id) {
                Some(l) => {
                    l.sessions.remove(&session);
                    if l.sessions.is_empty() {
                        nodes.remove(node_id);
                        true
                    } else {
                        false
                    }
                }
                None => false,
            }
        };
        went_offline.then(|| {
            tracing::info!(realm = %self.realm, node = node_id, "node offline");
            self.persist(node_id, NodeStatus::Offline, None);
            events::node_status(node_id, "online", "offline")
        })
    }

    /// Brings the tracker in line with the node sessions the realm has now; returns the
    /// status events of the changes.
    pub fn reconcile(&self, present: &[(String, Id)]) -> Vec<CdcEvent> {
        let mut out = Vec::new();
        let known: Vec<(String, Id)> = {
            let nodes = self.nodes.lock();
            nodes
                .iter()
                .flat_map(|(n, l)| l.sessions.iter().map(move |s| (n.clone(), *s)))
                .collect()
        };
        for (node, s) in &known {
            if !present.iter().any(|(n, p)| n == node && p == s) {
                out.extend(self.left(node, *s));
            }
        }
        for (node, s) in present {
            out.extend(self.joined_quietly(node, *s));
        }
        out
    }

    /// Like [`joined`](Self::joined) without refreshing `last_seen` for known sessions (a
    /// session merely existing is not a sign of life).
    fn joined_quietly(&self, node_id: &str, session: Id) -> Option<CdcEvent> {
        {
            let mut nodes = self.nodes.lock();
            if let Some(l) = nodes.get_mut(node_id) {
                l.sessions.insert(session);
                return None;
            }
        }
        self.joined(node_id, session)
    }

    /// A heartbeat from the node.
    pub fn heartbeat(&self, node_id: &str, info: Value) {
        let known = {
            let mut nodes = self.nodes.lock();
            match nodes.get_mut(node_id) {
                Some(l) => {
                    l.last_seen = Instant::now();
                    l.heartbeat = Some(info);
                    true
                }
                None => false,
            }
        };
        if known {
            self.persist(
                node_id,
                NodeStatus::Online,
                Some(&router_core::util::utcnow()),
            );
        }
    }

    /// Any other sign of life (a worker heartbeat).
    pub fn seen(&self, node_id: &str) {
        if let Some(l) = self.nodes.lock().get_mut(node_id) {
            l.last_seen = Instant::now();
        }
    }

    /// The node answered `get_status`.
    pub fn answered(&self, node_id: &str, status: Value) {
        if let Some(l) = self.nodes.lock().get_mut(node_id) {
            l.last_seen = Instant::now();
            l.status = Some(status);
        }
    }

    pub fn is_online(&self, node_id: &str) -> bool {
        self.nodes.lock().contains_key(node_id)
    }

    /// How long the node has been online (`None` when it is offline).
    pub fn online_for(&self, node_id: &str) -> Option<Duration> {
        self.nodes
            .lock()
            .get(node_id)
            .map(|l| l.came_online.elapsed())
    }

    /// IDs of the online nodes, sorted.
    pub fn online(&self) -> Vec<String> {
        let mut v: Vec<String> = self.nodes.lock().keys().cloned().collect();
        v.sort();
        v
    }

    pub fn info(&self, node_id: &str) -> Option<LiveInfo> {
        self.nodes.lock().get(node_id).map(|l| LiveInfo {
            online_since: l.online_since.clone(),
            sessions: l.sessions.iter().copied().collect(),
            heartbeat: l.heartbeat.clone(),
            status: l.status.clone(),
        })
    }

    /// Online nodes not heard from for `timeout`, with their sessions (to be disconnected).
    pub fn silent(&self, timeout: Duration) -> Vec<(String, Vec<Id>)> {
        let now = Instant::now();
        self.nodes
            .lock()
            .iter()
            .filter(|(_, l)| now.duration_since(l.last_seen) >= timeout)
            .map(|(n, l)| (n.clone(), l.sessions.iter().copied().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::pubkey;

    fn tracker() -> NodeTracker {
        let reg = Arc::new(Registry::open_in_memory().unwrap());
        reg.transaction(|tx| {
            crate::registry::users::create_or_add_key(tx, "alice", "a@example.com", &pubkey(1))?;
            crate::registry::realms::create(tx, "m1", &pubkey(1))?;
            crate::registry::nodes::register(tx, "m1", &pubkey(10), "node1", None)?;
            Ok(())
        })
        .unwrap();
        NodeTracker::new("m1", reg)
    }

    #[test]
    fn join_leave_and_events() {
        let t = tracker();
        let e = t.joined("node1", 1).unwrap();
        assert_eq!(e.topic, events::ON_NODE_STATUS);
        assert_eq!(
            e.args,
            vec![Value::from("node1"), "offline".into(), "online".into()]
        );
        assert_eq!(
            t.registry.node("m1", "node1").unwrap().unwrap().status,
            NodeStatus::Online
        );
        // A second session (a reconnect before the old one is gone) changes nothing.
        assert!(t.joined("node1", 2).is_none());
        assert!(t.left("node1", 1).is_none());
        assert!(t.is_online("node1"));
        let e = t.left("node1", 2).unwrap();
        assert_eq!(e.args[2], Value::from("offline"));
        assert!(!t.is_online("node1"));
        assert!(t.left("node1", 2).is_none());
        assert_eq!(
            t.registry.node("m1", "node1").unwrap().unwrap().status,
            NodeStatus::Offline
        );
    }

    #[test]
    fn reconcile_heals_missed_events() {
        let t = tracker();
        t.joined("node1", 1);
        let ev = t.reconcile(&[("node1".into(), 5)]);
        // Session 1 is gone (offline), session 5 is there (online again).
        assert_eq!(ev.len(), 2);
        assert!(t.is_online("node1"));
        assert!(t.reconcile(&[("node1".into(), 5)]).is_empty());
        assert_eq!(t.reconcile(&[]).len(), 1);
        assert!(t.online().is_empty());
    }

    #[test]
    fn heartbeats_and_silence() {
        let t = tracker();
        t.joined("node1", 1);
        t.heartbeat("node1", Value::from("hb"));
        t.answered("node1", Value::from("st"));
        let info = t.info("node1").unwrap();
        assert_eq!(info.heartbeat, Some(Value::from("hb")));
        assert_eq!(info.status, Some(Value::from("st")));
        assert!(
            t.registry
                .node("m1", "node1")
                .unwrap()
                .unwrap()
                .last_heartbeat
                .is_some()
        );
        assert!(t.silent(Duration::from_secs(60)).is_empty());
        assert_eq!(
            t.silent(Duration::ZERO),
            vec![("node1".to_string(), vec![1])]
        );
        // Heartbeats of unknown nodes are ignored.
        t.heartbeat("ghost", Value::Null);
        assert!(!t.is_online("ghost"));
    }
}
