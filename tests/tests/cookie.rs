//! Cookie tracking and cookie authentication on a WebSocket transport, with unmodified
//! autobahn-python clients (`tests/py/cookie_auth.py`): a ticket login recorded on the
//! tracking cookie, a later connection logged in by the cookie alone, revocation by another
//! login, logout, and (crossbar-edge) the file store keeping a login across a node restart.
//! The same client checks run against Crossbar.io.

use serde_json::{Value, json};
use tests::crossbar::{Crossbar, crossbar_bin};
use tests::{Node, assert_py_ok, check_config, free_port, run_py};

fn config(port: u16, store: Value) -> Value {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    json!({"version": 2, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [
            {"name": "user", "permissions": [{"uri": "", "match": "prefix", "allow": all}]}]}],
        "transports": [{"type": "websocket",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
            "cookie": {"store": store},
            "auth": {
                "ticket": {"type": "static", "principals": {
                    "joe": {"ticket": "secret", "role": "user"},
                    "ann": {"ticket": "ann-secret", "role": "user"}}},
                "cookie": {}
            }}]
    }]})
}

/// Which router the checks run against: Crossbar.io 26 means to end a logout's other
/// sessions of the cookie (its `onLeave` walks the cookie's connections) but deletes the
/// cookie first and so finds none; crossbar-edge does end them.
#[derive(PartialEq)]
enum Router {
    Edge,
    CrossbarIo,
}

fn clients(port: u16, cookie: Option<&str>, router: Router) -> std::process::Output {
    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut args = vec!["clients", "--url", &url];
    if let Some(c) = cookie {
        args.extend(["--cookie", c]);
    }
    if router == Router::CrossbarIo {
        args.push("--logout-keeps-others");
    }
    run_py("cookie_auth.py", &args)
}

#[test]
fn cookie_logins_with_autobahn_and_a_file_store() {
    let port = free_port();
    let cfg = config(port, json!({"type": "file", "filename": "cookies.dat"})).to_string();
    let (ok, text) = check_config(&cfg);
    assert!(ok, "check refused the config: {text}");

    let mut node = Node::start(&cfg, &[]);
    node.wait_ready(&[port]);
    let out = clients(port, None, Router::Edge);
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(&out, "cookie_auth.py clients");
    let text = String::from_utf8_lossy(&out.stdout);
    let cbtid = text
        .lines()
        .find_map(|l| l.strip_prefix("COOKIE "))
        .expect("the script prints the login cookie")
        .trim()
        .to_owned();
    let store = std::fs::read_to_string(node.cbdir().join("cookies.dat")).unwrap();
    assert!(store.contains(&cbtid), "the file store has the cookie");

    node.restart(&[]);
    node.wait_ready(&[port]);
    let out = clients(port, Some(&cbtid), Router::Edge);
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(&out, "cookie_auth.py after a restart");
}

#[test]
fn the_same_cookie_checks_pass_against_crossbar_io() {
    let Some(bin) = crossbar_bin() else { return };
    let port = free_port();
    let cfg = config(port, json!({"type": "memory"}));
    let cb = Crossbar::start(&bin, &cfg.to_string(), &[port]);
    let out = clients(port, None, Router::CrossbarIo);
    cb.check(|| assert_py_ok(&out, "cookie_auth.py clients against Crossbar.io"));
}

#[test]
fn cookie_authentication_needs_cookie_tracking() {
    let mut cfg = config(free_port(), json!({"type": "memory"}));
    cfg["workers"][0]["transports"][0]
        .as_object_mut()
        .unwrap()
        .remove("cookie");
    let (ok, text) = check_config(&cfg.to_string());
    assert!(!ok && text.contains("auth.cookie"), "{text}");
}
