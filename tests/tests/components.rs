//! Components in real worker processes: an autobahn-python `class` component booted from the
//! config of a router worker, router components started and stopped through `node.sock` with
//! their events, the Rust example as an `exec` router component, a missing module failing
//! readably, and a container worker whose `class` component connects to a router worker's
//! RawSocket transport with cryptosign credentials. Clients are unmodified autobahn-python.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use router_core::uri::MatchPolicy;
use serde_json::{Value, json};
use tests::mgmt::{call, call_ok, connect, events, runtime, status_is, wait_event};
use tests::{Node, free_port, python, wait_port, workspace_root};

/// Bound for what runs autobahn-python here (`py_call`, component start-up); the helpers of
/// `tests::mgmt` have their own.
const WAIT: Duration = Duration::from_secs(30);

/// Ed25519 seed 00..1f and its public key (the container component's credentials).
const SEED: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const PUBKEY: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";

fn py_dir() -> PathBuf {
    workspace_root().join("tests/py")
}

fn id_is(id: &str) -> impl Fn(&[Value]) -> bool {
    let id = id.to_owned();
    move |a| a.first().is_some_and(|e| e["id"] == id)
}

/// Calls `proc_` with autobahn-python (`tests/py/call_once.py`); `Ok(result)` or
/// `Err(error uri)`. `auth` adds `--authid/--ticket`.
async fn py_call(port: u16, proc_: &str, args: Value) -> Result<Value, String> {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(py_dir().join("call_once.py"))
        .args(["--url", &format!("rs://127.0.0.1:{port}"), "--proc", proc_])
        .args(["--args", &args.to_string()])
        .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("call_once.py within the time limit")
        .expect("run call_once.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let answer: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("call_once.py {proc_}: {stdout}\n{stderr}"));
    match answer.get("error").and_then(Value::as_str) {
        Some(uri) if answer.get("args").is_some() => Err(uri.to_owned()),
        _ => Ok(answer),
    }
}

fn all_allowed() -> Value {
    json!({"call": true, "register": true, "publish": true, "subscribe": true})
}

fn realm1() -> Value {
    json!({"name": "realm1", "roles": [
        {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all_allowed()}]},
        {"name": "app", "permissions": [{"uri": "", "match": "prefix", "allow": all_allowed()}]}
    ]})
}

fn native_options() -> Value {
    json!({"python": python(), "pythonpath": [py_dir()]})
}

fn echo_component() -> PathBuf {
    tests::bin("echo-component")
}

