//! The HTTP bridge (`publisher`, `caller`, `webhook`) of a node started by `crossbar-edge
//! start`, driven by a Rust HTTP client (ureq) and curl, with an autobahn-python peer on the
//! realm (`tests/py/bridge_peer.py`). Every request of the table is also sent to Crossbar.io
//! itself with the same config: the expected status and body are what both answer. The
//! `wap` service renders templates with the results of calls to the same peer.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use tests::crossbar::{Crossbar, crossbar_bin};
use tests::{Node, free_port, python, workspace_root};

const KEY: &str = "bridgekey";
const SECRET: &str = "bridgesecret";

fn config(port: u16) -> Value {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let publisher = |options: Value| json!({"type": "publisher", "realm": "realm1", "role": "anonymous", "options": options});
    json!({"version": 2, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all}]},
            {"name": "restricted", "permissions": [
                {"uri": "com.allowed.", "match": "prefix", "allow": {"publish": true}}]}
        ]}],
        "transports": [{
            "type": "web",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
            "paths": {
                "/": {"type": "json", "value": {"service": "bridge test"}},
                "ws": {"type": "websocket"},
                "publish": publisher(json!({})),
                "signed": publisher(json!({"key": KEY, "secret": SECRET, "post_body_limit": 1024,
                                           "timestamp_delta_limit": 60})),
                "iponly": publisher(json!({"require_ip": ["10.0.0.0/8"]})),
                "tlsonly": publisher(json!({"require_tls": true})),
                "limited": {"type": "publisher", "realm": "realm1", "role": "restricted"},
                "call": {"type": "caller", "realm": "realm1", "role": "anonymous"},
                "hook": {"type": "webhook", "realm": "realm1", "role": "anonymous",
                         "options": {"topic": "com.example.hook"}}
            }
        }]
    }]})
}

