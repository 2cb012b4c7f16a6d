//! `mgmt`: time to start a realm and a transport through the node management API
//! (`crossbar.worker.<id>.start_router_realm` / `start_router_transport` on the management
//! realm `crossbar`, reached over the node's local `node.sock`), and to the first session
//! joined through the new transport. Reports "n/a" with the reason when the node offers no
//! local management socket or the procedures are not there.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use router_core::{Codec, Value};
use serde_json::json;

use crate::Report;
use crate::conn::{Conn, Target};

const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";

fn na(reason: String) -> Report {
    eprintln!("mgmt: n/a ({reason})");
    json!({ "scenario": "mgmt", "status": "n/a", "reason": reason })
}

fn to_value(v: serde_json::Value) -> Value {
    serde_json::from_value(v).expect("JSON is a WAMP value")
}

/// Joins the management realm over `node.sock`, trying each serializer the node may speak.
async fn join_management(sock: &Path) -> Result<Conn> {
    let target = Target::RawUnix(sock.to_owned());
    let mut last = None;
    for codec in [Codec::MsgPack, Codec::Json, Codec::Cbor] {
        match Conn::join(&target, codec, "crossbar").await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("tried at least one serializer"))
}

enum Called {
    Ok(Vec<Value>),
    Missing,
}

async fn call(c: &mut Conn, proc_: &str, args: Vec<Value>) -> Result<Called> {
    match c.call(proc_, args).await? {
        Ok(v) => Ok(Called::Ok(v)),
        Err((e, _)) if e == NO_SUCH_PROCEDURE => Ok(Called::Missing),
        Err((e, a)) => bail!("{proc_} failed: {e} {a:?}"),
    }
}

/// The first router worker of the node (or `worker` if given).
async fn router_worker(c: &mut Conn, worker: Option<&str>) -> Result<Option<String>> {
    if let Some(w) = worker {
        return Ok(Some(w.to_owned()));
    }
    let Called::Ok(v) = call(c, "crossbar.get_workers", vec![]).await? else {
        return Ok(None);
    };
    let ids: Vec<String> = v
        .first()
        .and_then(|l| l.as_list())
        .map(|l| {
            l.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for id in ids {
        if let Called::Ok(w) =
            call(c, "crossbar.get_worker", vec![Value::String(id.clone())]).await?
        {
            let is_router = w
                .first()
                .and_then(|d| d.as_dict())
                .and_then(|d| d.get("type"))
                .and_then(|t| t.as_str())
                == Some("router");
            if is_router {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

pub async fn run_mgmt(sock: &Path, worker: Option<&str>, port: u16) -> Result<Report> {
    if !sock.exists() {
        return Ok(na(format!(
            "no management socket at {} (the node offers no local management API)",
            sock.display()
        )));
    }
    let mut c = match join_management(sock).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(na(format!(
                "cannot join realm crossbar on {}: {e:#}",
                sock.display()
            )));
        }
    };
    let Some(worker) = router_worker(&mut c, worker).await? else {
        return Ok(na("no router worker found (crossbar.get_workers)".into()));
    };
    let tag = std::process::id();
    let realm_id = format!("benchrealm{tag}");
    let realm_name = format!("bench-{tag}");
    let prefix = format!("crossbar.worker.{worker}");
    let t0 = Instant::now();
    let r = call(
        &mut c,
        &format!("{prefix}.start_router_realm"),
        vec![
            Value::String(realm_id.clone()),
            to_value(json!({ "name": realm_name })),
        ],
    )
    .await?;
    let realm_ms = t0.elapsed().as_secs_f64() * 1e3;
    if let Called::Missing = r {
        return Ok(na(format!("{prefix}.start_router_realm is not registered")));
    }
    let role = json!({
        "name": "anonymous",
        "permissions": [{
            "uri": "", "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
            "disclose": {"caller": false, "publisher": false}, "cache": true
        }]
    });
    let t1 = Instant::now();
    let r = call(
        &mut c,
        &format!("{prefix}.start_router_realm_role"),
        vec![
            Value::String(realm_id.clone()),
            Value::String("benchrole".into()),
            to_value(role),
        ],
    )
    .await?;
    let role_ms = t1.elapsed().as_secs_f64() * 1e3;
    if let Called::Missing = r {
        return Ok(na(format!(
            "{prefix}.start_router_realm_role is not registered"
        )));
    }
    let transport_id = format!("benchtransport{tag}");
    let t2 = Instant::now();
    let r = call(
        &mut c,
        &format!("{prefix}.start_router_transport"),
        vec![
            Value::String(transport_id.clone()),
            to_value(json!({
                "type": "rawsocket",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "serializers": ["msgpack", "json", "cbor"]
            })),
        ],
    )
    .await?;
    let transport_ms = t2.elapsed().as_secs_f64() * 1e3;
    if let Called::Missing = r {
        return Ok(na(format!(
            "{prefix}.start_router_transport is not registered"
        )));
    }
    // Through the new transport into the new realm: the API call returning is not enough.
    let target = Target::RawTcp(format!("127.0.0.1:{port}"));
    let join = loop {
        match Conn::join(&target, Codec::MsgPack, &realm_name).await {
            Ok(_) => break Ok(t0.elapsed()),
            Err(e) if t0.elapsed() > Duration::from_secs(10) => break Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    };
    let _ = call(
        &mut c,
        &format!("{prefix}.stop_router_transport"),
        vec![Value::String(transport_id)],
    )
    .await;
    let _ = call(
        &mut c,
        &format!("{prefix}.stop_router_realm"),
        vec![Value::String(realm_id)],
    )
    .await;
    let join_ms = join?.as_secs_f64() * 1e3;
    eprintln!(
        "mgmt: start_router_realm {realm_ms:.2} ms, start_router_realm_role {role_ms:.2} ms, start_router_transport {transport_ms:.2} ms, first join through it {join_ms:.2} ms after the first call"
    );
    Ok(json!({
        "scenario": "mgmt", "status": "ok", "worker": worker,
        "start_realm_ms": realm_ms, "start_role_ms": role_ms,
        "start_transport_ms": transport_ms, "first_join_ms": join_ms,
    }))
}
