//! Dynamic authentication and authorization in a node started by `crossbar-edge start`, with
//! unmodified autobahn-python clients (`tests/py/dyn_auth.py`): ticket, wampcra and
//! cryptosign authenticators registered by an outside client on `authenticator-realm`, an
//! anonymous authenticator and a dynamic authorizer registered by a router component,
//! `allow-by-default`, errors, a timeout, an unregistered authenticator and a slow one that
//! does not hold up other handshakes. The same client checks run against Crossbar.io
//! itself, so what they expect is what Crossbar.io does.

use serde_json::{Value, json};
use tests::crossbar::{Crossbar, crossbar_bin};
use tests::{Node, PyService, assert_py_ok, free_port, python, run_py, workspace_root};

fn all() -> Value {
    json!({"call": true, "register": true, "publish": true, "subscribe": true})
}

fn role(name: &str) -> Value {
    json!({"name": name, "permissions": [{"uri": "", "match": "prefix", "allow": all()}]})
}

fn config(web: u16, dynws: u16, dynrs: u16, fnws: u16) -> Value {
    let py_dir = workspace_root().join("tests/py");
    json!({"version": 2, "workers": [{
        "id": "router1", "type": "router",
        "options": {"python": python(), "pythonpath": [py_dir]},
        "realms": [
            {"name": "realm1", "roles": [
                role("anonymous"), role("user"), role("frontend"), role("backend"),
                {"name": "limited", "authorizer": "com.example.authorize"},
                {"name": "open", "allow-by-default": true}
            ]},
            {"name": "auth", "roles": [role("anonymous")]}
        ],
        "components": [{"type": "class", "classname": "dyn_auth.RealmServices",
                        "realm": "realm1", "role": "backend"}],
        "transports": [
            {"type": "websocket", "endpoint": {"type": "tcp", "port": web, "interface": "127.0.0.1"}},
            {"type": "websocket",
             "endpoint": {"type": "tcp", "port": dynws, "interface": "127.0.0.1"},
             "auth": {
                "ticket": {"type": "dynamic", "authenticator": "com.example.ticket",
                           "authenticator-realm": "auth"},
                "wampcra": {"type": "dynamic", "authenticator": "com.example.wampcra",
                            "authenticator-realm": "auth"},
                "cryptosign": {"type": "dynamic", "authenticator": "com.example.cryptosign",
                               "authenticator-realm": "auth"},
                "anonymous": {"type": "dynamic", "authenticator": "com.example.anon_auth"}
             }},
            {"type": "rawsocket", "serializers": ["msgpack", "cbor", "json"],
             "endpoint": {"type": "tcp", "port": dynrs, "interface": "127.0.0.1"},
             "auth": {
                "ticket": {"type": "dynamic", "authenticator": "com.example.ticket",
                           "authenticator-realm": "auth", "authenticator-timeout": 1.5},
                "wampcra": {"type": "dynamic", "authenticator": "com.example.unregistered",
                            "authenticator-realm": "auth"}
             }},
            // Crossbar.io's `function` authenticators: Python callables from the worker's path.
            {"type": "websocket",
             "endpoint": {"type": "tcp", "port": fnws, "interface": "127.0.0.1"},
             "auth": {
                "ticket": {"type": "function", "create": "dyn_auth_functions.create_ticket_authenticator",
                           "config": {"secrets": {"fred": "fred-secret", "ann": "ann-secret"}}},
                "wampcra": {"type": "function", "create": "dyn_auth_functions.create_wampcra_authenticator"}
             }}
        ]
    }]})
}

/// Runs the authenticator client and then the client checks against a router listening on
/// the three ports; `reference` for Crossbar.io (its extensions' checks left out).
fn run_clients(
    web: u16,
    dynws: u16,
    dynrs: u16,
    fnws: u16,
    reference: bool,
) -> std::process::Output {
    let url = format!("ws://127.0.0.1:{web}/ws");
    let _authenticator = PyService::start("dyn_auth.py", &["authenticator", "--url", &url]);
    let ws = format!("ws://127.0.0.1:{dynws}/ws");
    let rs = format!("rs://127.0.0.1:{dynrs}");
    let fnws = format!("ws://127.0.0.1:{fnws}/ws");
    let mut args = vec!["clients", "--ws", &ws, "--rs", &rs, "--fn", &fnws];
    if reference {
        args.push("--reference");
    }
    run_py("dyn_auth.py", &args)
}

#[test]
fn the_same_checks_pass_against_crossbar_io() {
    let Some(bin) = crossbar_bin() else { return };
    let (web, dynws, dynrs, fnws) = (free_port(), free_port(), free_port(), free_port());
    let mut cfg = config(web, dynws, dynrs, fnws);
    // Crossbar.io runs its workers with its own Python (the test venv has no crossbar).
    cfg["workers"][0]["options"]
        .as_object_mut()
        .unwrap()
        .remove("python");
    let cb = Crossbar::start(&bin, &cfg.to_string(), &[web, dynws, dynrs, fnws]);
    let out = run_clients(web, dynws, dynrs, fnws, true);
    cb.check(|| assert_py_ok(&out, "dyn_auth.py clients against Crossbar.io"));
}

#[test]
fn dynamic_authenticators_and_authorizers_with_autobahn() {
    let (web, dynws, dynrs, fnws) = (free_port(), free_port(), free_port(), free_port());
    let cfg = config(web, dynws, dynrs, fnws).to_string();

    // `check` accepts the config as it is.
    let (ok, text) = tests::check_config(&cfg);
    assert!(ok, "check refused the config: {text}");

    let mut node = Node::start(&cfg, &[]);
    node.wait_ready(&[web, dynws, dynrs, fnws]);
    let out = run_clients(web, dynws, dynrs, fnws, false);
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(&out, "dyn_auth.py clients");
}