/// Crossbar.io selects txaio's framework before it imports a component's module, so modules
/// that make a logger at import (`txaio.make_logger()`) load; and its components are Twisted
/// sessions. Both a Twisted and an asyncio component with such a logger boot here. A third
/// component fails in `onJoin`: the worker still opens its transports (as Crossbar.io's) and
/// reports that component failed.
#[test]
fn twisted_and_asyncio_components_with_loggers_made_at_import() {
    let rt = runtime();
    let port = free_port();
    let config = json!({"version": 2, "workers": [{
        "id": "router1", "type": "router", "options": native_options(),
        "realms": [realm1()],
        "components": [
            {"type": "class", "classname": "edge_twisted.Mul2", "realm": "realm1", "role": "app"},
            {"type": "class", "classname": "edge_app.FailsOnJoin", "realm": "realm1", "role": "app"},
            {"type": "class", "classname": "edge_app.Add2", "realm": "realm1", "role": "app",
             "extra": {"prefix": "com.asyncio"}}
        ],
        "transports": [{"type": "rawsocket", "serializers": ["msgpack", "json"],
                        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]
    }]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    rt.block_on(async {
        assert_eq!(
            py_call(port, "com.twisted.mul2", json!([6, 7])).await,
            Ok(json!(42)),
            "log:\n{}",
            node.log_text()
        );
        assert_eq!(
            py_call(port, "com.asyncio.add2", json!([2, 3])).await,
            Ok(json!(5)),
            "log:\n{}",
            node.log_text()
        );
        let s = connect(&node.cbdir()).await;
        let list = call_ok(&s, "crossbar.worker.router1.get_router_components", vec![]).await;
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(ids, ["component001", "component003"], "{list}");
    });
    let log = node.log_text();
    assert!(
        log.contains("component failed to start") && log.contains("fails on purpose"),
        "{log}"
    );
}

#[test]
fn router_components_boot_start_stop_exec_and_errors() {
    let rt = runtime();
    let port = free_port();
    let config = json!({"version": 2, "workers": [{
        "id": "router1", "type": "router", "options": native_options(),
        "realms": [realm1()],
        "components": [{"type": "class", "classname": "edge_app.Add2", "realm": "realm1",
                        "role": "app", "extra": {"prefix": "com.boot"}}],
        "transports": [{"type": "rawsocket", "serializers": ["msgpack", "json"],
                        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]
    }]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let cbdir = node.cbdir();
    rt.block_on(async {
        // (a) The component from the config runs, with its id, identity and extra.
        assert_eq!(
            py_call(port, "com.boot.add2", json!([2, 3])).await,
            Ok(json!(5))
        );
        let who = py_call(port, "com.boot.whoami", json!([])).await.unwrap();
        assert_eq!(
            (who["authid"].as_str(), who["authrole"].as_str()),
            (Some("component001"), Some("app")),
            "{who}"
        );
        let s = connect(&cbdir).await;
        let w = "crossbar.worker.router1";
        let list = call_ok(&s, &format!("{w}.get_router_components"), vec![]).await;
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
        assert_eq!(list[0]["id"], "component001");
        assert_eq!(list[0]["config"]["classname"], "edge_app.Add2");
        assert!(list[0]["created"].is_string(), "{list}");
        let one = call_ok(
            &s,
            &format!("{w}.get_router_component"),
            vec![json!("component001")],
        )
        .await;
        assert_eq!(one["status"], "started", "{one}");
        assert!(
            one["uptime"].is_number() && one["started"].is_string(),
            "{one}"
        );

        // (b) Started and stopped at runtime, with every event.
        let mut status = events(&s, &format!("{w}.on_component_status"), MatchPolicy::Exact).await;
        let mut start_ev = events(&s, &format!("{w}.on_component_start"), MatchPolicy::Exact).await;
        let mut ready_ev = events(&s, &format!("{w}.on_component_ready"), MatchPolicy::Exact).await;
        let mut stop_ev = events(&s, &format!("{w}.on_component_stop"), MatchPolicy::Exact).await;
        let cfg = json!({"type": "class", "classname": "edge_app.Add2", "realm": "realm1",
                         "role": "app", "extra": {"prefix": "com.rt"}});
        let started = call_ok(
            &s,
            &format!("{w}.start_router_component"),
            vec![json!("comp2"), cfg.clone()],
        )
        .await;
        assert_eq!(started["id"], "comp2", "{started}");
        wait_event(
            &mut status,
            "comp2 starting",
            status_is("comp2", "stopped", "starting"),
        )
        .await;
        wait_event(
            &mut status,
            "comp2 started",
            status_is("comp2", "starting", "started"),
        )
        .await;
        wait_event(&mut start_ev, "on_component_start", id_is("comp2")).await;
        wait_event(&mut ready_ev, "on_component_ready", id_is("comp2")).await;
        assert_eq!(
            py_call(port, "com.rt.add2", json!([20, 22])).await,
            Ok(json!(42))
        );
        let e = call(
            &s,
            &format!("{w}.start_router_component"),
            vec![json!("comp2"), cfg.clone()],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.already_running", "{e:?}");

        let r = call_ok(
            &s,
            &format!("{w}.stop_router_component"),
            vec![json!("comp2")],
        )
        .await;
        assert_eq!(r, Value::Null);
        wait_event(
            &mut status,
            "comp2 stopping",
            status_is("comp2", "started", "stopping"),
        )
        .await;
        wait_event(
            &mut status,
            "comp2 stopped",
            status_is("comp2", "stopping", "stopped"),
        )
        .await;
        wait_event(&mut stop_ev, "on_component_stop", id_is("comp2")).await;
        assert_eq!(
            py_call(port, "com.rt.add2", json!([1, 1])).await,
            Err("wamp.error.no_such_procedure".into())
        );
        let e = call(
            &s,
            &format!("{w}.stop_router_component"),
            vec![json!("comp2")],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_object", "{e:?}");
        let e = call(
            &s,
            &format!("{w}.get_router_component"),
            vec![json!("comp2")],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_object", "{e:?}");

        // (d) The Rust example as an `exec` router component.
        let exec = json!({"type": "exec", "executable": echo_component(),
                          "arguments": ["com.rust"], "realm": "realm1", "role": "app"});
        call_ok(
            &s,
            &format!("{w}.start_router_component"),
            vec![json!("echo1"), exec],
        )
        .await;
        let mut echoed = None;
        for _ in 0..100 {
            match py_call(port, "com.rust.echo", json!(["hi"])).await {
                Ok(v) => {
                    echoed = Some(v);
                    break;
                }
                Err(e) if e == "wamp.error.no_such_procedure" => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("com.rust.echo: {e}"),
            }
        }
        assert_eq!(echoed, Some(json!("hi")));

        // Live config (for save_config) holds every running component with its id.
        let live = call_ok(&s, &format!("{w}.get_live_config"), vec![]).await;
        let ids: Vec<&str> = live["components"]
            .as_array()
            .unwrap_or_else(|| panic!("{live}"))
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(ids, ["component001", "echo1"], "{live}");
        assert_eq!(live["options"]["pythonpath"][0], json!(py_dir()));

        // (e) A missing module: a readable crossbar.error.*, a failed status, the worker lives.
        let bad = json!({"type": "class", "classname": "no_such_module_xyz.App",
                         "realm": "realm1", "role": "app"});
        let e = call(
            &s,
            &format!("{w}.start_router_component"),
            vec![json!("bad1"), bad],
        )
        .await
        .unwrap_err();
        assert!(e.error.starts_with("crossbar.error."), "{e:?}");
        let msg = e.message().unwrap_or_default().to_owned();
        assert!(msg.contains("no_such_module_xyz"), "{e:?}");
        wait_event(
            &mut status,
            "bad1 failed",
            status_is("bad1", "starting", "failed"),
        )
        .await;
        let e = call(
            &s,
            &format!("{w}.start_router_component"),
            vec![json!("bad2"), json!({"type": "class", "realm": "realm1"})],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.invalid_configuration", "{e:?}");
        assert!(
            e.message().is_some_and(|m| m.contains("classname")),
            "{e:?}"
        );
        let wk = call_ok(&s, "crossbar.get_worker", vec![json!("router1")]).await;
        assert_eq!(wk["status"], "started", "{wk}");
        assert_eq!(
            py_call(port, "com.boot.add2", json!([1, 2])).await,
            Ok(json!(3))
        );

        // A component that crashes after joining is `failed`, with its last output.
        let crash = json!({"type": "class", "classname": "edge_app.Crashing", "realm": "realm1",
                           "role": "app", "extra": {"prefix": "com.crash"}});
        call_ok(
            &s,
            &format!("{w}.start_router_component"),
            vec![json!("crash1"), crash],
        )
        .await;
        wait_event(
            &mut status,
            "crash1 failed",
            status_is("crash1", "started", "failed"),
        )
        .await;
        let e = call(
            &s,
            &format!("{w}.get_router_component"),
            vec![json!("crash1")],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_object", "{e:?}");

        // Component output is in the worker's log.
        let log = call_ok(
            &s,
            "crossbar.get_worker_log",
            vec![json!("router1"), json!(1000)],
        )
        .await;
        let text = log.to_string();
        assert!(
            text.contains("edge_app.Add2 ready as component001")
                && text.contains("edge_app about to crash"),
            "component output not in the worker log: {text}"
        );
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}

#[test]
fn container_component_connects_with_cryptosign() {
    let rt = runtime();
    let port = free_port();
    let transport = json!({"type": "rawsocket", "serializer": "msgpack",
                           "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": port}});
    let mut container_options = native_options();
    container_options["shutdown"] = json!("shutdown-on-last-component-stopped");
    let config = json!({"version": 2, "workers": [
        {"id": "router1", "type": "router", "realms": [realm1()],
         "transports": [{"type": "rawsocket", "serializers": ["msgpack", "json"],
                         "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                         "auth": {"anonymous": {"type": "static", "role": "anonymous"},
                                  "cryptosign": {"type": "static", "principals": {
                                      "dev1": {"realm": "realm1", "role": "app",
                                               "authorized_keys": [PUBKEY]}}}}}]},
        {"id": "box1", "type": "container", "options": container_options,
         "components": [{"id": "cc1", "type": "class", "classname": "edge_app.Add2",
                         "realm": "realm1", "transport": transport,
                         "extra": {"prefix": "com.box"},
                         "auth": {"cryptosign": {"authid": "dev1", "privkey": SEED}}}]}
    ]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let cbdir = node.cbdir();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        // The container boots after the router; wait (bounded) until it is started.
        let deadline = Instant::now() + WAIT;
        loop {
            match call(&s, "crossbar.get_worker", vec![json!("box1")]).await {
                Ok(w) if w["status"] == "started" => break,
                _ if Instant::now() > deadline => {
                    panic!("container not started; log:\n{}", node.log_text())
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        assert_eq!(
            py_call(port, "com.box.add2", json!([40, 2])).await,
            Ok(json!(42))
        );
        let who = py_call(port, "com.box.whoami", json!([])).await.unwrap();
        assert_eq!(
            (who["authid"].as_str(), who["authrole"].as_str()),
            (Some("dev1"), Some("app")),
            "{who}"
        );
        let w = "crossbar.worker.box1";
        assert_eq!(
            call_ok(&s, &format!("{w}.get_components"), vec![]).await,
            json!(["cc1"])
        );
        let one = call_ok(&s, &format!("{w}.get_component"), vec![json!("cc1")]).await;
        assert_eq!(one["config"]["classname"], "edge_app.Add2", "{one}");
        let e = call(&s, &format!("{w}.get_component"), vec![json!("nope")])
            .await
            .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_object");

        // A second component at runtime, then both stopped: the last stop ends the container
        // (shutdown-on-last-component-stopped) cleanly.
        let mut status = events(&s, &format!("{w}.on_component_status"), MatchPolicy::Exact).await;
        let mut started_ev =
            events(&s, &format!("{w}.on_component_started"), MatchPolicy::Exact).await;
        let cfg = json!({"type": "class", "classname": "edge_app.Add2", "realm": "realm1",
                         "transport": transport, "extra": {"prefix": "com.box2"},
                         "auth": {"cryptosign": {"authid": "dev1", "privkey": SEED}}});
        let r = call_ok(&s, &format!("{w}.start_component"), vec![json!("cc2"), cfg]).await;
        assert_eq!(r["id"], "cc2", "{r}");
        wait_event(&mut started_ev, "on_component_started", |a| {
            a[0]["id"] == "cc2" && a[0]["config"]["extra"]["prefix"] == "com.box2"
        })
        .await;
        wait_event(
            &mut status,
            "cc2 started",
            status_is("cc2", "starting", "started"),
        )
        .await;
        assert_eq!(
            py_call(port, "com.box2.add2", json!([1, 2])).await,
            Ok(json!(3))
        );
        let stopped = call_ok(&s, &format!("{w}.stop_component"), vec![json!("cc2")]).await;
        assert_eq!(stopped["component_id"], "cc2", "{stopped}");
        assert!(stopped["uptime"].is_number(), "{stopped}");
        wait_event(
            &mut status,
            "cc2 stopped",
            status_is("cc2", "stopping", "stopped"),
        )
        .await;
        let pid = call_ok(&s, "crossbar.get_worker", vec![json!("box1")]).await["pid"]
            .as_u64()
            .unwrap();
        call_ok(&s, &format!("{w}.stop_component"), vec![json!("cc1")]).await;
        let deadline = Instant::now() + WAIT;
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
        {
            assert!(
                Instant::now() < deadline,
                "the container did not end after its last component; log:\n{}",
                node.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The router worker is unaffected.
        let r = call_ok(&s, "crossbar.get_worker", vec![json!("router1")]).await;
        assert_eq!(r["status"], "started", "{r}");
    });
    assert!(wait_port(port, Duration::from_secs(1)));
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}

#[test]
fn container_restart_policy_restarts_a_crashing_component() {
    let rt = runtime();
    let port = free_port();
    let transport = json!({"type": "rawsocket", "serializer": "msgpack",
                           "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": port}});
    let mut options = native_options();
    options["restart"] = json!("on-failure");
    let config = json!({"version": 2, "workers": [
        {"id": "router1", "type": "router", "realms": [realm1()],
         "transports": [{"type": "rawsocket", "serializers": ["msgpack"],
                         "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                         "auth": {"cryptosign": {"type": "static", "principals": {
                             "dev1": {"realm": "realm1", "role": "app",
                                      "authorized_keys": [PUBKEY]}}}}}]},
        {"id": "box2", "type": "container", "options": options}
    ]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let cbdir = node.cbdir();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        let deadline = Instant::now() + WAIT;
        loop {
            match call(&s, "crossbar.get_worker", vec![json!("box2")]).await {
                Ok(w) if w["status"] == "started" => break,
                _ if Instant::now() > deadline => {
                    panic!("container not started; log:\n{}", node.log_text())
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let w = "crossbar.worker.box2";
        let mut status = events(&s, &format!("{w}.on_component_status"), MatchPolicy::Exact).await;
        let crash = json!({"type": "class", "classname": "edge_app.Crashing", "realm": "realm1",
                           "transport": transport, "extra": {"prefix": "com.crashy"},
                           "auth": {"cryptosign": {"authid": "dev1", "privkey": SEED}}});
        call_ok(
            &s,
            &format!("{w}.start_component"),
            vec![json!("crashy"), crash],
        )
        .await;
        // restart-on-failed: it fails, and is started again.
        wait_event(
            &mut status,
            "crashy failed",
            status_is("crashy", "started", "failed"),
        )
        .await;
        wait_event(
            &mut status,
            "crashy restarted",
            status_is("crashy", "starting", "started"),
        )
        .await;
        // The container and the router are unaffected.
        for id in ["box2", "router1"] {
            let r = call_ok(&s, "crossbar.get_worker", vec![json!(id)]).await;
            assert_eq!(r["status"], "started", "{r}");
        }
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}

/// The config of a router with one `function` component (and the port it listens on).
fn function_component_config(port: u16, options: Value) -> Value {
    json!({"version": 2, "workers": [{
        "type": "router", "options": options,
        "realms": [realm1()],
        "components": [
            {"type": "function", "realm": "realm1", "role": "app", "extra": {"tag": "t1"},
             "callbacks": {"join": "edge_functions.on_join", "leave": "edge_functions.on_leave"}}
        ],
        "transports": [{"type": "rawsocket", "serializers": ["msgpack", "json"],
                        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]
    }]})
}

/// Calls the procedure the join callback registers, waiting (bounded) for it.
async fn call_function_component(port: u16, who: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match py_call(port, "com.function.muladd", json!([6, 7])).await {
            Ok(v) => {
                assert_eq!(v, json!([43, 1, "t1"]), "{who}; log:\n{}", log());
                return;
            }
            Err(e) => assert!(Instant::now() < deadline, "{who}: {e}; log:\n{}", log()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn function_components_answer_as_on_crossbar_io() {
    let Some(bin) = tests::crossbar::crossbar_bin() else {
        return;
    };
    let rt = runtime();
    let port = free_port();
    // Crossbar.io runs its router with its own Python; the module comes from PYTHONPATH.
    let config = function_component_config(port, json!({"pythonpath": [py_dir()]}));
    let cb = tests::crossbar::Crossbar::start(&bin, &config.to_string(), &[port]);
    rt.block_on(call_function_component(port, "Crossbar.io", || {
        cb.log_text()
    }));
    drop(cb);

    let port = free_port();
    let config = function_component_config(port, native_options());
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    rt.block_on(call_function_component(port, "crossbar-edge", || {
        node.log_text()
    }));
}

/// Container components reach a router over TLS as Crossbar.io's do (`endpoint.tls`:
/// `ca_certificates`, `hostname`, a client `certificate` and `key`): an asyncio and a Twisted
/// component join through a WebSocket transport that requires client certificates of its CA;
/// one without a client certificate fails to start, and says why.
#[test]
fn container_components_connect_over_tls_with_client_certificates() {
    let rt = runtime();
    let certs = tempfile::tempdir().unwrap();
    let ca = tests::certs::TestCa::new(certs.path(), "ca", "Test CA");
    let server = ca.issue("server", "localhost");
    let client = ca.issue("box", "box1");
    let ca_file = certs.path().join("ca.pem");
    let (tls_port, port) = (free_port(), free_port());
    let tls = |with_cert: bool| {
        let mut t = json!({"ca_certificates": [ca_file], "hostname": "localhost"});
        if with_cert {
            t["certificate"] = json!(client.cert);
            t["key"] = json!(client.key);
        }
        json!({"type": "websocket", "url": format!("wss://localhost:{tls_port}/ws"),
               "serializers": ["cbor"],
               "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": tls_port, "tls": t}})
    };
    let component = |classname: &str, prefix: &str, with_cert: bool| {
        json!({"type": "class", "classname": classname, "realm": "realm1",
               "extra": {"prefix": prefix}, "transport": tls(with_cert)})
    };
    let config = json!({"version": 2, "workers": [
        {"id": "router1", "type": "router", "realms": [realm1()],
         "transports": [
            {"type": "websocket",
             "endpoint": {"type": "tcp", "port": tls_port, "interface": "127.0.0.1",
                          "tls": {"certificate": server.cert, "key": server.key,
                                  "ca_certificates": [ca_file]}}},
            {"type": "rawsocket", "serializers": ["msgpack", "json"],
             "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]},
        {"id": "box1", "type": "container", "options": native_options(),
         "components": [
            component("edge_app.Add2", "com.tls", true),
            component("edge_twisted.Mul2", "unused", true)]}
    ]});
    let (ok, text) = tests::check_config(&config.to_string());
    assert!(ok, "check refused the config: {text}");
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[tls_port, port]);
    rt.block_on(async {
        let deadline = Instant::now() + WAIT;
        loop {
            match py_call(port, "com.tls.add2", json!([40, 2])).await {
                Ok(v) => {
                    assert_eq!(v, json!(42));
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("com.tls.add2: {e}; log:\n{}", node.log_text()),
            }
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match py_call(port, "com.twisted.mul2", json!([6, 7])).await {
                Ok(v) => {
                    assert_eq!(v, json!(42));
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("com.twisted.mul2: {e}; log:\n{}", node.log_text()),
            }
        }
        // Without a client certificate the router refuses the connection: the start fails
        // with the TLS alert, and the container goes on.
        let s = connect(&node.cbdir()).await;
        let e = call(
            &s,
            "crossbar.worker.box1.start_component",
            vec![
                json!("nocert"),
                component("edge_app.Add2", "com.nocert", false),
            ],
        )
        .await
        .unwrap_err();
        let text = format!("{} {:?}", e.error, e.args);
        // The reason is the TLS alert (certificate required); on a loaded machine the
        // client can see the connection reset before it reads the alert.
        assert!(
            text.contains("closed before the session opened")
                && (text.contains("certificate") || text.contains("reset")),
            "{text}"
        );
        assert_eq!(
            py_call(port, "com.tls.add2", json!([1, 1])).await,
            Ok(json!(2))
        );
    });
}
