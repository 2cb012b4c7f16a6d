//! The node controller: the management router (realm `crossbar`), the worker processes it
//! starts and supervises, the `crossbar.*` management API and the local admin socket.
//!
//! Entry points: [`Controller::start`] (router, own session, API, `node.sock`),
//! [`Controller::boot`] (the workers of the config, in parallel), [`Controller::stop`]
//! (every worker SIGTERM → grace → SIGKILL, then the router). [`crate::node::run`] strings
//! them together; the uplink reaches the management realm through [`Controller::router`].

pub mod api;
pub mod client;
pub mod config_ops;
mod events;
mod launch;
pub mod node_sock;
pub mod realm;
mod supervise;
mod watch;
pub mod workers;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use mgmt_api::vocabulary::{MANAGEMENT_REALM, event};
use router_core::client::{JoinOptions, Session, SubscribeOptions};
use router_core::uri::MatchPolicy;
use router_core::{Realm, Router};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use worker_host::log::DEFAULT_LOG_CAPACITY;

use crate::config::{ConfigFormat, ConfigSource, NodeConfig, WorkerConfig};
use crate::keys::NodeKey;
use crate::node::{RunConfig, RunError};

pub use api::ApiError;
use workers::{Registry, Worker, WorkerSpec};

/// Tunables of the controller (defaults suit production; tests shorten some).
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// Log records kept per worker.
    pub log_capacity: usize,
    /// How long a worker gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// How long a native worker may take from spawn to `on_worker_ready`.
    pub ready_timeout: Duration,
    /// The executable run as `_exec_worker` (default: this one).
    pub exe: Option<PathBuf>,
    /// The uplink's state, reported by `get_status` (none: the node runs without an uplink).
    pub uplink: Option<tokio::sync::watch::Receiver<crate::uplink::UplinkState>>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            log_capacity: log_capacity_from_env().unwrap_or(DEFAULT_LOG_CAPACITY),
            stop_grace: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(30),
            exe: None,
            uplink: None,
        }
    }
}

/// `CROSSBAR_EDGE_WORKER_LOG_CAPACITY` overrides the per-worker log size (at least 1000).
fn log_capacity_from_env() -> Option<usize> {
    let n: usize = std::env::var("CROSSBAR_EDGE_WORKER_LOG_CAPACITY")
        .ok()?
        .parse()
        .ok()?;
    Some(n.max(DEFAULT_LOG_CAPACITY))
}

/// The running node controller.
pub struct Controller {
    router: Arc<Router>,
    realm: Arc<Realm>,
    session: OnceLock<Session>,
    cbdir: PathBuf,
    key: NodeKey,
    node_id: Option<String>,
    /// Where `save_config`/`upload_config` write and `download_config` reads.
    config_path: PathBuf,
    config_format: ConfigFormat,
    /// The config tree as written; its `workers` are replaced by the live ones on save.
    raw_config: Mutex<Value>,
    /// The typed config the node was started with.
    config: NodeConfig,
    workers: Registry,
    started: SystemTime,
    /// Cancelled to stop the node (`crossbar.shutdown`, signals).
    shutdown: CancellationToken,
    exe: PathBuf,
    opts: ControllerOptions,
    loglevel: &'static str,
    sock: Mutex<Option<node_sock::NodeSock>>,
}

impl Controller {
    /// Starts the management router, the controller's session with the `crossbar.*` API and
    /// `<cbdir>/node.sock`. Cancelling `shutdown` (or `crossbar.shutdown`) asks the node to
    /// stop; the caller then calls [`Controller::stop`].
    pub async fn start(
        config: RunConfig,
        shutdown: CancellationToken,
        opts: ControllerOptions,
    ) -> Result<Arc<Controller>, RunError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| RunError::Failed(format!("{what}: {e}"));
        let (router, realm) =
            realm::management_router().map_err(|e| fail("management realm", &e))?;
        let (config_path, config_format) = match &config.config.source {
            ConfigSource::File(p) => (
                p.clone(),
                ConfigFormat::from_path(p).unwrap_or(ConfigFormat::Json),
            ),
            ConfigSource::Default => (config.cbdir.join("config.json"), ConfigFormat::Json),
        };
        let exe = match &opts.exe {
            Some(e) => e.clone(),
            None => std::env::current_exe().map_err(|e| fail("locating this executable", &e))?,
        };
        let ctl = Arc::new(Controller {
            router: router.clone(),
            realm,
            session: OnceLock::new(),
            cbdir: config.cbdir.clone(),
            node_id: config.config.config.controller.id.clone(),
            key: config.key,
            config_path,
            config_format,
            raw_config: Mutex::new(config.config.raw.clone()),
            config: config.config.config,
            workers: Registry::default(),
            started: SystemTime::now(),
            shutdown,
            exe,
            opts,
            loglevel: current_loglevel(),
            sock: Mutex::new(None),
        });
        let session = Session::join_local(
            &router,
            realm::trusted_connection("controller", "local", "local", Some("nodecontroller")),
            JoinOptions::realm(MANAGEMENT_REALM),
        )
        .await
        .map_err(|e| fail("controller session", &e))?;
        let _ = ctl.session.set(session.clone());

