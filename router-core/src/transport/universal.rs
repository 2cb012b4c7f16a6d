//! Universal transport: one port for RawSocket (first byte 0x7F, which starts no HTTP request)
//! and HTTP, where WebSocket paths are looked up before Web paths (Crossbar.io's "unisocket").

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use crate::transport::conn::{self, RawSocketEndpoint, Shared};
use crate::transport::io::{BoxedIo, Rewind};
use crate::transport::rawsocket;
use crate::transport::web::{self, ConnMeta, WebState};

/// Time a client has to send its first byte.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one connection of a Universal transport.
pub(crate) async fn serve(
    mut io: BoxedIo,
    peer: String,
    secure: bool,
    permit: OwnedSemaphorePermit,
    rawsocket: Option<Arc<RawSocketEndpoint>>,
    web: Arc<WebState>,
    shared: Arc<Shared>,
) {
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(FIRST_BYTE_TIMEOUT, io.read(&mut first));
    let r = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        r = read => r,
    };
    if !matches!(r, Ok(Ok(1))) {
        return;
    }
    let io: BoxedIo = Box::new(Rewind::new(Bytes::copy_from_slice(&first), io));
    if first[0] == rawsocket::MAGIC {
        match rawsocket {
            Some(ep) => conn::serve_rawsocket(io, peer, ep, shared, permit).await,
            None => debug!(%peer, "client speaks RawSocket, but this transport has none"),
        }
    } else {
        web::serve_http(io, ConnMeta::new(peer, secure, permit), web).await;
    }
}
