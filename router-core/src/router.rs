//! The router: a set of realms, and the entry points through which sessions arrive.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::mpsc;

use crate::auth::rate_limit::AuthRateLimit;
use crate::auth::{Authenticator, TransportInfo};
use crate::codec::Codec;
use crate::message::Message;
use crate::peer::OutReceiver;
use crate::realm::{Realm, RealmConfig};
use crate::transport::wire::{WireRead, WireWrite};

/// Errors of realm management.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RouterError {
    #[error("realm \"{0}\" is already running")]
    RealmExists(String),
    #[error("no realm \"{0}\"")]
    NoSuchRealm(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

/// How a connection authenticates and what it is.
#[derive(Clone)]
pub struct ConnectionInfo {
    pub transport: Arc<TransportInfo>,
    pub authenticator: Arc<dyn Authenticator>,
}

/// An in-process link to the router: messages go in without serialization.
pub struct LocalLink {
    /// Messages from the client to the router.
    pub tx: mpsc::Sender<Message>,
    /// Messages from the router to the client.
    pub rx: OutReceiver,
}

/// A WAMP router: realms by name.
#[derive(Default)]
pub struct Router {
    realms: RwLock<HashMap<String, Arc<Realm>>>,
    /// Failed password logins by client address, over all of the router's transports.
    auth_limit: AuthRateLimit,
}

impl Router {
    pub fn new() -> Arc<Router> {
        Arc::new(Router::default())
    }

    /// The limit on failed password logins per client address (`auth::rate_limit`).
    pub fn auth_limit(&self) -> &AuthRateLimit {
        &self.auth_limit
    }

    /// Starts a realm from its config (roles included).
    pub fn start_realm(self: &Arc<Self>, config: RealmConfig) -> Result<Arc<Realm>, RouterError> {
        let mut realms = self.realms.write();
        if realms.contains_key(&config.name) {
            return Err(RouterError::RealmExists(config.name));
        }
        let realm = Realm::new(config, Arc::downgrade(self))?;
        realms.insert(realm.name().to_owned(), realm.clone());
        Ok(realm)
    }

    /// Stops a realm: every session on it is closed with `wamp.close.close_realm`.
    /// Returns the IDs of the sessions that were closed.
    pub fn stop_realm(&self, name: &str) -> Result<Vec<crate::Id>, RouterError> {
        let realm = self
            .realms
            .write()
            .remove(name)
            .ok_or_else(|| RouterError::NoSuchRealm(name.to_owned()))?;
        Ok(realm.shutdown("wamp.close.close_realm", "realm stopped"))
    }

    pub fn realm(&self, name: &str) -> Option<Arc<Realm>> {
        self.realms.read().get(name).cloned()
    }

    pub fn realm_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.realms.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Closes every session on every realm (node shutdown).
    pub fn shutdown(&self) {
        let realms: Vec<Arc<Realm>> = self.realms.write().drain().map(|(_, r)| r).collect();
        for r in realms {
            r.shutdown("wamp.close.system_shutdown", "router shutting down");
        }
    }

    /// Runs one WAMP session (or a sequence of them) over a framed wire until the connection ends.
    pub fn serve_wire<R: WireRead, W: WireWrite>(
        self: &Arc<Self>,
        codec: Codec,
        reader: R,
        writer: W,
        conn: ConnectionInfo,
    ) -> impl Future<Output = ()> + Send + 'static {
        crate::session::serve_wire(self.clone(), codec, reader, writer, conn, ())
    }

    /// Opens an in-process session link (no serialization); the session runs on a spawned task.
    pub fn connect_local(self: &Arc<Self>, conn: ConnectionInfo) -> LocalLink {
        crate::session::connect_local(self.clone(), conn)
    }
}
