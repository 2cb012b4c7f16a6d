//! The running node: [`run`] is the single entry point of `crossbar-edge start` (and of tests
//! that start a node in-process), from a validated config to shutdown.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

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
/// Today it announces the config and waits for the shutdown signal. The node controller
/// (local management router, workers, uplink) plugs in here: start it from `config`, then
/// `select!` on `shutdown.cancelled()` and stop workers under a grace timeout before
/// returning.
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
        "node configured"
    );
    for w in &node.workers {
        let detail = match w {
            WorkerConfig::Router(r) => format!(
                "{} realms, {} transports",
                r.realms.len(),
                r.transports.len()
            ),
            WorkerConfig::Container(c) => format!("{} components", c.components.len()),
            WorkerConfig::Guest(g) => format!("executable {}", g.executable),
        };
        tracing::info!(
            worker = w.id(),
            kind = w.kind().as_str(),
            disabled = w.is_disabled(),
            "{detail}"
        );
    }
    shutdown.cancelled().await;
    tracing::info!("shutdown requested");
    Ok(())
}
