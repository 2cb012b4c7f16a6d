//! The running node: [`run`] is the single entry point of `crossbar-edge start` (and of tests
//! that start a node in-process), from a validated config to shutdown.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigSource, LoadedConfig};
use crate::controller::{Controller, ControllerOptions};
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

/// Runs the node until `shutdown` is cancelled (or `crossbar.shutdown` is called).
///
/// The controller starts the management realm, its API and `node.sock`, then every enabled
/// worker of the config as its own process, one after another; a worker that fails to
/// start stops the node with its error. On shutdown every worker gets SIGTERM, then SIGKILL after a
/// grace period, and this returns only when no worker process is left.
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
    raise_open_files_limit();
    if let ConfigSource::File(p) = &config.config.source {
        let n = crate::config::write::remove_stale_temps(p);
        if n > 0 {
            tracing::warn!(
                count = n,
                "removed temp files of an interrupted config write"
            );
        }
    }
    let _watchdog = crate::notify::spawn_watchdog(shutdown.clone());
    let (key, cbdir, node) = (
        config.key.clone(),
        config.cbdir.clone(),
        config.config.config.clone(),
    );
    let (uplink_state, uplink_state_rx) =
        tokio::sync::watch::channel(crate::uplink::UplinkState::default());
    let options = ControllerOptions {
        uplink: Some(uplink_state_rx),
        ..ControllerOptions::default()
    };
    let controller = Controller::start(config, shutdown.clone(), options).await?;
    // The uplink bridges the management realm to the CDC; it retries on its own and never
    // stops the node.
    let uplink_stop = shutdown.child_token();
    let uplink_task = tokio::spawn(crate::uplink::supervise(
        controller.router(),
        key,
        cbdir,
        node,
        std::env::var(crate::uplink::target::FABRIC_URL_ENV).ok(),
        uplink_state,
        uplink_stop.clone(),
    ));
    let result = controller.boot().await;
    if result.is_ok() {
        crate::notify::ready("configured workers running");
        shutdown.cancelled().await;
        tracing::info!("shutdown requested");
        crate::notify::stopping();
    }
    uplink_stop.cancel();
    let _ = uplink_task.await;
    controller.stop().await;
    result
}

/// Raises the soft limit of open files to the hard limit, as servers do: the default soft
/// limit (1,024) would cap a router near a thousand connections. Workers inherit it.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open files limit"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "cannot raise the open files limit"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open files limit"),
    }
}
