//! Interop with the real autobahn-python client: joins `realm1` over RawSocket, a Web
//! transport's `/ws` path, a plain WebSocket transport and a Universal transport, with every
//! serializer (and the batched WebSocket subprotocols), calling, registering, publishing and
//! subscribing, and passes arguments between every pair of serializers. Needs the test venv's
//! Python with autobahn (`tests/run.sh` makes it and exports `EDGE_TEST_PYTHON`).

mod transport_common;
use transport_common as common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::json;

/// The test venv's Python (autobahn installed): `$EDGE_TEST_PYTHON`, which `tests/run.sh`
/// exports, or the venv it makes. Missing is a failure, not a skip: interop is the point.
fn python() -> PathBuf {
    let p = std::env::var_os("EDGE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python")
        });
    assert!(
        p.exists(),
        "no Python with autobahn at {}: run `bash tests/run.sh` (it creates the venv) or set EDGE_TEST_PYTHON",
        p.display()
    );
    p
}

/// Runs `tests/py/<script>` with `args`, bounded in time; panics unless it succeeds.
async fn run_script(python: &PathBuf, script: &str, args: &[String]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(python)
            .arg(&script)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("autobahn script timed out")
    .expect("cannot run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "autobahn failed:\n{stdout}\n{stderr}");
    stdout
}

/// The Python to run, a config directory and a router.
fn setup() -> (
    PathBuf,
    tempfile::TempDir,
    std::sync::Arc<router_core::Router>,
) {
    (python(), tempfile::tempdir().unwrap(), router())
}

#[tokio::test]
async fn autobahn_python_joins_every_transport_and_serializer() {
    let (python, dir, r) = setup();
    let ep = json!({"type": "tcp", "interface": "127.0.0.1", "port": 0});
    let rs = start(
        &r,
        json!({"type": "rawsocket", "endpoint": ep,
        "options": {"max_message_size": 1048576}}),
        dir.path(),
    )
    .await;
    let web = start(
        &r,
        json!({"type": "web", "endpoint": ep, "paths": {
        "/": {"type": "json", "value": {}},
        "ws": {"type": "websocket", "options": {"auto_ping_interval": 10000,
               "auto_ping_timeout": 5000, "compression": {"deflate": {}}}}}}),
        dir.path(),
    )
    .await;
    let ws = start(&r, json!({"type": "websocket", "endpoint": ep}), dir.path()).await;
    let uni = start(
        &r,
        json!({"type": "universal", "endpoint": ep, "rawsocket": {},
        "websocket": {"ws": {}}}),
        dir.path(),
    )
    .await;
    let port = |t: &router_core::transport::RunningTransport| t.local_addr().port().unwrap();
    let mut items = Vec::new();
    for ser in ["json", "msgpack", "cbor"] {
        items.push(format!("rs://127.0.0.1:{}:{ser}", port(&rs)));
        items.push(format!("rs://127.0.0.1:{}:{ser}", port(&uni)));
        for url in [
            format!("ws://127.0.0.1:{}/ws", port(&web)),
            format!("ws://127.0.0.1:{}/ws", port(&ws)),
            format!("ws://127.0.0.1:{}/ws", port(&uni)),
        ] {
            items.push(format!("{url}:{ser}"));
            items.push(format!("{url}:{ser}:batched"));
        }
    }
    let stdout = run_script(&python, "ab_join.py", &items).await;
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("OK ")).count(),
        items.len(),
        "{stdout}"
    );
    for t in [rs, web, ws, uni] {
        t.stop().await;
    }
}

/// MessagePack arguments are forwarded as the caller's bytes to MessagePack receivers and
/// decoded for the others (`router_core::payload`): every pair of serializers, both ways, over
/// RawSocket and WebSocket, with calls, results, errors and events carrying arguments.
#[tokio::test]
async fn autobahn_python_arguments_cross_every_pair_of_serializers() {
    let (python, dir, r) = setup();
    let ep = json!({"type": "tcp", "interface": "127.0.0.1", "port": 0});
    let rs = start(&r, json!({"type": "rawsocket", "endpoint": ep}), dir.path()).await;
    let ws = start(&r, json!({"type": "websocket", "endpoint": ep}), dir.path()).await;
    let port = |t: &router_core::transport::RunningTransport| t.local_addr().port().unwrap();
    let sers = ["msgpack", "json", "cbor"];
    let mut pairs = Vec::new();
    for callee in sers {
        for caller in sers {
            pairs.push(callee.to_string());
            pairs.push(caller.to_string());
        }
    }
    for url in [
        format!("rs://127.0.0.1:{}", port(&rs)),
        format!("ws://127.0.0.1:{}/ws", port(&ws)),
    ] {
        let args: Vec<String> = std::iter::once(url).chain(pairs.iter().cloned()).collect();
        let stdout = run_script(&python, "ab_cross.py", &args).await;
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("OK ")).count(),
            pairs.len() / 2,
            "{stdout}"
        );
    }
    rs.stop().await;
    ws.stop().await;
}
