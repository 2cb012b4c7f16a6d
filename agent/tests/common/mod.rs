//! Helpers shared by the uplink tests: ports, child output, the test venv's Python, and a
//! local management realm with a stand-in for the node controller's API.
#![allow(dead_code)]

pub mod cdc;
pub mod master;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::uplink::{self, UplinkState};
use router_core::client::{CallError, CallOptions, PublishOptions, RegisterOptions, Session};
use router_core::value::{Dict, List, Value};
use router_core::{Payload, Router};
use tokio::sync::watch;

pub const WAIT: Duration = Duration::from_secs(20);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn python() -> PathBuf {
    std::env::var("EDGE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target/test-venv/bin/python"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Collects a child's stdout and stderr lines.
pub fn capture(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let streams: Vec<Box<dyn std::io::Read + Send>> = vec![
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for s in streams {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
    }
    log
}

pub async fn call(s: &Session, uri: &str, args: List) -> Result<Value, CallError> {
    let opts = CallOptions {
        timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    s.call(uri, args, Dict::new(), opts)
        .await
        .map(|r| r.value())
}

pub fn v(j: serde_json::Value) -> Value {
    Value::from(j)
}

/// Waits (bounded) until `f` holds for the uplink state.
pub async fn wait_state(
    rx: &mut watch::Receiver<UplinkState>,
    what: &str,
    f: impl Fn(&UplinkState) -> bool,
) {
    let ok = matches!(
        tokio::time::timeout(WAIT, rx.wait_for(|s| f(s))).await,
        Ok(Ok(_))
    );
    assert!(ok, "uplink never became {what}; now {:?}", rx.borrow());
}

/// Polls `f` until it returns `Some` (bounded).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The local management realm with a stand-in for the node controller's API.
pub async fn local_node(router: &Arc<Router>) -> Session {
    let s = uplink::bridge::join_local(router, "controller")
        .await
        .unwrap();
    let reg = RegisterOptions::default();
    s.register("crossbar.get_status", reg, |_| async {
        Ok(Payload::new(
            vec![v(
                serde_json::json!({"title": "test node", "workers_by_type": {"router": 1}}),
            )],
            Dict::new(),
        ))
    })
    .await
    .unwrap();
    s.register("crossbar.get_workers", reg, |_| async {
        Ok(Payload::new(
            vec![v(serde_json::json!(["worker1"]))],
            Dict::new(),
        ))
    })
    .await
    .unwrap();
    s.register("crossbar.get_worker", reg, |inv| async move {
        match inv.args.first().and_then(Value::as_str) {
            Some("worker1") => Ok(Payload::new(
                vec![v(
                    serde_json::json!({"id": "worker1", "type": "router", "status": "started"}),
                )],
                Dict::new(),
            )),
            other => Err(CallError::with_message(
                "crossbar.error.no_such_worker",
                format!("no worker {other:?}"),
            )),
        }
    })
    .await
    .unwrap();
    // Publishes its event excluding the caller, as the controller does.
    let weak = s.downgrade();
    s.register("crossbar.start_worker", reg, move |inv| {
        let s = weak.upgrade();
        async move {
            let s = s.unwrap();
            let id = inv.args.first().cloned().unwrap_or_default();
            let publish = PublishOptions {
                exclude: inv.caller().into_iter().collect(),
                ..PublishOptions::acknowledged()
            };
            s.publish(
                "crossbar.on_worker_status",
                vec![id.clone(), "stopped".into(), "started".into()],
                Dict::new(),
                publish,
            )
            .await?;
            Ok(Payload::new(
                vec![v(
                    serde_json::json!({"id": id, "status": "started", "args": inv.args}),
                )],
                Dict::new(),
            ))
        }
    })
    .await
    .unwrap();
    // A worker-level procedure, as a router worker registers it.
    let weak = s.downgrade();
    s.register("crossbar.worker.rtr1.start_router_realm", reg, move |inv| {
        let s = weak.upgrade();
        async move {
            let s = s.unwrap();
            let id = inv.args.first().cloned().unwrap_or_default();
            s.publish(
                "crossbar.worker.rtr1.on_router_realm_started",
                vec![id.clone()],
                Dict::new(),
                PublishOptions::acknowledged(),
            )
            .await?;
            Ok(Payload::new(
                vec![v(serde_json::json!({"id": id, "config": inv.args.get(1)}))],
                Dict::new(),
            ))
        }
    })
    .await
    .unwrap();
    s.register("crossbar.test_echo", reg, |inv| async move {
        Ok(Payload::new(inv.args, inv.kwargs))
    })
    .await
    .unwrap();
    s
}
