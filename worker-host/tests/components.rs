//! Components with real processes: autobahn-python `class` components (Twisted and asyncio)
//! and the Rust `exec` example, as router components on an in-process router and as container
//! components connecting through a listening transport with ticket auth.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mgmt_api::vocabulary::{Status, error};
use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::client::{JoinOptions, Session, SubscribeOptions};
use router_core::{ConnectionInfo, RealmConfig, Router, Value};
use serde_json::json;
use worker_host::components::class::PythonSettings;
use worker_host::components::{
    ComponentHost, ComponentLogLine, ContainerPolicy, HostEvent, HostOptions,
};
use worker_host::router_worker::RouterWorker;

const REALM: &str = "realm1";

/// The test venv's Python: `$EDGE_TEST_PYTHON` (exported by `tests/run.sh`) or the venv it makes.
fn venv_python() -> PathBuf {
    std::env::var_os("EDGE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python")
        })
}

fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py")
}

fn realm_config() -> RealmConfig {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    router_core::config::from_value(json!({
        "name": REALM,
        "roles": [
            {"name": "app", "permissions": [{"uri": "", "match": "prefix", "allow": all}]},
            {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all}]}
        ]
    }))
    .unwrap()
}

/// What the host reported: status events and log lines.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<HostEvent>>>,
    lines: Arc<Mutex<Vec<ComponentLogLine>>>,
}

impl Recorder {
    fn attach(&self, mut opts: HostOptions) -> HostOptions {
        let ev = self.events.clone();
        opts.events = Arc::new(move |e| ev.lock().unwrap().push(e));
        let ln = self.lines.clone();
        opts.log_sink = Arc::new(move |l| ln.lock().unwrap().push(l));
        opts
    }

    fn statuses(&self, id: &str) -> Vec<(Option<Status>, Status)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                HostEvent::Status {
                    component_id,
                    old,
                    new,
                    ..
                } if component_id == id => Some((*old, *new)),
                _ => None,
            })
            .collect()
    }

    fn log_text(&self) -> String {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.line.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (bounded) until `pred` holds for the events.
    async fn wait_for(&self, what: &str, pred: impl Fn(&[HostEvent]) -> bool) {
        for _ in 0..300 {
            if pred(&self.events.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}: {:?}",
            self.events.lock().unwrap()
        );
    }
}

fn python_settings(python: PathBuf) -> PythonSettings {
    PythonSettings {
        python: Some(python),
        pythonpath: vec![py_dir()],
    }
}

async fn caller(router: &Arc<Router>) -> Session {
    let conn = ConnectionInfo {
        transport: Arc::new(TransportInfo::new("test", "local", "local")),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: REALM.into(),
            authid: Some("tester".into()),
            authrole: "app".into(),
        }),
    };
    Session::join_local(router, conn, JoinOptions::realm(REALM))
        .await
        .unwrap()
}

fn router_host(router: &Arc<Router>, rec: &Recorder, python: PathBuf) -> Arc<ComponentHost> {
    let dir = std::env::temp_dir();
    let mut opts = rec.attach(HostOptions::router(router.clone(), dir));
    opts.python = python_settings(python);
    opts.start_timeout = Duration::from_secs(30);
    opts.stop_grace = Duration::from_secs(3);
    ComponentHost::new(opts)
}

