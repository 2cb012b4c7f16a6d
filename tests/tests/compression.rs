//! WebSocket permessage-deflate as Crossbar.io negotiates it (`options.compression.deflate`),
//! with autobahn-python offering it (`tests/py/deflate.py`: three offers, every serializer,
//! large and small messages both ways), on a Web transport's `websocket` path, on a `websocket`
//! transport that asks the client for no context takeover and keeps its own window at 11
//! bits, and on one without compression (not negotiated). The same script runs against
//! Crossbar.io. (autobahn-js on Node compresses in `tests/tests/interop.rs`.)

use tests::{Node, assert_py_ok, free_port, run_py};

fn config(web: u16, ws: u16, plain: u16) -> String {
    let all =
        serde_json::json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let tcp =
        |port: u16| serde_json::json!({"type": "tcp", "port": port, "interface": "127.0.0.1"});
    serde_json::json!({"version": 2, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all}]}]}],
        "transports": [
            {"type": "web", "endpoint": tcp(web),
             "paths": {"/": {"type": "json", "value": {}},
                       "ws": {"type": "websocket", "options": {"compression": {"deflate": {}}}}}},
            {"type": "websocket", "endpoint": tcp(ws),
             "options": {"compression": {"deflate":
                {"request_no_context_takeover": true, "max_window_bits": 11}}}},
            {"type": "websocket", "endpoint": tcp(plain)}
        ]
    }]})
    .to_string()
}

/// `windowed`: whether to offer a 10-bit server window on the transport whose own window is
/// 11 bits. crossbar-edge uses 10, as RFC 7692 requires; Crossbar.io answers 11, which
/// autobahn-python refuses, and the connection never opens.
fn check_router(web: u16, ws: u16, plain: u16, what: &str, windowed: bool) {
    let offers = if windowed {
        "default,no-context-takeover,small-window"
    } else {
        "default,no-context-takeover"
    };
    for (url, extra) in [
        (format!("ws://127.0.0.1:{web}/ws"), vec![]),
        (format!("ws://127.0.0.1:{ws}"), vec!["--offers", offers]),
        (
            format!("ws://127.0.0.1:{plain}"),
            vec!["--no-compression-expected"],
        ),
    ] {
        let mut args = vec!["--url", url.as_str()];
        args.extend(extra);
        let out = run_py("deflate.py", &args);
        assert_py_ok(&out, &format!("{what} {url}"));
    }
}

#[test]
fn permessage_deflate_with_autobahn_python_on_both_routers() {
    let (web, ws, plain) = (free_port(), free_port(), free_port());
    let mut node = Node::start(&config(web, ws, plain), &[]);
    node.wait_ready(&[web, ws, plain]);
    check_router(web, ws, plain, "crossbar-edge", true);
    drop(node);

    let Some(bin) = tests::crossbar::crossbar_bin() else {
        return;
    };
    let (web, ws, plain) = (free_port(), free_port(), free_port());
    let cb = tests::crossbar::Crossbar::start(&bin, &config(web, ws, plain), &[web, ws, plain]);
    cb.check(|| check_router(web, ws, plain, "Crossbar.io", false));
}
