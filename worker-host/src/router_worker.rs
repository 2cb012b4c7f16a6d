//! The router worker runtime: one router-core [`Router`] with the realms, roles and listening
//! transports of a `type: router` worker item, each started and stopped by id.
//!
//! It takes the worker item as JSON (the form it travels in between controller and worker
//! process) and reads it with router-core's own config types, so a key path in an error is
//! the path inside the worker item (`realms[0].roles[1].permissions[0].uri`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use router_core::auth::{AuthConfig, Authenticator, StaticAuthenticator};
use router_core::config::ConfigError;
use router_core::transport::{
    AuthenticatorFactory, ListenAddr, RunningTransport, TransportConfig, TransportContext,
    TransportError, start_transport,
};
use router_core::{RealmConfig, Router};
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::info;

/// Why a router worker (or one of its parts) could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum RouterWorkerError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("realm \"{0}\" is already running")]
    RealmExists(String),
    #[error("no realm \"{0}\"")]
    NoSuchRealm(String),
    #[error("realm \"{realm_id}\": {message}")]
    Realm { realm_id: String, message: String },
    #[error("transport \"{0}\" is already running")]
    TransportExists(String),
    #[error("no transport \"{0}\"")]
    NoSuchTransport(String),
    #[error("transport \"{transport_id}\": {source}")]
    Transport {
        transport_id: String,
        #[source]
        source: TransportError,
    },
}

/// A running realm: its id in the worker and the config it was started from.
#[derive(Clone, Debug)]
pub struct RunningRealm {
    pub id: String,
    pub config: RealmConfig,
}

/// A running router worker.
pub struct RouterWorker {
    router: Arc<Router>,
    /// Relative paths in transports (static directories, TLS files) resolve against it.
    base_dir: PathBuf,
    realms: Mutex<BTreeMap<String, RunningRealm>>,
    transports: Mutex<BTreeMap<String, RunningTransport>>,
}

impl RouterWorker {
    /// An empty router worker (no realms, no transports).
    pub fn new(base_dir: impl Into<PathBuf>) -> RouterWorker {
        RouterWorker {
            router: Router::new(),
            base_dir: base_dir.into(),
            realms: Mutex::new(BTreeMap::new()),
            transports: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Starts a realm (with its roles) under `realm_id`.
    pub async fn start_realm(
        &self,
        realm_id: &str,
        config: RealmConfig,
    ) -> Result<(), RouterWorkerError> {
        let mut realms = self.realms.lock().await;
        if realms.contains_key(realm_id) {
            return Err(RouterWorkerError::RealmExists(realm_id.to_owned()));
        }
        self.router
            .start_realm(config.clone())
            .map_err(|e| RouterWorkerError::Realm {
                realm_id: realm_id.to_owned(),
                message: e.to_string(),
            })?;
        info!(realm_id, realm = %config.name, roles = config.roles.len(), "realm started");
        realms.insert(
            realm_id.to_owned(),
            RunningRealm {
                id: realm_id.to_owned(),
                config,
            },
        );
        Ok(())
    }

    /// Stops a realm; its sessions are closed with `wamp.close.close_realm`.
    pub async fn stop_realm(&self, realm_id: &str) -> Result<RunningRealm, RouterWorkerError> {
        let mut realms = self.realms.lock().await;
        let realm = realms
            .remove(realm_id)
            .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm_id.to_owned()))?;
        let closed =
            self.router
                .stop_realm(&realm.config.name)
                .map_err(|e| RouterWorkerError::Realm {
                    realm_id: realm_id.to_owned(),
                    message: e.to_string(),
                })?;
        info!(realm_id, sessions_closed = closed.len(), "realm stopped");
        Ok(realm)
    }

    /// The running realms, by id.
    pub async fn realms(&self) -> Vec<RunningRealm> {
        self.realms.lock().await.values().cloned().collect()
    }

