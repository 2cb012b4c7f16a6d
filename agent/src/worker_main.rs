//! `crossbar-edge _exec_worker`: the inside of a native worker process. It reads its config
//! item from the controller, joins the management realm over its stdin/stdout, starts its
//! runtime, announces `on_worker_ready`, and runs until SIGTERM or until the controller goes
//! away. Its log goes to stderr as tracing JSON, one record per line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mgmt_api::vocabulary::{error, event, worker_prefix};
use router_core::client::{CallError, PublishOptions, RegisterOptions, Session};
use router_core::{Dict, Payload, Value as WampValue};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use worker_host::components::class::PythonSettings;
use worker_host::components::{
    ComponentApi, ComponentHost, ContainerPolicy, HostOptions, LogSink, LogStream, event_channel,
};
use worker_host::process_api::serve_process_api;
use worker_host::router_api::RouterApi;
use worker_host::router_worker::RouterWorker;
use worker_host::supervisor::pipe;

use mgmt_api::procedures::router::GET_LIVE_CONFIG;

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
    let (router, container) = match kind {
        NativeType::Router => (
            Some(serve_router_worker(&session, worker_id, &item, cbdir).await?),
            None,
        ),
        NativeType::Container => (
            None,
            Some(serve_container_worker(&session, worker_id, &item, cbdir).await?),
        ),
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

    let container_done = async {
        match &container {
            Some(c) => c.shutdown_requested().await,
            None => std::future::pending().await,
        }
    };
    let why = tokio::select! {
        r = session.closed() => format!("management session ended ({r})"),
        _ = term.recv() => "SIGTERM".to_owned(),
        _ = int.recv() => "SIGINT".to_owned(),
        reason = container_done => format!("container shutdown: {reason}"),
    };
    tracing::info!(worker = worker_id, reason = %why, "worker stopping");
    if let Some(api) = router {
        // Components first: their sessions leave the realms before the router goes.
        if let Some(c) = api.components() {
            c.host().shutdown().await;
        }
        api.worker().shutdown().await;
    }
    if let Some(c) = container {
        c.host().shutdown().await;
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
    let opts = component_options(
        HostOptions::router(worker.router().clone(), cbdir),
        worker_id,
        item,
    );
    let components = serve_components(session, worker_id, opts).await?;
    api.attach_components(components);
    api.boot(item)
        .await
        .map_err(|e| format!("router worker: {}", e.message))?;
    for (id, addr) in worker.transport_addrs().await {
        tracing::info!(worker = worker_id, transport = %id, %addr, "listening");
    }
    let weak = Arc::downgrade(&api);
    register_live_config(session, worker_id, item, move || {
        let weak = weak.clone();
        async move {
            match weak.upgrade() {
                Some(api) => Some(api.live_config().await),
                None => None,
            }
        }
    })
    .await?;
    Ok(api)
}

/// Serves the container API on `session` and starts the item's `components`, with the
/// container's `options.restart` / `options.shutdown` deciding what follows a component's end.
pub async fn serve_container_worker(
    session: &Session,
    worker_id: &str,
    item: &Value,
    cbdir: &Path,
) -> Result<Arc<ComponentApi>, String> {
    let options = item.get("options").cloned().unwrap_or_else(|| json!({}));
    let policy = ContainerPolicy::from_options(&options).map_err(|e| format!("options.{e}"))?;
    let mut opts = component_options(HostOptions::container(cbdir), worker_id, item);
    opts.policy = Some(policy);
    let api = serve_components(session, worker_id, opts).await?;
    let components: Vec<Value> = match item.get("components") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(c)) => c.clone(),
        Some(other) => return Err(format!("components: expected a list, got {other}")),
    };
    api.boot(&components, false)
        .await
        .map_err(|e| format!("container worker: {}", e.message))?;
    let weak = Arc::downgrade(&api);
    let id = worker_id.to_owned();
    register_live_config(session, worker_id, item, move || {
        let weak = weak.clone();
        let id = id.clone();
        async move {
            let api = weak.upgrade()?;
            Some(json!({"id": id, "type": "container", "components": api.live_config().await}))
        }
    })
    .await?;
    Ok(api)
}

/// The node config names the worker restart policy `always|on-failure|never` (Crossbar.io's
/// `restart-*` are aliases); the container reads the same key for its components.
/// Python settings from the worker's `options.python` / `options.pythonpath`, and component
/// output into this worker's log (tracing on stderr, which the controller keeps per worker).
fn component_options(mut opts: HostOptions, worker_id: &str, item: &Value) -> HostOptions {
    let options = item.get("options");
    opts.python = PythonSettings {
        python: options
            .and_then(|o| o.get("python"))
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        pythonpath: options
            .and_then(|o| o.get("pythonpath"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let worker = worker_id.to_owned();
    let sink: LogSink = Arc::new(move |l| {
        let stream = match l.stream {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        };
        tracing::info!(worker = %worker, component_id = %l.component_id, pid = l.pid, stream, "{}", l.line);
    });
    opts.log_sink = sink;
    opts
}

async fn serve_components(
    session: &Session,
    worker_id: &str,
    mut opts: HostOptions,
) -> Result<Arc<ComponentApi>, String> {
    let (sink, events) = event_channel();
    opts.events = sink;
    ComponentApi::serve(session.clone(), worker_id, ComponentHost::new(opts), events)
        .await
        .map_err(|e| format!("serving the component API: {e}"))
}

/// Registers `get_live_config`: the worker's live item from `live`, with the start item's
/// `options` kept, for `save_config`.
async fn register_live_config<F, Fut>(
    session: &Session,
    worker_id: &str,
    item: &Value,
    live: F,
) -> Result<(), String>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<Value>> + Send + 'static,
{
    let options = item.get("options").cloned();
    let live = Arc::new(live);
    session
        .register(
            &GET_LIVE_CONFIG.uri(Some(worker_id)),
            RegisterOptions::default(),
            move |_inv| {
                let live = live.clone();
                let options = options.clone();
                async move {
                    let Some(mut item) = live().await else {
                        return Err(CallError::new(error::NOT_RUNNING));
                    };
                    if let (Some(options), Some(map)) = (options, item.as_object_mut()) {
                        map.insert("options".into(), options);
                    }
                    Ok(Payload::new(vec![WampValue::from(item)], Dict::new()))
                }
            },
        )
        .await
        .map_err(|e| format!("registering {}: {e}", GET_LIVE_CONFIG.name))?;
    Ok(())
}
