//! The MQTT transport with real MQTT clients: paho-mqtt (PyPI) and `mosquitto_pub` /
//! `mosquitto_sub` (Debian `mosquitto-clients`), both directions with an autobahn-python
//! WAMP client on the same realm (`tests/py/mqtt.py`, config `tests/data/mqtt-config.json`).

use std::process::Command;

use tests::{Node, assert_py_ok, free_port, run_py};

/// The mosquitto command-line clients must be installed (`.ci/run` installs them).
fn require_mosquitto() {
    for tool in ["mosquitto_pub", "mosquitto_sub"] {
        let found = Command::new(tool).arg("--help").output().is_ok();
        assert!(
            found,
            "{tool} not found: install Debian's mosquitto-clients (apt-get install mosquitto-clients)"
        );
    }
}

#[test]
fn mqtt_clients_and_wamp_clients_share_a_realm() {
    require_mosquitto();
    let (web, mqtt, mqtt_auth, uni) = (free_port(), free_port(), free_port(), free_port());
    let config =
        std::fs::read_to_string(tests::workspace_root().join("tests/data/mqtt-config.json"))
            .unwrap();
    let mut node = Node::start(
        &config,
        &[
            ("EDGE_TEST_PORT_WEB", web.to_string()),
            ("EDGE_TEST_PORT_MQTT", mqtt.to_string()),
            ("EDGE_TEST_PORT_MQTTAUTH", mqtt_auth.to_string()),
            ("EDGE_TEST_PORT_UNI", uni.to_string()),
        ],
    );
    node.wait_ready(&[web, mqtt, mqtt_auth, uni]);
    let out = run_py(
        "mqtt.py",
        &[
            "--ws",
            &format!("ws://127.0.0.1:{web}/ws"),
            "--mqtt",
            &mqtt.to_string(),
            "--mqtt-auth",
            &mqtt_auth.to_string(),
            "--universal",
            &uni.to_string(),
        ],
    );
    let log = node.log_text();
    if !out.status.success() {
        eprintln!("node log:\n{log}");
    }
    assert_py_ok(&out, "mqtt.py");
    assert!(
        log.contains("mqtt: closing connection on a malformed packet"),
        "the malformed packet is logged at warning:\n{log}"
    );
}

/// The config both routers run for the comparison: a Web transport with WebSocket, and an
/// MQTT transport with Crossbar.io's usual mapping (everything native JSON).
fn compare_config(web: u16, mqtt: u16) -> String {
    let all =
        serde_json::json!({"call": true, "register": true, "publish": true, "subscribe": true});
    serde_json::json!({"version": 2, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all}]}]}],
        "transports": [
            {"type": "web", "endpoint": {"type": "tcp", "port": web, "interface": "127.0.0.1"},
             "paths": {"/": {"type": "json", "value": {}}, "ws": {"type": "websocket"}}},
            {"type": "mqtt", "endpoint": {"type": "tcp", "port": mqtt, "interface": "127.0.0.1"},
             "options": {"realm": "realm1", "role": "anonymous",
                         "payload_mapping": {"": {"type": "native", "serializer": "json"}}}}
        ]
    }]})
    .to_string()
}

fn transcript(web: u16, mqtt: u16, what: &str) -> String {
    let out = run_py(
        "mqtt.py",
        &[
            "--ws",
            &format!("ws://127.0.0.1:{web}/ws"),
            "--mqtt",
            &mqtt.to_string(),
            "--transcript",
        ],
    );
    assert_py_ok(&out, what);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("TRANSCRIPT ").map(str::to_owned))
        .unwrap_or_else(|| panic!("{what}: no transcript"))
}

/// The same clients against Crossbar.io and crossbar-edge receive the same bytes: MQTT
/// payloads of WAMP events, WAMP arguments (and key order) of MQTT messages, retained
/// messages both ways, a malformed payload dropped.
#[test]
fn mqtt_mapping_matches_crossbar_io() {
    require_mosquitto();
    let Some(bin) = tests::crossbar::crossbar_bin() else {
        return;
    };
    let (web, mqtt) = (free_port(), free_port());
    let theirs = {
        let cb = tests::crossbar::Crossbar::start(&bin, &compare_config(web, mqtt), &[web, mqtt]);
        cb.check(|| transcript(web, mqtt, "Crossbar.io"))
    };
    let (web, mqtt) = (free_port(), free_port());
    let mut node = Node::start(&compare_config(web, mqtt), &[]);
    node.wait_ready(&[web, mqtt]);
    let ours = transcript(web, mqtt, "crossbar-edge");
    println!("Crossbar.io:   {theirs}\ncrossbar-edge: {ours}");
    assert_eq!(ours, theirs);
}
