//! Event history: a realm `store` (`memory`, `event-history`) and
//! `wamp.subscription.get_events`, with unmodified autobahn-python clients
//! (`tests/py/event_history.py`), on crossbar-edge and on Crossbar.io.

use serde_json::{Value, json};
use tests::{check_config, crossbar, free_port, realm_node_config, run_ws_script_on_node};

fn config(port: u16) -> Value {
    realm_node_config(
        port,
        json!({"store": {"type": "memory", "limit": 100,
        "event-history": [{"uri": "com.example.history", "match": "exact", "limit": 3}]}}),
    )
}

#[test]
fn event_history_with_autobahn() {
    let port = free_port();
    run_ws_script_on_node(&config(port), port, "event_history.py", &[]);
}

#[test]
fn the_same_event_history_checks_pass_against_crossbar_io() {
    let port = free_port();
    crossbar::run_ws_script(&config(port), port, "event_history.py", &[]);
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
