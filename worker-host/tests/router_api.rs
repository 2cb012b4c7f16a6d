//! The router worker management API, in process: a management router with realm `crossbar`,
//! the API served on a session with role `crossbar.worker.w1`, a trusted client calling it,
//! and application clients connecting over the real transports it starts.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::authorization::{Allow, Disclose, Permission, RoleConfig};
use router_core::client::{
    CallError, CallOptions, Invocation, JoinOptions, RegisterOptions, Session, SubscribeOptions,
};
use router_core::transport::rawsocket;
use router_core::transport::ws_client::{self, WsClientOptions};
use router_core::uri::MatchPolicy;
use router_core::{Codec, ConnectionInfo, Dict, Payload, RealmConfig, Router, Value};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use worker_host::router_api::RouterApi;
use worker_host::router_worker::RouterWorker;

const WAIT: Duration = Duration::from_secs(10);
const PREFIX: &str = "crossbar.worker.w1";

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

/// The controller's management router: realm `crossbar` with `trusted` (built in) and the
/// worker role of the contract (call/register/publish/subscribe under its prefix only).
fn management_router() -> Arc<Router> {
    let router = Router::new();
    let mut cfg = RealmConfig::new("crossbar");
    cfg.roles = vec![RoleConfig {
        id: None,
        name: PREFIX.into(),
        permissions: vec![Permission {
            id: None,
            uri: format!("{PREFIX}."),
            match_: Some(MatchPolicy::Prefix),
            allow: Allow {
                call: true,
                register: true,
                publish: true,
                subscribe: true,
            },
            disclose: Disclose::default(),
            cache: false,
            validate: None,
        }],
        authorizer: None,
        allow_by_default: false,
    }];
    router.start_realm(cfg).unwrap();
    router
}

async fn join_management(router: &Arc<Router>, authid: &str, authrole: &str) -> Session {
    let conn = ConnectionInfo {
        transport: Arc::new(TransportInfo::new("test", "local", "test")),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: "crossbar".into(),
            authid: Some(authid.into()),
            authrole: authrole.into(),
        }),
    };
    bounded(Session::join_local(
        router,
        conn,
        JoinOptions::realm("crossbar"),
    ))
    .await
    .expect("join crossbar")
}

/// A temp directory per test (removed on drop).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("router_api_{name}_{}_{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Setup {
    /// Kept alive for the sessions above.
    _mgmt: Arc<Router>,
    api: Arc<RouterApi>,
    worker: Arc<RouterWorker>,
    /// A trusted management client (as `node.sock` clients and the uplink are).
    client: Session,
    events: mpsc::Receiver<(String, Vec<Json>)>,
    _events_session: Session,
    _api_session: Session,
    _dir: TempDir,
}

async fn setup(name: &str) -> Setup {
    let dir = TempDir::new(name);
    let mgmt = management_router();
    let api_session = join_management(&mgmt, "w1", PREFIX).await;
    // Relative paths (`../web`) resolve against the worker's base directory, as against a
    // node's `.crossbar` directory.
    let base = dir.0.join("node");
    std::fs::create_dir_all(&base).unwrap();
    let worker = Arc::new(RouterWorker::new(&base));
    let api = bounded(RouterApi::serve(api_session.clone(), "w1", worker.clone()))
        .await
        .expect("serve");
    let client = join_management(&mgmt, "tester", "trusted").await;
    let watcher = join_management(&mgmt, "watcher", "trusted").await;
    let (tx, rx) = mpsc::channel(1000);
    bounded(watcher.subscribe(
        &format!("{PREFIX}."),
        SubscribeOptions {
            match_: MatchPolicy::Prefix,
            ..Default::default()
        },
        move |ev| {
            let topic = ev.topic().unwrap_or_default().to_owned();
            let args = ev.args.iter().cloned().map(Json::from).collect();
            let _ = tx.try_send((topic, args));
        },
    ))
    .await
    .unwrap();
    Setup {
        _mgmt: mgmt,
        api,
        worker,
        client,
        events: rx,
        _events_session: watcher,
        _api_session: api_session,
        _dir: dir,
    }
}

