//! WebSocket: WAMP over RFC 6455, with the `wamp.2.{json,msgpack,cbor}` subprotocols and their
//! `.batched` forms.
//!
//! JSON travels in text frames, MessagePack and CBOR in binary frames; a frame of the other kind
//! is a protocol error. The router answers pings (tungstenite queues the pong and flushes it on
//! the next read) and, with `auto_ping_interval`, pings the peer itself and drops it when no
//! traffic arrives within `auto_ping_timeout`.
//!
//! `wamp.2.json.batched`: the spec ends each message with 0x1e, autobahn-python (and so
//! Crossbar.io) with 0x18; the router reads both and answers with the one its peer uses.
//!
//! permessage-deflate (`options.compression.deflate`) is negotiated as Crossbar.io does, and
//! runs under tungstenite (which has no extension support) in [`super::ws_deflate`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;

use super::ws_deflate::{DeflateParams, DeflateSlot, DeflateStream};
use super::ws_guard::{FrameGuard, Start};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig as TungConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use crate::auth::cookie::{CookieStore, CookieTracking};
use crate::codec::Codec;
use crate::transport::config::{DeflateConfig, WebSocketConfig};
use crate::transport::wire::{WireError, WireRead, WireWrite};
use crate::value::{Dict, Value};

/// Crossbar.io's default `max_message_size` (16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 24;
/// tungstenite allocates its read buffer eagerly for every connection; 4 KiB keeps idle
/// connections cheap (larger messages grow the buffer to their size while they are read).
const READ_BUFFER_SIZE: usize = 4 * 1024;
/// Outgoing frames are collected up to this size before a write (a flush always writes).
const WRITE_BUFFER_SIZE: usize = 16 * 1024;
/// A batched WebSocket message carries WAMP messages up to about this size in total, so one
/// write call does not become a single huge message the peer may refuse.
const BATCH_LIMIT: usize = 256 * 1024;

/// The WebSocket behaviour of one endpoint, derived from its config.
#[derive(Debug, Clone)]
pub struct WsSettings {
    /// Serializers this endpoint speaks.
    pub codecs: Vec<Codec>,
    /// Largest incoming message (`None`: unlimited).
    pub max_message_size: Option<usize>,
    /// Largest incoming frame (`None`: unlimited).
    pub max_frame_size: Option<usize>,
    pub auto_ping_interval: Option<Duration>,
    pub auto_ping_timeout: Option<Duration>,
    pub auto_ping_size: usize,
    /// Refuse a client that offers no WAMP subprotocol (otherwise assume `wamp.2.json`).
    pub require_subprotocol: bool,
    /// Allowed `Origin` patterns (`*` matches any run of characters).
    pub allowed_origins: Vec<String>,
    pub allow_null_origin: bool,
    /// Time from accept to a completed upgrade.
    pub open_handshake_timeout: Duration,
    /// Answer a plain HTTP GET with a status page (otherwise 426 Upgrade Required).
    pub enable_webstatus: bool,
    /// permessage-deflate, when `options.compression.deflate` is set.
    pub deflate: Option<DeflateConfig>,
}

impl Default for WsSettings {
    fn default() -> Self {
        WsSettings {
            codecs: Codec::ALL.to_vec(),
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            max_frame_size: None,
            auto_ping_interval: None,
            auto_ping_timeout: None,
            auto_ping_size: 12,
            require_subprotocol: false,
            allowed_origins: vec!["*".into()],
            allow_null_origin: true,
            open_handshake_timeout: Duration::from_secs(30),
            enable_webstatus: true,
            deflate: None,
        }
    }
}

