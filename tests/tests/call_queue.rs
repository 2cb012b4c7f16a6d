//! Call queues: a realm `store` with `call-queue` (Crossbar.io's scaling-microservices/queued
//! example), with unmodified autobahn-python clients (`tests/py/call_queue.py`), on
//! crossbar-edge and on Crossbar.io.

use serde_json::{Value, json};
use tests::{check_config, crossbar, free_port, realm_node_config, run_ws_script_on_node};

fn config(port: u16) -> Value {
    realm_node_config(
        port,
        json!({"store": {"type": "memory", "call-queue": [
        {"uri": "com.example.compute", "match": "exact", "limit": 1000},
        {"uri": "com.example.small", "limit": 2}]}}),
    )
}

#[test]
fn queued_calls_with_autobahn() {
    let port = free_port();
    run_ws_script_on_node(&config(port), port, "call_queue.py", &[]);
}

#[test]
fn the_same_example_passes_against_crossbar_io() {
    let port = free_port();
    crossbar::run_ws_script(&config(port), port, "call_queue.py", &["--crossbar"]);
}

#[test]
fn check_names_a_bad_call_queue() {
    let mut cfg = config(free_port());
    cfg["workers"][0]["realms"][0]["store"]["call-queue"][1]["limit"] = json!(0);
    let (ok, text) = check_config(&cfg.to_string());
    assert!(!ok && text.contains("store.call-queue[1].limit"), "{text}");
    cfg["workers"][0]["realms"][0]["store"]["call-queue"][1] = json!({"uri": "com..x"});
    let (ok, text) = check_config(&cfg.to_string());
    assert!(!ok && text.contains("store.call-queue[1].uri"), "{text}");
}
