//! The running node: [`run`] is the single entry point of `crossbar-edge start` (and of tests
//! that start a node in-process), from a validated config to shutdown.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use worker_host::router_worker::{RouterWorker, run_router_worker};

use crate::config::{ConfigSource, LoadedConfig, WorkerConfig};
use crate::keys::NodeKey;

/// Everything a node needs to run, prepared by the CLI (or a test).
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The node directory (absolute).
    pub cbdir: PathBuf,
    /// The validated config and where it came from.
    pub config: LoadedConfig,
    /// The node's identity.
    pub key: NodeKey,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("node failed: {0}")]
    Failed(String),
}

/// Runs the node until `shutdown` is cancelled.
///
/// Router workers run inside this process for now (the process model, the local management
/// realm and the uplink plug in here): each is started from its config item, in config order;
/// a worker that fails to start stops the node with its error. On shutdown every worker
/// stops its transports and closes its sessions before this returns.
pub async fn run(config: RunConfig, shutdown: CancellationToken) -> Result<(), RunError> {
    let source = match &config.config.source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::Default => "built-in default".to_owned(),
    };
    let node = &config.config.config;
    tracing::info!(
        cbdir = %config.cbdir.display(),
        config = %source,
        node_id = node.controller.id.as_deref().unwrap_or("-"),
        pubkey = %config.key.public_key_hex(),
        "node starting"
    );
    let mut routers: Vec<(String, RouterWorker)> = Vec::new();
    let mut failure = None;
    for w in &node.workers {
        if w.is_disabled() {
            tracing::info!(worker = w.id(), "worker disabled in config; not started");
            continue;
        }
        match w {
            WorkerConfig::Router(_) => {
                let item = match serde_json::to_value(w) {
                    Ok(v) => v,
                    Err(e) => {
                        failure = Some(format!("worker \"{}\": {e}", w.id()));
                        break;
                    }
                };
                match run_router_worker(&item, &config.cbdir).await {
                    Ok(worker) => {
                        for (id, addr) in worker.transport_addrs().await {
                            tracing::info!(worker = w.id(), transport = %id, %addr, "listening");
                        }
                        tracing::info!(worker = w.id(), kind = "router", "worker started");
                        routers.push((w.id().to_owned(), worker));
                    }
                    Err(e) => {
                        failure = Some(format!("worker \"{}\": {e}", w.id()));
                        break;
                    }
                }
            }
            WorkerConfig::Container(_) | WorkerConfig::Guest(_) => {
                tracing::warn!(
                    worker = w.id(),
                    kind = w.kind().as_str(),
                    "this worker type is not run by this node yet; skipped"
                );
            }
        }
    }
    // --- uplink (branch `uplink`) -------------------------------------------------------
    // INTERIM: the local management router with realm `crossbar` belongs to the node
    // controller (branch `controller`); until it lands, one is made here so the uplink has a
    // realm to bridge. The integrator replaces `mgmt` with the controller's `Arc<Router>`.
    let mgmt = router_core::Router::new();
    if let Err(e) = mgmt.start_realm(router_core::RealmConfig::new(
        crate::uplink::bridge::LOCAL_REALM,
    )) {
        failure.get_or_insert(format!("management realm: {e}"));
    }
    let uplink_stop = shutdown.child_token();
    let (uplink_state, _uplink_state_rx) =
        tokio::sync::watch::channel(crate::uplink::UplinkState::default());
    let uplink_task = failure.is_none().then(|| {
        tokio::spawn(crate::uplink::supervise(
            mgmt.clone(),
            config.key.clone(),
            config.cbdir.clone(),
            node.clone(),
            std::env::var(crate::uplink::target::FABRIC_URL_ENV).ok(),
            uplink_state,
            uplink_stop.clone(),
        ))
    });
    // --- end uplink ------------------------------------------------------------------------
    if failure.is_none() {
        tracing::info!(workers = routers.len(), "node started");
        shutdown.cancelled().await;
        tracing::info!("shutdown requested");
    }
    if let Some(t) = uplink_task {
        uplink_stop.cancel();
        let _ = t.await;
    }
    mgmt.shutdown();
    for (id, worker) in routers.into_iter().rev() {
        worker.shutdown().await;
        tracing::info!(worker = %id, "worker stopped");
    }
    match failure {
        Some(message) => Err(RunError::Failed(message)),
        None => Ok(()),
    }
}
