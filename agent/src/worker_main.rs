//! `crossbar-edge _exec_worker`: the inside of a native worker process. It reads its config
//! item from the controller, joins the management realm over its stdin/stdout, starts its
//! runtime, announces `on_worker_ready`, and runs until SIGTERM or until the controller goes
//! away. Its log goes to stderr as tracing JSON, one record per line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use router_core::client::{CallError, PublishOptions, RegisterOptions, Session};
use router_core::{Dict, Payload, Value as WampValue};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use worker_host::process_api::serve_process_api;
use worker_host::router_api::RouterApi;
use worker_host::router_worker::RouterWorker;
use worker_host::supervisor::pipe;
use worker_host::vocabulary::{error, event, worker_prefix};

use crate::controller::config_ops::GET_LIVE_CONFIG;

/// The native worker types a process can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NativeType {
    Router,
    Container,
}

impl NativeType {
    fn as_str(self) -> &'static str {
        match self {
            NativeType::Router => "router",
            NativeType::Container => "container",
        }
    }
}

/// Runs a worker process to its end; the process exit code.
pub fn exec_worker(cbdir: PathBuf, worker_id: String, kind: NativeType, loglevel: &str) -> u8 {
    let filter = tracing_subscriber::EnvFilter::new(loglevel);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return 1;
        }
    };
    let r = runtime.block_on(run(&cbdir, &worker_id, kind));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match r {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(worker = %worker_id, "{e}");
            1
        }
    }
}

async fn run(cbdir: &Path, worker_id: &str, kind: NativeType) -> Result<(), String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let (session, item) = pipe::join_controller(worker_id)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        worker = worker_id,
        kind = kind.as_str(),
        pid = std::process::id(),
        "worker joined the management realm"
    );
    // Crossbar.io's boot order: the worker, its CPU affinity, then realms, roles, transports.
    let process = serve_process_api(session.clone(), worker_id)
        .await
        .map_err(|e| format!("serving the process API: {e}"))?;
    if let Some(cpus) = item.pointer("/options/cpu_affinity") {
        process
            .set_limit("cpu_affinity", json!({"cpus": cpus, "relative": true}))
            .await
            .map_err(|e| format!("options.cpu_affinity: {e}"))?;
    }
    let router = match kind {
        NativeType::Router => Some(serve_router_worker(&session, worker_id, &item, cbdir).await?),
        // Container workers host components (later); until then they run and idle.
        NativeType::Container => None,
    };

    let ready = json!({"type": kind.as_str(), "id": worker_id, "pid": std::process::id()});
    session
        .publish(
            &format!("{}.{}", worker_prefix(worker_id), event::ON_WORKER_READY),
            vec![WampValue::from(ready)],
            Dict::new(),
            PublishOptions::acknowledged(),
        )
        .await
        .map_err(|e| format!("announcing readiness: {e}"))?;
    tracing::info!(worker = worker_id, "worker ready");

    let why = tokio::select! {
        r = session.closed() => format!("management session ended ({r})"),
        _ = term.recv() => "SIGTERM".to_owned(),
        _ = int.recv() => "SIGINT".to_owned(),
    };
    tracing::info!(worker = worker_id, reason = %why, "worker stopping");
    if let Some(api) = router {
        api.worker().shutdown().await;
    }
    drop(process);
    if !session.is_closed() {
        let _ = session.leave("wamp.close.normal").await;
    }
    tracing::info!(worker = worker_id, "worker stopped");
    Ok(())
}

/// Serves the router worker API on `session` and boots `item` through it, so every realm,
/// role and transport of the config announces itself like one started at runtime.
/// `get_live_config` answers the live state with the item's `options` kept, for `save_config`.
pub async fn serve_router_worker(
    session: &Session,
    worker_id: &str,
    item: &Value,
    cbdir: &Path,
) -> Result<Arc<RouterApi>, String> {
    let worker = Arc::new(RouterWorker::new(cbdir));
    let api = RouterApi::serve(session.clone(), worker_id, worker.clone())
        .await
        .map_err(|e| format!("serving the router API: {e}"))?;
    api.boot(item)
        .await
        .map_err(|e| format!("router worker: {}", e.message))?;
    for (id, addr) in worker.transport_addrs().await {
        tracing::info!(worker = worker_id, transport = %id, %addr, "listening");
    }
    let options = item.get("options").cloned();
    let weak = Arc::downgrade(&api);
    session
        .register(
            &format!("{}.{GET_LIVE_CONFIG}", worker_prefix(worker_id)),
            RegisterOptions::default(),
            move |_inv| {
                let weak = weak.clone();
                let options = options.clone();
                async move {
                    let Some(api) = weak.upgrade() else {
                        return Err(CallError::new(error::NOT_RUNNING));
                    };
                    let mut live = api.live_config().await;
                    if let (Some(options), Some(map)) = (options, live.as_object_mut()) {
                        map.insert("options".into(), options);
                    }
                    Ok(Payload::new(vec![WampValue::from(live)], Dict::new()))
                }
            },
        )
        .await
        .map_err(|e| format!("registering {GET_LIVE_CONFIG}: {e}"))?;
    Ok(api)
}