        let weak = Arc::downgrade(&ctl);
        session
            .subscribe(
                &format!("crossbar.worker..{}", event::ON_WORKER_READY),
                SubscribeOptions {
                    match_: MatchPolicy::Wildcard,
                    ..Default::default()
                },
                move |ev| {
                    let Some(ctl) = weak.upgrade() else { return };
                    let id = ev
                        .topic()
                        .and_then(|t| t.strip_prefix("crossbar.worker."))
                        .and_then(|t| t.strip_suffix(&format!(".{}", event::ON_WORKER_READY)));
                    if let Some(w) = id.and_then(|id| ctl.workers.get(id)) {
                        w.fire_ready();
                    }
                },
            )
            .await
            .map_err(|e| fail("subscribing to worker events", &e))?;
        api::register_all(&ctl, &session)
            .await
            .map_err(|e| fail("registering the management API", &e))?;
        let sock = node_sock::NodeSock::bind(&ctl.cbdir, router.clone())
            .map_err(|e| fail("node.sock", &e))?;
        *lock(&ctl.sock) = Some(sock);
        ctl.publish(&format!("crossbar.{}", event::ON_READY), vec![])
            .await;
        Ok(ctl)
    }

    /// The management router (realm `crossbar`), for the uplink to join as `trusted`.
    pub fn router(&self) -> Arc<Router> {
        self.router.clone()
    }

    /// The controller's own session on the management realm.
    pub fn session(&self) -> &Session {
        self.session.get().expect("set in Controller::start")
    }

    pub fn cbdir(&self) -> &std::path::Path {
        &self.cbdir
    }

    /// Cancelled when the node should stop.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts the enabled workers of the config one after another, as Crossbar.io does: each
    /// is running (a router's transports listening, a container's components joined) before
    /// the next starts, so a guest listed after a router finds its port open. Within a
    /// worker the order is Crossbar.io's too (the worker process boots its item). The first
    /// failure ends the boot; the workers started before it keep running until the caller
    /// stops the node.
    pub async fn boot(self: &Arc<Self>) -> Result<(), RunError> {
        let raw_workers = self
            .raw_config_snapshot()
            .get("workers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, w) in self.config.workers.iter().enumerate() {
            let seq = self.workers.next_seq();
            if w.is_disabled() {
                tracing::info!(worker = w.id(), "worker disabled in config; not started");
                continue;
            }
            let raw = raw_workers.get(i).cloned().unwrap_or(Value::Null);
            let spec = match spec_from_config(w, raw) {
                Ok(s) => s,
                Err(e) => return Err(RunError::Failed(format!("worker \"{}\": {e}", w.id()))),
            };
            let id = spec.id.clone();
            if let Err(e) = self.start_worker(spec, seq, None).await {
                return Err(RunError::Failed(format!("worker \"{id}\": {}", e.message)));
            }
        }
        tracing::info!(workers = self.workers.all().len(), "node started");
        Ok(())
    }

    /// Starts one worker and waits until it runs (native: `on_worker_ready`). Returns
    /// Crossbar.io's `started_info`.
    pub(crate) async fn start_worker(
        self: &Arc<Self>,
        spec: WorkerSpec,
        seq: u64,
        who: Option<u64>,
    ) -> Result<Value, ApiError> {
        let native = spec.kind != crate::config::WorkerKind::Guest;
        let worker = Arc::new(Worker::new(spec, seq, who, self.opts.log_capacity));
        if let Err(running) = self.workers.insert(worker.clone()) {
            return Err(ApiError::new(
                mgmt_api::vocabulary::error::WORKER_ALREADY_RUNNING,
                format!(
                    "a worker with ID \"{}\" is already running (status {})",
                    running.id(),
                    running.state().status
                ),
            ));
        }
        if native && let Err(e) = realm::add_worker_role(&self.realm, worker.id()) {
            self.workers.remove(&worker);
            worker.finished.cancel();
            return Err(ApiError::new(
                mgmt_api::vocabulary::error::CANNOT_START,
                format!("worker role: {e}"),
            ));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(supervise::supervise(self.clone(), worker.clone(), tx));
        rx.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                mgmt_api::vocabulary::error::CANNOT_START,
                "the worker's supervisor ended unexpectedly",
            ))
        })
    }

    /// Stops every worker (in parallel: SIGTERM, grace, SIGKILL), closes `node.sock` and the
    /// management router. Returns when no worker process is left.
    pub async fn stop(&self) {
        let all = self.workers.all();
        for w in &all {
            w.request_stop(false);
        }
        let bound = self.opts.stop_grace + Duration::from_secs(5);
        for w in &all {
            if tokio::time::timeout(bound, w.finished.cancelled())
                .await
                .is_err()
            {
                tracing::error!(worker = w.id(), "worker supervisor did not finish in time");
            }
        }
        if let Some(sock) = lock(&self.sock).take() {
            sock.close();
        }
        if let Some(s) = self.session.get() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), s.leave("wamp.close.normal")).await;
        }
        self.router.shutdown();
    }

    fn raw_config_snapshot(&self) -> Value {
        lock(&self.raw_config).clone()
    }
}

/// A worker spec from a config item: `raw` as written (its id filled in), the typed config
/// as the resolved item.
pub(crate) fn spec_from_config(w: &WorkerConfig, raw: Value) -> Result<WorkerSpec, String> {
    let item = serde_json::to_value(w).map_err(|e| e.to_string())?;
    let mut raw = if raw.is_object() { raw } else { item.clone() };
    if let Some(obj) = raw.as_object_mut() {
        obj.insert("id".into(), Value::String(w.id().to_owned()));
    }
    Ok(WorkerSpec {
        id: w.id().to_owned(),
        kind: w.kind(),
        raw,
        item,
        restart: w.restart(),
        config: w.clone(),
    })
}

/// The log level of this process, for the workers it starts.
fn current_loglevel() -> &'static str {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::OFF => "none",
        LevelFilter::ERROR => "error",
        LevelFilter::WARN => "warn",
        LevelFilter::INFO => "info",
        LevelFilter::DEBUG => "debug",
        _ => "trace",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
