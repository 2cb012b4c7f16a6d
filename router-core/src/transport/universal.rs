//! Universal transport: one port for RawSocket (first byte 0x7F, which starts no HTTP request),
//! MQTT (0x10, CONNECT) and HTTP, where WebSocket paths are looked up before Web paths
//! (Crossbar.io's "unisocket").

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use crate::transport::conn::{self, RawSocketEndpoint, Shared, TlsFacts};
use crate::transport::io::{BoxedIo, Rewind};
use crate::transport::mqtt::{self, MqttEndpoint};
use crate::transport::rawsocket;
use crate::transport::web::{self, ConnMeta, WebState};

/// Time a client has to send its first byte.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a Universal transport serves.
pub(crate) struct Endpoints {
    pub rawsocket: Option<Arc<RawSocketEndpoint>>,
    pub mqtt: Option<Arc<MqttEndpoint>>,
    pub web: Arc<WebState>,
}

/// Serves one connection of a Universal transport.
pub(crate) async fn serve(
    mut io: BoxedIo,
    peer: String,
    tls: TlsFacts,
    permit: OwnedSemaphorePermit,
    endpoints: Endpoints,
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
    match first[0] {
        rawsocket::MAGIC => match endpoints.rawsocket {
            Some(ep) => conn::serve_rawsocket(io, peer, tls, ep, shared, permit).await,
            None => debug!(%peer, "client speaks RawSocket, but this transport has none"),
        },
        mqtt::CONNECT_BYTE => match endpoints.mqtt {
            Some(ep) => mqtt::serve(io, peer, ep, shared, permit).await,
            None => debug!(%peer, "client speaks MQTT, but this transport has none"),
        },
        _ => web::serve_http(io, ConnMeta::new(peer, tls, permit), endpoints.web).await,
    }
}
