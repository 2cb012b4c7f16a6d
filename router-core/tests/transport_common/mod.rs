//! Helpers for transport integration tests: a router with `realm1`, clients that join it over
//! each transport, and a minimal HTTP client.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use router_core::auth::TrustedAuthenticator;
use router_core::transport::rawsocket;
use router_core::transport::wire::{WireRead, WireWrite};
use router_core::transport::ws_client::{self, WsClientOptions};
use router_core::transport::{
    RunningTransport, TransportConfig, TransportContext, start_transport,
};
use router_core::{Codec, Message, RealmConfig, Router, dict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounded wait for anything in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A router with realm `realm1` and a role `anonymous` that may do everything.
pub fn router() -> Arc<Router> {
    let r = Router::new();
    let cfg: RealmConfig = serde_json::from_value(serde_json::json!({
        "name": "realm1",
        "roles": [{"name": "anonymous", "permissions": [{
            "uri": "", "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true}
        }]}]
    }))
    .unwrap();
    r.start_realm(cfg).unwrap();
    r
}

pub fn authenticator() -> Arc<TrustedAuthenticator> {
    Arc::new(TrustedAuthenticator {
        realm: "realm1".into(),
        authid: None,
        authrole: "anonymous".into(),
    })
}

pub async fn start(
    router: &Arc<Router>,
    config: serde_json::Value,
    base: &Path,
) -> RunningTransport {
    let cfg = TransportConfig::from_json(config).unwrap();
    start_transport(
        router.clone(),
        cfg,
        authenticator(),
        TransportContext::new(base, "transport001"),
    )
    .await
    .unwrap()
}

pub fn hello() -> Message {
    Message::Hello {
        realm: Some("realm1".into()),
        details: dict! {"roles" => router_core::Value::Dict(dict! {
            "publisher" => router_core::Value::Dict(dict!{}),
            "caller" => router_core::Value::Dict(dict!{}),
        })},
    }
}

pub async fn read_msg<R: WireRead>(r: &mut R, codec: Codec) -> Message {
    let frame = tokio::time::timeout(WAIT, r.read_frame())
        .await
        .expect("timed out waiting for a message")
        .expect("read failed")
        .expect("connection closed");
    codec.decode(&frame).expect("undecodable message")
}

/// Sends HELLO, expects WELCOME; returns the session ID.
pub async fn join<R: WireRead, W: WireWrite>(r: &mut R, w: &mut W, codec: Codec) -> u64 {
    w.write_frames(&[codec.encode(&hello())]).await.unwrap();
    match read_msg(r, codec).await {
        Message::Welcome { session, details } => {
            assert_eq!(
                details.get("realm").and_then(|v| v.as_str()),
                Some("realm1")
            );
            session
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

/// Publishes with acknowledgement and expects PUBLISHED: proves the session still works.
pub async fn roundtrip<R: WireRead, W: WireWrite>(
    r: &mut R,
    w: &mut W,
    codec: Codec,
    request: u64,
) {
    let publish = Message::Publish {
        request,
        options: dict! {"acknowledge" => true},
        topic: "com.example.topic".into(),
        payload: router_core::Payload::default(),
    };
    w.write_frames(&[codec.encode(&publish)]).await.unwrap();
    match read_msg(r, codec).await {
        Message::Published { request: got, .. } => assert_eq!(got, request),
        other => panic!("expected PUBLISHED, got {other:?}"),
    }
}

/// Joins over RawSocket on any stream.
pub async fn join_rawsocket<S>(stream: S, codec: Codec) -> u64
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let mut c = rawsocket::connect(stream, codec, rawsocket::MAX_LENGTH)
        .await
        .unwrap();
    assert_eq!(c.codec, codec);
    let id = join(&mut c.reader, &mut c.writer, codec).await;
    roundtrip(&mut c.reader, &mut c.writer, codec, 1).await;
    id
}

/// Joins over WebSocket with one offered subprotocol.
pub async fn join_ws(url: &str, codec: Codec, batched: bool, ca: Option<&Path>) -> u64 {
    let opts = WsClientOptions {
        protocols: vec![(codec, batched)],
        extra_ca_file: ca.map(Path::to_owned),
        ..WsClientOptions::default()
    };
    let mut c = ws_client::connect(url, &opts).await.unwrap();
    assert_eq!((c.negotiated.codec, c.negotiated.batched), (codec, batched));
    let id = join(&mut c.reader, &mut c.writer, codec).await;
    roundtrip(&mut c.reader, &mut c.writer, codec, 1).await;
    id
}

pub const SUBPROTOCOLS: [(Codec, bool); 6] = [
    (Codec::Json, false),
    (Codec::MsgPack, false),
    (Codec::Cbor, false),
    (Codec::Json, true),
    (Codec::MsgPack, true),
    (Codec::Cbor, true),
];

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw request bytes and reads the response until the server closes.
pub async fn http_raw(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
    out
}

/// Sends raw request bytes and reads only the response head (for upgrades that stay open).
pub async fn http_head(port: u16, request: &[u8]) -> HttpResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed before the response head");
        out.extend_from_slice(&buf[..n]);
    }
    parse_http(&out)
}

pub async fn http_get(port: u16, path: &str) -> HttpResponse {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    parse_http(&http_raw(port, req.as_bytes()).await)
}

pub fn parse_http(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no HTTP header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
    out
}

/// Whether the peer closed the connection (EOF or reset) within the wait.
pub async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

pub fn frame(bytes: &[u8]) -> Bytes {
    Bytes::copy_from_slice(bytes)
}
