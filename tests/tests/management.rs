//! Issue 3's acceptance tests for the management API, with real processes: a router worker
//! built call by call from node.sock (realm, role, grants, Web transport and services) serving
//! an autobahn client as its grants allow, live grant revocation, every status event, the
//! worker's CPU affinity on all its threads, a CPU profile of a busy worker, and `save_config`
//! bringing the runtime-built worker back after a node restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use router_core::client::{JoinOptions, RegisterOptions, Session};
use router_core::transport::ws_client::{self, WsClientOptions};
use router_core::uri::MatchPolicy;
use router_core::{Dict, Payload, Value as WampValue};
use serde_json::{Value, json};
use tests::mgmt::{WAIT, call, call_ok, connect, events, runtime, wait_event};
use tests::{Node, free_port, python, wait_port, workspace_root};

const W: &str = "crossbar.worker.router1";

/// Every event published under `crossbar.` as (topic, args), recorded by a subscriber of its
/// own (Crossbar.io's events leave out the session that made the change).
#[derive(Clone, Default)]
struct EventLog(Arc<Mutex<Vec<Recorded>>>);

/// One event: its topic and args.
type Recorded = (String, Vec<Value>);

impl EventLog {
    async fn record(cbdir: &std::path::Path) -> (Session, EventLog) {
        let s = connect(cbdir).await;
        let mut rx = events(&s, "crossbar.", MatchPolicy::Prefix).await;
        let log = EventLog::default();
        let sink = log.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let topic = ev.topic().unwrap_or_default().to_owned();
                let args = ev.args.into_iter().map(Value::from).collect();
                sink.0.lock().unwrap().push((topic, args));
            }
        });
        (s, log)
    }

    /// Waits (bounded) for an event on `topic` whose args are `args`.
    async fn expect(&self, topic: &str, args: Value) {
        let args = args.as_array().expect("args list").clone();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|(t, a)| t == topic && *a == args)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no event {topic}{args:?}; got:\n{}",
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|(t, a)| format!("  {t} {}", Value::Array(a.clone())))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Waits for an event on `topic` whose first argument has `key` = `value`.
    async fn expect_with(&self, topic: &str, key: &str, value: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|(t, a)| t == topic && a.first().is_some_and(|v| v[key] == value))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no event {topic} with {key} = {value}");
    }

    /// Expects `on_<kind>_status` through `starting` to `started` (or `stopping` → `stopped`).
    async fn expect_transitions(&self, topic: &str, ids: &[&str], states: &[&str]) {
        for pair in states.windows(2) {
            let mut args: Vec<Value> = ids.iter().map(|i| json!(i)).collect();
            args.push(json!(pair[0]));
            args.push(json!(pair[1]));
            self.expect(topic, Value::Array(args)).await;
        }
    }
}

const UP: [&str; 3] = ["stopped", "starting", "started"];
const DOWN: [&str; 3] = ["started", "stopping", "stopped"];

fn rpc_grant() -> Value {
    json!({"uri": "app.rpc.", "match": "prefix", "allow": {"call": true, "register": true}})
}

fn topic_grant() -> Value {
    json!({"uri": "app.topic.", "match": "prefix", "allow": {"publish": true, "subscribe": true}})
}

