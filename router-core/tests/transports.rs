//! Transport integration tests: every transport × serializer joins `realm1` over loopback
//! (ports picked by the OS), plus handshake errors, size limits, garbage and stopping.

mod transport_common;
use transport_common as common;

use std::time::Duration;

use common::*;
use router_core::Codec;
use router_core::transport::rawsocket;
use router_core::transport::wire::{WireError, WireRead, WireWrite};
use router_core::transport::{TransportConfig, TransportContext, TransportError, start_transport};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

fn tcp(port: u16) -> serde_json::Value {
    json!({"type": "tcp", "interface": "127.0.0.1", "port": port})
}

#[tokio::test]
async fn rawsocket_tcp_every_serializer() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "rawsocket", "endpoint": tcp(0)}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    for codec in Codec::ALL {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        join_rawsocket(s, codec).await;
    }
    assert_eq!(t.sessions_accepted(), Codec::ALL.len() as u64);
    let sessions = r.realm("realm1").unwrap().sessions(None);
    t.stop().await;
    // Every session has left once its connection ended.
    let _ = sessions;
    tokio::time::timeout(WAIT, async {
        while r.realm("realm1").unwrap().session_count() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rawsocket_unix_every_serializer() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "rawsocket", "endpoint": {"type": "unix", "path": "rs.sock"}}),
        dir.path(),
    )
    .await;
    let path = dir.path().join("rs.sock");
    for codec in Codec::ALL {
        let s = UnixStream::connect(&path).await.unwrap();
        join_rawsocket(s, codec).await;
    }
    let peer = r.realm("realm1").unwrap().sessions(None);
    assert!(peer.is_empty() || peer[0].transport.peer == "unix");
    t.stop().await;
    assert!(!path.exists(), "stop removes the socket file");
    // A stale socket file does not prevent a restart.
    let _stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(_stale);
    let t = start(
        &r,
        json!({"type": "rawsocket", "endpoint": {"type": "unix", "path": "rs.sock"}}),
        dir.path(),
    )
    .await;
    t.stop().await;
}

#[tokio::test]
async fn websocket_every_subprotocol() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(0)}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    for (codec, batched) in SUBPROTOCOLS {
        // The plain websocket transport accepts the upgrade on any path.
        join_ws(
            &format!("ws://127.0.0.1:{port}/any/path"),
            codec,
            batched,
            None,
        )
        .await;
    }
    t.stop().await;
}

#[tokio::test]
async fn websocket_without_subprotocol_is_json_and_records_headers() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(0)}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut req = format!("ws://127.0.0.1:{port}/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-custom", "hello".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::client_async(req, s).await.unwrap();
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
    ws.send(WsMessage::text(r#"[1,"realm1",{"roles":{"caller":{}}}]"#))
        .await
        .unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WsMessage::Text(text) = reply else {
        panic!("expected a text frame, got {reply:?}")
    };
    assert!(text.as_str().starts_with("[2,"), "{text}");
    let sessions = r.realm("realm1").unwrap().sessions(None);
    assert_eq!(sessions.len(), 1);
    let info = &sessions[0].transport;
    assert_eq!(info.kind, "websocket");
    assert_eq!(&*info.id, "transport001");
    assert!(info.peer.starts_with("tcp4:127.0.0.1:"), "{}", info.peer);
    let headers = info.http_headers.as_ref().unwrap();
    assert_eq!(
        headers.get("x-custom").and_then(|v| v.as_str()),
        Some("hello")
    );
    assert!(headers.contains_key("host"));
    // A binary frame on the JSON subprotocol is a protocol error: the connection ends.
    ws.send(WsMessage::binary(vec![1, 2, 3])).await.unwrap();
    let end = tokio::time::timeout(WAIT, async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok());
    t.stop().await;
}

#[tokio::test]
async fn websocket_refuses_unknown_subprotocol_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(0), "serializers": ["cbor"],
               "options": {"allowed_origins": ["https://*.example.com"]}}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    let upgrade = |proto: &str, origin: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {proto}\r\nOrigin: {origin}\r\n\r\n"
        )
    };
    let resp = parse_http(
        &http_raw(
            port,
            upgrade("wamp.2.json", "https://a.example.com").as_bytes(),
        )
        .await,
    );
    assert_eq!(resp.status, 400);
    let resp =
        parse_http(&http_raw(port, upgrade("wamp.2.cbor", "https://evil.com").as_bytes()).await);
    assert_eq!(resp.status, 403);
    let resp = http_head(
        port,
        upgrade("wamp.2.cbor", "https://a.example.com").as_bytes(),
    )
    .await;
    assert_eq!(resp.status, 101);
    assert_eq!(resp.header("sec-websocket-protocol"), Some("wamp.2.cbor"));
    t.stop().await;
}

