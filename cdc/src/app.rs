//! The CDC at run time: registry, mailer, verifier, the router with the global realm and one
//! realm per management realm, and the backend sessions that serve the seed API on them.
//!
//! [`Cdc::start`] brings everything up from the configuration; listeners hand their
//! connections to the router with [`Cdc::connection`]; [`Cdc::stop`] shuts down in order
//! (backends leave, realms close, tasks drain under a grace timeout).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use router_core::Router;
use router_core::auth::TransportInfo;
use router_core::client::{RegisterOptions, Session};
use router_core::message::Payload;
use router_core::router::ConnectionInfo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::args::Args;
use crate::authenticator::CdcAuthenticator;
use crate::config::CdcConfig;
use crate::error::{CdcError, Result};
use crate::mail::Mailer;
use crate::mrealm::{self, MrealmHandle, call_error};
use crate::registry::Registry;
use crate::registry::realms::GLOBAL_REALM;
use crate::roles;
use crate::verification::Verifier;

/// How long shutdown waits for tasks before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often old verifications are purged.
const PURGE_PERIOD: Duration = Duration::from_secs(3600);

/// Why the CDC could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("registry {path}: {source}")]
    Registry {
        path: std::path::PathBuf,
        source: CdcError,
    },
    #[error("mail configuration: {0}")]
    Mail(String),
    #[error("cannot start realm: {0}")]
    Realm(CdcError),
}

/// The running CDC.
pub struct Cdc {
    pub config: CdcConfig,
    pub registry: Arc<Registry>,
    pub verifier: Verifier,
    pub mailer: Mailer,
    pub router: Arc<Router>,
    authenticator: Arc<CdcAuthenticator>,
    global: Mutex<Option<Session>>,
    realms: tokio::sync::Mutex<HashMap<String, MrealmHandle>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// The procedures of the global realm.
pub const MANAGE_PROCEDURES: &[&str] = &[
    "cdc.manage.create_user@1",
    "cdc.manage.verify@1",
    "cdc.manage.create_realm@1",
    "cdc.manage.register_user@1",
    "cdc.manage.register_node@1",
];

impl Cdc {
    /// Opens the registry and starts the router, the global realm and every management realm.
    /// `shutdown` stops the CDC's tasks when cancelled (call [`Cdc::stop`] to stop in order).
    pub async fn start(
        config: CdcConfig,
        shutdown: CancellationToken,
    ) -> Result<Arc<Cdc>, StartError> {
        let path = config.database_path();
        let registry = Arc::new(
            Registry::open(&path).map_err(|source| StartError::Registry {
                path: path.clone(),
                source,
            })?,
        );
        registry
            .reset_node_statuses()
            .map_err(|source| StartError::Registry { path, source })?;
        let mailer = Mailer::new(&config.mail, config.outbox_dir()).map_err(StartError::Mail)?;
        let router = Router::new();
        let authenticator = Arc::new(CdcAuthenticator::new(registry.clone(), router.clone()));
        let cdc = Arc::new(Cdc {
            verifier: Verifier::new(config.verification.clone()),
            config,
            registry,
            mailer,
            router,
            authenticator,
            global: Mutex::new(None),
            realms: tokio::sync::Mutex::new(HashMap::new()),
            shutdown,
            tasks: TaskTracker::new(),
        });
        cdc.start_global().await.map_err(StartError::Realm)?;
        let names: Vec<String> = cdc
            .registry
            .realms()
            .map_err(StartError::Realm)?
            .into_iter()
            .map(|r| r.name)
            .collect();
        for name in names {
            cdc.start_management_realm(&name)
                .await
                .map_err(StartError::Realm)?;
        }
        cdc.tasks
            .spawn(purge_loop(Arc::downgrade(&cdc), cdc.shutdown.clone()));
        Ok(cdc)
    }

    async fn start_global(self: &Arc<Self>) -> Result<()> {
        self.router
            .start_realm(roles::global_realm())
            .map_err(|e| CdcError::Internal(e.to_string()))?;
        let session = mrealm::backend_session(&self.router, GLOBAL_REALM).await?;
        for uri in MANAGE_PROCEDURES {
            let weak: Weak<Cdc> = Arc::downgrade(self);
            let name = uri
                .strip_prefix("cdc.manage.")
                .and_then(|n| n.strip_suffix("@1"))
                .unwrap_or_default();
            session
                .register(uri, RegisterOptions::default(), move |inv| {
                    let weak = weak.clone();
                    async move {
                        let Some(cdc) = weak.upgrade() else {
                            return Err(call_error(&CdcError::Internal(
                                "the CDC is shutting down".into(),
                            )));
                        };
                        let caller = crate::manage::Caller {
                            authid: inv.caller_authid().unwrap_or("?").to_owned(),
                            authrole: inv.caller_authrole().unwrap_or("?").to_owned(),
                        };
                        let args = Args::new(inv.args, inv.kwargs);
                        cdc.manage(name, &caller, args)
                            .await
                            .map(|v| Payload::args(vec![v]))
                            .map_err(|e| call_error(&e))
                    }
                })
                .await
                .map_err(|e| CdcError::Internal(format!("register {uri}: {e}")))?;
        }
        *self.global.lock() = Some(session);
        Ok(())
    }

    /// Starts a management realm and its backend (no-op if it runs already).
    pub async fn start_management_realm(self: &Arc<Self>, name: &str) -> Result<()> {
        let mut realms = self.realms.lock().await;
        if realms.contains_key(name) {
            return Ok(());
        }
        let handle = mrealm::start(
            &self.router,
            &self.registry,
            &self.config.nodes,
            name,
            &self.shutdown,
            &self.tasks,
        )
        .await?;
        realms.insert(name.to_owned(), handle);
        Ok(())
    }

    /// Lets a newly paired node join its (running) realm.
    pub fn add_node_role(&self, realm: &str, node_id: &str) {
        if let Some(r) = self.router.realm(realm)
            && let Err(e) = r.add_role(&roles::node_role_config(node_id))
        {
            tracing::warn!(realm, node = node_id, error = %e, "cannot add the node's role");
        }
    }

    /// The authenticator of every listening transport.
    pub fn authenticator(&self) -> Arc<dyn router_core::auth::Authenticator> {
        self.authenticator.clone()
    }

    /// The connection info for a session arriving on a listening transport.
    pub fn connection(&self, transport: TransportInfo) -> ConnectionInfo {
        ConnectionInfo {
            transport: Arc::new(transport),
            authenticator: self.authenticator.clone(),
        }
    }

    /// The state of a running management realm (for tests and tools).
    pub async fn realm_state(&self, name: &str) -> Option<Arc<mrealm::RealmState>> {
        self.realms.lock().await.get(name).map(|h| h.state.clone())
    }

    /// Stops everything: backends leave, realms close their sessions, tasks end.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let handles: Vec<MrealmHandle> = self.realms.lock().await.drain().map(|(_, h)| h).collect();
        for h in &handles {
            h.stop().await;
        }
        let global = self.global.lock().take();
        if let Some(s) = global {
            let _ = s.leave("wamp.close.system_shutdown").await;
        }
        self.router.shutdown();
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some CDC tasks did not end in time");
        }
    }
}

async fn purge_loop(cdc: Weak<Cdc>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PURGE_PERIOD);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(cdc) = cdc.upgrade() else { return };
        match cdc
            .verifier
            .purge(&cdc.registry, crate::verification::unix_now())
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "old verifications purged"),
            Err(e) => tracing::warn!(error = %e, "purging verifications failed"),
        }
    }
}
