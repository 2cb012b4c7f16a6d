//! The router worker runtime: one router-core [`Router`] with the realms, roles and listening
//! transports of a `type: router` worker item, each started and stopped by id.
//!
//! It takes the worker item as JSON (the form it travels in between controller and worker
//! process) and reads it with router-core's own config types, so a key path in an error is
//! the path inside the worker item (`realms[0].roles[1].permissions[0].uri`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use router_core::auth::{AuthConfig, Authenticator, ConfigAuthenticator};
use router_core::authorization::{Permission, RoleConfig};
use router_core::config::ConfigError;
use router_core::transport::config::WebService;
use router_core::transport::{
    AuthenticatorFactory, ListenAddr, RunningTransport, TransportConfig, TransportContext,
    TransportError, start_transport,
};
use router_core::{Realm, RealmConfig, Router};
use serde_json::{Map, Value};
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
    #[error("no role \"{role_id}\" on realm \"{realm_id}\"")]
    NoSuchRole { realm_id: String, role_id: String },
    #[error("a role {what} already exists on realm \"{realm_id}\"")]
    RoleExists { realm_id: String, what: String },
    #[error("no grant \"{grant_id}\" on role \"{role_id}\" of realm \"{realm_id}\"")]
    NoSuchGrant {
        realm_id: String,
        role_id: String,
        grant_id: String,
    },
    #[error("a grant \"{grant_id}\" already exists on role \"{role_id}\" of realm \"{realm_id}\"")]
    GrantExists {
        realm_id: String,
        role_id: String,
        grant_id: String,
    },
    #[error("transport \"{transport_id}\", web service \"{path}\": {source}")]
    WebService {
        transport_id: String,
        path: String,
        #[source]
        source: TransportError,
    },
}

/// A running realm: its id in the worker and the config it was started from.
///
/// Roles live in the router-core realm (so grant changes apply to the next check at once);
/// here only their management ids are kept, in start order.
#[derive(Clone, Debug)]
pub struct RunningRealm {
    pub id: String,
    /// The config the realm was started with (`roles` as they were then).
    pub config: RealmConfig,
    /// When it started (ISO 8601 UTC).
    pub created: String,
    /// Role id → role name, for the roles started on it (at start or later).
    pub roles: BTreeMap<String, String>,
    /// The NATS cluster the realm is shared over (its `cluster` config).
    pub cluster: Option<Arc<cluster_nats::NatsCluster>>,
}

/// A running transport as the management API shows it.
#[derive(Clone, Debug)]
pub struct TransportInfo {
    pub id: String,
    /// The config `type`.
    pub kind: String,
    /// The config item as running now: for Web transports, `paths` holds the services that are
    /// running (started with the transport or later).
    pub config: Value,
    pub created_at: String,
    pub listening_since: String,
    pub addr: ListenAddr,
}

struct TransportEntry {
    running: RunningTransport,
    info: TransportInfo,
}

/// A running router worker.
pub struct RouterWorker {
    router: Arc<Router>,
    /// Relative paths in transports (static directories, TLS files) resolve against it.
    base_dir: PathBuf,
    realms: Mutex<BTreeMap<String, RunningRealm>>,
    transports: Mutex<BTreeMap<String, TransportEntry>>,
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

    // ---- realms ----

