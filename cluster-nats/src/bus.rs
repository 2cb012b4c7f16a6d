//! The NATS side of a clustered realm: one NATS connection per realm, one subject, a task
//! that writes the member's frames in order and one that hands the others' to the realm.
//!
//! Outgoing frames wait in a bounded queue (`max_pending`) while NATS is unreachable; when
//! it is full they are dropped and counted (the local subscribers got them; a publisher is
//! never held up by the cluster). Incoming frames are delivered one at a time, in order.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::{ConnectOptions, Event};
use bytes::Bytes;
use futures_util::StreamExt as _;
use router_core::Realm;
use router_core::cluster::{ClusterBus, ClusterLink};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{NatsAuth, NatsClusterConfig};

/// How often a warning about dropped frames may be logged.
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The connection's state as the management API shows it.
#[derive(Clone, Debug)]
struct Connection {
    state: &'static str,
    since: String,
    last_error: Option<String>,
}

/// Puts frames on the outgoing queue.
struct QueueBus {
    tx: mpsc::Sender<Bytes>,
    dropped: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
    realm: String,
}

impl ClusterBus for QueueBus {
    fn broadcast(&self, frame: Bytes) {
        if self.tx.try_send(frame).is_ok() {
            return;
        }
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_warning.lock().expect("not poisoned");
        if last.is_none_or(|t| t.elapsed() >= DROP_WARNING_INTERVAL) {
            *last = Some(Instant::now());
            tracing::warn!(realm = %self.realm, dropped = n, "cluster: NATS is not taking frames, events for the other members dropped");
        }
    }
}

/// A realm attached to a NATS cluster; stopped (the connection closed) when dropped.
pub struct NatsCluster {
    config: NatsClusterConfig,
    subject: String,
    link: Arc<ClusterLink>,
    bus: Arc<QueueBus>,
    connection: Arc<Mutex<Connection>>,
    client: async_nats::Client,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for NatsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCluster")
            .field("subject", &self.subject)
            .field("member", &self.link.member())
            .finish()
    }
}

