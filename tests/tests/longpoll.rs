//! WAMP-over-Long-Poll with autobahn-js (npm `autobahn` on Node, `tests/js/longpoll.js`)
//! next to a WebSocket client on the same realm, and the long-poll protocol's edges with a
//! plain HTTP client: bad open requests, unknown transports, an idle transport expiring.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Node, free_port, run_js};

fn config(port: u16) -> Value {
    tests::web_node_config(
        port,
        json!({
            "lp": {"type": "longpoll", "options": {"request_timeout": 2}},
            "lpshort": {"type": "longpoll", "options": {"session_timeout": 1, "request_timeout": 1}}
        }),
    )
}

#[test]
fn autobahn_js_over_long_poll_and_websocket() {
    let port = free_port();
    let mut node = Node::start(&config(port).to_string(), &[]);
    node.wait_ready(&[port]);
    let lp = format!("http://127.0.0.1:{port}/lp");
    let ws = format!("ws://127.0.0.1:{port}/ws");
    if let Err(e) = run_js("longpoll.js", &[&lp, &ws]) {
        panic!("{e}; node log:\n{}", node.log_text());
    }
}

#[test]
fn long_poll_protocol_edges() {
    let port = free_port();
    let mut node = Node::start(&config(port).to_string(), &[]);
    node.wait_ready(&[port]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: &str| {
        let mut r = agent
            .post(&format!("http://127.0.0.1:{port}/{path}"))
            .send(body.as_bytes())
            .unwrap_or_else(|e| panic!("POST /{path}: {e}; node log:\n{}", node.log_text()));
        let text = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), text)
    };
    assert_eq!(
        post("lp/open", "not json"),
        (400, "could not parse WAMP session open request body".into())
    );
    assert_eq!(
        post("lp/open", "[1]"),
        (400, "invalid type for WAMP session open request".into())
    );
    let (status, text) = post("lp/open", r#"{"protocols": ["wamp.2.cbor"]}"#);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("no common protocol"), "{text}");
    assert_eq!(post("lp/NOSUCHID/receive", "").0, 404);
    assert_eq!(post("lp/NOSUCHID/send", "[1]").0, 404);

    // An open transport with nothing queued: receive is answered empty after the request
    // timeout (1 s), and with no request for the session timeout (1 s) the transport is gone.
    let (status, text) = post("lpshort/open", r#"{"protocols": ["wamp.2.json"]}"#);
    assert_eq!(status, 200, "{text}");
    let opened: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(opened["protocol"], "wamp.2.json");
    let id = opened["transport"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 12, "{id}");
    assert_eq!(post(&format!("lpshort/{id}/receive"), "").0, 204);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut r = agent
            .get(&format!("http://127.0.0.1:{port}/lpshort/{id}"))
            .call()
            .unwrap();
        let _ = r.body_mut().read_to_string();
        if r.status().as_u16() == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle transport was not closed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A HELLO through send, the WELCOME through receive, then close.
    let (_, text) = post("lp/open", r#"{"protocols": ["wamp.2.json"]}"#);
    let id = serde_json::from_str::<Value>(&text).unwrap()["transport"]
        .as_str()
        .unwrap()
        .to_owned();
    let hello = json!([1, "realm1", {"roles": {"caller": {}}}]).to_string();
    assert_eq!(post(&format!("lp/{id}/send"), &hello).0, 204);
    let (status, text) = post(&format!("lp/{id}/receive"), "");
    assert_eq!(status, 200, "{text}");
    let welcome: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(welcome[0], 2, "{welcome}");
    assert_eq!(welcome[2]["authrole"], "anonymous", "{welcome}");
    assert_eq!(post(&format!("lp/{id}/close"), "").0, 204);
    assert_eq!(post(&format!("lp/{id}/receive"), "").0, 404);
}
