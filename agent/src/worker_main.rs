//! `crossbar-edge _exec_worker`: the inside of a native worker process. It reads its config
//! item from the controller, joins the management realm over its stdin/stdout, starts its
//! runtime, announces `on_worker_ready`, and runs until SIGTERM or until the controller goes
//! away. Its log goes to stderr as tracing JSON, one record per line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use router_core::client::{PublishOptions, RegisterOptions, Session};
use router_core::{Dict, Payload, Value as WampValue};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use worker_host::router_worker::{RouterWorker, run_router_worker};
use worker_host::supervisor::pipe;
use worker_host::vocabulary::{event, worker_prefix};

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
    let router = match kind {
        NativeType::Router => Some(serve_router_worker(&session, worker_id, &item, cbdir).await?),
        // Container workers host components (later); until then they run and idle.
        NativeType::Container => None,
    };
    // INTEGRATION (branch `limits`): the process API of this worker, one call:
    // worker_host::process_api::serve_process_api(session.clone(), worker_id)
    //     .await
    //     .map_err(|e| e.to_string())?;

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
    if let Some(router) = router {
        router.shutdown().await;
    }
    if !session.is_closed() {
        let _ = session.leave("wamp.close.normal").await;
    }
    tracing::info!(worker = worker_id, "worker stopped");
    Ok(())
}

/// Starts a router worker from its item and serves its management API on `session`.
///
/// INTEGRATION (branch `workerapi`): this is the one place to switch to the router API:
/// ```text
/// let worker = Arc::new(RouterWorker::new(cbdir));
/// let api = RouterApi::serve(session.clone(), worker_id, worker.clone()).await?;
/// api.boot(item).await?;
/// // get_live_config answers api.live_config().await instead of the start item
/// ```
pub async fn serve_router_worker(
    session: &Session,
    worker_id: &str,
    item: &Value,
    cbdir: &Path,
) -> Result<Arc<RouterWorker>, String> {
    let worker = Arc::new(
        run_router_worker(item, cbdir)
            .await
            .map_err(|e| format!("router worker: {e}"))?,
    );
    for (id, addr) in worker.transport_addrs().await {
        tracing::info!(worker = worker_id, transport = %id, %addr, "listening");
    }
    let live = item.clone();
    session
        .register(
            &format!("{}.{GET_LIVE_CONFIG}", worker_prefix(worker_id)),
            RegisterOptions::default(),
            move |_inv| {
                let live = live.clone();
                async move { Ok(Payload::new(vec![WampValue::from(live)], Dict::new())) }
            },
        )
        .await
        .map_err(|e| format!("registering {GET_LIVE_CONFIG}: {e}"))?;
    Ok(worker)
}