impl WsSettings {
    pub fn from_config(c: &WebSocketConfig) -> Self {
        let o = &c.options;
        let ms = |v: Option<u64>| v.filter(|&m| m > 0).map(Duration::from_millis);
        let limit = |v: Option<usize>, default: Option<usize>| match v {
            Some(0) => None,
            Some(n) => Some(n),
            None => default,
        };
        let d = WsSettings::default();
        WsSettings {
            codecs: c.codecs(),
            max_message_size: limit(o.max_message_size, d.max_message_size),
            max_frame_size: limit(o.max_frame_size, None),
            auto_ping_interval: ms(o.auto_ping_interval),
            auto_ping_timeout: ms(o.auto_ping_timeout),
            auto_ping_size: o.auto_ping_size.unwrap_or(d.auto_ping_size),
            require_subprotocol: o.require_websocket_subprotocol.unwrap_or(false),
            allowed_origins: o.allowed_origins.clone().unwrap_or(d.allowed_origins),
            allow_null_origin: o.allow_null_origin.unwrap_or(true),
            open_handshake_timeout: ms(o.open_handshake_timeout)
                .unwrap_or(d.open_handshake_timeout),
            enable_webstatus: o.enable_webstatus.unwrap_or(true),
            deflate: o.compression.as_ref().and_then(|c| c.deflate.clone()),
        }
    }

    /// tungstenite's settings for a connection of this endpoint.
    pub fn tungstenite_config(&self) -> TungConfig {
        // A frame can never usefully exceed a message; tungstenite's own default frame limit
        // (16 MiB) would silently cap a larger configured message size.
        let frame = self.max_frame_size.or(self.max_message_size);
        TungConfig::default()
            .read_buffer_size(READ_BUFFER_SIZE)
            .write_buffer_size(WRITE_BUFFER_SIZE)
            .max_message_size(self.max_message_size)
            .max_frame_size(frame)
    }
}

/// The WAMP spec's separator after each message of a `wamp.2.json.batched` message.
const JSON_BATCH_SEPARATOR: u8 = 0x1e;
/// What autobahn-python (and so Crossbar.io) actually uses: its `b"\30"` is octal, i.e.
/// 0x18. The router reads both and answers with the one the peer sent.
const AUTOBAHN_JSON_BATCH_SEPARATOR: u8 = 0x18;

/// The outcome of subprotocol negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub batched: bool,
    /// The subprotocol to announce (`None` when the client offered none).
    pub subprotocol: Option<&'static str>,
    /// permessage-deflate, if the client offered it and the endpoint has it.
    pub deflate: Option<DeflateParams>,
}

/// Picks the first offered subprotocol (in the client's order of preference) this endpoint
/// speaks. With none offered, `wamp.2.json` is assumed, as Crossbar.io does.
pub fn negotiate<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    settings: &WsSettings,
) -> Result<Negotiated, String> {
    let mut any = false;
    for p in offered {
        any = true;
        if let Some((codec, batched)) = Codec::from_subprotocol(p)
            && settings.codecs.contains(&codec)
        {
            return Ok(Negotiated {
                codec,
                batched,
                subprotocol: Some(codec.subprotocol(batched)),
                deflate: None,
            });
        }
    }
    let speaks: Vec<&str> = settings
        .codecs
        .iter()
        .flat_map(|c| [c.subprotocol(false), c.subprotocol(true)])
        .collect();
    if !any && !settings.require_subprotocol && settings.codecs.contains(&Codec::Json) {
        return Ok(Negotiated {
            codec: Codec::Json,
            batched: false,
            subprotocol: None,
            deflate: None,
        });
    }
    Err(format!(
        "This server only speaks WebSocket subprotocols {}",
        speaks.join(", ")
    ))
}

