//! autobahn-python clients, unmodified, against a node started by `crossbar-edge start`:
//! RPC and pub/sub over every transport × serializer, and every authentication method.

use std::thread;

use tests::{Node, assert_py_ok, free_port, run_js, run_py};

struct Ports {
    web: u16,
    raw: u16,
    auth: u16,
    rawauth: u16,
}

fn start_node() -> (Node, Ports) {
    let ports = Ports {
        web: free_port(),
        raw: free_port(),
        auth: free_port(),
        rawauth: free_port(),
    };
    let config =
        std::fs::read_to_string(tests::workspace_root().join("tests/data/interop-config.json"))
            .unwrap();
    let mut node = Node::start(
        &config,
        &[
            ("EDGE_TEST_PORT_WEB", ports.web.to_string()),
            ("EDGE_TEST_PORT_RAW", ports.raw.to_string()),
            ("EDGE_TEST_PORT_AUTH", ports.auth.to_string()),
            ("EDGE_TEST_PORT_RAWAUTH", ports.rawauth.to_string()),
        ],
    );
    node.wait_ready(&[ports.web, ports.raw, ports.auth, ports.rawauth]);
    (node, ports)
}

#[test]
fn rpc_and_pubsub_over_every_transport_and_serializer() {
    let (_node, ports) = start_node();
    let urls = [
        format!("ws://127.0.0.1:{}/ws", ports.web),
        format!("rs://127.0.0.1:{}", ports.raw),
    ];
    let mut runs = Vec::new();
    for url in &urls {
        for ser in ["json", "msgpack", "cbor", "ubjson"] {
            let url = url.clone();
            // The runs share realm1; each gets its own URI namespace.
            let ns = format!("com.run{}", runs.len());
            runs.push(thread::spawn(move || {
                let out = run_py(
                    "interop.py",
                    &[
                        "--url",
                        &url,
                        "--serializer",
                        ser,
                        "--scenario",
                        "all",
                        "--ns",
                        &ns,
                    ],
                );
                (format!("{url} {ser}"), out)
            }));
        }
    }
    for r in runs {
        let (what, out) = r.join().unwrap();
        assert_py_ok(&out, &what);
    }
}

/// autobahn-js on Node, the second client library: the same kinds of checks as interop.py
/// over WebSocket (JSON, MessagePack, CBOR; compressed with permessage-deflate) and RawSocket.
#[test]
fn autobahn_js_over_websocket_and_rawsocket() {
    let (node, ports) = start_node();
    let ws = format!("ws://127.0.0.1:{}/ws", ports.web);
    let raw = format!("127.0.0.1:{}", ports.raw);
    // The `ws` path has permessage-deflate, which Node's `ws` offers by default.
    if let Err(e) = run_js("interop.js", &[&ws, &raw, "deflate"]) {
        panic!("{e}; node log:\n{}", node.log_text());
    }
}

const ALICE_SEED: &str = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
const WRONG_SEED: &str = "1d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";

#[test]
fn every_auth_method_accepts_the_right_credential_and_rejects_a_wrong_one() {
    let (_node, ports) = start_node();
    let ws = format!("ws://127.0.0.1:{}", ports.auth);
    let rs = format!("rs://127.0.0.1:{}", ports.rawauth);
    let anon = format!("ws://127.0.0.1:{}/ws", ports.web);
    let denied = "wamp.error.not_authorized";
    // (url, serializer, method, authid, secret, expect, extra args)
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, &str, &str, &str, &str, &str, Vec<&str>)> = vec![
        (
            &ws,
            "json",
            "ticket",
            "joe",
            "secret!!!",
            "ok",
            vec!["--role", "frontend"],
        ),
        (&ws, "cbor", "ticket", "joe", "wrong", denied, vec![]),
        (&ws, "json", "ticket", "nobody", "x", denied, vec![]),
        (
            &ws,
            "msgpack",
            "ticket",
            "limited",
            "lim",
            "ok",
            vec!["--denied-call", "com.other.x"],
        ),
        (&rs, "msgpack", "ticket", "joe", "secret!!!", "ok", vec![]),
        (&rs, "cbor", "ticket", "joe", "nope", denied, vec![]),
        (
            &ws,
            "json",
            "wampcra",
            "peter",
            "secret1",
            "ok",
            vec!["--role", "frontend"],
        ),
        (&ws, "msgpack", "wampcra", "peter", "bad", denied, vec![]),
        (&ws, "cbor", "wampcra", "salty", "secret2", "ok", vec![]),
        (&ws, "json", "wampcra", "salty", "secret1", denied, vec![]),
        (
            &ws,
            "json",
            "cryptosign",
            "alice",
            ALICE_SEED,
            "ok",
            vec!["--role", "frontend"],
        ),
        (&ws, "cbor", "cryptosign", "", ALICE_SEED, "ok", vec![]),
        (
            &ws,
            "msgpack",
            "cryptosign",
            "alice",
            WRONG_SEED,
            denied,
            vec![],
        ),
        (
            &ws,
            "json",
            "anonymous",
            "",
            "",
            "wamp.error.no_auth_method",
            vec![],
        ),
        (
            &anon,
            "json",
            "ticket",
            "joe",
            "secret!!!",
            "wamp.error.no_auth_method",
            vec![],
        ),
        (
            &anon,
            "cbor",
            "anonymous",
            "",
            "",
            "ok",
            vec!["--role", "anonymous"],
        ),
    ];
    let mut runs = Vec::new();
    for (url, ser, method, authid, secret, expect, extra) in cases {
        let mut args: Vec<String> = [
            "--url",
            url,
            "--serializer",
            ser,
            "--scenario",
            "auth",
            "--auth",
            method,
            "--expect",
            expect,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !authid.is_empty() {
            args.extend(["--authid".to_string(), authid.to_string()]);
        }
        if !secret.is_empty() {
            args.extend(["--secret".to_string(), secret.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        runs.push(thread::spawn(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run_py("interop.py", &refs);
            (args.join(" "), out)
        }));
    }
    for r in runs {
        let (what, out) = r.join().unwrap();
        assert_py_ok(&out, &what);
    }
}
