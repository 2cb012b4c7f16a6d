//! One accepted connection: the transport handshake (RawSocket or WebSocket), then a WAMP
//! session on the router, ended early when the transport stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::auth::cookie::{CookieStore, CookieTracking};
use crate::auth::{Authenticator, TransportInfo};
use crate::codec::Codec;
use crate::router::{ConnectionInfo, Router};
use crate::transport::io::BoxedIo;
use crate::transport::rawsocket;
use crate::transport::websocket::{self, WsSettings};
use crate::transport::wire::{WireRead, WireWrite};
use crate::value::Dict;

/// Time a client has to complete the RawSocket handshake after connecting.
pub const RAWSOCKET_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// State shared by every connection of one running transport.
pub(crate) struct Shared {
    pub router: Arc<Router>,
    pub transport_id: Arc<str>,
    /// Cancelled when the transport stops: ends accepting and every connection.
    pub shutdown: CancellationToken,
    /// Every connection and session task, so `stop` can wait for them.
    pub tracker: TaskTracker,
    /// Connections handed to the router (transport handshake completed).
    pub sessions: AtomicU64,
}

/// A RawSocket endpoint (a `rawsocket` transport or a Universal transport's `rawsocket`).
pub(crate) struct RawSocketEndpoint {
    pub codecs: Vec<Codec>,
    pub max_message_size: usize,
    pub authenticator: Arc<dyn Authenticator>,
}

/// A WebSocket endpoint (a `websocket` transport, a Web path, a Universal `websocket` item).
pub(crate) struct WsEndpoint {
    pub settings: WsSettings,
    pub authenticator: Arc<dyn Authenticator>,
    /// Cookie tracking (the transport's `cookie`), if configured.
    pub cookies: Option<Arc<CookieStore>>,
}

/// Bounds the warnings that connections failing their handshake can make us write.
static HANDSHAKE_LOG: crate::util::RateLimit = crate::util::RateLimit::new(10);

/// A connection that failed its transport handshake (garbage, a wrong protocol, a client that
/// never sent one): a warning with the peer and why, at most 10 a second (the rest are
/// counted in the next one).
fn log_refused(peer: &str, what: &'static str, error: &str) {
    if let Some(suppressed) = HANDSHAKE_LOG.allow() {
        warn!(
            peer,
            what, error, suppressed, "connection closed in its transport handshake"
        );
    }
}

/// What the TLS layer of a connection tells (nothing for plain TCP and Unix sockets).
#[derive(Clone, Default)]
pub(crate) struct TlsFacts {
    pub secure: bool,
    /// The client certificate's details (`auth::tls::certificate_details`), if it sent one.
    pub peer_cert: Option<Arc<Dict>>,
    /// SHA-256 of the handshake's first Finished message (`tls-unique` channel binding).
    pub channel_id: Option<[u8; 32]>,
}

/// Runs a RawSocket handshake; on success the session runs on as its own task.
pub(crate) async fn serve_rawsocket(
    io: BoxedIo,
    peer: String,
    tls: TlsFacts,
    ep: Arc<RawSocketEndpoint>,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    let handshake = tokio::time::timeout(
        RAWSOCKET_HANDSHAKE_TIMEOUT,
        rawsocket::accept(io, &ep.codecs, ep.max_message_size),
    );
    let conn = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        r = handshake => match r {
            Ok(Ok(c)) => c,
            // A peer that closes without sending anything (a TCP health check) is no news.
            Ok(Err(rawsocket::HandshakeError::Io(e))) => {
                debug!(%peer, error = %e, "rawsocket handshake failed");
                return;
            }
            Ok(Err(e)) => {
                log_refused(&peer, "rawsocket handshake failed", &e.to_string());
                return;
            }
            Err(_) => {
                log_refused(&peer, "rawsocket handshake timed out", "no handshake in time");
                return;
            }
        },
    };
    spawn_session(
        conn.codec,
        conn.reader,
        conn.writer,
        "rawsocket",
        peer,
        tls,
        None,
        None,
        ep.authenticator.clone(),
        shared,
        permit,
    );
}

/// Runs a WebSocket upgrade on a raw stream (on any path); on success the session runs on
/// as its own task.
pub(crate) async fn serve_websocket(
    io: BoxedIo,
    peer: String,
    tls: TlsFacts,
    ep: Arc<WsEndpoint>,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    let conn = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        r = websocket::accept(io, &ep.settings, ep.cookies.as_ref()) => match r {
            Ok(c) => c,
            Err(websocket::WsAcceptError::Handshake(
                e @ (WsError::Io(_) | WsError::ConnectionClosed | WsError::AlreadyClosed),
            )) => {
                debug!(%peer, error = %e, "websocket upgrade failed");
                return;
            }
            Err(e) => {
                log_refused(&peer, "websocket upgrade failed", &e.to_string());
                return;
            }
        },
    };
    spawn_session(
        conn.negotiated.codec,
        conn.reader,
        conn.writer,
        "websocket",
        peer,
        tls,
        Some(conn.http_headers),
        conn.cookie,
        ep.authenticator.clone(),
        shared,
        permit,
    );
}

/// A reader that can be told to report end of stream, so the session ends through its normal
/// path (leaving the realm cleanly) instead of being dropped mid-flight.
pub(crate) trait Stoppable: WireRead {
    fn stop_on(&mut self, token: CancellationToken);
}

impl<R, W> Stoppable for rawsocket::RawSocketReader<R, W>
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    fn stop_on(&mut self, token: CancellationToken) {
        self.set_shutdown(token);
    }
}

impl<S> Stoppable for websocket::WsReader<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    fn stop_on(&mut self, token: CancellationToken) {
        self.set_shutdown(token);
    }
}

/// Hands an open wire to the router: the session runs as its own task (tracked by the
/// transport) until the connection or the transport ends.
///
/// Its own task rather than awaited by the connection's task: the task that did the
/// transport handshake (TLS, RawSocket, HTTP upgrade) ends here and frees its state, and
/// the session's future lives in the task itself rather than in one more allocation.
/// `guard` lives as long as the session (a `max_connections` permit).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_session<R: Stoppable, W: WireWrite, G: Send + 'static>(
    codec: Codec,
    mut reader: R,
    writer: W,
    kind: &'static str,
    peer: String,
    tls: TlsFacts,
    http_headers: Option<Dict>,
    cookie: Option<CookieTracking>,
    authenticator: Arc<dyn Authenticator>,
    shared: Arc<Shared>,
    guard: G,
) {
    shared.sessions.fetch_add(1, Ordering::Relaxed);
    let transport = Arc::new(TransportInfo {
        id: shared.transport_id.clone(),
        kind,
        peer,
        http_headers,
        cookie,
        secure: tls.secure,
        peer_cert: tls.peer_cert,
        channel_id: tls.channel_id,
    });
    reader.stop_on(shared.shutdown.clone());
    shared.tracker.spawn(crate::session::serve_wire(
        shared.router.clone(),
        codec,
        reader,
        writer,
        ConnectionInfo {
            transport,
            authenticator,
        },
        guard,
    ));
}

/// A peer address in Crossbar.io's notation (`tcp4:127.0.0.1:52364`).
pub(crate) fn peer_string(addr: &std::net::SocketAddr) -> String {
    match addr {
        std::net::SocketAddr::V4(a) => format!("tcp4:{}:{}", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => format!("tcp4:{}:{}", v4, a.port()),
            None => format!("tcp6:{}:{}", a.ip(), a.port()),
        },
    }
}