/// The subprotocols a request offers, in order.
pub fn offered_subprotocols(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `origin` may connect (requests without `Origin` come from non-browser clients).
pub fn origin_allowed(origin: Option<&str>, settings: &WsSettings) -> bool {
    match origin {
        None => true,
        Some("null") => settings.allow_null_origin,
        Some(o) => settings
            .allowed_origins
            .iter()
            .any(|p| wildcard_match(p.as_bytes(), o.as_bytes())),
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| wildcard_match(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && wildcard_match(rest, &text[1..]),
    }
}

/// Checks an upgrade request's origin and subprotocol: the negotiated subprotocol, or the HTTP
/// status and text to refuse with.
pub fn check_request(
    headers: &HeaderMap,
    settings: &WsSettings,
) -> Result<Negotiated, (StatusCode, String)> {
    let origin = headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    if !origin_allowed(origin, settings) {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "WebSocket connection denied: origin {} not allowed",
                origin.unwrap_or("")
            ),
        ));
    }
    let mut n = negotiate(offered_subprotocols(headers), settings)
        .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    if let Some(config) = &settings.deflate {
        let offers = headers
            .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok());
        n.deflate = super::ws_deflate::negotiate(offers, config);
    }
    Ok(n)
}

/// The `Sec-WebSocket-Extensions` header of an upgrade response, if one is negotiated.
pub fn extensions_header(n: &Negotiated) -> Option<HeaderValue> {
    n.deflate
        .and_then(|d| HeaderValue::from_str(&d.response_header()).ok())
}

/// The stream a server-side WebSocket runs over: the frame guard, with permessage-deflate
/// above it when negotiated (`slot`, set by the upgrade).
pub type ServerStream<S> = DeflateStream<FrameGuard<S>>;

fn server_stream<S>(
    io: S,
    start: Start,
    slot: DeflateSlot,
    settings: &WsSettings,
) -> ServerStream<S> {
    let http = start == Start::HttpRequest;
    DeflateStream::new(
        FrameGuard::new(io, start, slot.clone()),
        slot,
        http,
        settings.max_message_size,
    )
}

/// HTTP headers as recorded in `TransportInfo.http_headers`: lowercase names, repeated headers
/// joined with ", ".
pub fn header_dict(headers: &HeaderMap) -> Dict {
    let mut d = Dict::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match d.get_mut(name.as_str()) {
            Some(Value::String(s)) => {
                s.push_str(", ");
                s.push_str(&v);
            }
            _ => {
                d.insert(name.as_str().to_owned(), Value::String(v));
            }
        }
    }
    d
}