/// A running `tests/py/grants.py`, its stdout lines on a channel.
struct GrantsClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std_mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl GrantsClient {
    fn start(port: u16, wait_revoke: bool) -> GrantsClient {
        let mut cmd = Command::new(python());
        cmd.arg(workspace_root().join("tests/py/grants.py"))
            .args([
                "--url",
                &format!("ws://127.0.0.1:{port}/ws"),
                "--serializer",
            ])
            .arg("msgpack")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if wait_revoke {
            cmd.arg("--wait-revoke");
        }
        let mut child = cmd.spawn().expect("run grants.py");
        let (tx, lines) = std_mpsc::channel();
        for out in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let stdin = child.stdin.take();
        GrantsClient {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for the line `want`; fails on the script's `FAIL` or its end.
    fn wait_line(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    println!("grants.py: {line}");
                    let done = line == want;
                    let failed = line.starts_with("FAIL") || line.starts_with("Traceback");
                    self.seen.push(line);
                    if done {
                        return;
                    }
                    if failed {
                        // Collect the rest of a traceback before failing.
                        std::thread::sleep(Duration::from_millis(200));
                        self.seen.extend(self.lines.try_iter());
                        panic!("grants.py failed:\n{}", self.seen.join("\n"));
                    }
                }
                Err(_) => panic!(
                    "grants.py: no {want:?} in time; output:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) {
        self.wait_line("DONE");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "grants.py: {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("grants.py did not exit");
    }
}

impl Drop for GrantsClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` on 127.0.0.1:`port`; the status code and body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn a_router_worker_built_over_node_sock_applies_its_grants_live_and_survives_a_restart() {
    let rt = runtime();
    let mut node = Node::start(r#"{"version": 2}"#, &[]);
    let cbdir = node.cbdir();
    let port = free_port();
    let (admin, watch, log) = rt.block_on(async {
        let (watch, log) = EventLog::record(&cbdir).await;
        let s = connect(&cbdir).await;

        // Crossbar.io's start_worker: an id, a type and the worker's options only.
        let info = call_ok(
            &s,
            "crossbar.start_worker",
            vec![
                json!("router1"),
                json!("router"),
                json!({"restart": "never"}),
            ],
        )
        .await;
        assert_eq!(info["status"], "started", "{info}");
        assert_eq!(
            call_ok(&s, &format!("{W}.get_router_realms"), vec![]).await,
            json!([])
        );

        let realm = call_ok(
            &s,
            &format!("{W}.start_router_realm"),
            vec![json!("realm1"), json!({"name": "realm1"})],
        )
        .await;
        assert_eq!(realm["id"], "realm1", "{realm}");
        let role = call_ok(
            &s,
            &format!("{W}.start_router_realm_role"),
            vec![
                json!("realm1"),
                json!("role1"),
                json!({"name": "anonymous", "permissions": []}),
            ],
        )
        .await;
        assert_eq!(role["name"], "anonymous", "{role}");
        for (id, grant) in [("rpc", rpc_grant()), ("topics", topic_grant())] {
            let g = call_ok(
                &s,
                &format!("{W}.start_router_realm_role_grant"),
                vec![json!("realm1"), json!("role1"), json!(id), grant],
            )
            .await;
            assert_eq!(
                (g["id"].as_str(), g["status"].as_str()),
                (Some(id), Some("started"))
            );
        }
        assert_eq!(
            call_ok(
                &s,
                &format!("{W}.get_router_realm_role_grants"),
                vec![json!("realm1"), json!("role1")]
            )
            .await,
            json!(["rpc", "topics"])
        );

        let transport = json!({
            "type": "web",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
            "paths": {"/": {"type": "static", "directory": "../web"}}
        });
        let t = call_ok(
            &s,
            &format!("{W}.start_router_transport"),
            vec![json!("transport1"), transport],
        )
        .await;
        assert_eq!(t["status"], "started", "{t}");
        for (path, service) in [
            (
                "ws",
                json!({"type": "websocket", "serializers": ["json", "msgpack"]}),
            ),
            ("info", json!({"type": "json", "value": {"node": "edge"}})),
        ] {
            call_ok(
                &s,
                &format!("{W}.start_web_transport_service"),
                vec![json!("transport1"), json!(path), service],
            )
            .await;
        }
        let mut paths = call_ok(
            &s,
            &format!("{W}.get_web_transport_services"),
            vec![json!("transport1")],
        )
        .await;
        paths.as_array_mut().unwrap().sort_by_key(|p| p.to_string());
        assert_eq!(paths, json!(["/", "info", "ws"]));
        (s, watch, log)
    });
    assert!(wait_port(port, WAIT));
    let (code, body) = http_get(port, "/");
    assert_eq!(code, 200);
    assert!(body.contains("hello from crossbar-edge"), "{body}");
    let (code, body) = http_get(port, "/info");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"node": "edge"})
    );

    // The client's rights are the grants; stopping one denies the next call on a live session.
    let mut client = GrantsClient::start(port, true);
    client.wait_line("READY");
    rt.block_on(async {
        let g = call_ok(
            &admin,
            &format!("{W}.stop_router_realm_role_grant"),
            vec![json!("realm1"), json!("role1"), json!("rpc")],
        )
        .await;
        assert_eq!(g["status"], "stopped", "{g}");
        let e = call(
            &admin,
            &format!("{W}.get_router_realm_role_grant"),
            vec![json!("realm1"), json!("role1"), json!("rpc")],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_object", "{e:?}");
    });
    client.send("revoked");
    client.finish();

    // A stopped Web service leaves its path at once (and the saved config).
    rt.block_on(async {
        call_ok(
            &admin,
            &format!("{W}.stop_web_transport_service"),
            vec![json!("transport1"), json!("info")],
        )
        .await;
    });
    assert_eq!(http_get(port, "/info").0, 404);

    rt.block_on(async {
        // Every status change was announced, in our names and Crossbar.io's.
        log.expect_transitions("crossbar.on_worker_status", &["router1"], &UP)
            .await;
        log.expect_with("crossbar.on_router_started", "id", "router1")
            .await;
        let t = |e: &str| format!("{W}.{e}");
        log.expect_transitions(&t("on_realm_status"), &["realm1"], &UP)
            .await;
        log.expect_with(&t("on_realm_started"), "id", "realm1")
            .await;
        log.expect_transitions(&t("on_role_status"), &["realm1", "role1"], &UP)
            .await;
        log.expect_with(&t("on_router_realm_role_started"), "id", "role1")
            .await;
        for grant in ["rpc", "topics"] {
            log.expect_transitions(&t("on_grant_status"), &["realm1", "role1", grant], &UP)
                .await;
        }
        log.expect_transitions(&t("on_grant_status"), &["realm1", "role1", "rpc"], &DOWN)
            .await;
        log.expect_transitions(&t("on_transport_status"), &["transport1"], &UP)
            .await;
        log.expect(
            &t("on_router_transport_starting"),
            json!([{"id": "transport1"}]),
        )
        .await;
        log.expect(
            &t("on_router_transport_started"),
            json!([{"id": "transport1"}]),
        )
        .await;
        for path in ["/", "ws", "info"] {
            log.expect_transitions(&t("on_web_service_status"), &["transport1", path], &UP)
                .await;
        }
        for path in ["ws", "info"] {
            log.expect(
                &t("on_web_transport_service_starting"),
                json!(["transport1", path]),
            )
            .await;
        }
        log.expect_transitions(&t("on_web_service_status"), &["transport1", "info"], &DOWN)
            .await;
        log.expect(
            &t("on_web_transport_service_stopped"),
            json!(["transport1", "info", {"transport_id": "transport1", "path": "info"}]),
        )
        .await;

        // Back to the full rights, then saved: the restart must bring this state back.
        call_ok(
            &admin,
            &format!("{W}.start_router_realm_role_grant"),
            vec![json!("realm1"), json!("role1"), json!("rpc"), rpc_grant()],
        )
        .await;
        let saved = call_ok(&admin, "crossbar.save_config", vec![]).await;
        assert_eq!(saved["workers"], json!(["router1"]), "{saved}");
        drop((admin, watch));
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
    let text = std::fs::read_to_string(cbdir.join("config.json")).unwrap();
    println!("saved config:\n{text}");

    node.restart(&[]);
    assert!(wait_port(port, WAIT), "log:\n{}", node.log_text());
    rt.block_on(async {
        let s = connect(&cbdir).await;
        assert_eq!(
            call_ok(&s, "crossbar.get_workers", vec![]).await,
            json!(["router1"])
        );
        // The port opens while the worker boots; it is `started` once it reported ready.
        let deadline = Instant::now() + WAIT;
        loop {
            let w = call_ok(&s, "crossbar.get_worker", vec![json!("router1")]).await;
            if w["status"] == "started" {
                break;
            }
            assert!(Instant::now() < deadline, "not started: {w}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let realms = call_ok(&s, &format!("{W}.get_router_realms"), vec![]).await;
        assert_eq!(realms, json!(["realm1"]), "{realms}");
        let roles = call_ok(
            &s,
            &format!("{W}.get_router_realm_roles"),
            vec![json!("realm1")],
        )
        .await;
        assert_eq!(roles[0]["id"], "role1", "{roles}");
        let mut grants = call_ok(
            &s,
            &format!("{W}.get_router_realm_role_grants"),
            vec![json!("realm1"), json!("role1")],
        )
        .await;
        grants
            .as_array_mut()
            .unwrap()
            .sort_by_key(|g| g.to_string());
        assert_eq!(grants, json!(["rpc", "topics"]));
        let transports = call_ok(&s, &format!("{W}.get_router_transports"), vec![]).await;
        assert_eq!(transports[0]["id"], "transport1", "{transports}");
    });
    let (code, body) = http_get(port, "/");
    assert_eq!(
        (code, body.contains("crossbar-edge")),
        (200, true),
        "{body}"
    );
    assert_eq!(
        http_get(port, "/info").0,
        404,
        "a stopped service stays stopped"
    );
    GrantsClient::start(port, false).finish();
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}

/// The CPUs the kernel lets `task` run on (`Cpus_allowed_list` of its status file).
fn cpus_allowed(status_file: &std::path::Path) -> Option<String> {
    let status = std::fs::read_to_string(status_file).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_owned())
}

/// `Cpus_allowed_list` of every thread of `pid`.
fn thread_cpus(pid: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        if let Some(cpus) = cpus_allowed(&e.path().join("status")) {
            out.push((e.file_name().to_string_lossy().into_owned(), cpus));
        }
    }
    out
}

/// Joins `realm1` over WebSocket on `port`.
async fn ws_session(port: u16) -> Session {
    let url = format!("ws://127.0.0.1:{port}/");
    let c = tokio::time::timeout(WAIT, ws_client::connect(&url, &WsClientOptions::default()))
        .await
        .expect("ws connect in time")
        .expect("ws connect");
    tokio::time::timeout(
        WAIT,
        Session::join_wire(
            c.negotiated.codec,
            c.reader,
            c.writer,
            JoinOptions::realm("realm1"),
        ),
    )
    .await
    .expect("join in time")
    .expect("join")
}

#[test]
fn cpu_affinity_applies_to_every_thread_and_a_busy_worker_profiles_router_functions() {
    let rt = runtime();
    let port = free_port();
    let config = json!({
        "version": 2,
        "workers": [{
            "id": "router1", "type": "router",
            "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
                {"uri": "", "match": "prefix",
                 "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
            "transports": [{"type": "websocket",
                            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]
        }]
    });
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let cbdir = node.cbdir();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        let mut limit_events = events(&s, &format!("{W}.on_limit_set"), MatchPolicy::Exact).await;
        let w = call_ok(&s, "crossbar.get_worker", vec![json!("router1")]).await;
        let pid = w["pid"].as_u64().unwrap_or_else(|| panic!("no pid: {w}"));
        let info = call_ok(&s, &format!("{W}.get_process_info"), vec![]).await;
        assert_eq!(info["pid"].as_u64(), Some(pid), "{info}");

        // Relative to the CPUs the worker may use: CPU 0 is the first of them.
        let allowed = call_ok(&s, &format!("{W}.get_cpu_affinity"), vec![]).await;
        let first = allowed[0].as_u64().unwrap_or_else(|| panic!("{allowed}"));
        let set = call_ok(&s, &format!("{W}.set_cpu_affinity"), vec![json!([0])]).await;
        assert_eq!(set, json!([first]), "{set}");
        wait_event(&mut limit_events, "on_limit_set", |a| {
            a[0] == "cpu_affinity"
        })
        .await;
        let threads = thread_cpus(pid);
        assert!(threads.len() > 1, "a multi-threaded worker: {threads:?}");
        let want = first.to_string();
        assert!(
            threads.iter().all(|(_, cpus)| *cpus == want),
            "every thread on CPU {want}: {threads:?}"
        );
        assert_eq!(
            call_ok(&s, &format!("{W}.get_cpu_affinity"), vec![]).await,
            json!([first])
        );

        // A busy worker: callers hammer a procedure through it while it is profiled.
        let callee = ws_session(port).await;
        callee
            .register(
                "app.load.echo",
                RegisterOptions::default(),
                |inv| async move { Ok(Payload::new(inv.args, Dict::new())) },
            )
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let mut load = Vec::new();
        for _ in 0..4 {
            let caller = ws_session(port).await;
            let (stop, calls) = (stop.clone(), calls.clone());
            load.push(tokio::spawn(async move {
                let payload = vec![WampValue::from("x".repeat(64)); 4];
                while !stop.load(Ordering::Relaxed) {
                    caller
                        .call(
                            "app.load.echo",
                            payload.clone(),
                            Dict::new(),
                            Default::default(),
                        )
                        .await
                        .expect("load call");
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let profile = tokio::time::timeout(
            WAIT,
            call(
                &s,
                &format!("{W}.start_profiler"),
                vec![json!("pprof"), json!(2), json!(false)],
            ),
        )
        .await
        .expect("profile in time")
        .unwrap_or_else(|e| panic!("start_profiler: {e:?}"));
        stop.store(true, Ordering::Relaxed);
        for l in load {
            tokio::time::timeout(WAIT, l)
                .await
                .expect("load stops")
                .unwrap();
        }
        let n = calls.load(Ordering::Relaxed);
        println!("{n} calls while profiling");
        assert!(n > 100, "the worker was busy: {n} calls");

        assert_eq!(profile["status"], "stopped", "{}", profile["status"]);
        let svg = profile["flamegraph"].as_str().expect("a flamegraph");
        assert!(svg.contains("<svg"), "an SVG");
        assert!(
            svg.contains("router_core"),
            "router functions in the flamegraph"
        );
        let folded = profile["folded"].as_str().expect("folded stacks");
        assert!(
            folded.contains("router_core"),
            "router functions in the folded stacks"
        );
        let id = profile["id"].as_str().unwrap();
        let listed = call_ok(&s, &format!("{W}.get_profiles"), vec![]).await;
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p[0] == id && p[1] == "stopped"),
            "{listed}"
        );
        let again = call_ok(&s, &format!("{W}.get_profile"), vec![json!(id)]).await;
        assert_eq!(again["flamegraph"].as_str(), Some(svg));
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}
