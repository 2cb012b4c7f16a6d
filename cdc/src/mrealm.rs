//! One management realm at run time: its router realm, and the CDC's backend session on it
//! that offers the remote API (`cdc.remote.*@1`, see `remote`) and
//! `crossbarfabriccenter.mrealm.get_status`, follows the nodes (joins, leaves, heartbeats, a
//! periodic `get_status` call) and republishes their events as the seed's (see `events`).
//!
//! Tasks: an event pump (node events and meta events, from a bounded queue) and a poller; both
//! end when the realm's cancellation token fires or the backend session ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use router_core::Router;
use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::client::{
    CallError, CallOptions, Event, JoinOptions, PublishOptions, RegisterOptions, Session,
    SubscribeOptions, WeakSession,
};
use router_core::message::{Id, Payload};
use router_core::router::ConnectionInfo;
use router_core::uri::MatchPolicy;
use router_core::value::{Dict, List, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::NodesConfig;
use crate::error::{CdcError, Result};
use crate::events::{self, CdcEvent};
use crate::liveness::NodeTracker;
use crate::registry::Registry;
use crate::roles;

/// Capacity of the queue between the backend's subscriptions and the event pump. Overflow
/// policy (the client's `subscribe_stream`): new events are dropped with a warning — the
/// receive loop must never block, and a node flooding its log must not stall the realm.
const EVENT_QUEUE: usize = 8192;
/// How long one `get_status` poll may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(8);
/// Identical limit events within this window are one (a node may publish its own name for
/// the event beside the vocabulary's).
const LIMIT_DEDUPE_WINDOW: Duration = Duration::from_secs(2);

/// What the remote API and the event pump of one realm share.
pub struct RealmState {
    pub name: String,
    pub registry: Arc<Registry>,
    pub tracker: NodeTracker,
    pub nodes: NodesConfig,
    pub router: Arc<Router>,
    session: WeakSession,
    started: Instant,
    started_at: String,
    last_limit_event: Mutex<Option<(List, Instant)>>,
}

/// A running management realm; dropping it does not stop it, [`MrealmHandle::stop`] does.
pub struct MrealmHandle {
    pub state: Arc<RealmState>,
    session: Session,
    cancel: CancellationToken,
}

impl MrealmHandle {
    pub async fn stop(&self) {
        self.cancel.cancel();
        let _ = self.session.leave("wamp.close.system_shutdown").await;
    }
}

/// Joins an in-process session with full rights on `realm`.
pub async fn backend_session(router: &Arc<Router>, realm: &str) -> Result<Session> {
    let conn = ConnectionInfo {
        transport: Arc::new(TransportInfo::new("cdc-backend", "local", "cdc")),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: realm.to_owned(),
            authid: Some("cdc".into()),
            authrole: "trusted".into(),
        }),
    };
    Session::join_local(router, conn, JoinOptions::realm(realm))
        .await
        .map_err(|e| CdcError::Internal(format!("backend session on realm \"{realm}\": {e}")))
}

fn internal(e: impl std::fmt::Display) -> CdcError {
    CdcError::Internal(e.to_string())
}

