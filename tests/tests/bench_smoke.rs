//! The load generator must not rot: every scenario runs briefly against a real node (the
//! `crossbar init` config) and must report plausible, error-free results. Timings are never
//! asserted — benchmarks are not tests.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::{Node, free_port, workspace_root};

fn init_config(raw: u16, web: u16) -> String {
    let text =
        std::fs::read_to_string(workspace_root().join("agent/src/config/default_config.json"))
            .unwrap();
    text.replace("\"port\": 8081", &format!("\"port\": {raw}"))
        .replace("\"port\": 8080", &format!("\"port\": {web}"))
}

/// Runs `wamp-bench --json <args>` (bounded) and returns its JSON report.
fn bench(args: &[&str]) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wamp-bench"))
        .arg("--json")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wamp-bench");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wamp-bench {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- wamp-bench {args:?}\n{stderr}{stdout}");
    assert!(out.status.success(), "wamp-bench {args:?} failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

#[test]
fn every_scenario_runs_against_a_node() {
    let (raw, web) = (free_port(), free_port());
    let mut node = Node::start(&init_config(raw, web), &[]);
    node.wait_ready(&[raw, web]);
    let rs = format!("rs://127.0.0.1:{raw}");
    let ws = format!("ws://127.0.0.1:{web}/ws");
    let short = ["--warmup", "0.1", "--duration", "0.4"];

    for (url, ser) in [(&rs, "msgpack"), (&ws, "json"), (&rs, "cbor")] {
        let mut a = vec!["--url", url, "--serializer", ser];
        a.extend(short);
        a.extend(["rpc", "--callers", "2", "--outstanding", "4"]);
        let r = bench(&a);
        assert!(num(&r, "calls") >= 100.0, "{r}");
        assert_eq!(num(&r, "errors"), 0.0, "{r}");
        assert!(num(&r, "p50_us") > 0.0 && num(&r, "p99_us") >= num(&r, "p50_us"));
    }

    let mut a = vec!["--url", &rs];
    a.extend(short);
    a.extend(["rpc-latency", "--rate", "1000"]);
    let r = bench(&a);
    assert!(num(&r, "calls_per_s") > 100.0, "{r}");

    let mut a = vec!["--url", &ws, "--serializer", "cbor"];
    a.extend(short);
    a.extend(["pubsub", "--subscribers", "5"]);
    let r = bench(&a);
    assert!(num(&r, "events") >= 100.0, "{r}");
    assert!(num(&r, "p99_us") > 0.0, "{r}");

    // Subscribers spread over other addresses (bench/cluster.sh: other nodes), and the CPU
    // of more than one process (here the same one twice).
    let pid = node.child.id().to_string();
    let mut a = vec!["--url", &rs, "--router-pid", &pid, "--also-pid", &pid];
    a.extend(short);
    a.extend(["pubsub", "--subscribers", "4", "--subscriber-url", &ws]);
    a.extend(["--subscriber-url", &rs]);
    let r = bench(&a);
    assert!(num(&r, "events") >= 100.0, "{r}");

    // Ordinary clients: every message its own write, many connections at a low rate, and the
    // router's CPU time over the window (the node's process tree).
    let pid = node.child.id().to_string();
    let cpu = ["--router-pid", pid.as_str(), "--tree", "--unbatched"];
    for scenario in [
        &["rpc", "--callers", "20", "--outstanding", "1"][..],
        &[
            "rpc",
            "--callers",
            "50",
            "--outstanding",
            "1",
            "--interval-ms",
            "20",
        ],
        &["pubsub", "--subscribers", "10"],
    ] {
        let mut a = vec!["--url", rs.as_str()];
        a.extend(short);
        a.extend(cpu);
        a.extend(scenario);
        let r = bench(&a);
        let work = if scenario[0] == "rpc" {
            "calls"
        } else {
            "events"
        };
        assert!(num(&r, work) >= 50.0, "{r}");
        let cpu_s = num(&r, "router_cpu_s");
        assert!(cpu_s >= 0.0, "{r}");
        if cpu_s > 0.0 {
            assert!(num(&r, &format!("{work}_per_cpu_s")) > 0.0, "{r}");
        }
    }

    let r = bench(&[
        "--url",
        &rs,
        "sessions",
        "--count",
        "200",
        "--router-pid",
        &pid,
        "--tree",
        "--settle",
        "0.2",
    ]);
    assert_eq!(num(&r, "sessions"), 200.0);
    assert!(num(&r, "rss_after_kib") > 0.0, "{r}");

    // The management API may not be there yet; then the scenario says so instead of failing.
    let cbdir = node.cbdir();
    let r = bench(&["mgmt", "--cbdir", cbdir.to_str().unwrap()]);
    match r["status"].as_str() {
        Some("ok") => assert!(num(&r, "start_realm_ms") > 0.0, "{r}"),
        Some("n/a") => assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty())),
        other => panic!("mgmt status {other:?}: {r}"),
    }
    assert_eq!(node.terminate(), Some(0), "{}", node.log_text());
}

#[test]
fn startup_and_echo_limit() {
    let raw = free_port();
    let web = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join(".crossbar");
    std::fs::create_dir_all(&cbdir).unwrap();
    std::fs::create_dir_all(dir.path().join("web")).unwrap();
    std::fs::write(cbdir.join("config.json"), init_config(raw, web)).unwrap();
    let edge = tests::bin("crossbar-edge");
    let rs = format!("rs://127.0.0.1:{raw}");
    let r = bench(&[
        "--url",
        &rs,
        "startup",
        "--runs",
        "1",
        "--timeout",
        "30",
        "--",
        edge.to_str().unwrap(),
        "start",
        "--cbdir",
        cbdir.to_str().unwrap(),
    ]);
    assert!(num(&r, "startup_ms") > 0.0, "{r}");

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_wamp-bench"))
        .args(["echo-server", "--listen", &listen])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(tests::wait_port(port, Duration::from_secs(10)));
    let url = format!("ws://{listen}");
    let r = bench(&[
        "--url",
        &url,
        "--warmup",
        "0.1",
        "--duration",
        "0.4",
        "echo",
        "--connections",
        "2",
        "--outstanding",
        "4",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(num(&r, "msgs_per_s") > 100.0, "{r}");
}
