//! A realm shared by three crossbar-edge nodes over a cluster of three real NATS servers
//! (Debian's `nats-server`), with unmodified autobahn-python clients on different nodes
//! (`tests/py/cluster.py`): events cross nodes with the broker's matching, filters,
//! disclosure and retention, in order, and keep flowing when one NATS server of three dies.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::mgmt::{call_ok, connect, runtime};
use tests::nats::NatsCluster;
use tests::{Node, PyService, check_config, free_port};

fn node_config(port: u16, servers: &[String], member: &str) -> Value {
    json!({"version": 2, "workers": [{"id": "router1", "type": "router",
        "realms": [{"name": "realm1",
            "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
                "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                "disclose": {"publisher": true}}]}],
            "cluster": {"type": "nats", "servers": servers, "subject_prefix": "edge.test",
                        "member": member}}],
        "transports": [{"type": "websocket",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]}]})
}

#[test]
fn events_cross_three_nodes_over_nats_and_survive_a_nats_server_dying() {
    let mut nats = NatsCluster::start(3);
    let urls = nats.urls();
    let ports = [free_port(), free_port(), free_port()];
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        // Each node starts with another server first: the nodes are spread over the cluster.
        let mut servers = urls.clone();
        servers.rotate_left(i);
        let config = node_config(*port, &servers, &format!("node{i}"));
        let (ok, text) = check_config(&config.to_string());
        assert!(ok, "{text}");
        let mut node = Node::start(&config.to_string(), &[]);
        node.wait_ready(&[*port]);
        nodes.push(node);
    }
    let url = |i: usize| format!("ws://127.0.0.1:{}/ws", ports[i]);
    let pause = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let pause_file = pause.to_path_buf();
    std::fs::remove_file(&pause_file).unwrap();
    let (pub_url, sub2, sub3) = (url(0), url(1), url(2));
    let mut script = PyService::start_when(
        "cluster.py",
        &[
            "--pub",
            &pub_url,
            "--sub",
            &sub2,
            "--sub",
            &sub3,
            "--pause-file",
            pause_file.to_str().unwrap(),
        ],
        "phase1 ok",
        Duration::from_secs(90),
    );
    // One NATS server of three dies; the script then checks that events flow again.
    nats.servers[0].kill();
    std::fs::write(&pause_file, b"go").unwrap();
    let status = script
        .wait_exit(Duration::from_secs(120))
        .expect("cluster.py ends");
    if !status.success() {
        for (i, n) in nodes.iter().enumerate() {
            println!("--- node {i}\n{}", n.log_text());
        }
    }
    assert!(status.success(), "cluster.py failed");
    assert!(script.last("FAIL").is_none());

    // The management API shows the realm's cluster.
    let realm = realm_status(&nodes[0]);
    let c = &realm["cluster"];
    assert_eq!(c["member"], "node0", "{realm}");
    assert_eq!(c["subject"], "edge.test.realm1.all", "{realm}");
    assert!(c["events_out"].as_u64().unwrap() > 2000, "{c}");
    assert_eq!(c["frames_bad"], 0, "{c}");

    membership_follows_nodes_that_stop_freeze_and_come_back(&nodes);
    for mut n in nodes {
        assert_eq!(n.terminate(), Some(0), "{}", n.log_text());
    }
}

/// Calls a management procedure of `node` with one argument (through its node.sock).
fn call_on(node: &Node, procedure: &str, arg: Value) -> Value {
    runtime().block_on(async {
        let s = connect(&node.cbdir()).await;
        call_ok(&s, procedure, vec![arg]).await
    })
}

/// `node`'s realm as `get_router_realm` shows it.
fn realm_status(node: &Node) -> Value {
    call_on(
        node,
        "crossbar.worker.router1.get_router_realm",
        json!("realm001"),
    )
}

