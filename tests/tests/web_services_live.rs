//! Every Web service type started and stopped at run time on a running Web transport through
//! the management API (`crossbar.worker.<id>.start_web_transport_service` /
//! `stop_web_transport_service`, what `cdc.remote.start_web_resource@1` calls), in a node
//! started by `crossbar-edge start`: each serves its path once started (checked with an HTTP
//! client) and is gone (404) once stopped, and the transport's other paths keep serving.

use std::process::Command;

use serde_json::{Value, json};
use tests::mgmt::{call, call_ok, connect, runtime};
use tests::{Node, free_port, python, workspace_root};

const W: &str = "crossbar.worker.router1";

/// What to send to a service and what it answers.
struct Probe {
    path: &'static str,
    service: Value,
    request: &'static str,
    method: &'static str,
    body: Value,
    /// The expected status (a redirect: 3xx, a WebSocket path: anything but 404).
    status: u16,
    /// Text the answer contains.
    contains: &'static str,
}

#[test]
fn every_web_service_starts_and_stops_at_run_time() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join(".crossbar");
    std::fs::create_dir_all(cbdir.join("www")).unwrap();
    std::fs::create_dir_all(cbdir.join("templates")).unwrap();
    std::fs::write(cbdir.join("www/hello.txt"), "hello static").unwrap();
    std::fs::write(cbdir.join("templates/page.html"), "<p>page {{ x }}</p>").unwrap();
    let zip = "import sys, zipfile\n\
               with zipfile.ZipFile(sys.argv[1], 'w') as z:\n\
               \x20   z.writestr('index.html', '<h1>zipped</h1>')\n";
    let made = Command::new(python())
        .args(["-c", zip])
        .arg(cbdir.join("site.zip"))
        .status()
        .unwrap();
    assert!(made.success());
    let py = workspace_root().join("tests/py");
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let config = json!({"version": 2, "workers": [{
        "id": "router1", "type": "router",
        "options": {"python": python(), "pythonpath": [py]},
        "realms": [{"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all}]}]}],
        "transports": [{"id": "transport1", "type": "web",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
            "paths": {"/": {"type": "none"}, "keep": {"type": "json", "value": {"kept": true}}}}]
    }]});
    let mut node = Node::start_in(dir, &config.to_string(), &[]);
    node.wait_ready(&[port]);

    let probes = vec![
        Probe {
            path: "static",
            service: json!({"type": "static", "directory": "www"}),
            request: "/static/hello.txt",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "hello static",
        },
        Probe {
            path: "redirect",
            service: json!({"type": "redirect", "url": "http://example.com/x"}),
            request: "/redirect",
            method: "GET",
            body: Value::Null,
            status: 301,
            contains: "",
        },
        Probe {
            path: "json",
            service: json!({"type": "json", "value": [1, 2]}),
            request: "/json",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "[1,2]",
        },
        Probe {
            path: "info",
            service: json!({"type": "nodeinfo"}),
            request: "/info",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "",
        },
        Probe {
            path: "call",
            service: json!({"type": "caller", "realm": "realm1", "role": "anonymous"}),
            request: "/call",
            method: "POST",
            body: json!({"procedure": "wamp.session.count"}),
            status: 200,
            contains: "args",
        },
        Probe {
            path: "pub",
            service: json!({"type": "publisher", "realm": "realm1", "role": "anonymous"}),
            request: "/pub",
            method: "POST",
            body: json!({"topic": "com.example.t", "args": [1]}),
            status: 200,
            contains: "id",
        },
        Probe {
            path: "hook",
            service: json!({"type": "webhook", "realm": "realm1", "role": "anonymous",
                                              "options": {"topic": "com.example.hook"}}),
            request: "/hook",
            method: "POST",
            body: json!({"a": 1}),
            status: 202,
            contains: "",
        },
        Probe {
            path: "lp",
            service: json!({"type": "longpoll"}),
            request: "/lp/open",
            method: "POST",
            body: json!({"protocols": ["wamp.2.json"]}),
            status: 200,
            contains: "transport",
        },
        Probe {
            path: "proxy",
            service: json!({"type": "reverseproxy", "host": "127.0.0.1", "port": port,
                                               "path": "/json"}),
            request: "/proxy",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "[1,2]",
        },
        Probe {
            path: "ws",
            service: json!({"type": "websocket"}),
            request: "/ws",
            method: "GET",
            body: Value::Null,
            status: 0,
            contains: "",
        },
        Probe {
            path: "wsproxy",
            service: json!({"type": "websocket-reverseproxy", "backend": {
                    "type": "websocket", "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": port},
                    "url": format!("ws://127.0.0.1:{port}/ws")}}),
            request: "/wsproxy",
            method: "GET",
            body: Value::Null,
            status: 0,
            contains: "",
        },
        Probe {
            path: "site",
            service: json!({"type": "archive", "archive": "site.zip",
                                              "default_object": "index.html"}),
            request: "/site/",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "zipped",
        },
        Probe {
            path: "wap",
            service: json!({"type": "wap", "templates": "templates",
                    "wamp": {"realm": "realm1"}, "routes": [{"path": "/", "render": "page.html"}]}),
            request: "/wap/",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "<p>page",
        },
        Probe {
            path: "cgi",
            service: json!({"type": "cgi", "directory": py.join("cgi_bin"),
                                             "processor": python()}),
            request: "/cgi/sub/deeper.py",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "deeper /cgi/sub/deeper.py",
        },
        Probe {
            path: "app",
            service: json!({"type": "wsgi", "module": "wsgi_app", "object": "application"}),
            request: "/app/x",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "\"script_name\": \"/app\"",
        },
        Probe {
            path: "res",
            service: json!({"type": "resource", "classname": "web_resource.Echo"}),
            request: "/res/x",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "\"postpath\": [\"x\"]",
        },
        Probe {
            path: "nested",
            service: json!({"type": "path", "paths": {
                    "inner": {"type": "json", "value": "deep"}}}),
            request: "/nested/inner",
            method: "GET",
            body: Value::Null,
            status: 200,
            contains: "deep",
        },
    ];

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let send = |p: &Probe| -> (u16, String) {
        let url = format!("http://127.0.0.1:{port}{}", p.request);
        let mut r = if p.method == "POST" {
            agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(p.body.to_string())
        } else {
            agent.get(&url).call()
        }
        .unwrap_or_else(|e| panic!("{} {}: {e}", p.method, p.request));
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    let rt = runtime();
    let s = rt.block_on(connect(&node.cbdir()));
    for p in &probes {
        let what = format!("{} ({})", p.path, p.service["type"]);
        assert_eq!(send(p).0, 404, "{what}: nothing there before the start");
        rt.block_on(call_ok(
            &s,
            &format!("{W}.start_web_transport_service"),
            vec![json!("transport1"), json!(p.path), p.service.clone()],
        ));
        let (status, body) = send(p);
        match p.status {
            0 => assert_ne!(status, 404, "{what}: served after the start: {body}"),
            301 => assert!(
                (300..400).contains(&status),
                "{what}: a redirect, got {status}"
            ),
            want => assert_eq!(status, want, "{what}: {body}"),
        }
        assert!(
            body.contains(p.contains),
            "{what}: {body:?} lacks {:?}",
            p.contains
        );
    }
    let mut paths = rt.block_on(call_ok(
        &s,
        &format!("{W}.get_web_transport_services"),
        vec![json!("transport1")],
    ));
    paths.as_array_mut().unwrap().sort_by_key(|p| p.to_string());
    let mut expected: Vec<&str> = probes.iter().map(|p| p.path).chain(["keep"]).collect();
    expected.sort();
    let expected: Vec<Value> = expected.into_iter().map(|p| json!(p)).collect();
    assert_eq!(paths, json!(expected));

    // A second start on a taken path is refused; a service that cannot start says why.
    let e = rt
        .block_on(call(
            &s,
            &format!("{W}.start_web_transport_service"),
            vec![
                json!("transport1"),
                json!("json"),
                json!({"type": "json", "value": 1}),
            ],
        ))
        .unwrap_err();
    assert!(e.error.starts_with("crossbar.error."), "{e:?}");
    let e = rt
        .block_on(call(
            &s,
            &format!("{W}.start_web_transport_service"),
            vec![
                json!("transport1"),
                json!("bad"),
                json!({"type": "resource", "classname": "web_resource.Nope"}),
            ],
        ))
        .unwrap_err();
    assert!(
        format!("{e:?}").contains("Failed to import class 'web_resource.Nope'"),
        "{e:?}"
    );

    for p in &probes {
        rt.block_on(call_ok(
            &s,
            &format!("{W}.stop_web_transport_service"),
            vec![json!("transport1"), json!(p.path)],
        ));
        assert_eq!(send(p).0, 404, "{}: gone after the stop", p.path);
    }
    let (status, body) = send(&Probe {
        path: "keep",
        service: Value::Null,
        request: "/keep",
        method: "GET",
        body: Value::Null,
        status: 200,
        contains: "",
    });
    assert_eq!(
        (status, body.as_str()),
        (200, "{\"kept\":true}"),
        "the transport's other path kept serving"
    );
}
