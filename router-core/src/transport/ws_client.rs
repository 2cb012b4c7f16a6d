//! WebSocket client: connects to `ws://` or `wss://` URLs (rustls, public roots plus an optional
//! extra CA file), offers WAMP subprotocols in preference order, and returns the negotiated
//! serializer with the wire halves (for the uplink to a management center, and for tests).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::codec::Codec;
use crate::transport::io::BoxedIo;
use crate::transport::tls;
use crate::transport::websocket::{Negotiated, WsReader, WsSettings, WsWriter, split};

/// How to connect.
#[derive(Debug, Clone)]
pub struct WsClientOptions {
    /// Subprotocols to offer, most preferred first: (serializer, batched).
    pub protocols: Vec<(Codec, bool)>,
    /// A PEM file with extra trusted certificates for `wss://`.
    pub extra_ca_file: Option<PathBuf>,
    /// Largest incoming message (`None`: unlimited).
    pub max_message_size: Option<usize>,
    /// Ping the router this often (and drop it when it stays silent as long again).
    pub auto_ping_interval: Option<Duration>,
    /// Time allowed for TCP connect, TLS and the upgrade together.
    pub connect_timeout: Duration,
    /// Extra HTTP headers for the upgrade request.
    pub headers: Vec<(String, String)>,
}

impl Default for WsClientOptions {
    fn default() -> Self {
        WsClientOptions {
            protocols: vec![
                (Codec::Cbor, false),
                (Codec::MsgPack, false),
                (Codec::Json, false),
            ],
            extra_ca_file: None,
            max_message_size: Some(crate::transport::websocket::DEFAULT_MAX_MESSAGE_SIZE),
            auto_ping_interval: None,
            connect_timeout: Duration::from_secs(30),
            headers: Vec::new(),
        }
    }
}

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum WsConnectError {
    #[error("invalid WebSocket URL \"{0}\"")]
    BadUrl(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("WebSocket handshake: {0}")]
    Handshake(String),
    #[error("the router chose no subprotocol we offered ({0:?})")]
    NoSubprotocol(Option<String>),
    #[error("connecting timed out")]
    Timeout,
}

/// An open client connection.
pub struct WsClient {
    pub negotiated: Negotiated,
    pub reader: WsReader<BoxedIo>,
    pub writer: WsWriter<BoxedIo>,
}

/// Connects to `url` (`ws://host:port/path` or `wss://…`).
pub async fn connect(url: &str, opts: &WsClientOptions) -> Result<WsClient, WsConnectError> {
    tokio::time::timeout(opts.connect_timeout, connect_inner(url, opts))
        .await
        .map_err(|_| WsConnectError::Timeout)?
}

async fn connect_inner(url: &str, opts: &WsClientOptions) -> Result<WsClient, WsConnectError> {
    let bad = || WsConnectError::BadUrl(url.to_owned());
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(bad()),
    };
    let host = uri.host().ok_or_else(bad)?.to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let bare_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addr = format!("{host}:{port}");
    let tcp = TcpStream::connect((bare_host.as_str(), port))
        .await
        .map_err(|source| WsConnectError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let io: BoxedIo = if secure {
        let cfg = tls::client_config(opts.extra_ca_file.as_deref())
            .map_err(|e| WsConnectError::Tls(e.to_string()))?;
        let name = ServerName::try_from(bare_host.clone())
            .map_err(|e| WsConnectError::Tls(e.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .map_err(|e| WsConnectError::Tls(e.to_string()))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let mut req = url
        .into_client_request()
        .map_err(|e| WsConnectError::Handshake(e.to_string()))?;
    let offer: Vec<&str> = opts
        .protocols
        .iter()
        .map(|(c, b)| c.subprotocol(*b))
        .collect();
    if !offer.is_empty() {
        let v = HeaderValue::from_str(&offer.join(", ")).map_err(|_| bad())?;
        req.headers_mut()
            .insert(http::header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    for (k, v) in &opts.headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| WsConnectError::Handshake(e.to_string()))?;
        let value =
            HeaderValue::from_str(v).map_err(|e| WsConnectError::Handshake(e.to_string()))?;
        req.headers_mut().insert(name, value);
    }
    let settings = WsSettings {
        codecs: opts.protocols.iter().map(|(c, _)| *c).collect(),
        max_message_size: opts.max_message_size,
        auto_ping_interval: opts.auto_ping_interval,
        ..WsSettings::default()
    };
    let (ws, resp) =
        tokio_tungstenite::client_async_with_config(req, io, Some(settings.tungstenite_config()))
            .await
            .map_err(|e| WsConnectError::Handshake(e.to_string()))?;
    let chosen = resp
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let negotiated = match chosen.as_deref().and_then(Codec::from_subprotocol) {
        Some((codec, batched)) if opts.protocols.contains(&(codec, batched)) => Negotiated {
            codec,
            batched,
            subprotocol: Some(codec.subprotocol(batched)),
            // The router's client never offers extensions.
            deflate: None,
        },
        _ => return Err(WsConnectError::NoSubprotocol(chosen)),
    };
    let (reader, writer) = split(ws, negotiated, &settings);
    Ok(WsClient {
        negotiated,
        reader,
        writer,
    })
}