    /// Starts a realm (with its roles) under `realm_id`. Roles without an `id` get
    /// `role001`, `role002`, … in order.
    pub async fn start_realm(
        &self,
        realm_id: &str,
        config: RealmConfig,
    ) -> Result<(), RouterWorkerError> {
        let mut realms = self.realms.lock().await;
        if realms.contains_key(realm_id) {
            return Err(RouterWorkerError::RealmExists(realm_id.to_owned()));
        }
        let mut roles = BTreeMap::new();
        for (i, role) in config.roles.iter().enumerate() {
            let id = match &role.id {
                Some(id) => id.clone(),
                None => free_id("role", i, |c| roles.contains_key(c)),
            };
            if roles.insert(id.clone(), role.name.clone()).is_some() {
                return Err(RouterWorkerError::Config(ConfigError::new(
                    format!("roles[{i}].id"),
                    format!("duplicate role id \"{id}\""),
                )));
            }
        }
        let cluster_config = match &config.cluster {
            Some(c) => Some(
                cluster_nats::NatsClusterConfig::parse(c)
                    .map_err(|e| RouterWorkerError::Config(e.within("cluster")))?,
            ),
            None => None,
        };
        let realm =
            self.router
                .start_realm(config.clone())
                .map_err(|e| RouterWorkerError::Realm {
                    realm_id: realm_id.to_owned(),
                    message: e.to_string(),
                })?;
        let cluster = match cluster_config {
            None => None,
            Some(c) => match cluster_nats::NatsCluster::start(&realm, c, &self.base_dir).await {
                Ok(c) => Some(Arc::new(c)),
                Err(message) => {
                    let _ = self.router.stop_realm(&config.name);
                    return Err(RouterWorkerError::Realm {
                        realm_id: realm_id.to_owned(),
                        message,
                    });
                }
            },
        };
        info!(realm_id, realm = %config.name, roles = config.roles.len(), clustered = cluster.is_some(), "realm started");
        realms.insert(
            realm_id.to_owned(),
            RunningRealm {
                id: realm_id.to_owned(),
                config,
                created: realm.created().to_owned(),
                roles,
                cluster,
            },
        );
        Ok(())
    }

    /// Stops a realm; its sessions are closed with `wamp.close.close_realm`. Returns the realm
    /// and the ids of the sessions that were closed.
    pub async fn stop_realm(
        &self,
        realm_id: &str,
    ) -> Result<(RunningRealm, Vec<u64>), RouterWorkerError> {
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
        Ok((realm, closed))
    }

    /// The running realms, by id.
    pub async fn realms(&self) -> Vec<RunningRealm> {
        self.realms.lock().await.values().cloned().collect()
    }