/// Starts the router realm (with a role per paired node) and its backend.
pub async fn start(
    router: &Arc<Router>,
    registry: &Arc<Registry>,
    nodes: &NodesConfig,
    name: &str,
    parent: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<MrealmHandle> {
    let node_ids: Vec<String> = registry
        .nodes(name)?
        .into_iter()
        .map(|n| n.node_id)
        .collect();
    router
        .start_realm(roles::management_realm(
            name,
            node_ids.iter().map(String::as_str),
        ))
        .map_err(internal)?;
    let session = backend_session(router, name).await?;
    let state = Arc::new(RealmState {
        name: name.to_owned(),
        registry: registry.clone(),
        tracker: NodeTracker::new(name, registry.clone()),
        nodes: nodes.clone(),
        router: router.clone(),
        session: session.downgrade(),
        started: Instant::now(),
        started_at: router_core::util::utcnow(),
        last_limit_event: Mutex::new(None),
    });

    // The whole remote API is one prefix registration; the procedure name picks the handler.
    let st = state.clone();
    session
        .register(
            "cdc.remote.",
            RegisterOptions {
                match_: MatchPolicy::Prefix,
                ..Default::default()
            },
            move |inv| {
                let st = st.clone();
                async move { crate::remote::handle(&st, inv).await }
            },
        )
        .await
        .map_err(internal)?;
    let st = state.clone();
    session
        .register(
            roles::MREALM_GET_STATUS,
            RegisterOptions::default(),
            move |_| {
                let st = st.clone();
                async move { Ok(Payload::args(vec![Value::Dict(st.mrealm_status())])) }
            },
        )
        .await
        .map_err(internal)?;

    let (tx, rx) = mpsc::channel::<Incoming>(EVENT_QUEUE);
    subscribe(
        &session,
        events_topic(),
        MatchPolicy::Prefix,
        tx.clone(),
        Incoming::Node,
    )
    .await?;
    subscribe(
        &session,
        "wamp.session.on_join",
        MatchPolicy::Exact,
        tx.clone(),
        Incoming::Join,
    )
    .await?;
    subscribe(
        &session,
        "wamp.session.on_leave",
        MatchPolicy::Exact,
        tx,
        Incoming::Leave,
    )
    .await?;

    let cancel = parent.child_token();
    tasks.spawn(pump(state.clone(), rx, cancel.clone()));
    tasks.spawn(poll(state.clone(), cancel.clone()));
    // Nodes may have joined between the realm's start and the subscriptions.
    state.reconcile().await;
    tracing::info!(
        realm = name,
        nodes = node_ids.len(),
        "management realm started"
    );
    Ok(MrealmHandle {
        state,
        session,
        cancel,
    })
}

fn events_topic() -> &'static str {
    roles::UPLINK_NODE_PREFIX
}

/// What the pump receives.
enum Incoming {
    Node(Event),
    Join(Event),
    Leave(Event),
}

async fn subscribe(
    session: &Session,
    topic: &str,
    match_: MatchPolicy,
    tx: mpsc::Sender<Incoming>,
    wrap: fn(Event) -> Incoming,
) -> Result<()> {
    let name = topic.to_owned();
    session
        .subscribe(
            topic,
            SubscribeOptions {
                match_,
                ..Default::default()
            },
            move |ev| {
                if tx.try_send(wrap(ev)).is_err() {
                    tracing::warn!(topic = %name, "event queue full: event dropped");
                }
            },
        )
        .await
        .map(drop)
        .map_err(internal)
}

async fn pump(st: Arc<RealmState>, mut rx: mpsc::Receiver<Incoming>, cancel: CancellationToken) {
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => return,
            m = rx.recv() => m,
        };
        let Some(msg) = msg else { return };
        match msg {
            Incoming::Join(ev) => {
                let d = ev.args.first().and_then(Value::as_dict);
                let role = d.and_then(|d| d.get("authrole")).and_then(Value::as_str);
                let session = d.and_then(|d| d.get("session")).and_then(Value::as_u64);
                if let (Some(node), Some(session)) = (role.and_then(roles::node_of_role), session) {
                    let e = st.tracker.joined(node, session);
                    st.publish_all(e).await;
                }
            }
            Incoming::Leave(ev) => {
                let session = ev.args.first().and_then(Value::as_u64);
                let role = ev.args.get(2).and_then(Value::as_str);
                match (role.and_then(roles::node_of_role), session) {
                    (Some(node), Some(session)) => {
                        let e = st.tracker.left(node, session);
                        st.publish_all(e).await;
                    }
                    // Crossbar.io-style leave events carry only the session ID.
                    (None, Some(_)) if role.is_none() => st.reconcile().await,
                    _ => {}
                }
            }
            Incoming::Node(ev) => st.node_event(ev).await,
        }
    }
}

async fn poll(st: Arc<RealmState>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(st.nodes.status_poll());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        // A poll round waits on nodes (up to POLL_TIMEOUT): shutdown must not wait for it.
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = async { st.reconcile().await; st.poll_status().await } => {}
        }
        for (node, sessions) in st.tracker.silent(st.nodes.heartbeat_timeout()) {
            tracing::warn!(realm = %st.name, node = %node, "node silent for too long: disconnecting it");
            if let Some(realm) = st.router.realm(&st.name) {
                for id in sessions {
                    if let Some(s) = realm.session(id) {
                        s.close(
                            "wamp.close.killed",
                            "no heartbeat and no answer to get_status in time",
                        );
                    }
                }
            }
        }
    }
}