/// Why a WebSocket upgrade failed.
#[derive(Debug, thiserror::Error)]
pub enum WsAcceptError {
    #[error("websocket handshake failed: {0}")]
    Handshake(#[from] WsError),
    #[error("websocket handshake timed out")]
    Timeout,
}

/// The connection's tracking cookie on a transport with cookie tracking, and the
/// `Set-Cookie` value to answer the upgrade with when the cookie is new.
pub fn track_cookie(
    headers: &HeaderMap,
    cookies: Option<&Arc<CookieStore>>,
) -> (Option<CookieTracking>, Option<HeaderValue>) {
    let Some(store) = cookies else {
        return (None, None);
    };
    let sent: Vec<&str> = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let sent = sent.join("; ");
    let (tracking, set) = store.track(Some(&sent).filter(|s| !s.is_empty()).map(String::as_str));
    (
        Some(tracking),
        set.and_then(|v| HeaderValue::from_str(&v).ok()),
    )
}

/// A WebSocket connection after the upgrade.
pub struct WsConnection<S> {
    pub negotiated: Negotiated,
    /// The request path of the upgrade.
    pub path: String,
    pub http_headers: Dict,
    pub cookie: Option<CookieTracking>,
    pub reader: WsReader<S>,
    pub writer: WsWriter<S>,
}

/// Accepts a WebSocket upgrade on any path of a raw stream (the `websocket` transport), with
/// a tracking cookie from `cookies` if the transport has cookie tracking.
pub async fn accept<S>(
    stream: S,
    settings: &WsSettings,
    cookies: Option<&Arc<CookieStore>>,
) -> Result<WsConnection<ServerStream<S>>, WsAcceptError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut outcome: Option<(Negotiated, Dict, String, Option<CookieTracking>)> = None;
    let slot = DeflateSlot::default();
    // The error type is tungstenite's; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        match check_request(req.headers(), settings) {
            Ok(n) => {
                if let Some(p) = n.subprotocol {
                    resp.headers_mut().insert(
                        http::header::SEC_WEBSOCKET_PROTOCOL,
                        HeaderValue::from_static(p),
                    );
                }
                if let (Some(d), Some(h)) = (n.deflate, extensions_header(&n)) {
                    resp.headers_mut()
                        .insert(http::header::SEC_WEBSOCKET_EXTENSIONS, h);
                    let _ = slot.set(d);
                }
                let (cookie, set_cookie) = track_cookie(req.headers(), cookies);
                if let Some(v) = set_cookie {
                    resp.headers_mut().append(http::header::SET_COOKIE, v);
                }
                outcome = Some((
                    n,
                    header_dict(req.headers()),
                    req.uri().path().to_owned(),
                    cookie,
                ));
                Ok(resp)
            }
            Err((status, text)) => {
                let mut r = ErrorResponse::new(Some(text));
                *r.status_mut() = status;
                Err(r)
            }
        }
    };
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(
        server_stream(stream, Start::HttpRequest, slot.clone(), settings),
        callback,
        Some(settings.tungstenite_config()),
    );
    let ws = tokio::time::timeout(settings.open_handshake_timeout, upgrade)
        .await
        .map_err(|_| WsAcceptError::Timeout)??;
    let Some((negotiated, http_headers, path, cookie)) = outcome else {
        // The callback runs before a successful upgrade returns; be safe anyway.
        return Err(WsAcceptError::Handshake(WsError::ConnectionClosed));
    };
    let (reader, writer) = split(ws, negotiated, settings);
    Ok(WsConnection {
        negotiated,
        path,
        http_headers,
        cookie,
        reader,
        writer,
    })
}

/// Wraps a stream whose HTTP upgrade was already answered (a `web` transport path).
pub async fn from_upgraded<S>(
    io: S,
    negotiated: Negotiated,
    settings: &WsSettings,
) -> (WsReader<ServerStream<S>>, WsWriter<ServerStream<S>>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let slot = DeflateSlot::default();
    if let Some(d) = negotiated.deflate {
        let _ = slot.set(d);
    }
    let ws = WebSocketStream::from_raw_socket(
        server_stream(io, Start::Frames, slot, settings),
        Role::Server,
        Some(settings.tungstenite_config()),
    )
    .await;
    split(ws, negotiated, settings)
}

type Sink<S> = SplitSink<WebSocketStream<S>, Message>;

/// Splits a WebSocket into WAMP wire halves.
pub(crate) fn split<S>(
    ws: WebSocketStream<S>,
    negotiated: Negotiated,
    settings: &WsSettings,
) -> (WsReader<S>, WsWriter<S>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sink, stream) = ws.split();
    // The reader sends pings through the writer's sink; the lock is held only per write call.
    let sink = Arc::new(Mutex::new(sink));
    let json_separator = Arc::new(AtomicU8::new(JSON_BATCH_SEPARATOR));
    let keepalive = settings.auto_ping_interval.map(|interval| Keepalive {
        interval,
        timeout: settings.auto_ping_timeout.unwrap_or(interval),
        size: settings.auto_ping_size.clamp(8, 125),
        next_ping: Instant::now() + interval,
        deadline: None,
        count: 0,
    });
    (
        WsReader {
            stream,
            sink: sink.clone(),
            codec: negotiated.codec,
            batched: negotiated.batched,
            pending: Vec::new().into_iter(),
            keepalive,
            shutdown: None,
            json_separator: json_separator.clone(),
        },
        WsWriter {
            sink,
            codec: negotiated.codec,
            batched: negotiated.batched,
            json_separator,
        },
    )
}