fn lifecycle() -> Vec<(Option<Status>, Status)> {
    vec![
        (None, Status::Starting),
        (Some(Status::Starting), Status::Started),
        (Some(Status::Started), Status::Stopping),
        (Some(Status::Stopping), Status::Stopped),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_router_component_runs_and_stops() {
    let router = Router::new();
    router.start_realm(realm_config()).unwrap();
    let rec = Recorder::default();
    let host = router_host(&router, &rec, venv_python());
    let cfg = json!({"type": "class", "classname": "add2_twisted.Add2", "realm": REALM,
                     "role": "app", "extra": {"prefix": "com.example", "answer": 42}});
    let info = host.start("comp1", &cfg).await.expect("start");
    assert_eq!(info.status, Status::Started);
    assert!(info.pid.is_some() && info.session.is_some(), "{info:?}");

    let s = caller(&router).await;
    let r = s
        .call_simple(
            "com.example.add2",
            vec![Value::from(2i64), Value::from(3i64)],
        )
        .await
        .unwrap();
    assert_eq!(r.as_i64(), Some(5));
    let who = serde_json::Value::from(s.call_simple("com.example.whoami", vec![]).await.unwrap());
    assert_eq!(who["authid"], "comp1");
    assert_eq!(who["authrole"], "app");
    assert_eq!(who["realm"], REALM);
    assert_eq!(who["extra"]["answer"], 42);
    let realm = router.realm(REALM).unwrap();
    let mine = realm
        .session(info.session.unwrap())
        .expect("session on the realm");
    assert_eq!(mine.identity.authid, "comp1");

    let listed = host.list().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].to_json()["config"]["classname"],
        "add2_twisted.Add2"
    );
    let again = host.start("comp1", &cfg).await.unwrap_err();
    assert_eq!(again.error_uri(), error::ALREADY_RUNNING);

    let stopped = host.stop("comp1").await.expect("stop");
    assert_eq!(stopped.status, Status::Stopped);
    let gone = s
        .call_simple(
            "com.example.add2",
            vec![Value::from(1i64), Value::from(1i64)],
        )
        .await
        .unwrap_err();
    assert_eq!(gone.error, "wamp.error.no_such_procedure");
    assert!(realm.session(info.session.unwrap()).is_none());
    assert!(host.list().await.is_empty());
    assert_eq!(rec.statuses("comp1"), lifecycle());
    assert!(
        rec.log_text().contains("add2 component ready as comp1"),
        "{}",
        rec.log_text()
    );
    let err = host.stop("comp1").await.unwrap_err();
    assert_eq!(err.error_uri(), error::NO_SUCH_OBJECT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_component_errors_are_readable() {
    let router = Router::new();
    router.start_realm(realm_config()).unwrap();
    let rec = Recorder::default();
    let cfg =
        json!({"type": "class", "classname": "add2_twisted.Add2", "realm": REALM, "role": "app"});

    // A Python without autobahn (the system interpreter has none).
    let plain = PathBuf::from("/usr/bin/python3");
    let host = router_host(&router, &rec, plain.clone());
    let e = host.start("c1", &cfg).await.unwrap_err();
    assert_eq!(e.error_uri(), error::INVALID_CONFIGURATION, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("autobahn-python is not installed") && msg.contains("/usr/bin/python3"),
        "{msg}"
    );
    assert_eq!(
        rec.statuses("c1"),
        vec![
            (None, Status::Starting),
            (Some(Status::Starting), Status::Failed)
        ]
    );

    // No such interpreter.
    let host = router_host(&router, &rec, PathBuf::from("/nonexistent/python9"));
    let e = host.start("c2", &cfg).await.unwrap_err();
    assert_eq!(e.error_uri(), error::INVALID_CONFIGURATION);
    assert!(e.to_string().contains("not found"), "{e}");

    let host = router_host(&router, &rec, venv_python());
    // A class that does not exist.
    let bad =
        json!({"type": "class", "classname": "add2_twisted.Nope", "realm": REALM, "role": "app"});
    let e = host.start("c3", &bad).await.unwrap_err();
    assert_eq!(e.error_uri(), error::CLASS_IMPORT_FAILED, "{e}");
    assert!(e.to_string().contains("add2_twisted.Nope"), "{e}");
    // Config errors name the key; unknown realm or role are refused before anything runs.
    let e = host
        .start("c4", &json!({"type": "class", "realm": REALM}))
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), error::INVALID_CONFIGURATION);
    assert!(e.to_string().contains("classname"), "{e}");
    let e = host
        .start(
            "c5",
            &json!({"type": "class", "classname": "a.B", "realm": "nope"}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no realm \"nope\""), "{e}");
    let e = host
        .start(
            "c6",
            &json!({"type": "class", "classname": "a.B", "realm": REALM, "role": "x"}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no role \"x\""), "{e}");

    // The host keeps working: a good component starts after all that.
    host.start("c7", &cfg).await.expect("start after errors");

    // A component that crashes is failed, with its last output in the message.
    let crash = json!({"type": "class", "classname": "add2_twisted.Crashing", "realm": REALM,
                       "role": "app", "extra": {"prefix": "com.crash"}});
    host.start("c8", &crash)
        .await
        .expect("crashing component starts");
    rec.wait_for("c8 failed", |ev| {
        ev.iter().any(|e| matches!(e, HostEvent::Status { component_id, new: Status::Failed, .. } if component_id == "c8"))
    })
    .await;
    let failed = rec
        .events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            HostEvent::Status {
                component_id,
                new: Status::Failed,
                message,
                ..
            } if component_id == "c8" => message.clone(),
            _ => None,
        })
        .unwrap();
    assert!(
        failed.contains("exit code 3") && failed.contains("about to crash"),
        "{failed}"
    );
    assert!(host.get("c8").await.is_none());
    assert_eq!(host.shutdown().await, vec!["c7".to_string()]);
}

