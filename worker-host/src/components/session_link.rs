//! How a component's WAMP session reaches the router.
//!
//! A router component's session attaches to the worker's own router, with exactly the identity
//! the worker decides (authid = component id, authrole = its `role`), through a
//! [`ComponentAuthenticator`]: over the child's stdin/stdout ([`serve_stdio`]) or over a
//! [`PrivateSocket`] (a Unix socket, mode 0600, in a fresh 0700 temp directory) the child
//! connects to. On the private socket the authenticator can demand a one-time ticket, so that
//! only the child it was handed to gets in, once.
//!
//! A container component connects by itself through its configured transport; nothing here
//! is involved then.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use router_core::auth::{
    AuthDenied, AuthStep, Authenticator, HelloInfo, Identity, PendingAuth, TransportInfo,
};
use router_core::transport::rawsocket;
use router_core::value::Dict;
use router_core::{Codec, ConnectionInfo, Id, Router};
use subtle::ConstantTimeEq as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Serializers a component link accepts (the child picks one in the RawSocket handshake).
const LINK_CODECS: [Codec; 3] = [Codec::MsgPack, Codec::Cbor, Codec::Json];
/// A child must finish the RawSocket handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Welcomes exactly one identity: the component's. Without a ticket it trusts the connection
/// (stdio, or a socket only the worker's user can open); with one, the HELLO must ask for
/// `ticket` as the component's authid, and the ticket works once.
pub struct ComponentAuthenticator {
    /// Shared with a pending ticket challenge, which outlives the `hello` call.
    inner: Arc<Inner>,
}

struct Inner {
    identity: Identity,
    /// The one-time ticket; `None` once used (or when the link is trusted).
    ticket: Mutex<Option<String>>,
    needs_ticket: bool,
    /// The router-assigned session ID of each session it welcomed (the latest wins).
    joined: watch::Sender<Option<Id>>,
}

impl Inner {
    fn welcome(&self, session: Id) -> Identity {
        self.joined.send_replace(Some(session));
        self.identity.clone()
    }
}

impl ComponentAuthenticator {
    /// `ticket`: `Some` to demand a one-time ticket (see [`new_ticket`]).
    pub fn new(
        realm: &str,
        authid: &str,
        authrole: &str,
        ticket: Option<String>,
    ) -> Arc<ComponentAuthenticator> {
        let method = if ticket.is_some() {
            "ticket"
        } else {
            "trusted"
        };
        Arc::new(ComponentAuthenticator {
            inner: Arc::new(Inner {
                identity: Identity {
                    realm: realm.to_owned(),
                    authid: authid.to_owned(),
                    authrole: authrole.to_owned(),
                    authmethod: method.into(),
                    authprovider: "component".into(),
                    authextra: Dict::new(),
                },
                needs_ticket: ticket.is_some(),
                ticket: Mutex::new(ticket),
                joined: watch::channel(None).0,
            }),
        })
    }

    /// Follows the session IDs this authenticator welcomed.
    pub fn joined(&self) -> watch::Receiver<Option<Id>> {
        self.inner.joined.subscribe()
    }
}

/// A fresh random ticket (256 bits, hex).
pub fn new_ticket() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(hex::encode(b))
}

#[async_trait]
impl Authenticator for ComponentAuthenticator {
    async fn hello(&self, hello: &HelloInfo) -> AuthStep {
        let me = &self.inner.identity;
        if let Some(realm) = &hello.realm
            && realm != &me.realm
        {
            return AuthStep::Deny(AuthDenied::new(
                "wamp.error.no_such_realm",
                format!(
                    "this component link joins realm \"{}\" only, not \"{realm}\"",
                    me.realm
                ),
            ));
        }
        if !self.inner.needs_ticket {
            return AuthStep::Welcome(self.inner.welcome(hello.session_id));
        }
        let asks_ticket = hello.authmethods.iter().any(|m| m == "ticket");
        if !asks_ticket || hello.authid.as_deref() != Some(me.authid.as_str()) {
            return AuthStep::Deny(AuthDenied::new(
                "wamp.error.not_authorized",
                format!(
                    "this link takes ticket authentication as \"{}\" only",
                    me.authid
                ),
            ));
        }
        AuthStep::Challenge {
            method: "ticket".into(),
            extra: Dict::new(),
            pending: Box::new(PendingTicket {
                inner: self.inner.clone(),
                session: hello.session_id,
            }),
        }
    }
}