/// The autobahn-python peer; killed when dropped.
struct Peer {
    child: Child,
    events: mpsc::Receiver<Value>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn start(port: u16) -> Peer {
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/py/bridge_peer.py"))
            .args(["--url", &format!("ws://127.0.0.1:{port}/ws")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run bridge_peer.py");
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("peer: {line}");
                if line.trim() == "ready" {
                    let _ = ready_tx.send(());
                } else if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the peer joins within 30 s");
        Peer { child, events }
    }

    /// The next event on `topic` (bounded wait).
    fn event(&self, topic: &str) -> Value {
        loop {
            let e = self
                .events
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no event on {topic} within 20 s"));
            if e["topic"] == topic {
                return e;
            }
        }
    }
}

/// One request of the table and the answer both routers give.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    status: u16,
    /// JSON body (publication ids compare as `"<id>"`), or text for the webhook.
    expect: Expect,
}

enum Expect {
    Json(Value),
    Text(&'static str),
}

fn deny(message: &str) -> Expect {
    Expect::Json(json!({"error": message, "args": [], "kwargs": {}}))
}

fn post(name: &'static str, path: &'static str, body: Value, status: u16, expect: Expect) -> Case {
    Case {
        name,
        method: "POST",
        path,
        query: String::new(),
        content_type: Some("application/json"),
        headers: vec![],
        body: body.to_string().into_bytes(),
        status,
        expect,
    }
}

/// `key`, `timestamp`, `seq`, `nonce` and `signature` for `body`, as Crossbar.io's REST
/// bridge clients sign.
fn signed_query(key: &str, secret: &str, timestamp: &str, body: &[u8]) -> String {
    let (seq, nonce) = ("1", "37");
    let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(secret.as_bytes()).unwrap();
    for part in [key, timestamp, seq, nonce] {
        mac.update(part.as_bytes());
    }
    mac.update(body);
    let sig = base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes());
    let enc = |s: &str| {
        s.replace('+', "%2B")
            .replace('=', "%3D")
            .replace(':', "%3A")
    };
    format!(
        "key={key}&timestamp={}&seq={seq}&nonce={nonce}&signature={}",
        enc(timestamp),
        enc(&sig)
    )
}

fn cases() -> Vec<Case> {
    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let event = json!({"topic": "com.example.topic", "args": [1, "two"], "kwargs": {"k": "v"}});
    let signed_body = json!({"topic": "com.example.signed", "args": ["s"]})
        .to_string()
        .into_bytes();
    let signed = |name, query: String, status, expect| {
        Case {
            query,
            ..post(name, "signed", json!({}), status, expect)
        }
        .with_body(signed_body.clone())
    };
    let big = format!(
        "{{\"topic\": \"com.example.big\", \"args\": [\"{}\"]}}",
        "x".repeat(2000)
    );
    vec![
        post(
            "publish",
            "publish",
            event,
            200,
            Expect::Json(json!({"id": "<id>"})),
        ),
        post(
            "publish without topic",
            "publish",
            json!({"args": [1]}),
            400,
            deny("Request body was valid JSON, but not well formed (missing key 'topic')."),
        ),
        post(
            "publish, JSON not a dict",
            "publish",
            json!([1, 2]),
            400,
            deny("Request body was valid JSON, but not well formed (must be a dict)."),
        ),
        Case {
            body: b"{nope".to_vec(),
            ..post(
                "publish, malformed JSON",
                "publish",
                json!({}),
                400,
                deny("Request body was invalid JSON."),
            )
        },
        Case {
            content_type: Some("text/plain"),
            ..post(
                "publish, text/plain",
                "publish",
                json!({"topic": "com.x"}),
                400,
                deny(
                    "Non-accepted content type. (must be one of '[b'application/json']', not 'b'text/plain'')",
                ),
            )
        },
        Case {
            content_type: Some("application/json; charset=latin1"),
            ..post(
                "publish, latin1",
                "publish",
                json!({"topic": "com.x"}),
                400,
                deny("Non-accepted request encoding, must be UTF-8."),
            )
        },
        Case {
            method: "GET",
            body: vec![],
            ..post(
                "GET",
                "publish",
                json!({}),
                405,
                deny(
                    "Method not accepted by the REST bridge. (b'GET' not allowed, only POST, PUT)",
                ),
            )
        },
        post(
            "publish, role not allowed",
            "limited",
            json!({"topic": "com.other.x"}),
            200,
            Expect::Json(json!({"error": "wamp.error.not_authorized",
                                 "args": ["session not authorized to publish to topic 'com.other.x'"], "kwargs": {}})),
        ),
        post(
            "publish, role allowed",
            "limited",
            json!({"topic": "com.allowed.x"}),
            200,
            Expect::Json(json!({"id": "<id>"})),
        ),
        post(
            "publish from a non-allowed address",
            "iponly",
            json!({"topic": "com.x"}),
            400,
            deny("Request denied based on IP address."),
        ),
        post(
            "publish without TLS",
            "tlsonly",
            json!({"topic": "com.x"}),
            400,
            deny("Malformed request to the REST bridge."),
        ),
        signed(
            "signed publish",
            signed_query(KEY, SECRET, &now, &signed_body),
            200,
            Expect::Json(json!({"id": "<id>"})),
        ),
        signed(
            "wrong secret",
            signed_query(KEY, "guess", &now, &signed_body),
            401,
            deny("REST bridge signature secret not valid."),
        ),
        signed(
            "wrong key",
            signed_query("other", SECRET, &now, &signed_body),
            401,
            deny("REST bridge signature key not valid."),
        ),
        signed(
            "stale timestamp",
            signed_query(KEY, SECRET, "2011-10-14T16:59:51.123Z", &signed_body),
            400,
            deny("Request expired, too old timestamp."),
        ),
        signed(
            "timestamp without fraction",
            signed_query(KEY, SECRET, "2011-10-14T16:59:51Z", &signed_body),
            400,
            deny(
                "REST bridge signature was invalid (invalid timestamp '2011-10-14T16:59:51Z' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')).",
            ),
        ),
        signed(
            "unsigned",
            String::new(),
            400,
            deny(
                "REST bridge signature was invalid (missing mandatory field - 'key' field missing).",
            ),
        ),
        Case {
            body: big.clone().into_bytes(),
            query: signed_query(KEY, SECRET, &now, big.as_bytes()),
            ..post(
                "body over the limit",
                "signed",
                json!({}),
                413,
                deny(&format!(
                    "Request too long. ({} is longer than accepted 1024)",
                    big.len()
                )),
            )
        },
        post(
            "call",
            "call",
            json!({"procedure": "com.example.add2", "args": [2, 3]}),
            200,
            Expect::Json(json!({"args": [5]})),
        ),
        post(
            "call with results and kwresults",
            "call",
            json!({"procedure": "com.example.split"}),
            200,
            Expect::Json(json!({"args": [1, 2], "kwargs": {"k": 3}})),
        ),
        post(
            "call returning nothing",
            "call",
            json!({"procedure": "com.example.nothing"}),
            200,
            Expect::Json(json!({"args": [null]})),
        ),
        post(
            "call, application error",
            "call",
            json!({"procedure": "com.example.fail"}),
            200,
            Expect::Json(
                json!({"error": "com.example.error", "args": ["bad thing", 1], "kwargs": {"detail": "x"}}),
            ),
        ),
        post(
            "call, no such procedure",
            "call",
            json!({"procedure": "com.example.nope"}),
            200,
            Expect::Json(json!({"error": "wamp.error.no_such_procedure",
                                 "args": ["no callee registered for procedure <com.example.nope>"], "kwargs": {}})),
        ),
        post(
            "call without procedure",
            "call",
            json!({"args": []}),
            400,
            deny("Request body was valid JSON, but not well formed (missing key 'procedure')."),
        ),
        Case {
            content_type: Some("text/plain"),
            headers: vec![("X-Custom", "a")],
            body: b"hello".to_vec(),
            ..post("webhook", "hook", json!({}), 202, Expect::Text("OK"))
        },
    ]
}

impl Case {
    fn with_body(mut self, body: Vec<u8>) -> Case {
        self.body = body;
        self
    }
}

/// Sends `case` to the router on `port`: (status, body, headers).
fn send(agent: &ureq::Agent, port: u16, case: &Case) -> (u16, String, http::HeaderMap) {
    let mut url = format!("http://127.0.0.1:{port}/{}", case.path);
    if !case.query.is_empty() {
        url = format!("{url}?{}", case.query);
    }
    let resp = if case.method == "GET" {
        agent.get(&url).call()
    } else {
        let mut req = agent.post(&url);
        if let Some(ct) = case.content_type {
            req = req.header("Content-Type", ct);
        }
        for (k, v) in &case.headers {
            req = req.header(*k, *v);
        }
        req.send(&case.body[..])
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.body_mut().read_to_string().unwrap();
    (status, body, headers)
}

/// Runs the table against the router on `port` and checks every answer; then what the
/// realm's peer received.
fn run_cases(port: u16, router: &str) {
    let peer = Peer::start(port);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut failures = Vec::new();
    for case in cases() {
        let (status, body, headers) = send(&agent, port, &case);
        let got = match &case.expect {
            Expect::Json(_) => match serde_json::from_str::<Value>(&body) {
                Ok(mut v) => {
                    if v.get("id").is_some_and(Value::is_u64) {
                        v["id"] = json!("<id>");
                    }
                    Expect::Json(v)
                }
                Err(_) => Expect::Json(Value::String(body.clone())),
            },
            Expect::Text(_) => Expect::Text(""),
        };
        let same = match (&case.expect, &got) {
            (Expect::Json(want), Expect::Json(got)) => want == got,
            (Expect::Text(want), _) => *want == body,
            _ => false,
        };
        let cache = headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap_or(""));
        println!("{router}: {} -> {status} {body}", case.name);
        if status != case.status || !same {
            failures.push(format!(
                "{}: got {status} {body}, expected {}",
                case.name, case.status
            ));
        }
        if cache != Some("no-store,no-cache,must-revalidate,max-age=0") {
            failures.push(format!("{}: cache-control {cache:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{router}:\n{}", failures.join("\n"));

    let e = peer.event("com.example.topic");
    assert_eq!(
        (&e["args"], &e["kwargs"]),
        (&json!([1, "two"]), &json!({"k": "v"})),
        "{e}"
    );
    let e = peer.event("com.allowed.x");
    assert_eq!(e["args"], json!([]), "{e}");
    let e = peer.event("com.example.signed");
    assert_eq!(e["args"], json!(["s"]), "{e}");
    let e = peer.event("com.example.hook");
    assert_eq!(e["args"][0]["body"], "hello", "{e}");
    assert_eq!(e["args"][0]["headers"]["X-Custom"], json!(["a"]), "{e}");
    assert_eq!(
        e["args"][0]["headers"]["Content-Type"],
        json!(["text/plain"]),
        "{e}"
    );

    // curl, as a user would post an event and make a call.
    let curl = |path: &str, body: &str| {
        let out = Command::new("curl")
            .args(["-sS", "-H", "Content-Type: application/json", "-d", body])
            .arg(format!("http://127.0.0.1:{port}/{path}"))
            .output()
            .expect("curl (Debian package curl) is installed");
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v = curl(
        "publish",
        r#"{"topic": "com.example.curl", "args": ["from curl"]}"#,
    );
    assert!(v["id"].is_u64(), "{v}");
    assert_eq!(peer.event("com.example.curl")["args"], json!(["from curl"]));
    let v = curl(
        "call",
        r#"{"procedure": "com.example.add2", "args": [20, 22]}"#,
    );
    assert_eq!(v, json!({"args": [42]}));
}

#[test]
fn http_bridge_with_curl_and_a_rust_client() {
    let port = free_port();
    let mut node = Node::start(&config(port).to_string(), &[]);
    node.wait_ready(&[port]);
    run_cases(port, "crossbar-edge");
}

#[test]
fn http_bridge_answers_as_crossbar_io_does() {
    let Some(bin) = crossbar_bin() else { return };
    let port = free_port();
    let cb = Crossbar::start(&bin, &config(port).to_string(), &[port]);
    cb.check(|| run_cases(port, "Crossbar.io"));
}

/// WAMP Application Pages: routes with variables call the peer and render its result.
#[test]
fn wap_renders_call_results() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join(".crossbar/templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("greeting.html"),
        "<p>Hello {{ name }}, n={{ n }}</p>{{ html }}{% if data %}<pre>{{ data }} {{ data_type }}</pre>{% endif %}",
    )
    .unwrap();
    std::fs::write(templates.join("static.html"), "<p>no call</p>").unwrap();
    let config = tests::web_node_config(
        port,
        json!({
            "app": {"type": "wap", "templates": "templates", "wamp": {"realm": "realm1"},
                    "routes": [
                        {"path": "/", "render": "static.html"},
                        {"path": "/hello/<name>/<int:n>", "call": "com.example.greet", "render": "greeting.html"},
                        {"path": "/post", "method": "POST", "call": "com.example.greet", "render": "greeting.html"},
                        {"path": "/broken", "call": "com.example.nope", "render": "static.html"}
                    ]}
        }),
    );
    let mut node = Node::start_in(dir, &config.to_string(), &[]);
    node.wait_ready(&[port]);
    let _peer = Peer::start(port);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str, accept: Option<&str>| {
        let mut req = agent.get(&format!("http://127.0.0.1:{port}/{path}"));
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let mut r = req.call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(get("app/", None), (200, "<p>no call</p>".into()));
    assert_eq!(
        get("app/hello/J%C3%BCrgen/7", None),
        (
            200,
            "<p>Hello Jürgen, n=7</p>&lt;b&gt;bold&lt;/b&gt;".into()
        ),
        "the route's variables are the call's kwargs; the result is HTML-escaped"
    );
    let (status, body) = get("app/hello/ann/7", Some("application/json"));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((&v["name"], &v["n"]), (&json!("ann"), &json!(7)), "{v}");
    let mut r = agent
        .post(&format!("http://127.0.0.1:{port}/app/post"))
        .header("Content-Type", "text/plain")
        .send(&b"posted"[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.body_mut().read_to_string().unwrap();
    assert!(body.contains("<pre>posted text/plain</pre>"), "{body}");
    let (status, body) = get("app/hello/ann/notanumber", None);
    assert_eq!(status, 404, "{body}");
    let (status, body) = get("app/post", None);
    assert_eq!(status, 511, "{body}");
    let (status, body) = get("app/broken", None);
    assert_eq!(status, 500);
    assert!(body.contains("wamp.error.no_such_procedure"), "{body}");
}
