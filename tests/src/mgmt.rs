//! Clients of a node's management realm over `<cbdir>/node.sock`: calls answered as JSON,
//! event streams and bounded waits for one event.

use std::path::Path;
use std::time::{Duration, Instant};

use router_core::client::{CallError, Event, Session, SubscribeOptions};
use router_core::uri::MatchPolicy;
use router_core::{Dict, Value as WampValue};
use serde_json::Value;
use tokio::sync::mpsc;

/// How long one management wait may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A runtime for driving the node from a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Connects to node.sock, waiting (bounded) for the node to create it.
pub async fn connect(cbdir: &Path) -> Session {
    let deadline = Instant::now() + WAIT;
    loop {
        match agent::controller::client::connect(cbdir).await {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("cannot connect to node.sock: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Calls `proc_` with JSON arguments; the first result as JSON.
pub async fn call(s: &Session, proc_: &str, args: Vec<Value>) -> Result<Value, CallError> {
    let args = args.into_iter().map(WampValue::from).collect();
    let r = s.call(proc_, args, Dict::new(), Default::default()).await?;
    Ok(Value::from(r.value()))
}

/// [`call`] that must succeed.
pub async fn call_ok(s: &Session, proc_: &str, args: Vec<Value>) -> Value {
    call(s, proc_, args)
        .await
        .unwrap_or_else(|e| panic!("{proc_}: {e:?}"))
}

/// Subscribes to `topic` (exact or a pattern); the events as a stream.
pub async fn events(s: &Session, topic: &str, policy: MatchPolicy) -> mpsc::Receiver<Event> {
    s.subscribe_stream(
        topic,
        SubscribeOptions {
            match_: policy,
            ..Default::default()
        },
        4096,
    )
    .await
    .unwrap()
    .1
}

/// Waits for an event whose args (as JSON) satisfy `pred`; returns its args.
pub async fn wait_event(
    rx: &mut mpsc::Receiver<Event>,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event: {what}"))
            .expect("subscription open");
        let args: Vec<Value> = ev.args.into_iter().map(Value::from).collect();
        if pred(&args) {
            return args;
        }
    }
}

/// Matches `on_<kind>_status(id, old, new)` of a worker.
pub fn status_is(id: &str, old: &str, new: &str) -> impl Fn(&[Value]) -> bool {
    let (id, old, new) = (id.to_owned(), old.to_owned(), new.to_owned());
    move |a| a.len() == 3 && a[0] == id && a[1] == old && a[2] == new
}
