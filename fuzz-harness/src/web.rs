//! `websocket_handshake` and `web_request`: raw bytes from a client to a listening transport,
//! through the code that serves an accepted connection
//! (`RunningTransport::fuzz_serve_connection`), over an in-memory stream.
//!
//! Each input gets a fresh runtime, router (realm `realm1`, an in-process callee of
//! `com.fuzz.echo`) and transport. The first octet picks the transport (below) and the size
//! of the chunks the client writes in; the rest is what the client sends before it closes its
//! side. Checked: nothing panics, and the connection ends within a bound once the client has
//! closed (for `web_request`, only where no service may hold a request: long-poll waits).
//!
//! - `websocket_handshake`: a `websocket` transport (every serializer, permessage-deflate,
//!   a 64 KiB message limit): the HTTP upgrade (subprotocols, origins, extensions), then
//!   WebSocket frames into a WAMP session.
//! - `web_request`: a `web` transport with a service of every kind that acts within the
//!   process (static files with a listing, json, redirect, nodeinfo, WebSocket, the HTTP
//!   bridge's publisher/caller/webhook, long-poll, wap, a nested path, a reverse proxy to a
//!   closed loopback port), or (odd first octet) a `universal` transport with RawSocket, MQTT,
//!   WebSocket and the same Web paths.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use router_core::auth::TrustedAuthenticator;
use router_core::client::{JoinOptions, RegisterOptions, Session};
use router_core::transport::{TransportConfig, TransportContext, start_transport};
use router_core::{ConnectionInfo, Payload, RealmConfig, Router};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{CLOSE_BOUND, runtime};

const CHUNKS: [usize; 8] = [usize::MAX, 1, 2, 3, 7, 16, 100, 1000];

pub fn websocket_handshake(data: &[u8]) {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let config = json!({
        "type": "websocket",
        "endpoint": endpoint(),
        "serializers": ["cbor", "msgpack", "ubjson", "json"],
        "options": {
            "max_message_size": 65536,
            "open_handshake_timeout": 2000,
            "allowed_origins": ["*"],
            "compression": {"deflate": {"request_no_context_takeover": false,
                                        "max_window_bits": 12}}
        }
    });
    serve(config, input, CHUNKS[usize::from(ctl & 7)], true);
}

pub fn web_request(data: &[u8]) {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let paths = web_paths(site());
    let config = if ctl & 0x80 == 0 {
        json!({"type": "web", "endpoint": endpoint(), "paths": paths,
               "options": {"client_timeout": 2, "hsts": true}})
    } else {
        json!({"type": "universal", "endpoint": endpoint(),
               "rawsocket": {"serializers": ["json", "msgpack", "cbor", "ubjson"]},
               "mqtt": {"options": {"realm": "realm1"}},
               "websocket": {"ws2": {"serializers": ["json", "cbor"]}},
               "web": {"paths": paths}})
    };
    serve(config, input, CHUNKS[usize::from(ctl & 7)], false);
}

fn endpoint() -> serde_json::Value {
    json!({"type": "tcp", "interface": "127.0.0.1", "port": 0})
}

fn web_paths(site: &Path) -> serde_json::Value {
    let bridge = |kind: &str| {
        json!({"type": kind, "realm": "realm1", "role": "anonymous",
                                     "options": {"post_body_limit": 4096, "debug": true}})
    };
    json!({
        "/": {"type": "static", "directory": site.join("web"),
              "options": {"enable_directory_listing": true,
                          "mime_types": {".bin": "application/x-test"}}},
        "spa": {"type": "static", "directory": site.join("web"),
                "options": {"default_file": "index.html", "cache_timeout": 60}},
        "ws": {"type": "websocket", "serializers": ["cbor", "msgpack", "ubjson", "json"]},
        "info": {"type": "nodeinfo"},
        "json": {"type": "json", "value": {"a": [1, 2.5, "x"]}},
        "go": {"type": "redirect", "url": "https://example.com/x"},
        "nested": {"type": "path", "paths": {
            "/": {"type": "json", "value": "nested-root"},
            "deep": {"type": "json", "value": "deep"}}},
        "publish": bridge("publisher"),
        "call": bridge("caller"),
        "signed": {"type": "caller", "realm": "realm1", "role": "anonymous",
                   "options": {"key": "key1", "secret": "secret1", "post_body_limit": 4096}},
        "hook": {"type": "webhook", "realm": "realm1",
                 "options": {"topic": "com.fuzz.hook", "github_secret": "s3cret"}},
        "lp": {"type": "longpoll", "options": {"request_timeout": 1, "session_timeout": 2,
                                                "queue_limit_messages": 10}},
        "app": {"type": "wap", "templates": site.join("templates"), "wamp": {"realm": "realm1"},
                "routes": [
                    {"path": "/", "render": "static.html"},
                    {"path": "/hello/<name>/<int:n>", "call": "com.fuzz.echo", "render": "greeting.html"},
                    {"path": "/f/<float:x>/<path:p>", "call": "com.fuzz.echo", "render": "greeting.html"},
                    {"path": "/post", "method": "POST", "call": "com.fuzz.echo", "render": "greeting.html"},
                    {"path": "/broken", "call": "com.fuzz.nope", "render": "static.html"}]},
        "proxy": {"type": "reverseproxy", "host": "127.0.0.1", "port": 1},
        "none": {"type": "none"}
    })
}

