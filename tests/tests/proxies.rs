//! `reverseproxy` (HTTP upstream), `websocket-reverseproxy` (WebSocket backend: the node's
//! own WAMP endpoint, used through the proxy by autobahn-python) and `archive` (a ZIP file
//! made by Python's zipfile) in a node started by `crossbar-edge start`; and the
//! `flashpolicy` transport.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use serde_json::{Value, json};
use tests::{Node, assert_py_ok, free_port, python, run_py};

/// An HTTP upstream on a port of its own: answers every request with what it received as
/// JSON (method, target, headers, body) and an `X-Upstream` header.
fn start_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let mut headers = serde_json::Map::new();
                let mut length = 0;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        let (k, v) = (k.to_ascii_lowercase(), v.trim().to_owned());
                        if k == "content-length" {
                            length = v.parse().unwrap_or(0);
                        }
                        headers.insert(k, Value::String(v));
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let doc = json!({"method": method, "target": target, "headers": headers,
                                 "body": String::from_utf8_lossy(&body)})
                .to_string();
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Upstream: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
                    doc.len()
                );
            });
        }
    });
    port
}

fn make_zip(path: &std::path::Path) {
    let script = "import sys, zipfile\n\
                  with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
                  \x20   z.writestr('site/index.html', '<h1>from the archive</h1>')\n\
                  \x20   z.writestr('site/js/app.js', 'console.log(1)')\n\
                  \x20   z.writestr('site/data.wasm', b'\\x00asm')\n";
    let status = Command::new(python())
        .args(["-c", script])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn reverse_proxies_and_archive() {
    let upstream = start_upstream();
    let (port, dead, flash) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".crossbar")).unwrap();
    make_zip(&dir.path().join(".crossbar/site.zip"));
    let mut config = tests::web_node_config(
        port,
        json!({
            "proxy": {"type": "reverseproxy", "host": "127.0.0.1", "port": upstream, "path": "/base"},
            "down": {"type": "reverseproxy", "host": "127.0.0.1", "port": dead},
            "wsproxy": {"type": "websocket-reverseproxy", "backend": {
                "type": "websocket", "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": port},
                "url": format!("ws://127.0.0.1:{port}/ws")}},
            "wsdown": {"type": "websocket-reverseproxy", "backend": {
                "type": "websocket", "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": dead},
                "url": format!("ws://127.0.0.1:{dead}/ws")}},
            "site": {"type": "archive", "archive": "site.zip", "object_prefix": "site",
                     "default_object": "index.html", "cache": true,
                     "mime_types": {".wasm": "application/wasm"}}
        }),
    );
    config["workers"][0]["transports"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "type": "flashpolicy", "allowed_domain": "example.com", "allowed_ports": [port],
            "endpoint": {"type": "tcp", "port": flash, "interface": "127.0.0.1"}
        }));
    let mut node = Node::start_in(dir, &config.to_string(), &[]);
    node.wait_ready(&[port, flash]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = |p: &str| format!("http://127.0.0.1:{port}/{p}");

    // HTTP reverse proxy: path, query, forwarded headers, body; the upstream's headers back.
    let mut r = agent.get(&url("proxy/a/b?x=1&y=2")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-upstream"], "yes");
    let seen: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(seen["method"], "GET", "{seen}");
    assert_eq!(seen["target"], "/base/a/b?x=1&y=2", "{seen}");
    let h = &seen["headers"];
    assert_eq!(h["host"], format!("127.0.0.1:{upstream}"), "{seen}");
    assert_eq!(h["x-forwarded-host"], format!("127.0.0.1:{port}"), "{seen}");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{seen}");
    assert_eq!(h["x-real-ip"], "127.0.0.1", "{seen}");
    assert_eq!(h["x-forwarded-proto"], "http", "{seen}");
    let mut r = agent
        .post(&url("proxy/submit"))
        .header("Content-Type", "text/plain")
        .send(&b"posted body"[..])
        .unwrap();
    let seen: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (&seen["method"], &seen["body"]),
        (&json!("POST"), &json!("posted body")),
        "{seen}"
    );
    let mut r = agent.get(&url("down/x")).call().unwrap();
    assert_eq!(r.status().as_u16(), 501);
    assert_eq!(
        r.body_mut().read_to_string().unwrap(),
        "<H1>Could not connect</H1>"
    );

    // Archive members, by path, with MIME types; a directory gets its default object.
    let get = |p: &str| {
        let mut r = agent.get(&url(p)).call().unwrap();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status().as_u16(), ct, r.body_mut().read_to_vec().unwrap())
    };
    let (status, ct, body) = get("site/");
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"<h1>from the archive</h1>"[..])
    );
    assert!(ct.starts_with("text/html"), "{ct}");
    let (status, ct, _) = get("site/js/app.js");
    assert_eq!(status, 200);
    assert!(ct.contains("javascript"), "{ct}");
    let (status, ct, body) = get("site/data.wasm");
    assert_eq!(
        (status, ct.as_str(), body.as_slice()),
        (200, "application/wasm", &b"\0asm"[..])
    );
    assert_eq!(get("site/nope.txt").0, 404);
    assert_eq!(get("site/../.crossbar/config.json").0, 404);

    // WebSocket reverse proxy in front of the node's own WAMP endpoint: autobahn-python
    // negotiates its subprotocol through it and runs RPC and pub/sub.
    for ser in ["json", "cbor"] {
        let out = run_py(
            "interop.py",
            &[
                "--url",
                &format!("ws://127.0.0.1:{port}/wsproxy"),
                "--serializer",
                ser,
                "--scenario",
                "all",
                "--ns",
                &format!("com.proxy{ser}"),
            ],
        );
        assert_py_ok(
            &out,
            &format!("WAMP through the websocket-reverseproxy ({ser})"),
        );
    }
    // A backend that is down: 503 to the upgrade.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        s,
        "GET /wsdown HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(s).read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");

    // Flash's policy request.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", flash)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(b"<policy-file-request/>\0").unwrap();
    let mut policy = String::new();
    s.read_to_string(&mut policy).unwrap();
    assert_eq!(
        policy,
        format!(
            "<?xml version=\"1.0\"?><cross-domain-policy><allow-access-from domain=\"example.com\" to-ports=\"{port}\" /></cross-domain-policy>"
        )
    );
}

