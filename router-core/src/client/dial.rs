//! The built-in client transports behind [`connect`](super::connect): WebSocket (`ws://`,
//! `wss://`, through [`crate::transport::ws_client`]) and RawSocket over TCP (`rs://`) or a
//! Unix socket (`unix:/path`).
//!
//! The wire halves of the different transports are different types; [`DialReader`] and
//! [`DialWriter`] erase them so that one [`Dialer`] serves every URL scheme.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UnixStream};

use crate::codec::Codec;
use crate::transport::io::BoxedIo;
use crate::transport::rawsocket::{self, RawSocketReader, RawSocketWriter};
use crate::transport::websocket::{WsReader, WsWriter};
use crate::transport::wire::{WireError, WireRead, WireWrite};
use crate::transport::ws_client::{self, WsClientOptions};

use super::connect::{Dialer, Endpoint};
use super::error::ClientError;

/// How the built-in dialer connects.
#[derive(Debug, Clone)]
pub struct DialOptions {
    /// WebSocket settings: subprotocols offered (in preference order), extra CA file for
    /// `wss://`, pings, message size limit, connect timeout.
    pub websocket: WsClientOptions,
    /// Largest RawSocket message accepted (announced in the RawSocket handshake).
    pub rawsocket_max_message_size: usize,
    /// Bounds TCP/Unix connect plus the RawSocket handshake (WebSocket uses
    /// `websocket.connect_timeout`).
    pub connect_timeout: Duration,
}

impl Default for DialOptions {
    fn default() -> Self {
        DialOptions {
            websocket: WsClientOptions::default(),
            rawsocket_max_message_size: rawsocket::MAX_LENGTH,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// The dialer of the transport module: WebSocket and RawSocket clients.
#[derive(Debug, Clone, Default)]
pub struct TransportDialer {
    pub options: DialOptions,
}

impl TransportDialer {
    pub fn new(options: DialOptions) -> Self {
        TransportDialer { options }
    }
}

type RsReader = RawSocketReader<ReadHalf<BoxedIo>, WriteHalf<BoxedIo>>;
type RsWriter = RawSocketWriter<WriteHalf<BoxedIo>>;

/// The reading half of any built-in client connection.
pub enum DialReader {
    WebSocket(WsReader<BoxedIo>),
    RawSocket(RsReader),
}

/// The writing half of any built-in client connection.
pub enum DialWriter {
    WebSocket(WsWriter<BoxedIo>),
    RawSocket(RsWriter),
}

impl WireRead for DialReader {
    async fn read_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        match self {
            DialReader::WebSocket(r) => r.read_frame().await,
            DialReader::RawSocket(r) => r.read_frame().await,
        }
    }
}

impl WireWrite for DialWriter {
    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        match self {
            DialWriter::WebSocket(w) => w.write_frames(frames).await,
            DialWriter::RawSocket(w) => w.write_frames(frames).await,
        }
    }

    async fn close(&mut self) {
        match self {
            DialWriter::WebSocket(w) => w.close().await,
            DialWriter::RawSocket(w) => w.close().await,
        }
    }
}

/// `protocols` with the entries of `codec` moved to the front (order otherwise kept).
fn prefer(protocols: &[(Codec, bool)], codec: Codec) -> Vec<(Codec, bool)> {
    let (mut first, rest): (Vec<_>, Vec<_>) = protocols.iter().partition(|(c, _)| *c == codec);
    first.extend(rest);
    first
}

impl Dialer for TransportDialer {
    type Reader = DialReader;
    type Writer = DialWriter;

    async fn dial(
        &self,
        endpoint: &Endpoint,
        codec: Codec,
    ) -> Result<(Codec, DialReader, DialWriter), ClientError> {
        let opts = &self.options;
        match endpoint {
            Endpoint::WebSocket { url, .. } => {
                let mut ws = opts.websocket.clone();
                ws.protocols = prefer(&ws.protocols, codec);
                let c = ws_client::connect(url, &ws)
                    .await
                    .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?;
                Ok((
                    c.negotiated.codec,
                    DialReader::WebSocket(c.reader),
                    DialWriter::WebSocket(c.writer),
                ))
            }
            Endpoint::RawSocket { host, port } => {
                let what = format!("rs://{host}:{port}");
                let stream = bounded(opts.connect_timeout, &what, async {
                    let tcp = TcpStream::connect((host.as_str(), *port)).await?;
                    let _ = tcp.set_nodelay(true);
                    Ok(Box::new(tcp) as BoxedIo)
                })
                .await?;
                rawsocket_over(stream, codec, opts, &what).await
            }
            Endpoint::Unix { path } => {
                let what = format!("unix:{}", path.display());
                let stream = bounded(opts.connect_timeout, &what, async {
                    Ok(Box::new(UnixStream::connect(path).await?) as BoxedIo)
                })
                .await?;
                rawsocket_over(stream, codec, opts, &what).await
            }
        }
    }
}

async fn bounded<T>(
    limit: Duration,
    what: &str,
    f: impl Future<Output = std::io::Result<T>>,
) -> Result<T, ClientError> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ClientError::Connect(format!("{what}: {e}"))),
        Err(_) => Err(ClientError::Connect(format!(
            "{what}: connecting timed out after {limit:?}"
        ))),
    }
}

async fn rawsocket_over(
    stream: BoxedIo,
    codec: Codec,
    opts: &DialOptions,
    what: &str,
) -> Result<(Codec, DialReader, DialWriter), ClientError> {
    let conn = tokio::time::timeout(
        opts.connect_timeout,
        rawsocket::connect(stream, codec, opts.rawsocket_max_message_size),
    )
    .await
    .map_err(|_| ClientError::Connect(format!("{what}: RawSocket handshake timed out")))?
    .map_err(|e| ClientError::Connect(format!("{what}: RawSocket handshake: {e}")))?;
    Ok((
        conn.codec,
        DialReader::RawSocket(conn.reader),
        DialWriter::RawSocket(conn.writer),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_codec_first() {
        let p = [
            (Codec::Cbor, true),
            (Codec::Cbor, false),
            (Codec::Json, true),
            (Codec::Json, false),
        ];
        assert_eq!(
            prefer(&p, Codec::Json),
            vec![
                (Codec::Json, true),
                (Codec::Json, false),
                (Codec::Cbor, true),
                (Codec::Cbor, false)
            ]
        );
        assert_eq!(prefer(&p, Codec::MsgPack), p.to_vec());
    }
}
