//! Web transport integration tests: path routing, static files (MIME types, index.html,
//! listings, traversal), nodeinfo, json, redirect, WebSocket paths, services changed at run
//! time, and the config `crossbar init` writes.

mod transport_common;
use transport_common as common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use router_core::Codec;
use router_core::transport::{
    NodeInfoSource, RunningTransport, TransportConfig, TransportContext, TransportError,
    WebService, start_transport,
};
use serde_json::json;
use tokio::net::TcpStream;

struct Info;

#[async_trait::async_trait]
impl NodeInfoSource for Info {
    async fn node_info(&self) -> Vec<(String, String)> {
        vec![("Node Public Key".into(), "abc<123>".into())]
    }
}

fn site(root: &Path) {
    let web = root.join("web");
    std::fs::create_dir_all(web.join("sub")).unwrap();
    std::fs::create_dir_all(web.join("nested dir")).unwrap();
    std::fs::write(web.join("index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(web.join("style.css"), "body{}").unwrap();
    std::fs::write(web.join("app.js"), "let x;").unwrap();
    std::fs::write(web.join("data.bin"), [0u8, 1, 2]).unwrap();
    std::fs::write(web.join("sub").join("file2.txt"), "two").unwrap();
    std::fs::write(web.join("nested dir").join("a<b>.txt"), "odd").unwrap();
    std::fs::write(root.join("secret.txt"), "TOPSECRET").unwrap();
}

async fn start_site(root: &Path) -> RunningTransport {
    let cfg = TransportConfig::from_json(json!({
        "type": "web",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": 0},
        "paths": {
            "/": {"type": "static", "directory": "web",
                  "options": {"enable_directory_listing": true,
                              "mime_types": {".bin": "application/x-test"}}},
            "nolist": {"type": "static", "directory": "web",
                       "options": {"cache_timeout": null}},
            "spa": {"type": "static", "directory": "web",
                    "options": {"default_file": "index.html", "cache_timeout": 60}},
            "ws": {"type": "websocket", "serializers": ["cbor", "msgpack", "json"]},
            "info": {"type": "nodeinfo"},
            "json": {"type": "json", "value": {"a": 1}},
            "go": {"type": "redirect", "url": "https://example.com/x"},
            "nested": {"type": "path", "paths": {
                "/": {"type": "json", "value": "nested-root"},
                "deep": {"type": "json", "value": "deep"}}}
        },
        "options": {"access_log": true}
    }))
    .unwrap();
    let mut ctx = TransportContext::new(root, "web1");
    ctx.node_info = Some(Arc::new(Info));
    start_transport(router(), cfg, authenticator(), ctx)
        .await
        .unwrap()
}

#[tokio::test]
async fn static_files() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    let t = start_site(dir.path()).await;
    let port = t.local_addr().port().unwrap();

    let r = http_get(port, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<h1>hi</h1>");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.header("cache-control"), Some("max-age=43200, public"));
    assert!(r.header("expires").is_some());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let r = http_get(port, "/style.css").await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/css"))
    );
    let r = http_get(port, "/app.js").await;
    assert!(r.header("content-type").unwrap().contains("javascript"));
    let r = http_get(port, "/data.bin").await;
    assert_eq!(r.header("content-type"), Some("application/x-test"));
    assert_eq!(r.body, vec![0, 1, 2]);

    // Directory listing on "/", off on "nolist".
    let r = http_get(port, "/sub/").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("href=\"file2.txt\""), "{}", r.text());
    let r = http_get(port, "/nested%20dir/").await;
    assert!(
        r.text().contains("a&lt;b&gt;.txt"),
        "names are escaped: {}",
        r.text()
    );
    assert!(r.text().contains("href=\"a%3Cb%3E.txt\""), "{}", r.text());
    let r = http_get(port, "/sub").await;
    assert_eq!((r.status, r.header("location")), (301, Some("/sub/")));
    let r = http_get(port, "/nolist/sub/").await;
    assert_eq!(r.status, 404);
    let r = http_get(port, "/nolist").await;
    assert_eq!((r.status, r.header("location")), (301, Some("/nolist/")));
    let r = http_get(port, "/nolist/").await;
    assert_eq!(r.text(), "<h1>hi</h1>");
    assert_eq!(r.header("cache-control"), None, "cache_timeout: null");
    let r = http_get(port, "/nolist/sub/file2.txt").await;
    assert_eq!((r.status, r.text().as_str()), (200, "two"));

    // Missing files: 404, or the default file.
    assert_eq!(http_get(port, "/missing.html").await.status, 404);
    let r = http_get(port, "/spa/some/route").await;
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>hi</h1>"));
    assert_eq!(r.header("cache-control"), Some("max-age=60, public"));

    // No way out of the directory.
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/nolist/../secret.txt",
        "/..%5csecret.txt",
        "/sub/../../secret.txt",
    ] {
        let r = http_get(port, path).await;
        assert_ne!(r.status, 200, "{path}");
        assert!(!r.text().contains("TOPSECRET"), "{path}");
    }

    // HEAD has no body; other methods are refused.
    let raw = http_raw(
        port,
        b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let r = parse_http(&raw);
    assert_eq!((r.status, r.body.len()), (200, 0));
    let raw = http_raw(
        port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(parse_http(&raw).status, 405);
    t.stop().await;
}

#[tokio::test]
async fn other_services_and_routing() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    let t = start_site(dir.path()).await;
    let port = t.local_addr().port().unwrap();

    let r = http_get(port, "/info").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("abc&lt;123&gt;"), "{}", r.text());
    let r = http_get(port, "/json").await;
    assert_eq!((r.status, r.text().as_str()), (200, r#"{"a":1}"#));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let r = http_get(port, "/go").await;
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("https://example.com/x"))
    );
    assert_eq!(http_get(port, "/nested/").await.text(), r#""nested-root""#);
    assert_eq!(http_get(port, "/nested").await.text(), r#""nested-root""#);
    assert_eq!(http_get(port, "/nested/deep").await.text(), r#""deep""#);
    // A plain GET on a WebSocket path gets the status page.
    let r = http_get(port, "/ws").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("wamp.2.cbor"));
    // Garbage on the HTTP port: an error reply or a close, and the server keeps serving.
    let raw = http_raw(port, b"\x16\x03\x01garbage\r\n\r\n").await;
    assert!(raw.is_empty() || parse_http(&raw).status == 400);
    assert_eq!(http_get(port, "/json").await.status, 200);

    // Services started and stopped at run time.
    let svc = WebService::from_json(json!({"type": "json", "value": [1, 2]})).unwrap();
    t.start_web_service("extra", &svc).await.unwrap();
    assert_eq!(http_get(port, "/extra").await.text(), "[1,2]");
    assert!(matches!(
        t.start_web_service("extra", &svc).await,
        Err(TransportError::ServiceExists(_))
    ));
    assert!(t.web_service_paths().contains(&"extra".to_owned()));
    t.stop_web_service("extra").unwrap();
    assert_eq!(
        http_get(port, "/extra").await.status,
        404,
        "falls to the static root"
    );
    assert!(matches!(
        t.stop_web_service("extra"),
        Err(TransportError::NoSuchService(_))
    ));
    let wsgi =
        WebService::from_json(json!({"type": "wsgi", "module": "m", "object": "o"})).unwrap();
    assert!(matches!(
        t.start_web_service("app", &wsgi).await,
        Err(TransportError::UnsupportedService { .. })
    ));
    t.stop().await;
}

#[tokio::test]
async fn websocket_path_every_subprotocol() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    let t = start_site(dir.path()).await;
    let port = t.local_addr().port().unwrap();
    for (codec, batched) in SUBPROTOCOLS {
        join_ws(&format!("ws://127.0.0.1:{port}/ws"), codec, batched, None).await;
    }
    assert_eq!(t.sessions_accepted(), 6);
    t.stop().await;
}

