//! The bridge between the local management realm `crossbar` and the master: every local
//! registration under `crossbar.` is mirrored as `crossbarfabriccenter.node.<node_id>.<suffix>`
//! on the uplink (calls forwarded with args and kwargs, errors back with URI and args), and
//! every local event under `crossbar.` is republished there under the same suffix.
//!
//! Registrations are found through the local meta API (`wamp.registration.list/get`) and
//! followed with `wamp.registration.on_create/on_delete`; one task applies both in order, so a
//! registration listed and announced twice is mirrored once.
//!
//! Two local sessions: calls go out on one, events come in on the other. A management
//! procedure publishes its events with `exclude` = the caller, and the caller of a call that
//! came over the uplink is the call session: the event session still gets those events
//! (Crossbar.io's bridge loses them).

use std::collections::HashMap;
use std::sync::Arc;

use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::client::{
    CallError, CallOptions, ClientError, Event, JoinOptions, PublishOptions, RegisterOptions,
    Registration, Session, SubscribeOptions,
};
use router_core::dealer::InvokePolicy;
use router_core::message::{Id, Payload};
use router_core::router::{ConnectionInfo, Router};
use router_core::uri::MatchPolicy;
use router_core::value::{Dict, List, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The local management realm.
pub const LOCAL_REALM: &str = "crossbar";
/// The local namespace that is bridged.
pub const LOCAL_PREFIX: &str = "crossbar.";

/// Local events waiting to be republished; beyond this, events are dropped (and counted) so
/// that a slow uplink never holds up the local router.
const EVENT_QUEUE: usize = 4096;
/// A master that has not yet noticed the node's previous connection is gone still holds its
/// registrations; mirroring is retried this often until the old session is dropped.
const RETRY_TAKEN: std::time::Duration = std::time::Duration::from_secs(2);

use mgmt_api::vocabulary::uplink_node_prefix;

/// The uplink URI of a local `crossbar.<suffix>` URI.
pub fn to_remote(local: &str, node_id: &str) -> Option<String> {
    local
        .strip_prefix(LOCAL_PREFIX)
        .map(|suffix| format!("{}{suffix}", uplink_node_prefix(node_id)))
}

/// The local URI of an uplink `crossbarfabriccenter.node.<node_id>.<suffix>` URI.
pub fn to_local(remote: &str, node_id: &str) -> Option<String> {
    remote
        .strip_prefix(&uplink_node_prefix(node_id))
        .map(|suffix| format!("{LOCAL_PREFIX}{suffix}"))
}

/// Joins the local realm `crossbar` in-process as `trusted`.
pub async fn join_local(router: &Arc<Router>, authid: &str) -> Result<Session, ClientError> {
    let conn = ConnectionInfo {
        transport: Arc::new(TransportInfo::new("uplink", "local", "uplink")),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: LOCAL_REALM.into(),
            authid: Some(authid.into()),
            authrole: "trusted".into(),
        }),
    };
    Session::join_local(router, conn, JoinOptions::realm(LOCAL_REALM)).await
}

/// What the meta API says about one local registration.
#[derive(Debug, Clone, PartialEq)]
struct LocalReg {
    id: Id,
    uri: String,
    policy: MatchPolicy,
}

impl LocalReg {
    fn from_details(d: &Dict) -> Option<LocalReg> {
        Some(LocalReg {
            id: d.get("id")?.as_u64()?,
            uri: d.get("uri")?.as_str()?.to_owned(),
            policy: d
                .get("match")
                .and_then(Value::as_str)
                .and_then(MatchPolicy::parse)
                .unwrap_or_default(),
        })
    }
}

enum MetaEvent {
    Created(LocalReg),
    Deleted(Id),
}