/// The files the static and wap services serve, written once per process.
fn site() -> &'static Path {
    static SITE: OnceLock<PathBuf> = OnceLock::new();
    SITE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("fuzz-harness-site")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let write = |rel: &str, text: &str| {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        write("web/index.html", "<h1>index</h1>");
        write("web/a b.txt", "spaces");
        write("web/data.bin", "\u{0}\u{1}");
        write("web/sub/inner.json", "{}");
        write("templates/static.html", "<p>no call</p>");
        write(
            "templates/greeting.html",
            "<p>{{ name }} {{ n }} {{ x }} {{ p }}</p>{% if data %}{{ data }} {{ data_type }}{% endif %}",
        );
        dir
    })
}

fn router() -> Arc<Router> {
    let cfg: RealmConfig = serde_json::from_value(json!({
        "name": "realm1",
        "roles": [{"name": "anonymous", "permissions": [{
            "uri": "", "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]
    }))
    .expect("the fuzz realm config is valid");
    let router = Router::new();
    router.start_realm(cfg).expect("the fuzz realm starts");
    router
}

/// Serves `input` (written in `chunk`-sized pieces) as one connection to the transport of
/// `config`, and reads what it answers until it closes.
fn serve(config: serde_json::Value, input: &[u8], chunk: usize, must_close: bool) {
    let config = TransportConfig::from_json(config).expect("the fuzz transport config is valid");
    runtime().block_on(async move {
        let router = router();
        let conn = ConnectionInfo {
            transport: Arc::new(router_core::auth::TransportInfo::new(
                "callee", "local", "x",
            )),
            authenticator: Arc::new(TrustedAuthenticator {
                realm: "realm1".into(),
                authid: Some("callee".into()),
                authrole: "anonymous".into(),
            }),
        };
        let callee = Session::join_local(&router, conn, JoinOptions::realm("realm1"))
            .await
            .expect("the callee joins");
        callee
            .register(
                "com.fuzz.echo",
                RegisterOptions::default(),
                |inv| async move { Ok(Payload::new(inv.args, inv.kwargs)) },
            )
            .await
            .expect("the callee registers");
        let authenticator = Arc::new(TrustedAuthenticator {
            realm: "realm1".into(),
            authid: None,
            authrole: "anonymous".into(),
        });
        let transport = start_transport(
            router.clone(),
            config,
            authenticator,
            TransportContext::new(site(), "fuzz"),
        )
        .await
        .expect("the fuzz transport starts");
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (mut rx, mut tx) = tokio::io::split(client);
        let data = input.to_vec();
        let feed = async move {
            for c in data.chunks(chunk.max(1)) {
                if tx.write_all(c).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
            let _ = tx.shutdown().await;
        };
        let drain = async move {
            let mut sink = Vec::new();
            let _ = rx.read_to_end(&mut sink).await;
        };
        let served = transport.fuzz_serve_connection(Box::new(server));
        let all = async { tokio::join!(feed, drain, served) };
        let bound = if must_close {
            CLOSE_BOUND
        } else {
            Duration::from_secs(3)
        };
        if tokio::time::timeout(bound, all).await.is_err() && must_close {
            panic!("the connection did not end after the client closed");
        }
        drop(transport);
    });
}
