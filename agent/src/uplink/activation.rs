//! Follows `<cbdir>/key.activate`: a master that auto-pairs nodes (`CROSSBAR_WATCH_TO_PAIR`)
//! drops it next to the node key while the node runs. Crossbar.io's edge node polls for it
//! every second and reboots when it appears; here the uplink is restarted with the new target
//! instead, and the node's workers are not touched.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use router_core::Router;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::state::UplinkState;
use super::target::{self, ACTIVATION_FILE, TargetSource, UplinkTarget};
use crate::config::NodeConfig;
use crate::keys::NodeKey;

/// How often the node directory is checked for a new activation file.
pub const POLL: Duration = Duration::from_secs(1);

/// Runs the uplink of a node until `shutdown`: resolves the target (`key.activate` >
/// `env_url` > config), runs [`super::run`] on it, and while the target does not come from
/// `key.activate`, watches for that file to appear and then switches to it. With no target
/// and no activation file, it only watches.
pub async fn supervise(
    local: Arc<Router>,
    key: NodeKey,
    cbdir: PathBuf,
    config: NodeConfig,
    env_url: Option<String>,
    state: watch::Sender<UplinkState>,
    shutdown: CancellationToken,
) {
    let resolved = target::resolve(&cbdir, &config, env_url.as_deref());
    let mut current: Option<UplinkTarget> = match resolved {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "management uplink: no usable target");
            None
        }
    };
    if current.is_none() {
        tracing::info!(
            file = %cbdir.join(ACTIVATION_FILE).display(),
            "no management uplink configured; waiting for an activation file"
        );
    }
    let state = Arc::new(state);
    loop {
        let stop = shutdown.child_token();
        let task = current.clone().map(|t| {
            let (local, key, stop) = (local.clone(), key.clone(), stop.clone());
            let (fwd, mut rx) = watch::channel(UplinkState::default());
            let state = state.clone();
            // `run` owns its sender; mirror its states into ours so restarts keep one channel.
            tokio::spawn(async move {
                let mirror = async {
                    while rx.changed().await.is_ok() {
                        let s = rx.borrow_and_update().clone();
                        state.send_replace(s);
                    }
                };
                tokio::join!(super::run(local, key, t, fwd, stop), mirror);
            })
        });
        let from_file = matches!(
            current.as_ref().map(|t| &t.source),
            Some(TargetSource::ActivationFile(_))
        );
        let next = if from_file {
            shutdown.cancelled().await;
            None
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => None,
                t = wait_for_activation(&cbdir, &config, env_url.as_deref()) => Some(t),
            }
        };
        stop.cancel();
        if let Some(task) = task {
            let _ = task.await;
        }
        match next {
            Some(t) => {
                tracing::info!(url = %t.url, source = %t.source, "activation file found: switching the management uplink to it");
                current = Some(t);
            }
            None => break,
        }
    }
    state.send_replace(UplinkState::Disconnected);
}

/// Resolves once `key.activate` exists and parses (a broken file is reported once and
/// re-read on every poll, since the master may still be writing it).
async fn wait_for_activation(
    cbdir: &std::path::Path,
    config: &NodeConfig,
    env_url: Option<&str>,
) -> UplinkTarget {
    let path = cbdir.join(ACTIVATION_FILE);
    let mut reported = false;
    loop {
        tokio::time::sleep(POLL).await;
        if !path.exists() {
            continue;
        }
        match target::resolve(cbdir, config, env_url) {
            Ok(Some(t)) if matches!(t.source, TargetSource::ActivationFile(_)) => return t,
            Ok(_) => {}
            Err(e) => {
                if !reported {
                    tracing::warn!(error = %e, "activation file not usable (yet)");
                    reported = true;
                }
            }
        }
    }
}