/// A running bridge for one uplink session. Stop it with [`Bridge::stop`]; it also ends by
/// itself when either side's session ends.
pub struct Bridge {
    calls: Session,
    events: Session,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Bridge {
    /// Joins the local realm twice (calls, events), mirrors the current registrations and
    /// starts following changes. Returns once the current registrations are mirrored.
    pub async fn start(
        local: &Arc<Router>,
        uplink: &Session,
        node_id: &str,
    ) -> Result<Bridge, ClientError> {
        let calls = join_local(local, "uplink-calls").await?;
        let events = join_local(local, "uplink-events").await?;
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();

        // Follow first, then list: nothing created in between is missed.
        let (meta_tx, meta_rx) = mpsc::unbounded_channel();
        let tx = meta_tx.clone();
        calls
            .subscribe(
                "wamp.registration.on_create",
                SubscribeOptions::default(),
                move |ev: Event| {
                    if let Some(r) = ev
                        .args
                        .get(1)
                        .and_then(Value::as_dict)
                        .and_then(LocalReg::from_details)
                    {
                        let _ = tx.send(MetaEvent::Created(r));
                    }
                },
            )
            .await?;
        let tx = meta_tx;
        calls
            .subscribe(
                "wamp.registration.on_delete",
                SubscribeOptions::default(),
                move |ev: Event| {
                    if let Some(id) = ev.args.get(1).and_then(Value::as_u64) {
                        let _ = tx.send(MetaEvent::Deleted(id));
                    }
                },
            )
            .await?;
        let existing = list_registrations(&calls).await?;

        let mut mirror = Mirror {
            calls: calls.clone(),
            uplink: uplink.clone(),
            node_id: node_id.to_owned(),
            mirrored: HashMap::new(),
            pending: HashMap::new(),
        };
        mirror.add_many(existing).await;
        tracing::info!(
            node_id,
            procedures = mirror.mirrored.len(),
            "uplink bridge: local procedures registered on the master"
        );
        tasks.push(tokio::spawn(follow(mirror, meta_rx, cancel.clone())));

        let (ev_tx, ev_rx) = mpsc::channel::<Event>(EVENT_QUEUE);
        let dropped = std::sync::atomic::AtomicU64::new(0);
        events
            .subscribe(
                LOCAL_PREFIX,
                SubscribeOptions {
                    match_: MatchPolicy::Prefix,
                    ..Default::default()
                },
                move |ev| {
                    if ev_tx.try_send(ev).is_err() {
                        let n = dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if n == 1 || n.is_multiple_of(1000) {
                            tracing::warn!(dropped = n, "uplink event queue full: events dropped");
                        }
                    }
                },
            )
            .await?;
        tasks.push(tokio::spawn(republish(
            uplink.clone(),
            node_id.to_owned(),
            ev_rx,
            cancel.clone(),
        )));
        Ok(Bridge {
            calls,
            events,
            cancel,
            tasks,
        })
    }

    /// The local session the bridge calls on (the heartbeat reads local state through it).
    pub fn local(&self) -> &Session {
        &self.calls
    }

    /// Stops following and leaves both local sessions.
    pub async fn stop(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        let _ = tokio::join!(
            self.calls.leave("wamp.close.normal"),
            self.events.leave("wamp.close.normal")
        );
    }
}

/// Every registration on the local realm now.
async fn list_registrations(s: &Session) -> Result<Vec<LocalReg>, ClientError> {
    let listed = s.call_simple("wamp.registration.list", List::new()).await?;
    let mut ids: Vec<Id> = Vec::new();
    if let Some(d) = listed.as_dict() {
        for policy in ["exact", "prefix", "wildcard"] {
            if let Some(l) = d.get(policy).and_then(Value::as_list) {
                ids.extend(l.iter().filter_map(Value::as_u64));
            }
        }
    }
    let mut out = Vec::new();
    for id in ids {
        match s
            .call_simple("wamp.registration.get", vec![Value::from(id)])
            .await
        {
            Ok(v) => out.extend(v.as_dict().and_then(LocalReg::from_details)),
            // Gone between list and get: its on_delete is on the way or already handled.
            Err(e) if e.error == "wamp.error.no_such_registration" => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// The uplink registrations that mirror local ones, by local registration id.
struct Mirror {
    calls: Session,
    uplink: Session,
    node_id: String,
    mirrored: HashMap<Id, Registration>,
    /// Registrations the master refused because the URI is still taken, to retry.
    pending: HashMap<Id, LocalReg>,
}

impl Mirror {
    async fn add(&mut self, r: LocalReg) {
        self.add_many(vec![r]).await;
    }

    /// Mirrors `regs` on the uplink, all registrations in flight at once (a router worker
    /// has dozens of procedures, and the master may be far away).
    async fn add_many(&mut self, regs: Vec<LocalReg>) {
        let mut set = tokio::task::JoinSet::new();
        for r in regs {
            if self.mirrored.contains_key(&r.id) {
                continue;
            }
            let Some(remote) = to_remote(&r.uri, &self.node_id) else {
                continue;
            };
            self.pending.remove(&r.id);
            let uplink = self.uplink.clone();
            let handler = forwarder(self.calls.downgrade(), self.node_id.clone(), &r);
            let opts = RegisterOptions {
                match_: r.policy,
                invoke: InvokePolicy::Single,
            };
            set.spawn(async move {
                let result = uplink.register(&remote, opts, handler).await;
                (r, remote, result)
            });
        }
        while let Some(joined) = set.join_next().await {
            let Ok((r, remote, result)) = joined else {
                continue;
            };
            match result {
                Ok(reg) => {
                    tracing::debug!(local = %r.uri, remote = %remote, "procedure bridged");
                    self.mirrored.insert(r.id, reg);
                }
                Err(e) if e.error_uri() == Some("wamp.error.procedure_already_exists") => {
                    tracing::info!(remote = %remote, "procedure still registered on the master by an earlier connection; retrying");
                    self.pending.insert(r.id, r);
                }
                Err(e) => {
                    tracing::warn!(local = %r.uri, remote = %remote, error = %e, "cannot register procedure on the master")
                }
            }
        }
    }

    async fn retry(&mut self) {
        let pending: Vec<LocalReg> = self.pending.values().cloned().collect();
        self.add_many(pending).await;
    }

    async fn remove(&mut self, id: Id) {
        self.pending.remove(&id);
        if let Some(reg) = self.mirrored.remove(&id) {
            match self.uplink.unregister(&reg).await {
                Ok(()) => tracing::debug!(remote = %reg.procedure, "procedure unbridged"),
                Err(e) => {
                    tracing::debug!(remote = %reg.procedure, error = %e, "unregister on the master failed")
                }
            }
        }
    }
}

/// The uplink handler of one mirrored registration: calls the local procedure with the
/// same args and kwargs, and hands back its result or its error (URI, args, kwargs).
fn forwarder(
    local: router_core::client::WeakSession,
    node_id: String,
    r: &LocalReg,
) -> impl Fn(
    router_core::client::Invocation,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Payload, CallError>> + Send>>
+ Send
+ Sync
+ 'static {
    let exact_local = r.uri.clone();
    let policy = r.policy;
    move |inv: router_core::client::Invocation| {
        let local = local.upgrade();
        // Pattern registrations: the router tells which URI was called.
        let target = match policy {
            MatchPolicy::Exact => Some(exact_local.clone()),
            _ => inv.procedure().and_then(|p| to_local(p, &node_id)),
        };
        Box::pin(async move {
            let local = local.ok_or_else(|| {
                CallError::with_message("wamp.error.canceled", "the node's uplink bridge stopped")
            })?;
            let target = target.ok_or_else(|| {
                CallError::with_message(
                    "wamp.error.invalid_uri",
                    "the called procedure is not under this node's prefix",
                )
            })?;
            let r = local
                .call(&target, inv.args, inv.kwargs, CallOptions::default())
                .await?;
            Ok(Payload::new(r.args, r.kwargs))
        })
    }
}

async fn follow(
    mut mirror: Mirror,
    mut rx: mpsc::UnboundedReceiver<MetaEvent>,
    cancel: CancellationToken,
) {
    let mut retry = tokio::time::interval(RETRY_TAKEN);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = retry.tick() => {
                if !mirror.pending.is_empty() {
                    mirror.retry().await;
                }
                continue;
            }
            ev = rx.recv() => match ev { Some(ev) => ev, None => return },
        };
        match ev {
            MetaEvent::Created(r) => mirror.add(r).await,
            MetaEvent::Deleted(id) => mirror.remove(id).await,
        }
    }
}

async fn republish(
    uplink: Session,
    node_id: String,
    mut rx: mpsc::Receiver<Event>,
    cancel: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = rx.recv() => match ev { Some(ev) => ev, None => return },
        };
        let Some(remote) = ev.topic().and_then(|t| to_remote(t, &node_id)) else {
            continue;
        };
        // Unacknowledged, in order: the uplink's queue keeps the local order and a slow
        // master does not hold up the next event's publication round trip.
        if let Err(e) = uplink
            .publish(&remote, ev.args, ev.kwargs, PublishOptions::default())
            .await
        {
            tracing::debug!(topic = %remote, error = %e, "event not republished");
            if uplink.is_closed() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_mapping() {
        assert_eq!(
            to_remote("crossbar.worker.w1.get_cpu_affinity", "n1").as_deref(),
            Some("crossbarfabriccenter.node.n1.worker.w1.get_cpu_affinity")
        );
        assert_eq!(to_remote("com.example.x", "n1"), None);
        assert_eq!(to_remote("crossbarx.y", "n1"), None);
        assert_eq!(
            to_local("crossbarfabriccenter.node.n1.get_status", "n1").as_deref(),
            Some("crossbar.get_status")
        );
        assert_eq!(
            to_local("crossbarfabriccenter.node.n2.get_status", "n1"),
            None
        );
    }
}