/// Builds the example component (once per test binary run) and returns its path.
fn echo_component() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(build_echo_component).clone()
}

fn build_echo_component() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/echo-component
    let path = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("echo-component");
    if path.exists() {
        // Built with every other binary by tests/run.sh.
        return path;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO"));
    // The whole workspace, as tests/run.sh builds it: one package alone resolves other
    // dependency features and would rebuild them (and the next workspace build again).
    cmd.args(["build", "--workspace", "--bins"])
        .current_dir(root);
    // The package variables cargo sets for this test would make build scripts that watch them
    // (ring's watches CARGO_MANIFEST_DIR) rerun, and the next plain build rerun them again.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR" {
            cmd.env_remove(k);
        }
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building echo-component failed");
    assert!(path.exists(), "{}", path.display());
    path
}

/// Calls `<prefix>.echo` until it answers (an exec component is `started` when its session
/// has joined; it registers right after), then waits for a heartbeat.
async fn check_echo(s: &Session, prefix: &str) {
    let mut answer = None;
    for _ in 0..100 {
        match s
            .call_simple(&format!("{prefix}.echo"), vec![Value::from("hi")])
            .await
        {
            Ok(v) => {
                answer = Some(v);
                break;
            }
            Err(e) if e.error == "wamp.error.no_such_procedure" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        answer.expect("echo registered within 5 s").as_str(),
        Some("hi")
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    s.subscribe(
        &format!("{prefix}.heartbeat"),
        SubscribeOptions::default(),
        move |e| {
            let _ = tx.try_send(e.args.first().and_then(|v| v.as_u64()));
        },
    )
    .await
    .unwrap();
    let beat = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a heartbeat within 5 s")
        .unwrap();
    assert!(beat.is_some_and(|n| n >= 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_router_component_over_stdio_and_url() {
    let exe = echo_component();
    let router = Router::new();
    router.start_realm(realm_config()).unwrap();
    let rec = Recorder::default();
    let host = router_host(&router, &rec, venv_python());
    let s = caller(&router).await;

    let cfg = json!({"type": "exec", "executable": exe, "arguments": ["com.rust"],
                     "realm": REALM, "role": "app"});
    let info = host.start("echo1", &cfg).await.expect("start exec");
    let realm = router.realm(REALM).unwrap();
    let h = realm.session(info.session.unwrap()).unwrap();
    assert_eq!(
        (h.identity.authid.as_str(), h.identity.authrole.as_str()),
        ("echo1", "app")
    );
    check_echo(&s, "com.rust").await;
    host.stop("echo1").await.expect("stop exec");
    let gone = s
        .call_simple("com.rust.echo", vec![Value::from("x")])
        .await
        .unwrap_err();
    assert_eq!(gone.error, "wamp.error.no_such_procedure");
    assert_eq!(rec.statuses("echo1"), lifecycle());
    assert!(
        rec.log_text().contains("joined realm realm1 as echo1/app"),
        "{}",
        rec.log_text()
    );

    // The same binary connecting by URL with its one-time ticket.
    let cfg = json!({"type": "exec", "executable": exe, "arguments": ["com.url"],
                     "realm": REALM, "role": "app", "link": "url"});
    host.start("echo2", &cfg).await.expect("start exec by url");
    check_echo(&s, "com.url").await;
    host.stop("echo2").await.expect("stop");
    assert_eq!(rec.statuses("echo2"), lifecycle());

    let e = host
        .start(
            "echo3",
            &json!({"type": "exec", "executable": "/nonexistent/bin", "realm": REALM}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), error::INVALID_CONFIGURATION);
    assert!(e.to_string().contains("not found"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_components_connect_with_ticket_auth() {
    let exe = echo_component();
    let dir = tempfile::tempdir().unwrap();
    let worker = RouterWorker::new(dir.path());
    worker
        .start_realm("realm001", realm_config())
        .await
        .unwrap();
    let addr = worker
        .start_transport(
            "transport001",
            json!({"type": "rawsocket", "serializers": ["msgpack", "json"],
                   "endpoint": {"type": "tcp", "port": 0, "interface": "127.0.0.1"},
                   "auth": {"ticket": {"type": "static", "principals": {
                       "joe": {"ticket": "s3cret", "role": "app"}}}}}),
        )
        .await
        .unwrap();
    let port = addr.port().unwrap();
    let transport = json!({"type": "rawsocket", "serializer": "msgpack",
                           "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": port}});

    let rec = Recorder::default();
    let mut opts = rec.attach(HostOptions::container(dir.path()));
    opts.python = python_settings(venv_python());
    opts.stop_grace = Duration::from_secs(3);
    opts.start_timeout = Duration::from_secs(30);
    opts.policy = Some(ContainerPolicy::from_options(&json!({})).unwrap());
    let host = ComponentHost::new(opts);
    let s = caller(worker.router()).await;

    let cfg = json!({"type": "class", "classname": "add2_asyncio.Add2", "realm": REALM,
                     "extra": {"prefix": "com.container"}, "transport": transport,
                     "auth": {"ticket": {"authid": "joe", "ticket": "s3cret"}}});
    host.start("cc1", &cfg)
        .await
        .expect("container class component");
    let r = s
        .call_simple(
            "com.container.add2",
            vec![Value::from(20i64), Value::from(22i64)],
        )
        .await
        .unwrap();
    assert_eq!(r.as_i64(), Some(42));
    let who = serde_json::Value::from(s.call_simple("com.container.whoami", vec![]).await.unwrap());
    assert_eq!(
        (who["authid"].as_str(), who["authrole"].as_str()),
        (Some("joe"), Some("app"))
    );
    host.stop("cc1").await.expect("stop");
    assert_eq!(rec.statuses("cc1"), lifecycle());
    assert!(s.call_simple("com.container.add2", vec![]).await.is_err());

    // A wrong ticket: the router refuses, the start fails readably.
    let mut wrong = cfg.clone();
    wrong["auth"]["ticket"]["ticket"] = json!("nope");
    let e = host.start("cc2", &wrong).await.unwrap_err();
    assert_eq!(e.error_uri(), error::CANNOT_START, "{e}");

    // The Rust example connecting through the same transport.
    let cfg = json!({"type": "exec", "executable": exe, "arguments": ["com.cexec"],
                     "realm": REALM, "transport": transport,
                     "auth": {"ticket": {"authid": "joe", "ticket": "s3cret"}}});
    host.start("cx1", &cfg)
        .await
        .expect("container exec component");
    // A container exec component is `started` once running; wait for its registration.
    let mut ok = false;
    for _ in 0..100 {
        if s.call_simple("com.cexec.echo", vec![Value::from("hi")])
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ok,
        "exec container component never registered: {}",
        rec.log_text()
    );
    host.stop("cx1").await.expect("stop");

    // restart-on-failed: a crashing component is started again.
    let crashing = json!({"type": "class", "classname": "add2_twisted.Crashing", "realm": REALM,
                          "extra": {"prefix": "com.restart"}, "transport": transport,
                          "auth": {"ticket": {"authid": "joe", "ticket": "s3cret"}}});
    let policy_host = |options: serde_json::Value, rec: &Recorder| {
        let mut opts = rec.attach(HostOptions::container(dir.path()));
        opts.python = python_settings(venv_python());
        opts.restart_delay = Duration::from_millis(100);
        opts.policy = Some(ContainerPolicy::from_options(&options).unwrap());
        ComponentHost::new(opts)
    };
    let rec2 = Recorder::default();
    let host = policy_host(json!({"restart": "restart-on-failed"}), &rec2);
    host.start("cr1", &crashing)
        .await
        .expect("crashing container component");
    rec2.wait_for("a restart after the crash", |ev| {
        ev.iter()
            .filter(|e| {
                matches!(
                    e,
                    HostEvent::Status {
                        new: Status::Started,
                        ..
                    }
                )
            })
            .count()
            >= 2
    })
    .await;
    let st = rec2.statuses("cr1");
    assert!(
        st.contains(&(Some(Status::Started), Status::Failed)),
        "{st:?}"
    );
    // Stop it between crashes (a restart may be in progress: retry briefly).
    let mut stopped = false;
    for _ in 0..100 {
        if host.stop("cr1").await.is_ok() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped, "{:?}", rec2.statuses("cr1"));

    // shutdown-on-last-component-stopped: the last one ending asks for the container's end
    // (before any restart, as in Crossbar.io).
    let rec3 = Recorder::default();
    let host = policy_host(
        json!({"restart": "restart-on-failed", "shutdown": "shutdown-on-last-component-stopped"}),
        &rec3,
    );
    host.start("cr2", &crashing).await.expect("start");
    rec3.wait_for("shutdown requested", |ev| {
        ev.iter()
            .any(|e| matches!(e, HostEvent::ShutdownRequested { .. }))
    })
    .await;
    assert!(host.list().await.is_empty());
    worker.shutdown().await;
}
