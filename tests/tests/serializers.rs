//! Payloads across serializers with autobahn-python: a caller, callee, publisher and
//! subscriber of each of JSON, MessagePack, CBOR and UBJSON, over WebSocket and RawSocket
//! (`tests/py/serializers.py`). Every sender → receiver pair must deliver what Crossbar.io
//! delivers, value by value, with its type and key order; payload passthru mode (autobahn's
//! end-to-end encryption, `tests/py/e2ee.py`) works on both routers.

use tests::{Node, assert_py_ok, free_port, run_py};

/// Both routers run this: a Web transport with WebSocket and a RawSocket transport, each
/// with every serializer (the default list).
fn config(web: u16, raw: u16) -> String {
    let all =
        serde_json::json!({"call": true, "register": true, "publish": true, "subscribe": true});
    serde_json::json!({"version": 2, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all}]}]}],
        "transports": [
            {"type": "web", "endpoint": {"type": "tcp", "port": web, "interface": "127.0.0.1"},
             "paths": {"/": {"type": "json", "value": {}}, "ws": {"type": "websocket"}}},
            {"type": "rawsocket", "endpoint": {"type": "tcp", "port": raw, "interface": "127.0.0.1"}}
        ]
    }]})
    .to_string()
}

/// Runs `script` against the router on `web` and `raw` (a WebSocket and a RawSocket URL).
fn run_both_urls(script: &str, web: u16, raw: u16, extra: &[&str], what: &str) -> String {
    let (ws, rs) = (
        format!("ws://127.0.0.1:{web}/ws"),
        format!("rs://127.0.0.1:{raw}"),
    );
    let mut args = vec!["--url", &ws, "--url", &rs];
    args.extend_from_slice(extra);
    let out = run_py(script, &args);
    assert_py_ok(&out, &format!("{script} against {what}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The checks of `serializers.py`, and `e2ee.py`'s, against one router: the transcript.
fn transcript(web: u16, raw: u16, what: &str) -> Vec<String> {
    run_both_urls("e2ee.py", web, raw, &[], what);
    let out = run_both_urls("serializers.py", web, raw, &[], what);
    out.lines()
        .filter_map(|l| l.strip_prefix("TRANSCRIPT ").map(str::to_owned))
        .collect()
}

#[test]
fn every_serializer_pair_delivers_what_crossbar_io_delivers_and_passthru_works() {
    let Some(bin) = tests::crossbar::crossbar_bin() else {
        return;
    };
    let (web, raw) = (free_port(), free_port());
    let theirs = {
        let cb = tests::crossbar::Crossbar::start(&bin, &config(web, raw), &[web, raw]);
        cb.check(|| transcript(web, raw, "Crossbar.io"))
    };
    let (web, raw) = (free_port(), free_port());
    let mut node = Node::start(&config(web, raw), &[]);
    node.wait_ready(&[web, raw]);
    let ours = transcript(web, raw, "crossbar-edge");
    // Per transport: 4 senders × (4 calls × 2 lines + 4 events) for the plain values and for
    // NaN and the infinities, 2 senders × (2 × 2 + 2) for integers beyond 64 bits.
    assert_eq!(theirs.len(), (2 * 4 * 12 + 2 * 6) * 2, "{theirs:#?}");
    let differ: Vec<String> = theirs
        .iter()
        .zip(&ours)
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("Crossbar.io:   {t}\ncrossbar-edge: {o}"))
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} lines differ:\n{}",
        differ.len(),
        theirs.len(),
        differ.join("\n")
    );
    assert_eq!(ours.len(), theirs.len());
}

/// A value the receiver's serializer cannot carry is an ERROR to the sender, and the sessions
/// stay up (Crossbar.io never answers such a call, and drops the event).
#[test]
fn a_value_the_receiver_cannot_carry_is_an_error_to_the_sender() {
    let (web, raw) = (free_port(), free_port());
    let mut node = Node::start(&config(web, raw), &[]);
    node.wait_ready(&[web, raw]);
    run_both_urls(
        "serializers.py",
        web,
        raw,
        &["--uncarriable"],
        "crossbar-edge",
    );
}