#[tokio::test]
async fn rawsocket_handshake_errors() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "rawsocket", "endpoint": tcp(0), "serializers": ["cbor"]}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    for (request, reply) in [
        ([0x7F, 0xF1, 0, 0], [0x7F, 0x10, 0, 0]), // json not enabled → error 1
        ([0x7F, 0xF5, 0, 0], [0x7F, 0x10, 0, 0]), // unknown serializer → error 1
        ([0x7F, 0xF3, 0, 7], [0x7F, 0x30, 0, 0]), // reserved bits → error 3
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(&request).await.unwrap();
        let mut got = [0u8; 4];
        tokio::time::timeout(WAIT, s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, reply);
        assert!(closed_by_peer(&mut s).await);
    }
    // The client side reports the refusal.
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let e = rawsocket::connect(s, Codec::Json, 1 << 20)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, rawsocket::HandshakeError::Refused { code: 1 }));
    assert_eq!(t.sessions_accepted(), 0);
    t.stop().await;
}

#[tokio::test]
async fn oversize_frame_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "rawsocket", "endpoint": tcp(0), "options": {"max_message_size": 1024}}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    // A: a well-behaved session.
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut a = rawsocket::connect(s, Codec::Json, 1 << 20).await.unwrap();
    assert_eq!(a.peer_max, 1024);
    join(&mut a.reader, &mut a.writer, Codec::Json).await;
    // B: joins, then announces a frame over the limit (the payload never needs to arrive).
    let mut b = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    b.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    let mut reply = [0u8; 4];
    b.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [0x7F, 0x11, 0, 0], "router announces 2^(9+1) = 1024");
    b.write_all(&[0, 0, 0x08, 0x01]).await.unwrap(); // 2049 bytes
    assert!(closed_by_peer(&mut b).await);
    // A still works.
    roundtrip(&mut a.reader, &mut a.writer, Codec::Json, 7).await;
    // The client side refuses to send more than the router announced.
    let big = frame(&vec![b' '; 2000]);
    let e = a.writer.write_frames(&[big]).await.unwrap_err();
    assert!(
        matches!(
            e,
            WireError::TooLarge {
                size: 2000,
                max: 1024
            }
        ),
        "{e}"
    );
    t.stop().await;
}

#[tokio::test]
async fn garbage_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let rs = start(
        &r,
        json!({"type": "rawsocket", "endpoint": tcp(0)}),
        dir.path(),
    )
    .await;
    let ws = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(0)}),
        dir.path(),
    )
    .await;
    let uni = start(
        &r,
        json!({"type": "universal", "endpoint": tcp(0), "rawsocket": {},
               "websocket": {"ws": {}}}),
        dir.path(),
    )
    .await;
    for t in [&rs, &ws, &uni] {
        let port = t.local_addr().port().unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"\x00\x01garbage\xff\xfe\r\n\r\n")
            .await
            .unwrap();
        assert!(closed_by_peer(&mut s).await, "{}", t.kind());
    }
    // Garbage after a valid RawSocket handshake: a bad frame header.
    let port = rs.local_addr().port().unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(&[0x7F, 0xF1, 0, 0, 0xF0, 0, 0, 1])
        .await
        .unwrap();
    assert!(closed_by_peer(&mut s).await);
    // Undecodable WAMP: ABORT, then close.
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut c = rawsocket::connect(s, Codec::Json, 1 << 20).await.unwrap();
    c.writer.write_frames(&[frame(b"{not json")]).await.unwrap();
    match read_msg(&mut c.reader, Codec::Json).await {
        router_core::Message::Abort { reason, .. } => {
            assert_eq!(reason, "wamp.error.protocol_violation")
        }
        other => panic!("{other:?}"),
    }
    // Everything still accepts sessions.
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    join_rawsocket(s, Codec::Cbor).await;
    let port = ws.local_addr().port().unwrap();
    join_ws(&format!("ws://127.0.0.1:{port}/"), Codec::Json, false, None).await;
    let port = uni.local_addr().port().unwrap();
    join_ws(
        &format!("ws://127.0.0.1:{port}/ws"),
        Codec::MsgPack,
        false,
        None,
    )
    .await;
    for t in [rs, ws, uni] {
        t.stop().await;
    }
}