    pub async fn realm(&self, realm_id: &str) -> Result<RunningRealm, RouterWorkerError> {
        self.realms
            .lock()
            .await
            .get(realm_id)
            .cloned()
            .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm_id.to_owned()))
    }

    /// The realm's config as it runs now: its roles (by id, with their current grants).
    pub async fn realm_config(&self, realm_id: &str) -> Result<RealmConfig, RouterWorkerError> {
        let realms = self.realms.lock().await;
        let realm = running(&realms, realm_id)?;
        let live = self.live_realm(realm)?;
        let mut config = realm.config.clone();
        config.id = Some(realm_id.to_owned());
        config.roles = realm
            .roles
            .iter()
            .filter_map(|(id, name)| role_config(&live, id, name))
            .collect();
        Ok(config)
    }

    fn live_realm(&self, realm: &RunningRealm) -> Result<Arc<Realm>, RouterWorkerError> {
        self.router
            .realm(&realm.config.name)
            .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm.id.clone()))
    }

    // ---- roles ----

    /// The config of one role as it runs now (with its grants, each with its id).
    pub async fn role(
        &self,
        realm_id: &str,
        role_id: &str,
    ) -> Result<RoleConfig, RouterWorkerError> {
        let realms = self.realms.lock().await;
        let realm = running(&realms, realm_id)?;
        let name = role_name(realm, role_id)?;
        let live = self.live_realm(realm)?;
        role_config(&live, role_id, name).ok_or_else(|| no_role(realm_id, role_id))
    }

    /// Starts a role on a running realm; sessions authenticated with this role name are
    /// authorized by it from the next action on.
    pub async fn start_role(
        &self,
        realm_id: &str,
        role_id: &str,
        mut config: RoleConfig,
    ) -> Result<RoleConfig, RouterWorkerError> {
        let mut realms = self.realms.lock().await;
        let realm = realms
            .get_mut(realm_id)
            .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm_id.to_owned()))?;
        if realm.roles.contains_key(role_id) {
            return Err(RouterWorkerError::RoleExists {
                realm_id: realm_id.to_owned(),
                what: format!("with id \"{role_id}\""),
            });
        }
        if realm.roles.values().any(|n| *n == config.name) {
            return Err(RouterWorkerError::RoleExists {
                realm_id: realm_id.to_owned(),
                what: format!("named \"{}\"", config.name),
            });
        }
        config.id = None;
        let live = self
            .router
            .realm(&realm.config.name)
            .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm_id.to_owned()))?;
        live.add_role(&config)
            .map_err(|e| RouterWorkerError::Realm {
                realm_id: realm_id.to_owned(),
                message: e.to_string(),
            })?;
        realm.roles.insert(role_id.to_owned(), config.name.clone());
        info!(realm_id, role_id, role = %config.name, "role started");
        role_config(&live, role_id, &config.name).ok_or_else(|| no_role(realm_id, role_id))
    }

    /// Stops a role: sessions with it may do nothing more (they stay joined, as in Crossbar.io).
    pub async fn stop_role(
        &self,
        realm_id: &str,
        role_id: &str,
    ) -> Result<RoleConfig, RouterWorkerError> {
        let mut realms = self.realms.lock().await;
        let realm = realms
            .get_mut(realm_id)
            .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm_id.to_owned()))?;
        let name = role_name(realm, role_id)?.to_owned();
        let live = self
            .router
            .realm(&realm.config.name)
            .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm_id.to_owned()))?;
        let config = role_config(&live, role_id, &name);
        live.remove_role(&name);
        realm.roles.remove(role_id);
        info!(realm_id, role_id, role = %name, "role stopped");
        config.ok_or_else(|| no_role(realm_id, role_id))
    }

    // ---- grants ----

    /// The grants of a role, in the order they apply, by id.
    pub async fn grants(
        &self,
        realm_id: &str,
        role_id: &str,
    ) -> Result<Vec<(String, Permission)>, RouterWorkerError> {
        let realms = self.realms.lock().await;
        let realm = running(&realms, realm_id)?;
        let name = role_name(realm, role_id)?;
        let role = self
            .live_realm(realm)?
            .role(name)
            .ok_or_else(|| no_role(realm_id, role_id))?;
        Ok(role.grants().to_vec())
    }

    /// Adds a grant to a role; it applies to the next action of every session with the role.
    pub async fn start_grant(
        &self,
        realm_id: &str,
        role_id: &str,
        grant_id: &str,
        permission: Permission,
    ) -> Result<Permission, RouterWorkerError> {
        let realms = self.realms.lock().await;
        let realm = running(&realms, realm_id)?;
        let name = role_name(realm, role_id)?;
        let added = self
            .live_realm(realm)?
            .update_role(name, |role| {
                role.add_grant(grant_id.to_owned(), permission)
                    .then(|| role.grant(grant_id).cloned())
                    .flatten()
            })
            .ok_or_else(|| no_role(realm_id, role_id))?;
        let added = added.ok_or_else(|| RouterWorkerError::GrantExists {
            realm_id: realm_id.to_owned(),
            role_id: role_id.to_owned(),
            grant_id: grant_id.to_owned(),
        })?;
        info!(realm_id, role_id, grant_id, uri = %added.uri, "grant started");
        Ok(added)
    }

    /// Removes a grant from a role; the next action it allowed is denied.
    pub async fn stop_grant(
        &self,
        realm_id: &str,
        role_id: &str,
        grant_id: &str,
    ) -> Result<Permission, RouterWorkerError> {
        let realms = self.realms.lock().await;
        let realm = running(&realms, realm_id)?;
        let name = role_name(realm, role_id)?;
        let removed = self
            .live_realm(realm)?
            .update_role(name, |role| role.remove_grant(grant_id))
            .ok_or_else(|| no_role(realm_id, role_id))?;
        let removed = removed.ok_or_else(|| RouterWorkerError::NoSuchGrant {
            realm_id: realm_id.to_owned(),
            role_id: role_id.to_owned(),
            grant_id: grant_id.to_owned(),
        })?;
        info!(realm_id, role_id, grant_id, "grant stopped");
        Ok(removed)
    }

    // ---- transports ----

    /// Starts a listening transport under `transport_id` from its config item, with every
    /// Web path service it names.
    pub async fn start_transport(
        &self,
        transport_id: &str,
        config: Value,
    ) -> Result<ListenAddr, RouterWorkerError> {
        self.start_transport_with(transport_id, config, true)
            .await
            .map(|t| t.addr)
    }

    /// Starts a listening transport. Without `create_paths`, a Web (or Universal) transport
    /// starts with its root service (`/`) only, and its other paths are left to
    /// [`start_web_service`](Self::start_web_service) (Crossbar.io's `create_paths=False`).
    pub async fn start_transport_with(
        &self,
        transport_id: &str,
        config: Value,
        create_paths: bool,
    ) -> Result<TransportInfo, RouterWorkerError> {
        let served = config.clone();
        self.start_transport_serving(transport_id, config, served, create_paths)
            .await
    }

    /// [`start_transport_with`](Self::start_transport_with), serving `served` (the item with
    /// services the worker hosts itself, `wsgi`, replaced by what serves them) while `config`
    /// is what the transport reports and saves.
    pub async fn start_transport_serving(
        &self,
        transport_id: &str,
        mut config: Value,
        mut served: Value,
        create_paths: bool,
    ) -> Result<TransportInfo, RouterWorkerError> {
        if !config.is_object() {
            return Err(RouterWorkerError::Config(ConfigError::new(
                "",
                format!("expected a transport object, got {config}"),
            )));
        }
        if !create_paths {
            for c in [&mut config, &mut served] {
                if let Some(paths) = web_paths_mut(c, false) {
                    paths.retain(|p, _| p == "/");
                }
            }
        }
        let parsed = TransportConfig::from_json(served)?;
        let mut transports = self.transports.lock().await;
        if transports.contains_key(transport_id) {
            return Err(RouterWorkerError::TransportExists(transport_id.to_owned()));
        }
        let mut ctx = TransportContext::new(self.base_dir.clone(), transport_id);
        ctx.auth_factory = Some(Arc::new(ConfigAuthFactory {
            router: Arc::downgrade(&self.router),
        }));
        let created_at = router_core::util::utcnow();
        let running = start_transport(
            self.router.clone(),
            parsed,
            Arc::new(ConfigAuthenticator::unconfigured()),
            ctx,
        )
        .await
        .map_err(|source| RouterWorkerError::Transport {
            transport_id: transport_id.to_owned(),
            source,
        })?;
        if let Some(obj) = config.as_object_mut() {
            obj.insert("id".into(), Value::from(transport_id));
        }
        let info = TransportInfo {
            id: transport_id.to_owned(),
            kind: running.kind().to_owned(),
            config,
            created_at,
            listening_since: router_core::util::utcnow(),
            addr: running.local_addr().clone(),
        };
        transports.insert(
            transport_id.to_owned(),
            TransportEntry {
                running,
                info: info.clone(),
            },
        );
        Ok(info)
    }

    /// Stops a transport: its port is closed and its connections end.
    pub async fn stop_transport(
        &self,
        transport_id: &str,
    ) -> Result<TransportInfo, RouterWorkerError> {
        let entry = self
            .transports
            .lock()
            .await
            .remove(transport_id)
            .ok_or_else(|| RouterWorkerError::NoSuchTransport(transport_id.to_owned()))?;
        entry.running.stop().await;
        Ok(entry.info)
    }

    pub async fn transport(&self, transport_id: &str) -> Result<TransportInfo, RouterWorkerError> {
        self.transports
            .lock()
            .await
            .get(transport_id)
            .map(|e| e.info.clone())
            .ok_or_else(|| RouterWorkerError::NoSuchTransport(transport_id.to_owned()))
    }

    /// The running transports, in the order they were started.
    pub async fn transports(&self) -> Vec<TransportInfo> {
        let mut v: Vec<TransportInfo> = self
            .transports
            .lock()
            .await
            .values()
            .map(|e| e.info.clone())
            .collect();
        v.sort_by(|a, b| (&a.listening_since, &a.id).cmp(&(&b.listening_since, &b.id)));
        v
    }

    /// The listening address of each running transport, by id.
    pub async fn transport_addrs(&self) -> BTreeMap<String, ListenAddr> {
        self.transports
            .lock()
            .await
            .iter()
            .map(|(id, t)| (id.clone(), t.info.addr.clone()))
            .collect()
    }

    // ---- web services ----

    /// The paths with a service on a running Web transport (`/` for the root).
    pub async fn web_services(&self, transport_id: &str) -> Result<Vec<String>, RouterWorkerError> {
        let transports = self.transports.lock().await;
        let entry = web_entry(&transports, transport_id)?;
        Ok(entry.running.web_service_paths())
    }

    /// The config of the service on `path` of a running Web transport.
    pub async fn web_service(
        &self,
        transport_id: &str,
        path: &str,
    ) -> Result<Value, RouterWorkerError> {
        let transports = self.transports.lock().await;
        let entry = web_entry(&transports, transport_id)?;
        if !entry.running.web_service_paths().iter().any(|p| p == path) {
            return Err(no_service(transport_id, path));
        }
        Ok(service_config(&entry.info.config, path).unwrap_or(Value::Null))
    }

    /// Starts a service on a path of a running Web transport; requests are routed to it at
    /// once.
    pub async fn start_web_service(
        &self,
        transport_id: &str,
        path: &str,
        config: Value,
    ) -> Result<(), RouterWorkerError> {
        let served = config.clone();
        self.start_web_service_serving(transport_id, path, config, served)
            .await
    }

    /// [`start_web_service`](Self::start_web_service), serving `served` (see
    /// [`start_transport_serving`](Self::start_transport_serving)).
    pub async fn start_web_service_serving(
        &self,
        transport_id: &str,
        path: &str,
        config: Value,
        served: Value,
    ) -> Result<(), RouterWorkerError> {
        let service = WebService::from_json(served)?;
        let mut transports = self.transports.lock().await;
        let entry = transports
            .get_mut(transport_id)
            .ok_or_else(|| RouterWorkerError::NoSuchTransport(transport_id.to_owned()))?;
        entry
            .running
            .start_web_service(path, &service)
            .await
            .map_err(|source| RouterWorkerError::WebService {
                transport_id: transport_id.to_owned(),
                path: path.to_owned(),
                source,
            })?;
        if let Some(paths) = web_paths_mut(&mut entry.info.config, true) {
            paths.insert(path.to_owned(), config);
        }
        info!(
            transport_id,
            path,
            kind = service.kind(),
            "web service started"
        );
        Ok(())
    }

    /// Stops the service on a path of a running Web transport; returns its config.
    pub async fn stop_web_service(
        &self,
        transport_id: &str,
        path: &str,
    ) -> Result<Value, RouterWorkerError> {
        let mut transports = self.transports.lock().await;
        let entry = transports
            .get_mut(transport_id)
            .ok_or_else(|| RouterWorkerError::NoSuchTransport(transport_id.to_owned()))?;
        entry
            .running
            .stop_web_service(path)
            .map_err(|source| RouterWorkerError::WebService {
                transport_id: transport_id.to_owned(),
                path: path.to_owned(),
                source,
            })?;
        let config = &mut entry.info.config;
        let old = match config
            .get_mut("websocket")
            .and_then(Value::as_object_mut)
            .and_then(|ws| ws.remove(path))
        {
            Some(old) => Some(old),
            None => web_paths_mut(config, false).and_then(|p| p.remove(path)),
        };
        info!(transport_id, path, "web service stopped");
        Ok(old.unwrap_or(Value::Null))
    }

    /// Stops every transport, then closes every session (`wamp.close.system_shutdown`).
    pub async fn shutdown(&self) {
        let transports: Vec<(String, TransportEntry)> =
            std::mem::take(&mut *self.transports.lock().await)
                .into_iter()
                .collect();
        for (_, t) in transports {
            t.running.stop().await;
        }
        self.realms.lock().await.clear();
        self.router.shutdown();
    }
}