/// The members `node`'s realm shows, by name.
fn members(node: &Node) -> Vec<String> {
    let realm = realm_status(node);
    realm["cluster"]["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {realm}"))
        .iter()
        .map(|m| m["member"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `node`'s members until they are `want`, for at most `limit`; how long it took.
fn wait_members(node: &Node, want: &[&str], limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let now = members(node);
        if now == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "members {now:?}, want {want:?}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Membership across real nodes: every node sees the three; a node whose router is frozen
/// (SIGSTOP: it neither dies nor says goodbye, as when it is cut off) is forgotten after the
/// member timeout and known again once it runs; a node whose realm stops is forgotten at once.
fn membership_follows_nodes_that_stop_freeze_and_come_back(nodes: &[Node]) {
    let all = ["node0", "node1", "node2"];
    for n in nodes {
        wait_members(n, &all, Duration::from_secs(10));
    }
    let m = realm_status(&nodes[0])["cluster"]["members"].clone();
    assert_eq!(m[0]["local"], true, "{m}");
    assert_eq!(m[1]["local"], false, "{m}");
    assert!(
        m[1]["started"].as_str().is_some_and(|s| !s.is_empty()),
        "{m}"
    );

    let pid = call_on(&nodes[2], "crossbar.get_worker", json!("router1"))["pid"]
        .as_u64()
        .unwrap();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP");
    // The timeout is 5 s after its last heartbeat (sent at most 1 s before the stop).
    let gone = wait_members(&nodes[0], &["node0", "node1"], Duration::from_secs(15));
    println!("a frozen member was forgotten after {gone:?}");
    assert!(
        gone >= Duration::from_secs(3),
        "forgotten too early: {gone:?}"
    );
    wait_members(&nodes[1], &["node0", "node1"], Duration::from_secs(15));
    signal("-CONT");
    let back = wait_members(&nodes[0], &all, Duration::from_secs(15));
    println!("it was known again {back:?} after it ran again");

    // A realm that stops says so: forgotten well before the timeout.
    call_on(
        &nodes[1],
        "crossbar.worker.router1.stop_router_realm",
        json!("realm001"),
    );
    let left = wait_members(&nodes[0], &["node0", "node2"], Duration::from_secs(15));
    println!("a member whose realm stopped was forgotten after {left:?}");
    assert!(left < Duration::from_secs(4), "no leave frame? {left:?}");
}

#[test]
fn check_names_a_bad_cluster_block() {
    let mut config = node_config(free_port(), &["nats://127.0.0.1:4222".into()], "node0");
    config["workers"][0]["realms"][0]["cluster"]["servers"] = json!(["http://127.0.0.1:4222"]);
    let (ok, text) = check_config(&config.to_string());
    assert!(
        !ok && text.contains("workers[0].realms[0].cluster.servers[0]"),
        "{text}"
    );
    config["workers"][0]["realms"][0]["cluster"] = json!({"type": "rlink"});
    let (ok, text) = check_config(&config.to_string());
    assert!(
        !ok && text.contains("workers[0].realms[0].cluster.type"),
        "{text}"
    );
}

/// The README's two-node realm: `examples/cluster/node-a.json` and `node-b.json` (ports and
/// NATS server moved to free ones here) and `examples/cluster/hello.py`.
#[test]
fn the_readme_two_node_example_works() {
    let nats = NatsCluster::start(1);
    let example = |name: &str| -> Value {
        let path = tests::workspace_root().join("examples/cluster").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let (ok, out) = check_config(&text);
        assert!(ok, "{name}: {out}");
        serde_json::from_str(&text).unwrap()
    };
    let mut nodes = Vec::new();
    let mut urls = Vec::new();
    for name in ["node-a.json", "node-b.json"] {
        let mut config = example(name);
        let port = free_port();
        let worker = &mut config["workers"][0];
        worker["transports"][0]["endpoint"]["port"] = json!(port);
        worker["realms"][0]["cluster"]["servers"] = json!(nats.urls());
        let mut node = Node::start(&config.to_string(), &[]);
        node.wait_ready(&[port]);
        nodes.push(node);
        urls.push(format!("ws://127.0.0.1:{port}/ws"));
    }
    wait_members(&nodes[0], &["node-a", "node-b"], Duration::from_secs(10));
    let out = std::process::Command::new(tests::python())
        .arg(tests::workspace_root().join("examples/cluster/hello.py"))
        .args(&urls)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("node-b received: hello from node-a"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