/// A router with a `wsgi` service at `app` and one nested under a `path` service, and the
/// same for `resource` services (`tests/py/web_resource.py`).
fn wsgi_config(port: u16) -> Value {
    let mut config = tests::web_node_config(
        port,
        json!({
            "app": {"type": "wsgi", "module": "wsgi_app", "object": "application"},
            "res": {"type": "resource", "classname": "web_resource.Echo", "extra": {"greeting": "hi"}},
            "nested": {"type": "path", "paths": {
                "inner": {"type": "wsgi", "module": "wsgi_app", "object": "application", "maxthreads": 4},
                "res": {"type": "resource", "classname": "web_resource.Echo"}
            }}
        }),
    );
    config["workers"][0]["options"] = json!({
        "python": python(),
        "pythonpath": [tests::workspace_root().join("tests/py")],
    });
    config
}

/// What the WSGI app answers, and the checks both routers must pass.
fn check_wsgi(port: u16, who: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let try_get = |path: &str| -> (u16, String) {
        let mut r = agent
            .get(format!("http://127.0.0.1:{port}{path}"))
            .call()
            .unwrap_or_else(|e| panic!("{who}: GET {path}: {e}"));
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let get = |path: &str| -> Value {
        let (status, body) = try_get(path);
        assert_eq!(status, 200, "{who}: GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    // The transport listens before its paths' services have all started (each is started
    // through the management API, as Crossbar.io does): wait (bounded) until both apps answer.
    let serving = |path: &str| {
        let (status, body) = try_get(path);
        status == 200
            && serde_json::from_str::<Value>(&body).is_ok_and(|v| v.get("script_name").is_some())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let resource_serving = |path: &str| {
        let (status, body) = try_get(path);
        status == 200
            && serde_json::from_str::<Value>(&body).is_ok_and(|v| v.get("prepath").is_some())
    };
    while !serving("/app/")
        || !serving("/nested/inner/")
        || !resource_serving("/res")
        || !resource_serving("/nested/res")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{who}: the WSGI apps and resources did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let v = get("/app/hello/world?x=1&y=2");
    assert_eq!(
        v,
        json!({"script_name": "/app", "path_info": "/hello/world", "query": "x=1&y=2",
               "method": "GET", "body": ""}),
        "{who}"
    );
    let v = get("/nested/inner/deep");
    assert_eq!(v["script_name"], "/nested/inner", "{who}: {v}");
    assert_eq!(v["path_info"], "/deep", "{who}: {v}");
    let mut r = agent
        .post(format!("http://127.0.0.1:{port}/app/form"))
        .send("a=1&b=two")
        .unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (v["method"].as_str(), v["body"].as_str()),
        (Some("POST"), Some("a=1&b=two")),
        "{who}"
    );

    // `resource`: the class called with `extra`, mounted where the config says.
    let v = get("/res/a/b?x=1&x=2");
    assert_eq!(
        v,
        json!({"path": "/res/a/b", "prepath": ["res"], "postpath": ["a", "b"],
               "args": {"x": ["1", "2"]}, "method": "GET", "body": "",
               "extra": {"greeting": "hi"}}),
        "{who}"
    );
    let v = get("/nested/res/deep");
    assert_eq!(
        (&v["prepath"], &v["postpath"], &v["extra"]),
        (&json!(["nested", "res"]), &json!(["deep"]), &json!({})),
        "{who}: {v}"
    );
    let mut r = agent
        .post(format!("http://127.0.0.1:{port}/res/form"))
        .send("a=1&b=two")
        .unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (v["method"].as_str(), v["body"].as_str()),
        (Some("POST"), Some("a=1&b=two")),
        "{who}: resource POST"
    );
}

/// `wsgi` and `resource` services: the app (or Twisted resource) runs in a Python child of the
/// router worker; the app sees its mount point as SCRIPT_NAME, the resource the request paths,
/// as under Crossbar.io (the same checks run against it).
#[test]
fn wsgi_apps_are_hosted() {
    let port = free_port();
    let mut node = Node::start(&wsgi_config(port).to_string(), &[]);
    node.wait_ready(&[port]);
    check_wsgi(port, "crossbar-edge");

    // A module that is not there: the node does not start, with Crossbar.io's message.
    let port = free_port();
    let mut bad = wsgi_config(port);
    bad["workers"][0]["transports"][0]["paths"]["app"]["module"] = json!("no_such_wsgi_module");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".crossbar")).unwrap();
    std::fs::write(dir.path().join(".crossbar/config.json"), bad.to_string()).unwrap();
    let out = Command::new(tests::bin("crossbar-edge"))
        .args(["start", "--cbdir"])
        .arg(dir.path().join(".crossbar"))
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("WSGI app module \"no_such_wsgi_module\" import failed"),
        "{log}"
    );

    // A resource class that is not there: the same, with Crossbar.io's message.
    let port = free_port();
    let mut bad = wsgi_config(port);
    bad["workers"][0]["transports"][0]["paths"]["res"]["classname"] = json!("web_resource.Nope");
    std::fs::write(dir.path().join(".crossbar/config.json"), bad.to_string()).unwrap();
    let out = Command::new(tests::bin("crossbar-edge"))
        .args(["start", "--cbdir"])
        .arg(dir.path().join(".crossbar"))
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("Failed to import class 'web_resource.Nope'"),
        "{log}"
    );
}