/// The config `crossbar init` writes runs unchanged (only its ports are made free ones).
#[tokio::test]
async fn crossbar_init_config_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join(".crossbar");
    std::fs::create_dir_all(&cbdir).unwrap();
    std::fs::create_dir_all(dir.path().join("web")).unwrap();
    std::fs::write(dir.path().join("web").join("README.txt"), "hello").unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cbinit_config.json"),
    )
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let worker = &mut v["workers"][0];
    let router = router_core::Router::new();
    let realm: router_core::RealmConfig =
        serde_json::from_value(worker["realms"][0].clone()).unwrap();
    router.start_realm(realm).unwrap();
    let mut running = Vec::new();
    for (i, t) in worker["transports"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        t["endpoint"]["port"] = json!(0);
        t["endpoint"]["interface"] = json!("127.0.0.1");
        let cfg = TransportConfig::from_json(t.clone()).unwrap();
        let ctx = TransportContext::new(&cbdir, format!("transport{:03}", i + 1));
        running.push(
            start_transport(router.clone(), cfg, authenticator(), ctx)
                .await
                .unwrap(),
        );
    }
    let rs_port = running[0].local_addr().port().unwrap();
    let web_port = running[1].local_addr().port().unwrap();
    // The serializers `crossbar init` lists (every one but UBJSON).
    for codec in [Codec::Cbor, Codec::MsgPack, Codec::Json] {
        join_rawsocket(
            TcpStream::connect(("127.0.0.1", rs_port)).await.unwrap(),
            codec,
        )
        .await;
    }
    for (codec, batched) in SUBPROTOCOLS {
        join_ws(
            &format!("ws://127.0.0.1:{web_port}/ws"),
            codec,
            batched,
            None,
        )
        .await;
    }
    // "../web" relative to the node directory, with a listing.
    let r = http_get(web_port, "/").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("README.txt"), "{}", r.text());
    assert_eq!(http_get(web_port, "/info").await.status, 200);
    // enable_webstatus: false → a plain GET on /ws is told to upgrade.
    assert_eq!(http_get(web_port, "/ws").await.status, 426);
    for t in running {
        t.stop().await;
    }
}
