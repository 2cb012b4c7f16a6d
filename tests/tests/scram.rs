//! WAMP-SCRAM in a node started by `crossbar-edge start`, with autobahn-python's own SCRAM
//! client (`tests/py/scram_auth.py`, argon2id-13): static principals, a dynamic authenticator
//! registered by an outside client, and a `function` authenticator. The same client checks
//! run against Crossbar.io, so what they expect is what Crossbar.io does.

use serde_json::{Value, json};
use tests::crossbar::{Crossbar, crossbar_bin};
use tests::{
    Node, PyService, assert_py_ok, check_config, free_port, python, run_py, workspace_root,
};

/// The static principals, derived by autobahn from the script's passwords.
fn principals() -> Value {
    let out = run_py("scram_auth.py", &["credentials"]);
    assert_py_ok(&out, "scram_auth.py credentials");
    serde_json::from_slice(&out.stdout).expect("credentials are JSON")
}

fn config(web: u16, st: u16, dy: u16, fun: u16) -> Value {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let role = |name: &str| json!({"name": name, "permissions": [{"uri": "", "match": "prefix", "allow": all}]});
    let ws = |port: u16, auth: Value| {
        json!({"type": "websocket", "serializers": ["json", "msgpack", "cbor"],
               "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}, "auth": auth})
    };
    json!({"version": 2, "workers": [{
        "id": "router1", "type": "router",
        "options": {"python": python(), "pythonpath": [workspace_root().join("tests/py")]},
        "realms": [
            {"name": "realm1", "roles": [role("user"), role("admin")]},
            {"name": "auth", "roles": [role("anonymous")]}
        ],
        "transports": [
            {"type": "websocket", "endpoint": {"type": "tcp", "port": web, "interface": "127.0.0.1"}},
            ws(st, json!({"scram": {"type": "static", "principals": principals()}})),
            ws(dy, json!({"scram": {"type": "dynamic", "authenticator": "com.example.scram",
                                    "authenticator-realm": "auth"}})),
            ws(fun, json!({"scram": {"type": "function", "create": "scram_auth.create_authenticator",
                                     "config": {"by": "fn-config"}}}))
        ]
    }]})
}

fn run_clients(web: u16, st: u16, dy: u16, fun: u16) -> std::process::Output {
    let url = format!("ws://127.0.0.1:{web}/ws");
    let _authenticator = PyService::start("scram_auth.py", &["authenticator", "--url", &url]);
    let [st, dy, fun] = [st, dy, fun].map(|p| format!("ws://127.0.0.1:{p}/ws"));
    run_py(
        "scram_auth.py",
        &[
            "clients",
            "--static",
            &st,
            "--dynamic",
            &dy,
            "--function",
            &fun,
        ],
    )
}

#[test]
fn scram_logins_with_autobahn() {
    let (web, st, dy, fun) = (free_port(), free_port(), free_port(), free_port());
    let cfg = config(web, st, dy, fun).to_string();

    let (ok, text) = check_config(&cfg);
    assert!(ok, "check refused the config: {text}");

    let mut node = Node::start(&cfg, &[]);
    node.wait_ready(&[web, st, dy, fun]);
    let out = run_clients(web, st, dy, fun);
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(&out, "scram_auth.py clients");
}

#[test]
fn the_same_scram_checks_pass_against_crossbar_io() {
    let Some(bin) = crossbar_bin() else { return };
    let (web, st, dy, fun) = (free_port(), free_port(), free_port(), free_port());
    let mut cfg = config(web, st, dy, fun);
    // Crossbar.io runs its workers with its own Python (which has what the function needs).
    cfg["workers"][0]["options"]
        .as_object_mut()
        .unwrap()
        .remove("python");
    let cb = Crossbar::start(&bin, &cfg.to_string(), &[web, st, dy, fun]);
    let out = run_clients(web, st, dy, fun);
    cb.check(|| assert_py_ok(&out, "scram_auth.py clients against Crossbar.io"));
}

#[test]
fn check_names_the_key_of_a_broken_scram_principal() {
    let mut p = principals();
    p["alice"]["stored-key"] = json!("abcd");
    let cfg = json!({"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "user", "permissions": []}]}],
        "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": free_port()},
                        "auth": {"scram": {"type": "static", "principals": p}}}]}]});
    let (ok, text) = check_config(&cfg.to_string());
    assert!(!ok, "check accepted a 2-byte stored-key");
    assert!(
        text.contains("workers[0].transports[0].auth.scram.principals.alice.stored-key")
            && text.contains("32 bytes"),
        "{text}"
    );
}
