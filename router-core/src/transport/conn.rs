//! One accepted connection: the transport handshake (RawSocket or WebSocket), then a WAMP
//! session on the router, ended early when the transport stops.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

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
    pub transport_id: String,
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
}

/// The session of an accepted connection, once its transport handshake is done.
pub(crate) type SessionFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a RawSocket connection: handshake, then the session.
pub(crate) async fn serve_rawsocket(
    io: BoxedIo,
    peer: String,
    ep: Arc<RawSocketEndpoint>,
    shared: Arc<Shared>,
) {
    // The handshake's state lives in its own allocation, freed when it is done: a connection
    // that then sits idle for hours holds only its session.
    let session = Box::pin(rawsocket_handshake(io, peer, ep, shared)).await;
    if let Some(session) = session {
        session.await;
    }
}

async fn rawsocket_handshake(
    io: BoxedIo,
    peer: String,
    ep: Arc<RawSocketEndpoint>,
    shared: Arc<Shared>,
) -> Option<SessionFuture> {
    let handshake = tokio::time::timeout(
        RAWSOCKET_HANDSHAKE_TIMEOUT,
        rawsocket::accept(io, &ep.codecs, ep.max_message_size),
    );
    let conn = tokio::select! {
        _ = shared.shutdown.cancelled() => return None,
        r = handshake => match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "rawsocket handshake failed");
                return None;
            }
            Err(_) => {
                debug!(%peer, "rawsocket handshake timed out");
                return None;
            }
        },
    };
    Some(run_session(
        conn.codec,
        conn.reader,
        conn.writer,
        "rawsocket",
        peer,
        None,
        ep.authenticator.clone(),
        shared,
    ))
}

/// Runs a WebSocket connection on a raw stream (upgrade on any path), then the session.
pub(crate) async fn serve_websocket(
    io: BoxedIo,
    peer: String,
    ep: Arc<WsEndpoint>,
    shared: Arc<Shared>,
) {
    // As for RawSocket: the upgrade's state is freed before the session runs.
    let session = Box::pin(websocket_handshake(io, peer, ep, shared)).await;
    if let Some(session) = session {
        session.await;
    }
}

async fn websocket_handshake(
    io: BoxedIo,
    peer: String,
    ep: Arc<WsEndpoint>,
    shared: Arc<Shared>,
) -> Option<SessionFuture> {
    let conn = tokio::select! {
        _ = shared.shutdown.cancelled() => return None,
        r = websocket::accept(io, &ep.settings) => match r {
            Ok(c) => c,
            Err(e) => {
                debug!(%peer, error = %e, "websocket upgrade failed");
                return None;
            }
        },
    };
    Some(run_session(
        conn.negotiated.codec,
        conn.reader,
        conn.writer,
        "websocket",
        peer,
        Some(conn.http_headers),
        ep.authenticator.clone(),
        shared,
    ))
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

/// Hands an open wire to the router until the connection or the transport ends.
///
/// Returns a boxed future: awaited inline in the connection tasks, the session future's
/// `Send`-ness would have to be inferred through nested generic futures, which rustc cannot
/// do (the "higher-ranked lifetime error"); boxing proves it here, once per connection.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_session<R: Stoppable, W: WireWrite>(
    codec: Codec,
    mut reader: R,
    writer: W,
    kind: &'static str,
    peer: String,
    http_headers: Option<Dict>,
    authenticator: Arc<dyn Authenticator>,
    shared: Arc<Shared>,
) -> SessionFuture {
    shared.sessions.fetch_add(1, Ordering::Relaxed);
    let transport = Arc::new(TransportInfo {
        id: shared.transport_id.clone(),
        kind: kind.to_owned(),
        peer,
        http_headers,
    });
    reader.stop_on(shared.shutdown.clone());
    Box::pin(shared.router.serve_wire(
        codec,
        reader,
        writer,
        ConnectionInfo {
            transport,
            authenticator,
        },
    ))
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