/// Auto-ping state of a connection.
struct Keepalive {
    interval: Duration,
    timeout: Duration,
    size: usize,
    next_ping: Instant,
    /// When the peer must have sent something (set by a ping, cleared by any traffic).
    deadline: Option<Instant>,
    count: u64,
}

impl Keepalive {
    fn wake_at(&self) -> Instant {
        match self.deadline {
            Some(d) => d.min(self.next_ping),
            None => self.next_ping,
        }
    }

    fn payload(&mut self) -> Bytes {
        self.count += 1;
        let mut p = BytesMut::with_capacity(self.size);
        p.put_u64(self.count);
        p.resize(self.size, 0);
        p.freeze()
    }
}

/// The receiving half of a WAMP WebSocket connection.
pub struct WsReader<S> {
    stream: SplitStream<WebSocketStream<S>>,
    sink: Arc<Mutex<Sink<S>>>,
    codec: Codec,
    batched: bool,
    /// Messages of a batched WebSocket message not yet returned.
    pending: std::vec::IntoIter<Bytes>,
    keepalive: Option<Keepalive>,
    /// Once cancelled, reads report end of stream (the transport is stopping).
    shutdown: Option<CancellationToken>,
    /// The JSON batch separator the peer uses (see [`AUTOBAHN_JSON_BATCH_SEPARATOR`]).
    json_separator: Arc<AtomicU8>,
}

fn read_error(e: WsError) -> Result<Option<Bytes>, WireError> {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => Ok(None),
        WsError::Io(e) => Err(WireError::Io(e)),
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            Err(WireError::TooLarge {
                size,
                max: max_size,
            })
        }
        other => Err(WireError::WebSocket(other.to_string())),
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> WsReader<S> {
    /// Makes reads report end of stream once `token` is cancelled.
    pub fn set_shutdown(&mut self, token: CancellationToken) {
        self.shutdown = Some(token);
    }

    async fn next_message(&mut self) -> Result<Option<Bytes>, WireError> {
        loop {
            if let Some(b) = self.pending.next() {
                return Ok(Some(b));
            }
            let item = match &mut self.keepalive {
                None => self.stream.next().await,
                Some(ka) => {
                    tokio::select! {
                        m = self.stream.next() => m,
                        _ = tokio::time::sleep_until(ka.wake_at()) => {
                            let now = Instant::now();
                            if ka.deadline.is_some_and(|d| now >= d) {
                                return Err(WireError::WebSocket(
                                    "peer did not answer the ping within auto_ping_timeout".into(),
                                ));
                            }
                            if now >= ka.next_ping {
                                ka.next_ping = now + ka.interval;
                                ka.deadline.get_or_insert(now + ka.timeout);
                                let ping = Message::Ping(ka.payload());
                                if let Err(e) = self.sink.lock().await.send(ping).await {
                                    return read_error(e);
                                }
                            }
                            continue;
                        }
                    }
                }
            };
            let msg = match item {
                None => return Ok(None),
                Some(Err(e)) => return read_error(e),
                Some(Ok(m)) => m,
            };
            if let Some(ka) = &mut self.keepalive {
                // Any traffic shows the peer is alive (autobahn's restart-on-any-traffic).
                ka.deadline = None;
            }
            let data: Bytes = match msg {
                Message::Text(t) if !self.codec.is_binary() => t.into(),
                Message::Binary(b) if self.codec.is_binary() => b,
                Message::Text(_) => {
                    return Err(WireError::Protocol(format!(
                        "text frame on the binary subprotocol {}",
                        self.codec.subprotocol(self.batched)
                    )));
                }
                Message::Binary(_) => {
                    return Err(WireError::Protocol(format!(
                        "binary frame on the text subprotocol {}",
                        self.codec.subprotocol(self.batched)
                    )));
                }
                Message::Close(frame) => return closed(frame),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            if !self.batched {
                return Ok(Some(data));
            }
            let parts: Vec<Bytes> = if self.codec == Codec::Json {
                split_json_batch(&data, &self.json_separator)?
            } else {
                let parts = self
                    .codec
                    .split_batched(&data)
                    .map_err(|v| WireError::Protocol(v.0))?;
                parts.into_iter().map(|p| data.slice_ref(p)).collect()
            };
            self.pending = parts.into_iter();
        }
    }
}

/// The end of the connection a close frame means: a normal end, or an error that says why
/// the peer gave up (its close code and reason), so the session's end names it.
fn closed(
    frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> Result<Option<Bytes>, WireError> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    match frame {
        None => Ok(None),
        Some(f) if matches!(f.code, CloseCode::Normal | CloseCode::Away) => Ok(None),
        Some(f) => Err(WireError::WebSocket(format!(
            "the peer closed the connection with code {}{}",
            u16::from(f.code),
            if f.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.reason)
            }
        ))),
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> WireRead for WsReader<S> {
    async fn read_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        match self.shutdown.clone() {
            None => self.next_message().await,
            Some(token) => tokio::select! {
                biased;
                _ = token.cancelled() => Ok(None),
                r = self.next_message() => r,
            },
        }
    }
}