impl NatsCluster {
    /// Attaches `realm` to the NATS cluster of `config` and starts its tasks. The realm works
    /// (locally) while NATS is unreachable: the connection is made, and remade, in the
    /// background. Files of `auth` and `tls` are read relative to `base_dir`.
    pub async fn start(
        realm: &Arc<Realm>,
        config: NatsClusterConfig,
        base_dir: &Path,
    ) -> Result<NatsCluster, String> {
        let member = config
            .member
            .clone()
            .unwrap_or_else(|| format!("m{:012x}", rand::random::<u64>() >> 16));
        let subject = config.subject(realm.name());
        let connection = Arc::new(Mutex::new(Connection {
            state: "connecting",
            since: router_core::util::utcnow(),
            last_error: None,
        }));
        let mut options = ConnectOptions::new()
            .name(format!("crossbar-edge {member}"))
            .no_echo()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .ping_interval(Duration::from_secs(2))
            .connection_timeout(Duration::from_secs(5));
        options = match &config.auth {
            None => options,
            Some(NatsAuth::Token { token }) => options.token(token.clone()),
            Some(NatsAuth::Userpass { user, password }) => {
                options.user_and_password(user.clone(), password.clone())
            }
            Some(NatsAuth::Nkey { seed }) => options.nkey(seed.clone()),
            Some(NatsAuth::Credentials { file }) => options
                .credentials_file(base_dir.join(file))
                .await
                .map_err(|e| format!("cluster.auth.file: cannot read {file}: {e}"))?,
        };
        if let Some(tls) = &config.tls {
            for ca in &tls.ca_certificates {
                options = options.add_root_certificates(base_dir.join(ca));
            }
            if let (Some(cert), Some(key)) = (&tls.certificate, &tls.key) {
                options = options.add_client_certificate(base_dir.join(cert), base_dir.join(key));
            }
            options = options.require_tls(true);
        }
        let events = connection.clone();
        let realm_name = realm.name().to_owned();
        options = options.event_callback(move |event| {
            let events = events.clone();
            let realm = realm_name.clone();
            async move {
                let mut c = events.lock().expect("not poisoned");
                match event {
                    Event::Connected => {
                        tracing::info!(%realm, "cluster: connected to NATS");
                        c.state = "connected";
                        c.since = router_core::util::utcnow();
                    }
                    Event::Disconnected => {
                        tracing::warn!(%realm, "cluster: disconnected from NATS, reconnecting");
                        c.state = "connecting";
                        c.since = router_core::util::utcnow();
                    }
                    Event::Closed => c.state = "closed",
                    other => {
                        tracing::warn!(%realm, event = %other, "cluster: NATS");
                        c.last_error = Some(other.to_string());
                    }
                }
            }
        });
        let servers: Vec<async_nats::ServerAddr> = config
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.parse()
                    .map_err(|e| format!("cluster.servers[{i}]: {s}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let client = options
            .connect(servers)
            .await
            .map_err(|e| format!("cluster: cannot connect to NATS: {e}"))?;
        let (tx, rx) = mpsc::channel(config.max_pending);
        let bus = Arc::new(QueueBus {
            tx,
            dropped: AtomicU64::new(0),
            last_warning: Mutex::new(None),
            realm: realm.name().to_owned(),
        });
        let mut subscriber = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| format!("cluster: cannot subscribe to {subject}: {e}"))?;
        let link = realm
            .attach_cluster(member, bus.clone())
            .map_err(|e| e.to_string())?;
        let mut tasks = Vec::new();
        let incoming = link.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                incoming.on_frame(message.payload).await;
            }
        }));
        tasks.push(tokio::spawn(drain(client.clone(), subject.clone(), rx)));
        tasks.push(tokio::spawn(heartbeat(link.clone())));
        tracing::info!(realm = %realm.name(), %subject, member = %link.member(), "cluster: realm attached to NATS");
        Ok(NatsCluster {
            config,
            subject,
            link,
            bus,
            connection,
            client,
            tasks,
        })
    }

    /// The realm's cluster as `get_router_realm` shows it (credentials left out).
    pub fn status(&self) -> Value {
        let c = self.connection.lock().expect("not poisoned").clone();
        let counters = self.link.counters();
        json!({
            "type": "nats",
            "subject": self.subject,
            "subject_prefix": self.config.subject_prefix,
            "member": self.link.member(),
            "servers": self.config.servers,
            "state": c.state,
            "since": c.since,
            "last_error": c.last_error,
            "server": self.client.server_info().server_name,
            "events_out": counters.events_out,
            "events_in": counters.events_in,
            "events_lost": counters.events_lost,
            "events_dropped": self.bus.dropped.load(Ordering::Relaxed),
            "frames_bad": counters.frames_bad,
            "member_conflicts": counters.member_conflicts,
            "members": self.link.members(),
        })
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // The others forget this member at once instead of after its timeout.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (client, subject, leave) = (
                self.client.clone(),
                self.subject.clone(),
                self.link.leave_frame(),
            );
            runtime.spawn(async move {
                if client.publish(subject, leave).await.is_ok() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
                }
            });
        }
    }
}

/// Says every [`HEARTBEAT_INTERVAL`](router_core::cluster::HEARTBEAT_INTERVAL) that this
/// member is alive, and lets the link forget silent members.
async fn heartbeat(link: Arc<ClusterLink>) {
    let mut every = tokio::time::interval(router_core::cluster::HEARTBEAT_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        link.tick();
    }
}

/// Writes the member's frames to NATS, in order.
async fn drain(client: async_nats::Client, subject: String, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(frame) = rx.recv().await {
        if let Err(e) = client.publish(subject.clone(), frame).await {
            tracing::warn!(%subject, error = %e, "cluster: a frame could not be sent to NATS");
        }
    }
}
