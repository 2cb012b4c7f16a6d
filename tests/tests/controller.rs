//! The node controller with real worker processes, driven through `<cbdir>/node.sock` with
//! router-core's client: starting workers at runtime, guest output in the log and on
//! `on_log`, failure and restart, no orphans, `save_config` across a restart, error URIs.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use router_core::uri::MatchPolicy;
use serde_json::{Value, json};
use tests::mgmt::{WAIT, call, call_ok, connect, events, runtime, status_is, wait_event};
use tests::procs::{alive, group_members, wait_gone};
use tests::{Node, assert_py_ok, free_port, run_py, wait_port};

fn router_item(port: u16, restart: &str) -> Value {
    json!({
        "type": "router",
        "options": {"restart": restart},
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
            {"uri": "", "match": "prefix",
             "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                        "serializers": ["json", "msgpack"]}]
    })
}

fn pid_of(info: &Value) -> u64 {
    info["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid in {info}"))
}

#[test]
fn router_worker_started_at_runtime_serves_clients_and_survives_save_and_restart() {
    let rt = runtime();
    let mut node = Node::start(r#"{"version": 2}"#, &[]);
    let cbdir = node.cbdir();
    let port = free_port();
    let pid = rt.block_on(async {
        let s = connect(&cbdir).await;
        let mut status = events(&s, "crossbar.on_worker_status", MatchPolicy::Exact).await;
        let mut started = events(&s, "crossbar.on_router_started", MatchPolicy::Exact).await;
        let info = call_ok(
            &s,
            "crossbar.start_worker",
            vec![
                json!("router1"),
                json!("router"),
                router_item(port, "never"),
            ],
        )
        .await;
        assert_eq!(info["status"], "started", "{info}");
        wait_event(
            &mut status,
            "starting",
            status_is("router1", "stopped", "starting"),
        )
        .await;
        wait_event(
            &mut status,
            "started",
            status_is("router1", "starting", "started"),
        )
        .await;
        let ev = wait_event(&mut started, "on_router_started", |a| {
            a[0]["id"] == "router1"
        })
        .await;
        assert_eq!(ev[0]["pid"], info["pid"]);

        // The worker is a child process of the node, with its own pid.
        let pid = pid_of(&info);
        assert_ne!(pid, node.child.id() as u64);
        assert!(alive(pid));
        assert_eq!(
            call_ok(&s, "crossbar.get_workers", vec![]).await,
            json!(["router1"])
        );
        let w = call_ok(&s, "crossbar.get_worker", vec![json!("router1")]).await;
        assert_eq!(
            (w["type"].as_str(), w["status"].as_str()),
            (Some("router"), Some("started"))
        );

        // Errors are crossbar.error.* URIs with a message.
        let e = call(
            &s,
            "crossbar.start_worker",
            vec![json!("router1"), json!("router"), json!({})],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.worker_already_running", "{e:?}");
        assert!(e.message().is_some_and(|m| m.contains("router1")), "{e:?}");
        let e = call(&s, "crossbar.stop_worker", vec![json!("nope")])
            .await
            .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_worker");
        let e = call(&s, "crossbar.get_worker_log", vec![json!("nope")])
            .await
            .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_worker");
        let bad = router_item(port, "never");
        let mut bad = bad.clone();
        bad["realms"][0]["roles"][0]["permissions"][0]["match"] = json!("sometimes");
        let e = call(
            &s,
            "crossbar.start_worker",
            vec![json!("router2"), json!("router"), bad],
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "crossbar.error.invalid_configuration", "{e:?}");
        let e = call(&s, "crossbar.upload_config", vec![json!({"version": 3})])
            .await
            .unwrap_err();
        assert_eq!(e.error, "crossbar.error.invalid_configuration", "{e:?}");

        let saved = call_ok(&s, "crossbar.save_config", vec![]).await;
        assert_eq!(saved["workers"], json!(["router1"]), "{saved}");
        let text = call_ok(&s, "crossbar.download_config", vec![]).await;
        let on_disk: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
        assert_eq!(on_disk["workers"][0]["id"], "router1");
        assert_eq!(
            on_disk["workers"][0]["transports"][0]["endpoint"]["port"],
            port
        );
        pid
    });
    assert!(wait_port(port, WAIT));
    let out = run_py(
        "interop.py",
        &[
            "--url",
            &format!("ws://127.0.0.1:{port}"),
            "--serializer",
            "msgpack",
            "--scenario",
            "all",
        ],
    );
    assert_py_ok(&out, "autobahn against a worker started at runtime");

    // SIGTERM: exit 0, the worker is gone; the saved config brings it back.
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
    wait_gone(&[pid]);
    assert!(!cbdir.join("node.sock").exists());
    node.restart(&[]);
    assert!(wait_port(port, WAIT), "log:\n{}", node.log_text());
    rt.block_on(async {
        let s = connect(&cbdir).await;
        assert_eq!(
            call_ok(&s, "crossbar.get_workers", vec![]).await,
            json!(["router1"])
        );
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}

#[test]
fn guest_output_is_in_the_log_and_on_on_log() {
    let rt = runtime();
    let mut node = Node::start(r#"{"version": 2}"#, &[]);
    let cbdir = node.cbdir();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        let mut log = events(&s, "crossbar.worker.guest1.on_log", MatchPolicy::Exact).await;
        let item = json!({
            "type": "guest",
            "executable": "/bin/sh",
            "arguments": ["-c", "echo hello-from-guest; echo \"$GREETING\" >&2; sleep 30"],
            "options": {"env": {"inherit": ["PATH"], "vars": {"GREETING": "hi-on-stderr"}}}
        });
        let info = call_ok(
            &s,
            "crossbar.start_worker",
            vec![json!("guest1"), json!("guest"), item],
        )
        .await;
        assert_eq!(info["status"], "started", "{info}");
        let pid = pid_of(&info);
        // stdout and stderr are separate pipes: their lines may arrive in either order.
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let ev = wait_event(&mut log, "guest output", |a| {
                a[0]["text"] == "hello-from-guest" || a[0]["text"] == "hi-on-stderr"
            })
            .await;
            assert_eq!(ev[0]["worker"], "guest1");
            assert_eq!(ev[0]["pid"].as_u64(), Some(pid));
            assert!(
                ev[0]["time"].is_string() && ev[0]["level"].is_string(),
                "{ev:?}"
            );
            seen.push(ev[0]["text"].as_str().unwrap().to_owned());
        }
        seen.sort();
        assert_eq!(seen, ["hello-from-guest", "hi-on-stderr"]);

        let all = call_ok(&s, "crossbar.get_worker_log", vec![json!("guest1")]).await;
        let texts: Vec<&str> = all
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["text"].as_str())
            .collect();
        assert!(texts.contains(&"hello-from-guest"), "{all}");
        assert!(texts.contains(&"hi-on-stderr"), "{all}");
        let one = call_ok(
            &s,
            "crossbar.get_worker_log",
            vec![json!("guest1"), json!(1)],
        )
        .await;
        assert_eq!(one.as_array().unwrap().len(), 1, "limit honoured: {one}");

        // stop_worker returns after the process (and its `sleep`) is gone.
        let stopped = call_ok(&s, "crossbar.stop_worker", vec![json!("guest1")]).await;
        assert_eq!(stopped["id"], "guest1");
        assert!(!alive(pid));
        assert!(
            group_members(pid).is_empty(),
            "the guest's children are stopped too"
        );
        let e = call(&s, "crossbar.get_worker", vec![json!("guest1")])
            .await
            .unwrap_err();
        assert_eq!(e.error, "crossbar.error.no_such_worker");
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}

/// Waits (bounded) until `worker` logged the line `text`; fails at once if it failed.
async fn wait_log_line(s: &router_core::client::Session, worker: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = call_ok(s, "crossbar.get_worker_log", vec![json!(worker)]).await;
        if log
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r["text"] == text))
        {
            return;
        }
        let info = call_ok(s, "crossbar.get_worker", vec![json!(worker)]).await;
        assert_ne!(
            info["status"], "failed",
            "{worker} failed before \"{text}\": {log}"
        );
        assert!(
            Instant::now() < deadline,
            "{worker} did not log \"{text}\": {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `"executable": "<name>"` is looked up on the node's `PATH`, also when the guest inherits
/// no environment (Crossbar.io's `which`): the guest's own environment has no `PATH` then.
#[test]
fn a_guest_executable_is_found_on_the_nodes_path() {
    let rt = runtime();
    let bin_dir = tempfile::tempdir().unwrap();
    let probe = bin_dir.path().join("edge-guest-probe");
    std::fs::write(&probe, "#!/bin/sh\necho guest-probe-ran\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config = json!({"version": 2, "workers": [
        {"id": "guest1", "type": "guest", "executable": "edge-guest-probe",
         "options": {"env": {"inherit": false}}}
    ]});
    let node = Node::start(&config.to_string(), &[("PATH", path)]);
    let cbdir = node.cbdir();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        wait_log_line(&s, "guest1", "guest-probe-ran").await;
        let info = call_ok(&s, "crossbar.get_worker", vec![json!("guest1")]).await;
        assert_eq!(info["status"], "started", "{info}");
    });
}