fn running<'r>(
    realms: &'r BTreeMap<String, RunningRealm>,
    realm_id: &str,
) -> Result<&'r RunningRealm, RouterWorkerError> {
    realms
        .get(realm_id)
        .ok_or_else(|| RouterWorkerError::NoSuchRealm(realm_id.to_owned()))
}

fn role_name<'r>(realm: &'r RunningRealm, role_id: &str) -> Result<&'r str, RouterWorkerError> {
    realm
        .roles
        .get(role_id)
        .map(String::as_str)
        .ok_or_else(|| no_role(&realm.id, role_id))
}

fn no_role(realm_id: &str, role_id: &str) -> RouterWorkerError {
    RouterWorkerError::NoSuchRole {
        realm_id: realm_id.to_owned(),
        role_id: role_id.to_owned(),
    }
}

fn no_service(transport_id: &str, path: &str) -> RouterWorkerError {
    RouterWorkerError::WebService {
        transport_id: transport_id.to_owned(),
        path: path.to_owned(),
        source: TransportError::NoSuchService(path.to_owned()),
    }
}

/// The live config of a role (grants with ids), under its management id.
fn role_config(realm: &Realm, role_id: &str, name: &str) -> Option<RoleConfig> {
    let mut config = realm.role(name)?.to_config();
    config.id = Some(role_id.to_owned());
    Some(config)
}