struct PendingTicket {
    inner: Arc<Inner>,
    session: Id,
}

#[async_trait]
impl PendingAuth for PendingTicket {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        let accepted = {
            let mut slot = self.inner.ticket.lock().unwrap_or_else(|p| p.into_inner());
            // Constant time: the ticket must not leak byte by byte through response times.
            let ok = slot
                .as_deref()
                .is_some_and(|t| bool::from(t.as_bytes().ct_eq(signature.as_bytes())));
            if ok {
                *slot = None;
            }
            ok
        };
        if accepted {
            Ok(self.inner.welcome(self.session))
        } else {
            Err(AuthDenied::new(
                "wamp.error.not_authorized",
                "invalid or already used component ticket",
            ))
        }
    }
}

/// Runs the component's session over a child's pipes: RawSocket handshake (the child is the
/// client), then the router session, until the pipes close or `stop` fires.
pub async fn serve_stdio<R, W>(
    router: Arc<Router>,
    reader: R,
    writer: W,
    auth: Arc<ComponentAuthenticator>,
    component_id: &str,
    stop: CancellationToken,
) where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let accepted = tokio::select! {
        _ = stop.cancelled() => return,
        r = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            rawsocket::accept_split(reader, writer, &LINK_CODECS, rawsocket::MAX_LENGTH),
        ) => r,
    };
    let conn = match accepted {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            warn!(component_id, error = %e, "component stdio: RawSocket handshake failed");
            return;
        }
        Err(_) => {
            warn!(
                component_id,
                "component stdio: no RawSocket handshake in time"
            );
            return;
        }
    };
    let mut reader = conn.reader;
    reader.set_shutdown(stop);
    let info = connection_info(component_id, "pipe", "process", auth);
    router
        .serve_wire(conn.codec, reader, conn.writer, info)
        .await;
}

fn connection_info(
    component_id: &str,
    kind: &'static str,
    peer: &str,
    auth: Arc<ComponentAuthenticator>,
) -> ConnectionInfo {
    ConnectionInfo {
        transport: Arc::new(TransportInfo::new(
            format!("component:{component_id}"),
            kind,
            peer,
        )),
        authenticator: auth,
    }
}

/// A Unix socket only this worker's user can reach, serving one component's sessions; the
/// directory is removed when it is dropped.
pub struct PrivateSocket {
    dir: tempfile::TempDir,
    path: PathBuf,
    stop: CancellationToken,
}

impl PrivateSocket {
    /// Binds `<tmp>/cbe-component-XXXX/wamp.sock` (directory 0700, socket 0600) and serves it.
    pub fn bind(
        router: Arc<Router>,
        auth: Arc<ComponentAuthenticator>,
        component_id: &str,
    ) -> std::io::Result<PrivateSocket> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::Builder::new()
            .prefix("cbe-component-")
            .tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let path = dir.path().join("wamp.sock");
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            router,
            auth,
            component_id.to_owned(),
            stop.clone(),
        ));
        Ok(PrivateSocket { dir, path, stop })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `unix:/…/wamp.sock`, router-core's client URL form.
    pub fn url(&self) -> String {
        format!("unix:{}", self.path.display())
    }

    /// Stops accepting and ends the sessions it serves.
    pub fn close(&self) {
        self.stop.cancel();
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateSocket {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(
    listener: UnixListener,
    router: Arc<Router>,
    auth: Arc<ComponentAuthenticator>,
    component_id: String,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    warn!(component_id, error = %e, "component socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let auth = auth.clone();
        let id = component_id.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let accepted = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                rawsocket::accept(stream, &LINK_CODECS, rawsocket::MAX_LENGTH),
            )
            .await;
            let conn = match accepted {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    debug!(component_id = %id, error = %e, "component socket: handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let mut reader = conn.reader;
            reader.set_shutdown(stop);
            let info = connection_info(&id, "unix", "unix", auth);
            router
                .serve_wire(conn.codec, reader, conn.writer, info)
                .await;
        });
    }
}
