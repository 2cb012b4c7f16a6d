//! A realm shared by three crossbar-edge nodes over a cluster of three real NATS servers
//! (Debian's `nats-server`), with unmodified autobahn-python clients on different nodes
//! (`tests/py/cluster.py`): events cross nodes with the broker's matching, filters,
//! disclosure and retention, in order, and keep flowing when one NATS server of three dies.

use std::time::Duration;

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
    let realm = runtime().block_on(async {
        let s = connect(&nodes[0].cbdir()).await;
        call_ok(
            &s,
            "crossbar.worker.router1.get_router_realm",
            vec![json!("realm001")],
        )
        .await
    });
    let c = &realm["cluster"];
    assert_eq!(c["member"], "node0", "{realm}");
    assert_eq!(c["subject"], "edge.test.realm1.all", "{realm}");
    assert!(c["events_out"].as_u64().unwrap() > 2000, "{c}");
    assert_eq!(c["frames_bad"], 0, "{c}");
    for mut n in nodes {
        assert_eq!(n.terminate(), Some(0), "{}", n.log_text());
    }
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