fn web_entry<'t>(
    transports: &'t BTreeMap<String, TransportEntry>,
    transport_id: &str,
) -> Result<&'t TransportEntry, RouterWorkerError> {
    let entry = transports
        .get(transport_id)
        .ok_or_else(|| RouterWorkerError::NoSuchTransport(transport_id.to_owned()))?;
    match entry.info.kind.as_str() {
        "web" | "universal" => Ok(entry),
        _ => Err(RouterWorkerError::WebService {
            transport_id: transport_id.to_owned(),
            path: String::new(),
            source: TransportError::NotWeb(transport_id.to_owned()),
        }),
    }
}

/// The `paths` object of a Web transport config (`web.paths` of a Universal one); with
/// `create`, a Universal transport without one gets an empty one.
fn web_paths_mut(config: &mut Value, create: bool) -> Option<&mut Map<String, Value>> {
    let kind = config
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let holder = match kind {
        "web" => config.as_object_mut()?,
        "universal" => {
            let obj = config.as_object_mut()?;
            if create && !obj.contains_key("web") {
                obj.insert("web".into(), Value::Object(Map::new()));
            }
            obj.get_mut("web")?.as_object_mut()?
        }
        _ => return None,
    };
    if create && !holder.contains_key("paths") {
        holder.insert("paths".into(), Value::Object(Map::new()));
    }
    holder.get_mut("paths")?.as_object_mut()
}

