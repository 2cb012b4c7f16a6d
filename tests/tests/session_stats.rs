//! Session statistics: a realm's `stats` and `wamp.session.on_stats`, with unmodified
//! autobahn-python clients (`tests/py/session_stats.py`), on crossbar-edge and on Crossbar.io.

use serde_json::{Value, json};
use tests::{check_config, crossbar, free_port, realm_node_config, run_ws_script_on_node};

fn config(port: u16) -> Value {
    realm_node_config(
        port,
        json!({"stats": {"rated_message_size": 512, "trigger_after_rated_messages": 10,
        "trigger_on_join": true, "trigger_on_leave": true}}),
    )
}

#[test]
fn session_stats_with_autobahn() {
    let port = free_port();
    run_ws_script_on_node(&config(port), port, "session_stats.py", &[]);
}

#[test]
fn the_same_session_stats_checks_pass_against_crossbar_io() {
    let port = free_port();
    crossbar::run_ws_script(&config(port), port, "session_stats.py", &[]);
}

#[test]
fn check_names_bad_stats() {
    let mut cfg = config(free_port());
    cfg["workers"][0]["realms"][0]["stats"]["rated_message_size"] = json!(511);
    let (ok, text) = check_config(&cfg.to_string());
    assert!(!ok && text.contains("stats.rated_message_size"), "{text}");
    cfg["workers"][0]["realms"][0]["stats"] = json!({"trigger_on_join": true});
    let (ok, text) = check_config(&cfg.to_string());
    assert!(!ok && text.contains("trigger_after"), "{text}");
}