#[test]
fn wsgi_apps_are_served_as_by_crossbar_io() {
    let Some(bin) = tests::crossbar::crossbar_bin() else {
        return;
    };
    let port = free_port();
    let mut config = wsgi_config(port);
    // Crossbar.io runs its workers with its own Python (the test venv has no crossbar).
    config["workers"][0]["options"]
        .as_object_mut()
        .unwrap()
        .remove("python");
    let cb = tests::crossbar::Crossbar::start(&bin, &config.to_string(), &[port]);
    cb.check(|| check_wsgi(port, "Crossbar.io"));
}

/// An HTTP origin on a port of its own: `GET /site.zip` answers `zip`, anything else 404.
fn start_origin(zip: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let zip = std::sync::Arc::new(zip);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let zip = zip.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let found = line.split_whitespace().nth(1) == Some("/site.zip");
                let (status, body): (&str, &[u8]) = if found {
                    ("200 OK", &zip)
                } else {
                    ("404 Not Found", b"no such file")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(body);
            });
        }
    });
    port
}

/// A node whose `archive` service names a missing ZIP file, `origin` and `download`.
fn download_config(port: u16, origin: &str, hashes: Value) -> Value {
    tests::web_node_config(
        port,
        json!({"site": {"type": "archive", "archive": "fetched.zip", "origin": origin,
                        "download": true, "hashes": hashes, "object_prefix": "site",
                        "default_object": "index.html"}}),
    )
}