#[tokio::test]
async fn stop_frees_the_port_and_ends_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(0)}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    let opts = router_core::transport::ws_client::WsClientOptions {
        protocols: vec![(Codec::Json, false)],
        ..Default::default()
    };
    let mut c =
        router_core::transport::ws_client::connect(&format!("ws://127.0.0.1:{port}/"), &opts)
            .await
            .unwrap();
    join(&mut c.reader, &mut c.writer, Codec::Json).await;
    assert_eq!(t.open_connections(), 1);
    t.stop().await;
    // The session ended and the connection closed.
    let end = tokio::time::timeout(WAIT, c.reader.read_frame())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    assert_eq!(r.realm("realm1").unwrap().session_count(), 0);
    // The port can be bound again right away, by anyone.
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    drop(l);
    let t = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(port)}),
        dir.path(),
    )
    .await;
    assert_eq!(t.local_addr().port(), Some(port));
    t.stop().await;
}

#[tokio::test]
async fn port_in_use_is_cannot_listen() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let cfg =
        TransportConfig::from_json(json!({"type": "rawsocket", "endpoint": tcp(port)})).unwrap();
    let e = start_transport(
        router(),
        cfg,
        authenticator(),
        TransportContext::new(dir.path(), "t"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, TransportError::CannotListen { .. }), "{e}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
}

#[tokio::test]
async fn unsupported_types_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TransportConfig::from_json(json!({"type": "web", "endpoint": tcp(0),
        "paths": {"/": {"type": "none"}, "app": {"type": "wsgi", "module": "m", "object": "o"}}}))
    .unwrap();
    let e = start_transport(
        router(),
        cfg,
        authenticator(),
        TransportContext::new(dir.path(), "t"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, TransportError::UnsupportedService { path, kind } if path == "app" && kind == "wsgi"),
        "{e}"
    );
    assert!(
        e.to_string().contains("\"app\"") && e.to_string().contains("wsgi"),
        "{e}"
    );
    let cfg = TransportConfig::from_json(json!({"type": "websocket.testee", "endpoint": tcp(0)}))
        .unwrap();
    let e = start_transport(
        router(),
        cfg,
        authenticator(),
        TransportContext::new(dir.path(), "t"),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("websocket.testee"), "{e}");
}

#[tokio::test]
async fn universal_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "universal", "endpoint": tcp(0),
               "rawsocket": {"serializers": ["json", "cbor"]},
               "websocket": {"ws": {"serializers": ["msgpack", "json", "cbor"]}},
               "web": {"paths": {"/": {"type": "json", "value": {"hello": "world"}},
                                  "ws": {"type": "json", "value": "shadowed"}}}}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    for codec in [Codec::Json, Codec::Cbor] {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        join_rawsocket(s, codec).await;
    }
    for (codec, batched) in SUBPROTOCOLS {
        join_ws(&format!("ws://127.0.0.1:{port}/ws"), codec, batched, None).await;
    }
    let resp = http_get(port, "/").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), r#"{"hello":"world"}"#);
    // The WebSocket path wins over the Web path of the same name.
    let resp = http_get(port, "/ws").await;
    assert_ne!(resp.text(), r#""shadowed""#);
    t.stop().await;
}