async fn call(s: &Session, procedure: &str, args: Json) -> Result<Json, CallError> {
    call_kw(s, procedure, args, json!({})).await
}

async fn call_kw(
    s: &Session,
    procedure: &str,
    args: Json,
    kwargs: Json,
) -> Result<Json, CallError> {
    let args: Vec<Value> = args
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(Value::from)
        .collect();
    let kwargs: Dict = kwargs
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    bounded(s.call(
        &format!("{PREFIX}.{procedure}"),
        args,
        kwargs,
        CallOptions::default(),
    ))
    .await
    .map(|r| Json::from(r.value()))
}

async fn ok(s: &Session, procedure: &str, args: Json) -> Json {
    match call(s, procedure, args.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{procedure}({args}) failed: {e:?}"),
    }
}

/// Asserts the call fails with `uri` and a non-empty message; returns the message.
async fn fails(s: &Session, procedure: &str, args: Json, uri: &str) -> String {
    match call(s, procedure, args.clone()).await {
        Ok(v) => panic!("{procedure}({args}) succeeded with {v}, expected {uri}"),
        Err(e) => {
            assert_eq!(e.error, uri, "{procedure}({args}): {e:?}");
            let msg = e.message().unwrap_or_default().to_owned();
            assert!(!msg.is_empty(), "{procedure}: no message");
            msg
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn rawsocket_client(port: u16, realm: &str) -> Session {
    let stream = bounded(TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("connect");
    let conn = bounded(rawsocket::connect(stream, Codec::MsgPack, 1 << 20))
        .await
        .expect("rawsocket handshake");
    bounded(Session::join_wire(
        conn.codec,
        conn.reader,
        conn.writer,
        JoinOptions::realm(realm),
    ))
    .await
    .expect("join over rawsocket")
}

async fn websocket_client(url: &str, realm: &str) -> Session {
    let c = bounded(ws_client::connect(url, &WsClientOptions::default()))
        .await
        .expect("websocket connect");
    bounded(Session::join_wire(
        c.negotiated.codec,
        c.reader,
        c.writer,
        JoinOptions::realm(realm),
    ))
    .await
    .expect("join over websocket")
}

/// GET `path`; returns the status code and body.
async fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = bounded(TcpStream::connect(("127.0.0.1", port)))
        .await
        .unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    bounded(s.read_to_end(&mut buf)).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (code, body)
}

/// Collects events until `want` has been seen (or fails after the bound).
async fn expect_events(
    rx: &mut mpsc::Receiver<(String, Vec<Json>)>,
    seen: &mut Vec<(String, Vec<Json>)>,
    want: &[(&str, Json)],
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let missing: Vec<&(&str, Json)> = want
            .iter()
            .filter(|(t, a)| {
                !seen
                    .iter()
                    .any(|(st, sa)| *st == format!("{PREFIX}.{t}") && Json::Array(sa.clone()) == *a)
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => seen.push(ev),
            _ => panic!(
                "events missing: {missing:?}\nseen: {:#?}",
                seen.iter()
                    .map(|(t, a)| format!("{t} {a:?}"))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// Position of an event among those seen.
fn pos(seen: &[(String, Vec<Json>)], topic: &str, args: Json) -> usize {
    seen.iter()
        .position(|(t, a)| *t == format!("{PREFIX}.{topic}") && Json::Array(a.clone()) == args)
        .unwrap_or_else(|| panic!("no event {topic} {args}"))
}

fn allow_all(uri: &str) -> Json {
    json!({"uri": uri, "match": "prefix",
           "allow": {"call": true, "register": true, "publish": true, "subscribe": true}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_applies_live_and_announces_every_change() {
    let mut s = setup("lifecycle").await;
    let c = s.client.clone();
    let mut seen = Vec::new();

    // Realm, role, grant.
    let realm = ok(
        &c,
        "start_router_realm",
        json!(["realm1", {"name": "realm1"}]),
    )
    .await;
    assert_eq!(realm["id"], "realm1");
    assert_eq!(realm["name"], "realm1");
    assert_eq!(realm["status"], "started");
    let role = ok(
        &c,
        "start_router_realm_role",
        json!(["realm1", "role1", {"name": "anonymous"}]),
    )
    .await;
    assert_eq!(role["id"], "role1");
    assert_eq!(role["config"]["name"], "anonymous");
    // Keyword arguments, as Crossbar.io's callers may pass them.
    let grant = call_kw(
        &c,
        "start_router_realm_role_grant",
        json!([]),
        json!({"realm_id": "realm1", "role_id": "role1", "grant_id": "g1",
               "grant_config": allow_all("com.example.")}),
    )
    .await
    .unwrap();
    assert_eq!(grant["id"], "g1");
    assert_eq!(grant["config"]["uri"], "com.example.");
    assert_eq!(grant["status"], "started");
    assert_eq!(
        ok(
            &c,
            "get_router_realm_role_grants",
            json!(["realm1", "role1"])
        )
        .await,
        json!(["g1"])
    );
    assert_eq!(
        ok(&c, "get_router_realms", json!([])).await,
        json!(["realm1"])
    );
    let roles = ok(&c, "get_router_realm_roles", json!(["realm1"])).await;
    assert_eq!(roles[0]["id"], "role1");
    assert_eq!(roles[0]["config"]["permissions"][0]["id"], "g1");

    // A RawSocket transport and a Web transport on free loopback ports.
    let rs_port = free_port();
    let t1 = ok(
        &c,
        "start_router_transport",
        json!(["t1", {"type": "rawsocket", "serializers": ["msgpack", "json"],
                      "endpoint": {"type": "tcp", "port": rs_port, "interface": "127.0.0.1"}}]),
    )
    .await;
    assert_eq!(t1["id"], "t1");
    assert_eq!(t1["type"], "rawsocket");
    assert_eq!(t1["state"], "started");
    assert_eq!(t1["listen"], format!("tcp:127.0.0.1:{rs_port}"));
    let web_port = free_port();
    // Without create_paths only the root starts, as in Crossbar.io.
    ok(
        &c,
        "start_router_transport",
        json!(["t2", {"type": "web",
                      "endpoint": {"type": "tcp", "port": web_port, "interface": "127.0.0.1"},
                      "paths": {"/": {"type": "path", "paths": {}},
                                "later": {"type": "json", "value": 1}}}]),
    )
    .await;
    assert_eq!(
        ok(&c, "get_web_transport_services", json!(["t2"])).await,
        json!(["/"])
    );
    assert_eq!(http_get(web_port, "/later").await.0, 404);
    ok(
        &c,
        "start_web_transport_service",
        json!(["t2", "ws", {"type": "websocket", "serializers": ["json", "cbor"]}]),
    )
    .await;
    let info = ok(
        &c,
        "start_web_transport_service",
        json!(["t2", "info", {"type": "json", "value": {"hello": "world"}}]),
    )
    .await;
    assert_eq!(info["path"], "info");
    let (code, body) = http_get(web_port, "/info").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("world"), "{body}");
    let svc = ok(&c, "get_web_transport_service", json!(["t2", "info"])).await;
    assert_eq!(svc["config"]["value"]["hello"], "world");
    assert_eq!(svc["status"], "started");
    assert_eq!(
        ok(&c, "get_web_transport_services", json!(["t2"])).await,
        json!(["/", "info", "ws"])
    );
    let transports = ok(&c, "get_router_transports", json!([])).await;
    assert_eq!(transports.as_array().unwrap().len(), 2);

    // Application clients over both transports, as the grant allows.
    let callee = rawsocket_client(rs_port, "realm1").await;
    let caller = websocket_client(&format!("ws://127.0.0.1:{web_port}/ws"), "realm1").await;
    assert_eq!(caller.details().authrole, "anonymous");
    bounded(callee.register(
        "com.example.add",
        RegisterOptions::default(),
        |inv: Invocation| async move {
            let sum: i64 = inv.args.iter().filter_map(Value::as_i64).sum();
            Ok::<_, CallError>(Payload::args(vec![Value::from(sum)]))
        },
    ))
    .await
    .unwrap();
    let r = bounded(caller.call_simple("com.example.add", vec![Value::from(2), Value::from(3)]))
        .await
        .unwrap();
    assert_eq!(r, Value::from(5));
    // Outside the grant: denied.
    let e = bounded(caller.call_simple("org.other.proc", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.not_authorized");

    // Stopping the grant denies the next call.
    let stopped = ok(
        &c,
        "stop_router_realm_role_grant",
        json!(["realm1", "role1", "g1"]),
    )
    .await;
    assert_eq!(stopped["status"], "stopped");
    let e = bounded(caller.call_simple("com.example.add", vec![Value::from(1)]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.not_authorized");
    // A new grant allows it again, at once.
    ok(
        &c,
        "start_router_realm_role_grant",
        json!(["realm1", "role1", "g2", {"uri": "com.example.add", "allow": {"call": true}}]),
    )
    .await;
    let r = bounded(caller.call_simple("com.example.add", vec![Value::from(4)]))
        .await
        .unwrap();
    assert_eq!(r, Value::from(4));

    // Stopping a web service: 404 from the next request on.
    let st = ok(&c, "stop_web_transport_service", json!(["t2", "info"])).await;
    assert_eq!(st, json!({"transport_id": "t2", "path": "info"}));
    assert_eq!(http_get(web_port, "/info").await.0, 404);

    // Stopping a transport closes its port and ends its sessions.
    let t1_stopped = ok(&c, "stop_router_transport", json!(["t1"])).await;
    assert_eq!(t1_stopped["status"], "stopped");
    assert!(TcpStream::connect(("127.0.0.1", rs_port)).await.is_err());
    bounded(callee.closed()).await;
    assert!(s.worker.transport("t1").await.is_err());

    // Stopping the realm closes the application session with close_realm.
    let r = ok(&c, "stop_router_realm", json!(["realm1"])).await;
    assert_eq!(r["id"], "realm1");
    assert_eq!(r["detached_sessions"].as_array().unwrap().len(), 1);
    let reason = bounded(caller.closed()).await;
    assert_eq!(reason.reason, "wamp.close.close_realm");
    assert_eq!(ok(&c, "get_router_realms", json!([])).await, json!([]));

    // Every change was announced: ours and Crossbar.io's names.
    expect_events(
        &mut s.events,
        &mut seen,
        &[
            ("on_realm_status", json!(["realm1", "stopped", "starting"])),
            ("on_realm_status", json!(["realm1", "starting", "started"])),
            ("on_realm_started", json!(["realm1"])),
            (
                "on_role_status",
                json!(["realm1", "role1", "stopped", "starting"]),
            ),
            (
                "on_role_status",
                json!(["realm1", "role1", "starting", "started"]),
            ),
            (
                "on_grant_status",
                json!(["realm1", "role1", "g1", "starting", "started"]),
            ),
            (
                "on_grant_status",
                json!(["realm1", "role1", "g1", "started", "stopping"]),
            ),
            (
                "on_grant_status",
                json!(["realm1", "role1", "g1", "stopping", "stopped"]),
            ),
            ("on_transport_status", json!(["t1", "stopped", "starting"])),
            ("on_transport_status", json!(["t1", "starting", "started"])),
            ("on_router_transport_starting", json!([{"id": "t1"}])),
            ("on_router_transport_started", json!([{"id": "t1"}])),
            (
                "on_web_service_status",
                json!(["t2", "/", "starting", "started"]),
            ),
            (
                "on_web_service_status",
                json!(["t2", "info", "stopped", "starting"]),
            ),
            ("on_web_transport_service_starting", json!(["t2", "info"])),
            ("on_web_transport_service_stopping", json!(["t2", "info"])),
            (
                "on_web_transport_service_stopped",
                json!(["t2", "info", {"transport_id": "t2", "path": "info"}]),
            ),
            ("on_transport_status", json!(["t1", "started", "stopping"])),
            ("on_transport_status", json!(["t1", "stopping", "stopped"])),
            ("on_realm_status", json!(["realm1", "started", "stopping"])),
            ("on_realm_status", json!(["realm1", "stopping", "stopped"])),
            (
                "on_role_status",
                json!(["realm1", "role1", "stopping", "stopped"]),
            ),
            (
                "on_grant_status",
                json!(["realm1", "role1", "g2", "stopping", "stopped"]),
            ),
            ("on_realm_stopped", json!(["realm1"])),
        ],
    )
    .await;
    // Crossbar.io's marshal events and their order.
    let prefix_topic = |t: &str| format!("{PREFIX}.{t}");
    assert!(
        seen.iter()
            .any(|(t, a)| *t == prefix_topic("on_realm_started") && a[0].is_object())
    );
    assert!(
        seen.iter()
            .any(|(t, a)| *t == prefix_topic("on_router_realm_role_started")
                && a[0]["id"] == "role1")
    );
    assert!(
        seen.iter()
            .any(|(t, a)| *t == prefix_topic("on_router_transport_stopped") && a[0]["id"] == "t1")
    );
    assert!(seen.iter().any(
        |(t, a)| *t == prefix_topic("on_web_transport_service_started")
            && a[2]["config"]["value"]["hello"] == "world"
    ));
    assert!(
        pos(
            &seen,
            "on_realm_status",
            json!(["realm1", "stopped", "starting"])
        ) < pos(
            &seen,
            "on_realm_status",
            json!(["realm1", "starting", "started"])
        )
    );
    assert!(
        pos(
            &seen,
            "on_role_status",
            json!(["realm1", "role1", "started", "stopping"])
        ) < pos(
            &seen,
            "on_grant_status",
            json!(["realm1", "role1", "g2", "stopping", "stopped"])
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_calls_answer_crossbar_errors() {
    use mgmt_api::vocabulary::error as e;
    let s = setup("errors").await;
    let c = &s.client;
    fails(c, "get_router_realm", json!(["nope"]), e::NO_SUCH_OBJECT).await;
    fails(c, "stop_router_realm", json!(["nope"]), e::NO_SUCH_OBJECT).await;
    fails(c, "get_router_realm", json!([]), e::INVALID_ARGUMENT).await;
    fails(c, "get_router_realm", json!([7]), e::INVALID_ARGUMENT).await;
    fails(
        c,
        "start_router_realm",
        json!(["r1", {"name": 5}]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    fails(
        c,
        "start_router_realm",
        json!(["r1", "realm1"]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    let msg = fails(
        c,
        "start_router_realm",
        json!(["r1", {"name": "realm1", "bogus": 1}]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    assert!(msg.contains("bogus"), "{msg}");
    ok(c, "start_router_realm", json!(["r1", {"name": "realm1"}])).await;
    fails(
        c,
        "start_router_realm",
        json!(["r1", {"name": "realm2"}]),
        e::ALREADY_RUNNING,
    )
    .await;

    // Roles.
    fails(
        c,
        "start_router_realm_role",
        json!(["nope", "x", {"name": "a"}]),
        e::NO_SUCH_OBJECT,
    )
    .await;
    fails(
        c,
        "get_router_realm_role",
        json!(["r1", "x"]),
        e::NO_SUCH_OBJECT,
    )
    .await;
    fails(
        c,
        "stop_router_realm_role",
        json!(["r1", "x"]),
        e::NO_SUCH_OBJECT,
    )
    .await;
    fails(
        c,
        "start_router_realm_role",
        json!(["r1", "x", {"permissions": []}]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    ok(
        c,
        "start_router_realm_role",
        json!(["r1", "x", {"name": "a"}]),
    )
    .await;
    fails(
        c,
        "start_router_realm_role",
        json!(["r1", "x", {"name": "b"}]),
        e::ALREADY_EXISTS,
    )
    .await;
    fails(
        c,
        "start_router_realm_role",
        json!(["r1", "y", {"name": "a"}]),
        e::ALREADY_EXISTS,
    )
    .await;

    // Grants.
    fails(
        c,
        "start_router_realm_role_grant",
        json!(["r1", "x", "g", {"uri": "a.", "allow": {"dance": true}}]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    fails(
        c,
        "start_router_realm_role_grant",
        json!(["r1", "nope", "g", allow_all("a.")]),
        e::NO_SUCH_OBJECT,
    )
    .await;
    ok(
        c,
        "start_router_realm_role_grant",
        json!(["r1", "x", "g", allow_all("a.")]),
    )
    .await;
    fails(
        c,
        "start_router_realm_role_grant",
        json!(["r1", "x", "g", allow_all("b.")]),
        e::ALREADY_EXISTS,
    )
    .await;
    fails(
        c,
        "stop_router_realm_role_grant",
        json!(["r1", "x", "h"]),
        e::NO_SUCH_OBJECT,
    )
    .await;
    fails(
        c,
        "get_router_realm_role_grant",
        json!(["r1", "x", "h"]),
        e::NO_SUCH_OBJECT,
    )
    .await;
    let g = ok(c, "get_router_realm_role_grant", json!(["r1", "x", "g"])).await;
    assert_eq!(g["config"]["allow"]["call"], true);

    // Transports.
    fails(
        c,
        "start_router_transport",
        json!(["t", {"type": "carrier-pigeon"}]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    fails(
        c,
        "start_router_transport",
        json!(["t", {"type": "rawsocket"}]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let msg = fails(
        c,
        "start_router_transport",
        json!(["t", {"type": "rawsocket", "endpoint": {"type": "tcp", "port": busy_port, "interface": "127.0.0.1"}}]),
        e::CANNOT_LISTEN,
    )
    .await;
    assert!(msg.contains(&busy_port.to_string()), "{msg}");
    fails(c, "get_router_transport", json!(["t"]), e::NO_SUCH_OBJECT).await;
    fails(c, "stop_router_transport", json!(["t"]), e::NOT_RUNNING).await;
    let port = free_port();
    ok(
        c,
        "start_router_transport",
        json!(["t", {"type": "rawsocket", "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]),
    )
    .await;
    fails(
        c,
        "start_router_transport",
        json!(["t", {"type": "rawsocket", "endpoint": {"type": "tcp", "port": free_port()}}]),
        e::ALREADY_RUNNING,
    )
    .await;

    // Web services.
    fails(
        c,
        "get_web_transport_services",
        json!(["t"]),
        e::NOT_RUNNING,
    )
    .await;
    fails(
        c,
        "get_web_transport_services",
        json!(["nope"]),
        e::NOT_RUNNING,
    )
    .await;
    fails(
        c,
        "start_web_transport_service",
        json!(["t", "x", {"type": "json", "value": 1}]),
        e::NOT_RUNNING,
    )
    .await;
    fails(
        c,
        "start_web_transport_service",
        json!(["t", "x", {"value": 1}]),
        e::INVALID_ARGUMENT,
    )
    .await;
    let web_port = free_port();
    ok(
        c,
        "start_router_transport",
        json!(["w", {"type": "web", "endpoint": {"type": "tcp", "port": web_port, "interface": "127.0.0.1"},
                     "paths": {"/": {"type": "json", "value": 0}}}]),
    )
    .await;
    fails(
        c,
        "start_web_transport_service",
        json!(["w", "/", {"type": "json", "value": 1}]),
        e::ALREADY_RUNNING,
    )
    .await;
    fails(
        c,
        "start_web_transport_service",
        json!(["w", "a/b", {"type": "json", "value": 1}]),
        e::INVALID_ARGUMENT,
    )
    .await;
    fails(
        c,
        "start_web_transport_service",
        json!(["w", "x", {"type": "json"}]),
        e::INVALID_CONFIGURATION,
    )
    .await;
    fails(
        c,
        "stop_web_transport_service",
        json!(["w", "x"]),
        e::NOT_RUNNING,
    )
    .await;
    fails(
        c,
        "get_web_transport_service",
        json!(["w", "x"]),
        e::NOT_RUNNING,
    )
    .await;
    // Failed starts left nothing behind.
    assert_eq!(
        ok(c, "get_web_transport_services", json!(["w"])).await,
        json!(["/"])
    );
    let names: Vec<String> = ok(c, "get_router_transports", json!([]))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["t", "w"]);
}

/// The worker item `crossbar init` writes, on free loopback ports.
fn init_item(rs_port: u16, web_port: u16) -> Json {
    json!({
        "type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{
            "uri": "", "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
            "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
        "transports": [
            {"type": "rawsocket",
             "endpoint": {"type": "tcp", "port": rs_port, "interface": "127.0.0.1", "backlog": 1024},
             "options": {"max_message_size": 1048576},
             "serializers": ["cbor", "msgpack", "json"]},
            {"type": "web",
             "endpoint": {"type": "tcp", "port": web_port, "interface": "127.0.0.1", "backlog": 1024},
             "paths": {
                "/": {"type": "static", "directory": "../web", "options": {"enable_directory_listing": true}},
                "ws": {"type": "websocket", "serializers": ["cbor", "msgpack", "json"],
                       "options": {"allowed_origins": ["*"], "allow_null_origin": true,
                                   "enable_webstatus": false, "max_frame_size": 1048576,
                                   "max_message_size": 1048576, "auto_fragment_size": 65536,
                                   "fail_by_drop": true, "open_handshake_timeout": 2500,
                                   "close_handshake_timeout": 1000, "auto_ping_interval": 10000,
                                   "auto_ping_timeout": 5000, "auto_ping_size": 12,
                                   "compression": {"deflate": {"request_no_context_takeover": false,
                                       "request_max_window_bits": 13, "no_context_takeover": false,
                                       "max_window_bits": 13, "memory_level": 5}}}},
                "info": {"type": "nodeinfo"}}}
        ]
    })
}

/// Writes the static root of the init item (`../web`) for a worker.
fn write_web_root(worker: &RouterWorker) {
    let web = worker.base_dir().parent().unwrap().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<h1>hello from web</h1>").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_and_live_config_round_trip() {
    let mut s = setup("boot").await;
    write_web_root(&s.worker);
    let (rs_port, web_port) = (free_port(), free_port());
    bounded(s.api.boot(&init_item(rs_port, web_port)))
        .await
        .expect("boot");
    let c = s.client.clone();

    // Crossbar.io's automatic ids, everything announced.
    assert_eq!(
        ok(&c, "get_router_realms", json!([])).await,
        json!(["realm001"])
    );
    let role = ok(&c, "get_router_realm_role", json!(["realm001", "role001"])).await;
    assert_eq!(role["name"], "anonymous");
    assert_eq!(
        ok(
            &c,
            "get_router_realm_role_grants",
            json!(["realm001", "role001"])
        )
        .await,
        json!(["grant001"])
    );
    let ids: Vec<Json> = ok(&c, "get_router_transports", json!([]))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, [json!("transport001"), json!("transport002")]);
    assert_eq!(
        ok(&c, "get_web_transport_services", json!(["transport002"])).await,
        json!(["/", "info", "ws"])
    );
    let mut seen = Vec::new();
    expect_events(
        &mut s.events,
        &mut seen,
        &[
            (
                "on_realm_status",
                json!(["realm001", "starting", "started"]),
            ),
            ("on_realm_started", json!(["realm001"])),
            (
                "on_role_status",
                json!(["realm001", "role001", "starting", "started"]),
            ),
            (
                "on_grant_status",
                json!(["realm001", "role001", "grant001", "starting", "started"]),
            ),
            (
                "on_transport_status",
                json!(["transport001", "starting", "started"]),
            ),
            (
                "on_transport_status",
                json!(["transport002", "starting", "started"]),
            ),
            (
                "on_web_service_status",
                json!(["transport002", "/", "starting", "started"]),
            ),
            (
                "on_web_service_status",
                json!(["transport002", "info", "starting", "started"]),
            ),
            (
                "on_web_service_status",
                json!(["transport002", "ws", "starting", "started"]),
            ),
            (
                "on_web_transport_service_starting",
                json!(["transport002", "ws"]),
            ),
        ],
    )
    .await;
    // Roles start after their realm, web services after their transport.
    assert!(
        pos(
            &seen,
            "on_realm_status",
            json!(["realm001", "starting", "started"])
        ) < pos(
            &seen,
            "on_role_status",
            json!(["realm001", "role001", "stopped", "starting"])
        )
    );
    assert!(
        pos(
            &seen,
            "on_transport_status",
            json!(["transport002", "starting", "started"])
        ) < pos(
            &seen,
            "on_web_service_status",
            json!(["transport002", "ws", "stopped", "starting"])
        )
    );

    // The booted worker serves: static root, WebSocket path, RawSocket.
    let (code, body) = http_get(web_port, "/").await;
    assert_eq!(code, 200);
    assert!(body.contains("hello from web"), "{body}");
    let ws = websocket_client(&format!("ws://127.0.0.1:{web_port}/ws"), "realm1").await;
    let rs = rawsocket_client(rs_port, "realm1").await;
    bounded(rs.register(
        "com.example.ping",
        RegisterOptions::default(),
        |_inv| async { Ok::<_, CallError>(Payload::args(vec![Value::from("pong")])) },
    ))
    .await
    .unwrap();
    assert_eq!(
        bounded(ws.call_simple("com.example.ping", vec![]))
            .await
            .unwrap(),
        Value::from("pong")
    );

    // Change it at runtime; the live config says so.
    ok(&c, "start_router_realm_role_grant",
       json!(["realm001", "role001", "extra", {"uri": "com.extra.", "match": "prefix", "allow": {"subscribe": true}}])).await;
    ok(
        &c,
        "start_router_realm_role",
        json!(["realm001", "viewer", {"name": "viewer"}]),
    )
    .await;
    ok(
        &c,
        "stop_web_transport_service",
        json!(["transport002", "info"]),
    )
    .await;
    ok(
        &c,
        "start_web_transport_service",
        json!(["transport002", "status", {"type": "json", "value": {"ok": true}}]),
    )
    .await;
    let live = s.api.live_config().await;
    assert_eq!(live["type"], "router");
    assert_eq!(live["id"], "w1");
    let realm = &live["realms"][0];
    assert_eq!(realm["id"], "realm001");
    assert_eq!(realm["name"], "realm1");
    let role_ids: Vec<&str> = realm["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(role_ids, ["role001", "viewer"]);
    let grants: Vec<&str> = realm["roles"][0]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(grants, ["grant001", "extra"]);
    let paths = live["transports"][1]["paths"].as_object().unwrap();
    let keys: Vec<&str> = paths.keys().map(String::as_str).collect();
    // The config's order, with the service started at runtime last (as Crossbar.io's dict).
    assert_eq!(keys, ["/", "ws", "status"]);
    assert_eq!(live["transports"][0]["id"], "transport001");

    // boot(live_config()) on a fresh worker gives the same worker.
    s.worker.shutdown().await;
    let s2 = setup("boot2").await;
    write_web_root(&s2.worker);
    bounded(s2.api.boot(&live))
        .await
        .expect("boot the live config");
    let live2 = s2.api.live_config().await;
    assert_eq!(live2, live);
    // And it serves on the same ports again.
    let (code, body) = http_get(web_port, "/status").await;
    assert_eq!(code, 200, "{body}");
    rawsocket_client(rs_port, "realm1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_errors_name_the_key_path() {
    use mgmt_api::vocabulary::error as e;
    let s = setup("boot_errors").await;
    let err = s
        .api
        .boot(
            &json!({"type": "router", "realms": [{"name": "realm1", "roles": [
            {"name": "r", "permissions": [{"uri": "a.", "bogus": 1}]}]}]}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.uri, e::INVALID_CONFIGURATION);
    assert!(
        err.message.starts_with("realms[0].roles[0]:"),
        "{}",
        err.message
    );
    assert!(err.message.contains("bogus"), "{}", err.message);
    let err = s
        .api
        .boot(&json!({"transports": [{"type": "websocket"}]}))
        .await
        .unwrap_err();
    assert_eq!(err.uri, e::INVALID_CONFIGURATION);
    assert!(err.message.starts_with("transports[0]:"), "{}", err.message);
    let err = s.api.boot(&json!({"type": "guest"})).await.unwrap_err();
    assert_eq!(err.uri, e::INVALID_CONFIGURATION);
    let err = s.api.boot(&json!({"realms": {}})).await.unwrap_err();
    assert_eq!(err.uri, e::INVALID_CONFIGURATION);
}