fn service_config(config: &Value, path: &str) -> Option<Value> {
    let from_ws = config.get("websocket").and_then(|w| w.get(path));
    let from_paths = match config.get("type").and_then(Value::as_str) {
        Some("universal") => config.get("web").and_then(|w| w.get("paths")),
        _ => config.get("paths"),
    }
    .and_then(|p| p.get(path));
    from_ws.or(from_paths).cloned()
}

/// `<kind><NNN>` (1-based from `index`), skipping ids already taken.
fn free_id(kind: &str, index: usize, taken: impl Fn(&str) -> bool) -> String {
    let mut n = index + 1;
    loop {
        let id = format!("{kind}{n:03}");
        if !taken(&id) {
            return id;
        }
        n += 1;
    }
}

/// The realm `function` authenticators are hosted on (router_api's function_auth): the
/// worker's first realm.
pub(crate) fn function_host_realm(router: &Router) -> Option<String> {
    router.realm_names().into_iter().next()
}

/// Builds a transport endpoint's authenticator from its `auth` block; dynamic methods call
/// their authenticators on this worker's router.
struct ConfigAuthFactory {
    router: std::sync::Weak<Router>,
}

impl AuthenticatorFactory for ConfigAuthFactory {
    fn authenticator(
        &self,
        auth: &Value,
        _location: &str,
    ) -> Result<Arc<dyn Authenticator>, String> {
        let mut config = AuthConfig::from_value(auth.clone()).map_err(|e| e.to_string())?;
        let realm = self.router.upgrade().and_then(|r| function_host_realm(&r));
        for f in config.functions_mut() {
            f.realm = realm.clone();
        }
        let auth =
            ConfigAuthenticator::new(&config, self.router.clone()).map_err(|e| e.to_string())?;
        Ok(Arc::new(auth))
    }
}