#[tokio::test]
async fn tls_websocket_and_rawsocket() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let tls = json!({"key": "key.pem", "certificate": "cert.pem"});
    let r = router();
    let ws = start(
        &r,
        json!({"type": "websocket", "endpoint": {"type": "tcp", "interface": "127.0.0.1",
               "port": 0, "tls": tls}}),
        dir.path(),
    )
    .await;
    let port = ws.local_addr().port().unwrap();
    let ca = dir.path().join("cert.pem");
    for (codec, batched) in SUBPROTOCOLS {
        join_ws(
            &format!("wss://localhost:{port}/ws"),
            codec,
            batched,
            Some(&ca),
        )
        .await;
    }
    // Without trusting the certificate, the client refuses.
    let opts = router_core::transport::ws_client::WsClientOptions::default();
    assert!(
        router_core::transport::ws_client::connect(&format!("wss://localhost:{port}/ws"), &opts)
            .await
            .is_err()
    );
    // RawSocket over TLS.
    let rs = start(
        &r,
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "interface": "127.0.0.1",
               "port": 0, "tls": tls}}),
        dir.path(),
    )
    .await;
    let port = rs.local_addr().port().unwrap();
    let cfg = router_core::transport::tls::client_config(Some(&ca)).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    join_rawsocket(stream, Codec::MsgPack).await;
    ws.stop().await;
    rs.stop().await;
}

#[tokio::test]
async fn max_connections_refuses_extra_connections() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "rawsocket", "endpoint": tcp(0), "max_connections": 1}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut a = rawsocket::connect(s, Codec::Json, 1 << 20).await.unwrap();
    join(&mut a.reader, &mut a.writer, Codec::Json).await;
    let mut b = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert!(closed_by_peer(&mut b).await);
    a.writer.close().await;
    drop(a);
    tokio::time::timeout(WAIT, async {
        while t.open_connections() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    join_rawsocket(s, Codec::Json).await;
    t.stop().await;
}

#[tokio::test]
async fn auto_ping_drops_a_silent_peer_and_keeps_a_live_one() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(0),
               "options": {"auto_ping_interval": 1000, "auto_ping_timeout": 1000}}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    let connect = || async move {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut req = format!("ws://127.0.0.1:{port}/")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("sec-websocket-protocol", "wamp.2.json".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::client_async(req, s).await.unwrap();
        ws.send(WsMessage::text(r#"[1,"realm1",{"roles":{"caller":{}}}]"#))
            .await
            .unwrap();
        let welcome = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(welcome.to_text().unwrap().starts_with("[2,"));
        ws
    };
    // The live peer reads (tungstenite answers pings while reading); the silent one does not.
    let mut live = connect().await;
    let silent = connect().await;
    let pings = tokio::spawn(async move {
        let mut pings = 0;
        let until = tokio::time::Instant::now() + Duration::from_millis(3500);
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(until, live.next()).await {
            if m.is_ping() {
                pings += 1;
            }
        }
        (pings, live)
    });
    let realm = r.realm("realm1").unwrap();
    tokio::time::timeout(WAIT, async {
        while realm.session_count() != 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the silent peer was not dropped");
    let (pings, _live) = pings.await.unwrap();
    assert!(pings >= 2, "{pings} pings");
    assert_eq!(realm.session_count(), 1, "the live peer stays");
    drop(silent);
    t.stop().await;
}

#[tokio::test]
async fn websocket_oversize_message_closes_only_that_connection() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "websocket", "endpoint": tcp(0), "options": {"max_message_size": 1024}}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    let url = format!("ws://127.0.0.1:{port}/");
    let opts = router_core::transport::ws_client::WsClientOptions {
        protocols: vec![(Codec::Cbor, false)],
        ..Default::default()
    };
    let mut a = router_core::transport::ws_client::connect(&url, &opts)
        .await
        .unwrap();
    join(&mut a.reader, &mut a.writer, Codec::Cbor).await;
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "wamp.2.json".parse().unwrap());
    let (mut b, _) = tokio_tungstenite::client_async(req, s).await.unwrap();
    b.send(WsMessage::text(format!(
        r#"[1,"realm1",{{"x":"{}"}}]"#,
        "y".repeat(2000)
    )))
    .await
    .unwrap();
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match b.next().await {
                None | Some(Err(_)) => break,
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the oversize sender was not disconnected");
    roundtrip(&mut a.reader, &mut a.writer, Codec::Cbor, 3).await;
    t.stop().await;
}