/// Crossbar.io starts a config's workers one after another, each running before the next:
/// a guest listed after a router finds the router's transport listening, even when the
/// router boots a Python component first (Crossbar.io's shared-registration example: guest
/// callees after the router).
#[test]
fn config_workers_start_in_order_each_ready_before_the_next() {
    let rt = runtime();
    let port = free_port();
    let py_dir = tests::workspace_root().join("tests/py");
    let connect_once = format!(
        "import socket, time\n\
         socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n\
         print('guest connected', flush=True)\n\
         time.sleep(30)\n"
    );
    let config = json!({"version": 2, "workers": [
        {"id": "router1", "type": "router",
         "options": {"python": tests::python(), "pythonpath": [py_dir]},
         "realms": [{"name": "realm1", "roles": [{"name": "app", "permissions": [
             {"uri": "", "match": "prefix", "allow": {"register": true, "call": true}}]}]}],
         "components": [{"type": "class", "classname": "edge_app.Add2", "realm": "realm1", "role": "app"}],
         "transports": [{"type": "rawsocket", "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]},
        {"id": "guest1", "type": "guest", "executable": tests::python(),
         "arguments": ["-c", connect_once], "options": {"restart": "never"}}
    ]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let cbdir = node.cbdir();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        wait_log_line(&s, "guest1", "guest connected").await;
    });
}

#[test]
fn a_killed_worker_fails_and_restarts_others_unaffected_no_orphans() {
    let rt = runtime();
    let port = free_port();
    let config = json!({
        "version": 2,
        "workers": [
            // No options.restart: a router worker is restarted on failure by default.
            {"id": "router1", "type": "router",
             "realms": router_item(port, "never")["realms"].clone(),
             "transports": router_item(port, "never")["transports"].clone()},
            {"id": "guest1", "type": "guest", "executable": "/bin/sh",
             "arguments": ["-c", "sleep 300 & wait"]},
            {"id": "box1", "type": "container"}
        ]
    });
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let cbdir = node.cbdir();
    let pids = rt.block_on(async {
        let s = connect(&cbdir).await;
        let mut status = events(&s, "crossbar.on_worker_status", MatchPolicy::Exact).await;
        // The workers start one after another: the router's port is open before the guest
        // and the container have started. Wait (bounded) until the last one runs.
        let deadline = Instant::now() + WAIT;
        loop {
            let workers = call_ok(&s, "crossbar.get_workers", vec![]).await;
            let box_status = match call(&s, "crossbar.get_worker", vec![json!("box1")]).await {
                Ok(info) => info["status"].clone(),
                Err(_) => Value::Null,
            };
            if workers == json!(["box1", "guest1", "router1"]) && box_status == "started" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the config's workers did not all start: {workers}, box1 {box_status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = |id: &'static str| {
            let s = s.clone();
            async move { pid_of(&call_ok(&s, "crossbar.get_worker", vec![json!(id)]).await) }
        };
        let (router_pid, guest_pid, box_pid) =
            (pid("router1").await, pid("guest1").await, pid("box1").await);
        let box_info = call_ok(&s, "crossbar.get_worker", vec![json!("box1")]).await;
        assert_eq!(box_info["status"], "started");

        std::process::Command::new("kill")
            .args(["-9", &router_pid.to_string()])
            .status()
            .unwrap();
        wait_event(
            &mut status,
            "failed",
            status_is("router1", "started", "failed"),
        )
        .await;
        wait_event(
            &mut status,
            "restarting",
            status_is("router1", "failed", "starting"),
        )
        .await;
        wait_event(
            &mut status,
            "restarted",
            status_is("router1", "starting", "started"),
        )
        .await;
        let w = call_ok(&s, "crossbar.get_worker", vec![json!("router1")]).await;
        assert_eq!(w["restarts"], 1, "{w}");
        assert!(w["last_exit"].as_str().unwrap().contains("SIGKILL"), "{w}");
        let new_pid = pid_of(&w);
        assert_ne!(new_pid, router_pid);
        assert!(wait_port(port, WAIT));

        // The others did not notice.
        assert_eq!(pid("guest1").await, guest_pid);
        assert_eq!(pid("box1").await, box_pid);
        assert!(alive(guest_pid) && alive(box_pid));

        // A guest with the default policy (never) stays failed after kill -9.
        std::process::Command::new("kill")
            .args(["-9", &guest_pid.to_string()])
            .status()
            .unwrap();
        wait_event(
            &mut status,
            "guest failed",
            status_is("guest1", "started", "failed"),
        )
        .await;
        let g = call_ok(&s, "crossbar.get_worker", vec![json!("guest1")]).await;
        assert_eq!(g["status"], "failed");
        let e = call(&s, "crossbar.stop_worker", vec![json!("guest1")])
            .await
            .unwrap_err();
        assert_eq!(e.error, "crossbar.error.worker_not_running");
        vec![new_pid, guest_pid, box_pid]
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
    wait_gone(&pids);
}

#[test]
fn workers_die_with_a_killed_controller() {
    let port = free_port();
    let config = json!({
        "version": 2,
        "workers": [
            {"id": "router1", "type": "router",
             "realms": router_item(port, "never")["realms"].clone(),
             "transports": router_item(port, "never")["transports"].clone()},
            {"id": "guest1", "type": "guest", "executable": "sleep", "arguments": ["300"]}
        ]
    });
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let cbdir = node.cbdir();
    let pids = runtime().block_on(async {
        let s = connect(&cbdir).await;
        let mut pids = Vec::new();
        for id in ["router1", "guest1"] {
            pids.push(pid_of(
                &call_ok(&s, "crossbar.get_worker", vec![json!(id)]).await,
            ));
        }
        pids
    });
    node.child.kill().unwrap();
    let _ = node.child.wait();
    wait_gone(&pids);
}

#[test]
fn a_guest_with_options_watch_restarts_when_its_files_change() {
    let rt = runtime();
    let mut node = Node::start(r#"{"version": 2}"#, &[]);
    let cbdir = node.cbdir();
    let watched = cbdir.join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        let mut log = events(&s, "crossbar.worker.watcher.on_log", MatchPolicy::Exact).await;
        let item = json!({
            "type": "guest",
            "executable": "/bin/sh",
            "arguments": ["-c", "echo guest-up; sleep 60"],
            "options": {"watch": {"directories": ["watched"], "action": "restart", "timeout": 0.2}}
        });
        let info = call_ok(
            &s,
            "crossbar.start_worker",
            vec![json!("watcher"), json!("guest"), item],
        )
        .await;
        let first_pid = pid_of(&info);
        wait_event(&mut log, "first start", |a| a[0]["text"] == "guest-up").await;
        let stats = call_ok(
            &s,
            "crossbar.get_worker",
            vec![json!("watcher"), json!(true)],
        )
        .await;
        let process = &stats["stats"]["process"];
        assert_eq!(process["pid"], json!(first_pid), "{stats}");
        assert!(process["resident"].as_u64().unwrap_or(0) > 0, "{stats}");
        assert!(
            stats["stats"]["log_records"].as_u64().unwrap_or(0) >= 1,
            "{stats}"
        );

        std::fs::write(watched.join("app.py"), "changed").unwrap();
        wait_event(&mut log, "restart after the change", |a| {
            a[0]["text"] == "guest-up"
        })
        .await;
        let w = call_ok(&s, "crossbar.get_worker", vec![json!("watcher")]).await;
        assert_eq!(w["status"], "started", "{w}");
        assert_ne!(pid_of(&w), first_pid, "a new process: {w}");
        wait_gone(&[first_pid]);
    });
    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
}
