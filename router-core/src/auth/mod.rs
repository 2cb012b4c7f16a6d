//! Authentication: who a connecting session is, decided from its HELLO (and AUTHENTICATE).
//!
//! A transport owns one [`Authenticator`]. The session handshake calls [`Authenticator::hello`]
//! with the client's HELLO; the answer is a WELCOME identity, a CHALLENGE (with a
//! [`PendingAuth`] that checks the AUTHENTICATE), or a denial. The router then checks that the
//! identity's realm and role exist. Implementations: a transport's Crossbar.io `auth` config
//! ([`ConfigAuthenticator`]: anonymous, ticket, wampcra, cryptosign, scram; each static,
//! dynamic or function)
//! and [`TrustedAuthenticator`] for connections trusted by construction (a worker's pipe, the
//! node's Unix socket).

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;

use crate::message::Id;
use crate::value::Dict;

pub mod anonymous;
pub mod client;
pub mod config;
pub mod config_auth;
pub mod cookie;
pub mod cryptosign;
pub(crate) mod dynamic;
pub mod rate_limit;
pub mod reason;
mod scram;
mod ticket;
pub mod tls;
pub mod wampcra;

#[cfg(test)]
mod tests;

pub use client::Credentials;
pub use config::AuthConfig;
pub use config_auth::ConfigAuthenticator;

/// Everything an authenticator may look at in a HELLO.
#[derive(Debug, Clone)]
pub struct HelloInfo {
    /// The realm the client asked for (`None`: let the authenticator assign one).
    pub realm: Option<String>,
    /// `authmethods` in the client's order of preference (`["anonymous"]` if absent).
    pub authmethods: Vec<String>,
    pub authid: Option<String>,
    pub authrole: Option<String>,
    pub authextra: Dict,
    /// The session ID the router will assign (it appears in WAMP-CRA challenges).
    pub session_id: Id,
    /// Where the connection comes from.
    pub transport: Arc<TransportInfo>,
}

/// Facts about the connection a session arrives on.
#[derive(Debug, Clone, Default)]
pub struct TransportInfo {
    /// The transport's config id (`transport001`), or a fixed name for internal links;
    /// shared by all connections of a transport.
    pub id: Arc<str>,
    /// `websocket`, `rawsocket`, `local`, `pipe`, `unix`.
    pub kind: &'static str,
    /// The peer address in Crossbar.io's notation (`tcp4:127.0.0.1:52364`, `unix`, `process`).
    pub peer: String,
    /// HTTP request headers of a WebSocket upgrade (lowercase names), if any.
    pub http_headers: Option<Dict>,
    /// The tracking cookie of a WebSocket connection on a transport with `cookie`.
    pub cookie: Option<cookie::CookieTracking>,
    /// The connection came over TLS.
    pub secure: bool,
    /// The client's TLS certificate, as Crossbar.io describes it in `peer_cert`
    /// ([`tls::certificate_details`]).
    pub peer_cert: Option<Arc<Dict>>,
    /// The TLS channel id for `tls-unique` channel binding, as autobahn computes it:
    /// SHA-256 of the first TLS Finished message of the connection's handshake.
    pub channel_id: Option<[u8; 32]>,
}

impl TransportInfo {
    /// A connection without HTTP headers, cookie or TLS (internal links, MQTT, tests).
    pub fn new(id: impl Into<Arc<str>>, kind: &'static str, peer: impl Into<String>) -> Self {
        TransportInfo {
            id: id.into(),
            kind,
            peer: peer.into(),
            ..TransportInfo::default()
        }
    }
}

/// The authenticated identity a session is welcomed with.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub realm: String,
    pub authid: String,
    pub authrole: String,
    /// Names from a small fixed set, borrowed (`Cow`) so a session does not allocate them.
    pub authmethod: Cow<'static, str>,
    /// `static`, `dynamic`, `trusted`, …
    pub authprovider: Cow<'static, str>,
    /// Sent to the client in WELCOME.Details.authextra.
    pub authextra: Dict,
}

/// Why authentication failed: an error URI (`wamp.error.not_authorized`, …) and a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct AuthDenied {
    pub reason: String,
    pub message: String,
}

impl AuthDenied {
    pub fn new(reason: &str, message: impl Into<String>) -> Self {
        AuthDenied {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// The first answer to a HELLO.
pub enum AuthStep {
    /// Accept without a challenge (anonymous, trusted).
    Welcome(Identity),
    /// Send CHALLENGE(method, extra); the AUTHENTICATE reply goes to `pending`.
    Challenge {
        method: String,
        extra: Dict,
        pending: Box<dyn PendingAuth>,
    },
    /// Refuse the session with ABORT.
    Deny(AuthDenied),
}

/// Decides who a HELLO is.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn hello(&self, hello: &HelloInfo) -> AuthStep;
}

/// Checks the AUTHENTICATE that answers a CHALLENGE.
#[async_trait]
pub trait PendingAuth: Send + 'static {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        extra: &Dict,
    ) -> Result<Identity, AuthDenied>;
}

/// Accepts every HELLO with a fixed identity: for connections that are trusted because of how
/// they were made (a worker's stdio pipe, a Unix socket with mode 0600).
#[derive(Debug, Clone)]
pub struct TrustedAuthenticator {
    /// The realm to join when the HELLO names none (a HELLO naming another realm is refused).
    pub realm: String,
    pub authid: Option<String>,
    pub authrole: String,
}

#[async_trait]
impl Authenticator for TrustedAuthenticator {
    async fn hello(&self, hello: &HelloInfo) -> AuthStep {
        if let Some(realm) = &hello.realm
            && realm != &self.realm
        {
            return AuthStep::Deny(AuthDenied::new(
                "wamp.error.no_such_realm",
                format!(
                    "no realm \"{realm}\" on this connection (only \"{}\")",
                    self.realm
                ),
            ));
        }
        let authid = self
            .authid
            .clone()
            .or_else(|| hello.authid.clone())
            .unwrap_or_else(|| format!("{}", hello.session_id));
        AuthStep::Welcome(Identity {
            realm: self.realm.clone(),
            authid,
            authrole: self.authrole.clone(),
            authmethod: "trusted".into(),
            authprovider: "trusted".into(),
            authextra: Dict::new(),
        })
    }
}