/// Splits a `wamp.2.json.batched` message on either separator (JSON text never contains a raw
/// control character, so both are unambiguous) and remembers which one the peer uses.
fn split_json_batch(data: &Bytes, separator: &AtomicU8) -> Result<Vec<Bytes>, WireError> {
    if data.contains(&AUTOBAHN_JSON_BATCH_SEPARATOR) {
        separator.store(AUTOBAHN_JSON_BATCH_SEPARATOR, Ordering::Relaxed);
    }
    let parts: Vec<Bytes> = data
        .split(|b| *b == JSON_BATCH_SEPARATOR || *b == AUTOBAHN_JSON_BATCH_SEPARATOR)
        .filter(|p| !p.is_empty())
        .map(|p| data.slice_ref(p))
        .collect();
    if parts.is_empty() {
        return Err(WireError::Protocol("empty batch".into()));
    }
    Ok(parts)
}

/// The sending half of a WAMP WebSocket connection.
pub struct WsWriter<S> {
    sink: Arc<Mutex<Sink<S>>>,
    codec: Codec,
    batched: bool,
    json_separator: Arc<AtomicU8>,
}

fn write_error(e: WsError) -> WireError {
    match e {
        WsError::Io(e) => WireError::Io(e),
        other => WireError::WebSocket(other.to_string()),
    }
}

impl<S> WsWriter<S> {
    fn message(&self, data: Bytes) -> Result<Message, WireError> {
        if self.codec.is_binary() {
            Ok(Message::Binary(data))
        } else {
            Utf8Bytes::try_from(data)
                .map(Message::Text)
                .map_err(|_| WireError::Protocol("JSON message is not valid UTF-8".into()))
        }
    }

