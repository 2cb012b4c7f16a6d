//! `client::connect` by URL over each built-in client transport: RawSocket over TCP
//! (`rs://`), over a Unix socket (`unix:`), and WebSocket (`ws://`), each with a call that
//! crosses the wire; and clear errors for URLs nothing listens on.

mod transport_common;
use transport_common as common;

use router_core::Codec;
use router_core::client::{JoinOptions, RegisterOptions, connect};
use router_core::value::Value;
use serde_json::json;

fn tcp() -> serde_json::Value {
    json!({"type": "tcp", "interface": "127.0.0.1", "port": 0})
}

async fn echo_roundtrip(url: &str, codec: Codec) {
    let callee = tokio::time::timeout(
        common::WAIT,
        connect(url, codec, JoinOptions::realm("realm1")),
    )
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{url}: {e}"));
    callee
        .register("com.echo", RegisterOptions::default(), |inv| async move {
            Ok(router_core::Payload::new(inv.args, inv.kwargs))
        })
        .await
        .unwrap();
    let caller = connect(url, codec, JoinOptions::realm("realm1"))
        .await
        .unwrap();
    let got = caller
        .call_simple("com.echo", vec![Value::from(format!("via {url}"))])
        .await
        .unwrap();
    assert_eq!(got, Value::from(format!("via {url}")));
    caller.leave("wamp.close.normal").await.unwrap();
    callee.leave("wamp.close.normal").await.unwrap();
}

#[tokio::test]
async fn connect_by_url_over_every_client_transport() {
    let dir = tempfile::tempdir().unwrap();
    let r = common::router();
    let rs = common::start(
        &r,
        json!({"type": "rawsocket", "endpoint": tcp()}),
        dir.path(),
    )
    .await;
    let ws = common::start(
        &r,
        json!({"type": "websocket", "endpoint": tcp()}),
        dir.path(),
    )
    .await;
    let _unix = common::start(
        &r,
        json!({"type": "rawsocket", "endpoint": {"type": "unix", "path": "c.sock"}}),
        dir.path(),
    )
    .await;
    let rs_port = rs.local_addr().port().unwrap();
    let ws_port = ws.local_addr().port().unwrap();
    for codec in [Codec::Json, Codec::MsgPack, Codec::Cbor] {
        echo_roundtrip(&format!("rs://127.0.0.1:{rs_port}"), codec).await;
        echo_roundtrip(&format!("ws://127.0.0.1:{ws_port}/ws"), codec).await;
        echo_roundtrip(
            &format!("unix:{}", dir.path().join("c.sock").display()),
            codec,
        )
        .await;
    }
}

#[tokio::test]
async fn connect_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for url in [
        format!("rs://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}/ws"),
        format!("unix:{}", dir.path().join("none.sock").display()),
        "ftp://x".to_string(),
    ] {
        let e = connect(&url, Codec::Json, JoinOptions::realm("realm1"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, router_core::client::ClientError::Connect(_)),
            "{url}: {e:?}"
        );
    }
}