fn check_downloaded_site(port: u16, who: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    // The transport listens before its paths' services have started (and downloaded), on
    // both routers: wait (bounded) for the page.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut r = agent
            .get(format!("http://127.0.0.1:{port}/site/"))
            .call()
            .unwrap();
        let got = (r.status().as_u16(), r.body_mut().read_to_string().unwrap());
        // (Before that, the root's JSON service answers every path.)
        if got.1.contains("from the archive") || std::time::Instant::now() > deadline {
            assert_eq!(got, (200, "<h1>from the archive</h1>".to_owned()), "{who}");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `archive` with `download`: a missing ZIP file is fetched from `origin` when the service
/// starts (checked against `hashes`), as Crossbar.io does (the same config runs on it); an
/// origin that answers 404 or a file with another hash fails the start with the reason.
#[test]
fn archives_are_downloaded_from_their_origin() {
    let made = tempfile::tempdir().unwrap();
    make_zip(&made.path().join("site.zip"));
    let zip = std::fs::read(made.path().join("site.zip")).unwrap();
    let sha256 = {
        use sha2::Digest as _;
        hex_string(&sha2::Sha256::digest(&zip))
    };
    let origin = start_origin(zip);
    let url = format!("http://127.0.0.1:{origin}/site.zip");

    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = download_config(port, &url, json!([sha256]));
    let mut node = Node::start_in(dir, &cfg.to_string(), &[]);
    node.wait_ready(&[port]);
    check_downloaded_site(port, "crossbar-edge");
    drop(node);

    // Failures name the service and the reason; nothing is left behind.
    for (origin, hashes, reason) in [
        (
            format!("http://127.0.0.1:{origin}/gone.zip"),
            json!([]),
            "404",
        ),
        (
            url.clone(),
            json!(["00".repeat(32)]),
            "none of the configured hashes",
        ),
        (
            "ftp://example.com/site.zip".to_owned(),
            json!([]),
            "invalid scheme",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".crossbar")).unwrap();
        let cfg = download_config(free_port(), &origin, hashes);
        std::fs::write(dir.path().join(".crossbar/config.json"), cfg.to_string()).unwrap();
        let out = Command::new(tests::bin("crossbar-edge"))
            .args(["start", "--cbdir"])
            .arg(dir.path().join(".crossbar"))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{origin}: {log}");
        assert!(
            log.contains("paths.site.archive") && log.contains(reason),
            "{origin}: expected {reason:?} in\n{log}"
        );
        assert!(
            !dir.path().join(".crossbar/fetched.zip.part").exists(),
            "{origin}: the partial download was removed"
        );
    }

    let Some(bin) = tests::crossbar::crossbar_bin() else {
        return;
    };
    let port = free_port();
    let cfg = download_config(port, &url, json!([sha256]));
    let cb = tests::crossbar::Crossbar::start(&bin, &cfg.to_string(), &[port]);
    cb.check(|| check_downloaded_site(port, "Crossbar.io"));
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
