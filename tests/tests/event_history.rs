//! Event history: a realm `store` (`memory`, `event-history`) and
//! `wamp.subscription.get_events`, with unmodified autobahn-python clients
//! (`tests/py/event_history.py`), on crossbar-edge and on Crossbar.io.

use serde_json::{Value, json};
use tests::crossbar::{Crossbar, crossbar_bin};
use tests::{Node, assert_py_ok, check_config, free_port, run_py};

fn config(port: u16) -> Value {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    json!({"version": 2, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1",
            "roles": [{"name": "anonymous", "permissions": [
                {"uri": "", "match": "prefix", "allow": all, "disclose": {"publisher": true}}]}],
            "store": {"type": "memory", "limit": 100,
                      "event-history": [{"uri": "com.example.history", "match": "exact", "limit": 3}]}}],
        "transports": [{"type": "websocket",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]
    }]})
}

#[test]
fn event_history_with_autobahn() {
    let port = free_port();
    let cfg = config(port).to_string();
    let (ok, text) = check_config(&cfg);
    assert!(ok, "check refused the config: {text}");
    let mut node = Node::start(&cfg, &[]);
    node.wait_ready(&[port]);
    let out = run_py(
        "event_history.py",
        &["--url", &format!("ws://127.0.0.1:{port}/ws")],
    );
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(&out, "event_history.py");
}

#[test]
fn the_same_event_history_checks_pass_against_crossbar_io() {
    let Some(bin) = crossbar_bin() else { return };
    let port = free_port();
    let cb = Crossbar::start(&bin, &config(port).to_string(), &[port]);
    let out = run_py(
        "event_history.py",
        &["--url", &format!("ws://127.0.0.1:{port}/ws")],
    );
    cb.check(|| assert_py_ok(&out, "event_history.py against Crossbar.io"));
}

#[test]
fn check_names_a_bad_store() {
    let mut cfg = config(free_port());
    cfg["workers"][0]["realms"][0]["store"]["event-history"][0]["match"] = json!("fuzzy");
    let (ok, text) = check_config(&cfg.to_string());
    assert!(
        !ok && text.contains("store.event-history[0].match"),
        "{text}"
    );
    cfg["workers"][0]["realms"][0]["store"] = json!({"type": "lmdb"});
    let (ok, text) = check_config(&cfg.to_string());
    assert!(!ok && text.contains("store.type"), "{text}");
}