    /// Appends one message in the batched framing (see `Codec::encode_batched_into`).
    fn append_batched(&self, buf: &mut BytesMut, frame: &[u8]) {
        match self.codec {
            Codec::Json => {
                buf.put_slice(frame);
                buf.put_u8(self.json_separator.load(Ordering::Relaxed));
            }
            Codec::MsgPack | Codec::Cbor | Codec::Ubjson => {
                buf.put_u32(frame.len() as u32);
                buf.put_slice(frame);
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> WireWrite for WsWriter<S> {
    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        let mut sink = self.sink.lock().await;
        if self.batched {
            let mut buf = BytesMut::new();
            for f in frames {
                if !buf.is_empty() && buf.len() + f.len() + 5 > BATCH_LIMIT {
                    let m = self.message(buf.split().freeze())?;
                    sink.feed(m).await.map_err(write_error)?;
                }
                self.append_batched(&mut buf, f);
            }
            if !buf.is_empty() {
                let m = self.message(buf.freeze())?;
                sink.feed(m).await.map_err(write_error)?;
            }
        } else {
            for f in frames {
                let m = self.message(f.clone())?;
                sink.feed(m).await.map_err(write_error)?;
            }
        }
        sink.flush().await.map_err(write_error)
    }

    async fn close(&mut self) {
        let _ = self.sink.lock().await.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let s = WsSettings::default();
        let n = negotiate(["foo", "wamp.2.msgpack.batched", "wamp.2.json"], &s).unwrap();
        assert_eq!((n.codec, n.batched), (Codec::MsgPack, true));
        assert_eq!(n.subprotocol, Some("wamp.2.msgpack.batched"));
        let n = negotiate([], &s).unwrap();
        assert_eq!((n.codec, n.subprotocol), (Codec::Json, None));
        let n = negotiate(["wamp.2.ubjson"], &s).unwrap();
        assert_eq!((n.codec, n.batched), (Codec::Ubjson, false));
        assert!(negotiate(["wamp.2.flatbuffers"], &s).is_err());
        let only_cbor = WsSettings {
            codecs: vec![Codec::Cbor],
            ..WsSettings::default()
        };
        assert!(negotiate(["wamp.2.json"], &only_cbor).is_err());
        assert!(negotiate([], &only_cbor).is_err());
        let strict = WsSettings {
            require_subprotocol: true,
            ..WsSettings::default()
        };
        assert!(negotiate([], &strict).is_err());
    }

    #[test]
    fn origins() {
        let s = WsSettings {
            allowed_origins: vec!["https://*.example.com".into(), "http://localhost:*".into()],
            allow_null_origin: false,
            ..WsSettings::default()
        };
        assert!(origin_allowed(None, &s));
        assert!(!origin_allowed(Some("null"), &s));
        assert!(origin_allowed(Some("https://app.example.com"), &s));
        assert!(origin_allowed(Some("http://localhost:8080"), &s));
        assert!(!origin_allowed(Some("https://evil.com"), &s));
        assert!(origin_allowed(Some("anything"), &WsSettings::default()));
    }

    #[test]
    fn json_batches_accept_both_separators() {
        let sep = AtomicU8::new(JSON_BATCH_SEPARATOR);
        let spec = Bytes::from_static(b"[1]\x1e[2]\x1e");
        assert_eq!(split_json_batch(&spec, &sep).unwrap().len(), 2);
        assert_eq!(sep.load(Ordering::Relaxed), JSON_BATCH_SEPARATOR);
        let ab = Bytes::from_static(b"[1]\x18[2,\"a\"]\x18");
        let parts = split_json_batch(&ab, &sep).unwrap();
        assert_eq!(&parts[1][..], b"[2,\"a\"]");
        assert_eq!(sep.load(Ordering::Relaxed), AUTOBAHN_JSON_BATCH_SEPARATOR);
        assert!(split_json_batch(&Bytes::from_static(b"\x18"), &sep).is_err());
    }

    #[test]
    fn headers_recorded() {
        let mut h = HeaderMap::new();
        h.append("X-Thing", HeaderValue::from_static("a"));
        h.append("x-thing", HeaderValue::from_static("b"));
        h.append("Host", HeaderValue::from_static("h"));
        let d = header_dict(&h);
        assert_eq!(d.get("x-thing"), Some(&Value::from("a, b")));
        assert_eq!(d.get("host"), Some(&Value::from("h")));
    }

    #[test]
    fn settings_from_config() {
        let c: WebSocketConfig = serde_json::from_value(serde_json::json!({
            "serializers": ["json"],
            "options": {"max_message_size": 0, "auto_ping_interval": 10000,
                        "auto_ping_timeout": 5000, "require_websocket_subprotocol": true}
        }))
        .unwrap();
        let s = WsSettings::from_config(&c);
        assert_eq!(s.codecs, vec![Codec::Json]);
        assert_eq!(s.max_message_size, None);
        assert_eq!(s.auto_ping_interval, Some(Duration::from_secs(10)));
        assert!(s.require_subprotocol);
    }
}