    /// Starts a listening transport under `transport_id` from its config item.
    pub async fn start_transport(
        &self,
        transport_id: &str,
        config: Value,
    ) -> Result<ListenAddr, RouterWorkerError> {
        let config = TransportConfig::from_json(config)?;
        let mut transports = self.transports.lock().await;
        if transports.contains_key(transport_id) {
            return Err(RouterWorkerError::TransportExists(transport_id.to_owned()));
        }
        let mut ctx = TransportContext::new(self.base_dir.clone(), transport_id);
        ctx.auth_factory = Some(Arc::new(StaticAuthFactory));
        let running = start_transport(
            self.router.clone(),
            config,
            Arc::new(StaticAuthenticator::unconfigured()),
            ctx,
        )
        .await
        .map_err(|source| RouterWorkerError::Transport {
            transport_id: transport_id.to_owned(),
            source,
        })?;
        let addr = running.local_addr().clone();
        transports.insert(transport_id.to_owned(), running);
        Ok(addr)
    }

    /// Stops a transport: its port is closed and its connections end.
    pub async fn stop_transport(&self, transport_id: &str) -> Result<(), RouterWorkerError> {
        let running = self
            .transports
            .lock()
            .await
            .remove(transport_id)
            .ok_or_else(|| RouterWorkerError::NoSuchTransport(transport_id.to_owned()))?;
        running.stop().await;
        Ok(())
    }

    /// The listening address of each running transport, by id.
    pub async fn transport_addrs(&self) -> BTreeMap<String, ListenAddr> {
        self.transports
            .lock()
            .await
            .iter()
            .map(|(id, t)| (id.clone(), t.local_addr().clone()))
            .collect()
    }

    /// Stops every transport, then closes every session (`wamp.close.system_shutdown`).
    pub async fn shutdown(&self) {
        let transports: Vec<(String, RunningTransport)> =
            std::mem::take(&mut *self.transports.lock().await)
                .into_iter()
                .collect();
        for (_, t) in transports {
            t.stop().await;
        }
        self.realms.lock().await.clear();
        self.router.shutdown();
    }
}

/// Builds a transport endpoint's authenticator from its `auth` block (static methods).
struct StaticAuthFactory;

impl AuthenticatorFactory for StaticAuthFactory {
    fn authenticator(
        &self,
        auth: &Value,
        _location: &str,
    ) -> Result<Arc<dyn Authenticator>, String> {
        let config = AuthConfig::from_value(auth.clone()).map_err(|e| e.to_string())?;
        let auth = StaticAuthenticator::new(&config).map_err(|e| e.to_string())?;
        Ok(Arc::new(auth))
    }
}

/// Starts a router worker from its config item (`{type: router, realms, transports, …}`),
/// in Crossbar.io's order: realms (with roles), then transports. On failure, whatever was
/// started is stopped again.
pub async fn run_router_worker(
    item: &Value,
    base_dir: impl Into<PathBuf>,
) -> Result<RouterWorker, RouterWorkerError> {
    let worker = RouterWorker::new(base_dir);
    match boot(&worker, item).await {
        Ok(()) => Ok(worker),
        Err(e) => {
            worker.shutdown().await;
            Err(e)
        }
    }
}

async fn boot(worker: &RouterWorker, item: &Value) -> Result<(), RouterWorkerError> {
    for (i, realm) in items(item, "realms").iter().enumerate() {
        let at = format!("realms[{i}]");
        let config: RealmConfig = router_core::config::from_value(realm.clone())
            .map_err(|e: ConfigError| e.within(&at))?;
        let id = item_id(realm, "realm", i);
        worker.start_realm(&id, config).await?;
    }
    for (i, transport) in items(item, "transports").iter().enumerate() {
        let id = item_id(transport, "transport", i);
        worker
            .start_transport(&id, transport.clone())
            .await
            .map_err(|e| match e {
                RouterWorkerError::Config(c) => {
                    RouterWorkerError::Config(c.within(&format!("transports[{i}]")))
                }
                other => other,
            })?;
    }
    Ok(())
}

fn items<'v>(item: &'v Value, key: &str) -> &'v [Value] {
    item.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The item's `id`, else Crossbar.io's automatic `<kind><NNN>` (1-based).
fn item_id(value: &Value, kind: &str, index: usize) -> String {
    match value.get("id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => format!("{kind}{:03}", index + 1),
    }
}