impl RealmState {
    /// The backend session, unless the realm is shutting down.
    pub fn session(&self) -> Result<Session> {
        self.session
            .upgrade()
            .filter(|s| !s.is_closed())
            .ok_or_else(|| CdcError::Internal(format!("realm \"{}\" is shutting down", self.name)))
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn started_at(&self) -> &str {
        &self.started_at
    }

    /// `crossbarfabriccenter.mrealm.get_status()`, as Crossbar.io's master answers it.
    pub fn mrealm_status(&self) -> Dict {
        router_core::dict! {
            "type" => "management",
            "realm" => self.name.clone(),
            "now" => router_core::util::utcnow(),
            "started" => self.started_at.clone(),
            "uptime" => self.started.elapsed().as_secs_f64(),
            "tick" => self.started.elapsed().as_secs() / self.nodes.status_poll_secs.max(1),
        }
    }

    /// Publishes events on the realm (best effort: a publication failing means the backend
    /// session is going away).
    pub async fn publish(&self, e: CdcEvent) {
        if let Ok(s) = self.session() {
            let _ = s
                .publish(&e.topic, e.args, e.kwargs, PublishOptions::default())
                .await;
        }
    }

    async fn publish_all(&self, events: impl IntoIterator<Item = CdcEvent>) {
        for e in events {
            self.publish(e).await;
        }
    }

    /// Node sessions on the router realm now.
    fn node_sessions(&self) -> Vec<(String, Id)> {
        self.router
            .realm(&self.name)
            .map(|r| {
                r.sessions(None)
                    .into_iter()
                    .filter_map(|s| {
                        roles::node_of_role(&s.identity.authrole).map(|n| (n.to_owned(), s.id))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn reconcile(&self) {
        let events = self.tracker.reconcile(&self.node_sessions());
        self.publish_all(events).await;
    }

    /// Calls `get_status` on every online node (concurrently), as the real master does.
    async fn poll_status(self: &Arc<Self>) {
        let Ok(session) = self.session() else { return };
        let mut set = tokio::task::JoinSet::new();
        for node in self.tracker.online() {
            let session = session.clone();
            set.spawn(async move {
                let uri = format!("{}get_status", roles::uplink_node_prefix(&node));
                let opts = CallOptions {
                    timeout: Some(POLL_TIMEOUT),
                    ..Default::default()
                };
                let r = session.call(&uri, List::new(), Dict::new(), opts).await;
                (node, r)
            });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok((node, Ok(result))) => self.tracker.answered(&node, result.value()),
                Ok((node, Err(e))) => {
                    tracing::debug!(realm = %self.name, node = %node, error = %e, "get_status poll failed")
                }
                Err(_) => {}
            }
        }
    }

    /// One event published under `crossbarfabriccenter.node.`.
    async fn node_event(&self, ev: Event) {
        let Some(topic) = ev.topic().map(str::to_owned) else {
            return;
        };
        let publisher_role = ev
            .details
            .get("publisher_authrole")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let publisher = roles::node_of_role(&publisher_role);
        if topic == roles::NODE_HEARTBEAT || topic == roles::WORKER_HEARTBEAT {
            let node = ev.args.first().and_then(Value::as_str);
            // Only a node's own heartbeats count (its role is disclosed to the CDC).
            if let (Some(node), Some(publisher)) = (node, publisher)
                && node == publisher
            {
                if topic == roles::NODE_HEARTBEAT {
                    let info = ev.args.get(1).cloned().unwrap_or_default();
                    self.tracker.heartbeat(node, info);
                } else {
                    self.tracker.seen(node);
                }
            }
            return;
        }
        let Some(t) = events::parse_topic(&topic) else {
            return;
        };
        // The router already restricts nodes to their prefix; the CDC's own events are not
        // republished.
        if publisher.is_some_and(|p| p != t.node_id) {
            return;
        }
        let Some(out) = events::map_event(&t, &ev.args, &ev.kwargs) else {
            return;
        };
        if out.topic == events::ON_LIMIT_SET && self.duplicate_limit_event(&out.args) {
            return;
        }
        self.publish(out).await;
    }

    fn duplicate_limit_event(&self, args: &List) -> bool {
        let mut last = self.last_limit_event.lock();
        let now = Instant::now();
        let dup = last
            .as_ref()
            .is_some_and(|(a, t)| a == args && now.duration_since(*t) < LIMIT_DEDUPE_WINDOW);
        *last = Some((args.clone(), now));
        dup
    }
}

/// A WAMP error for a CDC error.
pub fn call_error(e: &CdcError) -> CallError {
    CallError::with_message(e.uri(), e.to_string())
}
