//! `workers`, `logs [-f]` and `call`: local administration of a running node through its
//! management socket (`<cbdir>/node.sock`).

use std::future::Future;

use mgmt_api::procedures::controller;
use mgmt_api::vocabulary::{event, worker_prefix};
use router_core::client::{Session, SubscribeOptions};
use router_core::{Dict, Value as WampValue};
use serde_json::Value;

use super::{CallArgs, DirArgs, LogsArgs, exit};
use crate::controller::client;
use crate::nodedir;

/// Connects to the node and runs `f`; errors are printed, the exit code returned.
fn with_session<F, Fut>(dir: &DirArgs, f: F) -> u8
where
    F: FnOnce(Session) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let cbdir = nodedir::resolve_cbdir(dir.cbdir.as_deref());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(async {
        let session = match client::connect(&cbdir).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("Error: {e}");
                return exit::UNAVAILABLE;
            }
        };
        let r = f(session.clone()).await;
        let _ = session.leave("wamp.close.normal").await;
        match r {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Error: {e}");
                exit::FAILURE
            }
        }
    })
}

async fn call(s: &Session, procedure: &str, args: Vec<Value>) -> Result<Value, String> {
    let args = args.into_iter().map(WampValue::from).collect();
    s.call_simple(procedure, args)
        .await
        .map(Value::from)
        .map_err(|e| e.to_string())
}

pub(super) fn workers(a: &DirArgs) -> u8 {
    with_session(a, |s| async move {
        let ids = call(&s, &controller::GET_WORKERS.uri(None), vec![]).await?;
        println!(
            "{:<20} {:<10} {:<9} {:>8} {:>8}",
            "ID", "TYPE", "STATUS", "PID", "RESTARTS"
        );
        for id in ids.as_array().into_iter().flatten() {
            let w = call(&s, &controller::GET_WORKER.uri(None), vec![id.clone()]).await?;
            let field = |k: &str| match &w[k] {
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                v => v.to_string(),
            };
            println!(
                "{:<20} {:<10} {:<9} {:>8} {:>8}",
                field("id"),
                field("type"),
                field("status"),
                field("pid"),
                field("restarts")
            );
        }
        Ok(())
    })
}

fn print_record(r: &Value) {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
    println!(
        "{} {:<5} [{}] {}",
        s("time"),
        s("level"),
        s("worker"),
        s("text")
    );
}

pub(super) fn logs(a: &LogsArgs) -> u8 {
    let (worker, follow, limit) = (a.worker.clone(), a.follow, a.limit);
    with_session(&a.dir, |s| async move {
        // Subscribe first so nothing falls between the past records and the live ones.
        let mut live = if follow {
            let topic = format!("{}.{}", worker_prefix(&worker), event::ON_LOG);
            Some(
                s.subscribe_stream(&topic, SubscribeOptions::default(), 1024)
                    .await
                    .map_err(|e| e.to_string())?
                    .1,
            )
        } else {
            None
        };
        let past = call(
            &s,
            &controller::GET_WORKER_LOG.uri(None),
            vec![Value::from(worker.clone()), Value::from(limit)],
        )
        .await?;
        for r in past.as_array().into_iter().flatten() {
            print_record(r);
        }
        if let Some(rx) = live.as_mut() {
            loop {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => {
                            if let Some(r) = ev.args.first() {
                                print_record(&Value::from(r.clone()));
                            }
                        }
                        None => return Err("the node closed the connection".into()),
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
        }
        Ok(())
    })
}

pub(super) fn call_cmd(a: &CallArgs) -> u8 {
    let procedure = if a.procedure.starts_with("crossbar.") || a.procedure.starts_with("wamp.") {
        a.procedure.clone()
    } else {
        format!("crossbar.{}", a.procedure)
    };
    let args = match a.args.as_deref().map(serde_json::from_str::<Value>) {
        None => Vec::new(),
        Some(Ok(Value::Array(v))) => v,
        Some(Ok(v)) => vec![v],
        Some(Err(e)) => {
            eprintln!("Error: arguments are not JSON: {e}");
            return exit::USAGE;
        }
    };
    with_session(&a.dir, |s| async move {
        let r = s
            .call(
                &procedure,
                args.into_iter().map(WampValue::from).collect(),
                Dict::new(),
                Default::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let out = if r.args.len() > 1 {
            Value::Array(r.args.into_iter().map(Value::from).collect())
        } else {
            Value::from(r.value())
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        Ok(())
    })
}

/// The uplink line of `status`, from the running node's `crossbar.get_status` (bounded wait);
/// `None` when the node cannot be asked.
pub(super) fn uplink_summary(cbdir: &std::path::Path) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        let ask = async {
            let s = client::connect(cbdir).await.ok()?;
            let status = call(&s, &controller::GET_STATUS.uri(None), vec![])
                .await
                .ok();
            let _ = s.leave("wamp.close.normal").await;
            status
        };
        let status = tokio::time::timeout(std::time::Duration::from_secs(5), ask)
            .await
            .ok()??;
        Some(describe_uplink(&status["uplink"]))
    })
}

/// `connected to wss://… (management realm r, node id n)`, `unpaired at …`, `not configured`.
fn describe_uplink(u: &Value) -> String {
    let s = |k: &str| u.get(k).and_then(Value::as_str);
    match s("state") {
        None => "not configured".into(),
        Some("connected") => format!(
            "connected to {} (management realm {}, node id {})",
            s("url").unwrap_or("?"),
            s("management_realm").unwrap_or("?"),
            s("management_node_id").unwrap_or("?")
        ),
        Some("disconnected") if s("url").is_none() => {
            "not connected (no management center configured)".into()
        }
        Some(state) => match s("url") {
            Some(url) => format!("{state} ({url})"),
            None => state.to_owned(),
        },
    }
}
