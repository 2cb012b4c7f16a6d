//! The CDC uplink: one outbound, authenticated WAMP connection to the management center
//! (`crossbar-cdc` or Crossbar.io's master), through which the node's local management API
//! (`crossbar.*` on the local realm `crossbar`) is reachable as
//! `crossbarfabriccenter.node.<node_id>.*`, exactly as Crossbar.io's edge node does it.
//!
//! - [`target`]: where to connect (`key.activate` > `$CROSSBAR_FABRIC_URL` > config);
//! - [`connect`] / [`auth`]: WebSocket + WAMP-cryptosign with the node key;
//! - [`bridge`]: mirrors local registrations and events;
//! - [`heartbeat`]: periodic heartbeats;
//! - [`state`]: what the uplink is doing, for status reports;
//! - [`activation`]: [`supervise`] = resolve + [`run`] + switch to a `key.activate` that
//!   appears later (what `node.rs` starts).
//!
//! The uplink is never on the data path: while it is down the node keeps serving, and
//! [`run`] reconnects (backoff 1 s ×1.5 up to 60 s, plus up to 1 s of jitter) until shutdown.
//! A node the master does not know is told so clearly and retried slowly; it never exits.

pub mod activation;
pub mod auth;
pub mod bridge;
pub mod connect;
pub mod heartbeat;
pub mod state;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use router_core::Router;
use router_core::client::{CloseReason, Session};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::keys::NodeKey;

pub use activation::supervise;
pub use state::UplinkState;
pub use target::{TargetSource, UplinkTarget, resolve};

/// A session that lasted this long resets the reconnect backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// Calls the master's status procedure once after joining (as the real edge node does).
const MREALM_GET_STATUS: &str = "crossbarfabriccenter.mrealm.get_status";

/// Reconnect delays: 1 s, ×1.5 per failed attempt, at most 60 s (Twisted's `backoffPolicy`,
/// which Crossbar.io's edge node uses), plus jitter so nodes restarted together do not
/// reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const INITIAL: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(60);
    pub const FACTOR: f64 = 1.5;
    pub const MAX_JITTER: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        Backoff {
            next: Self::INITIAL,
        }
    }

    pub fn reset(&mut self) {
        self.next = Self::INITIAL;
    }

    /// The delay before the next attempt (without jitter), and advances.
    pub fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.mul_f64(Self::FACTOR).min(Self::MAX);
        d
    }

    /// [`step`](Self::step) plus a random jitter in `[0, MAX_JITTER)`.
    pub fn next_delay(&mut self) -> Duration {
        self.step() + jitter(Self::MAX_JITTER)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

fn jitter(max: Duration) -> Duration {
    let r = getrandom::u32().unwrap_or(0);
    max.mul_f64(f64::from(r) / (f64::from(u32::MAX) + 1.0))
}

/// Runs the uplink until `shutdown`: connects to `target` as the node with `key`, bridges the
/// local realm `crossbar` of `local`, sends heartbeats, and reconnects whenever the connection
/// is lost. `state` follows every change.
pub async fn run(
    local: Arc<Router>,
    key: NodeKey,
    target: UplinkTarget,
    state: watch::Sender<UplinkState>,
    shutdown: CancellationToken,
) {
    let pubkey = key.public_key_hex();
    tracing::info!(url = %target.url, source = %target.source, %pubkey, "management uplink starting");
    let mut backoff = Backoff::new();
    let mut attempt: u32 = 0;
    let mut unpaired_logged = false;
    while !shutdown.is_cancelled() {
        attempt += 1;
        state.send_replace(UplinkState::Connecting {
            url: target.url.clone(),
            attempt,
        });
        let opened = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = connect::open(&target, &key) => r,
        };
        let delay = match opened {
            Ok(session) => {
                attempt = 0;
                unpaired_logged = false;
                let since = std::time::Instant::now();
                let reason = serve(&local, &key, &target, session, &state, &shutdown).await;
                state.send_replace(UplinkState::Disconnected);
                if shutdown.is_cancelled() {
                    break;
                }
                // A session that ends right after joining (the master drops it, the local realm
                // is not there) counts as a failed attempt: no reconnect storm.
                if since.elapsed() >= STABLE_SESSION {
                    backoff.reset();
                }
                tracing::warn!(url = %target.url, reason = %reason, "management uplink lost; reconnecting");
                backoff.next_delay()
            }
            Err(e) if auth::is_unpaired(&e) => {
                state.send_replace(UplinkState::Unpaired {
                    url: target.url.clone(),
                    pubkey: pubkey.clone(),
                });
                let hint = format!(
                    "this node is not paired with the management center at {url}: pair its \
                     public key {pubkey} with a management realm (Crossbar.io master: `crossbar \
                     shell pair node {pubkey} <mrealm> <node_id>`; crossbar-cdc: \
                     cdc.manage.register_node@1(<mrealm>, \"{pubkey}\", <node_id>, null)). The \
                     node keeps serving and retries every {retry:?}",
                    url = target.url,
                    retry = target.unpaired_retry,
                );
                // Loud once, then quieter: the node may wait for pairing for a long time.
                if unpaired_logged {
                    tracing::info!(%pubkey, url = %target.url, "node still not paired; retrying");
                } else {
                    tracing::warn!(%pubkey, url = %target.url, "{hint}");
                    unpaired_logged = true;
                }
                backoff.reset();
                target.unpaired_retry
            }
            Err(e) => {
                state.send_replace(UplinkState::Disconnected);
                let delay = backoff.next_delay();
                tracing::warn!(url = %target.url, error = %e, attempt, retry_in = ?delay, "management uplink: cannot connect");
                delay
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    state.send_replace(UplinkState::Disconnected);
    tracing::info!("management uplink stopped");
}

/// Serves one established uplink session until it ends (or shutdown); returns why it ended.
async fn serve(
    local: &Arc<Router>,
    key: &NodeKey,
    target: &UplinkTarget,
    session: Session,
    state: &watch::Sender<UplinkState>,
    shutdown: &CancellationToken,
) -> CloseReason {
    let details = session.details().clone();
    let node_id = details.authid.clone();
    tracing::info!(
        url = %target.url,
        realm = %details.realm,
        node_id = %node_id,
        session = details.session,
        "management uplink connected"
    );
    if !valid_node_id(&node_id) {
        let reason = format!("the master welcomed the node with an unusable node id {node_id:?}");
        tracing::error!("{reason}");
        let _ = session.leave("wamp.close.normal").await;
        return CloseReason::new("wamp.error.invalid_argument", reason);
    }
    if let Some(a) = target
        .activation
        .as_ref()
        .and_then(|a| a.node_authid.as_ref())
        && *a != node_id
    {
        tracing::info!(activation = %a, welcome = %node_id, "the master's node id differs from key.activate; using the master's");
    }
    let bridge = tokio::select! {
        _ = shutdown.cancelled() => {
            let _ = session.leave("wamp.close.normal").await;
            return CloseReason::new("wamp.close.normal", "node shutting down");
        }
        b = bridge::Bridge::start(local, &session, &node_id) => b,
    };
    let bridge = match bridge {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "uplink bridge could not start");
            let _ = session.leave("wamp.close.normal").await;
            return CloseReason::new("wamp.error.runtime_error", format!("bridge: {e}"));
        }
    };
    state.send_replace(UplinkState::Connected {
        url: target.url.clone(),
        realm: details.realm.clone(),
        node_id: node_id.clone(),
        session_id: details.session,
        authextra: details.authextra.clone(),
    });
    let stop = CancellationToken::new();
    let hb = tokio::spawn(heartbeat::run(
        session.clone(),
        bridge.local().clone(),
        heartbeat::Identity {
            node_id: node_id.clone(),
            mrealm: details.realm.clone(),
            pubkey: key.public_key_hex(),
        },
        target.heartbeat.clone(),
        stop.clone(),
    ));
    let probe = {
        let s = session.clone();
        tokio::spawn(async move {
            let opts = router_core::client::CallOptions {
                timeout: Some(Duration::from_secs(10)),
                ..Default::default()
            };
            match s
                .call(MREALM_GET_STATUS, Vec::new(), Default::default(), opts)
                .await
            {
                Ok(r) => tracing::debug!(status = ?r.value(), "management realm status"),
                Err(e) => tracing::debug!(error = %e, "management realm status not available"),
            }
        })
    };
    let reason = tokio::select! {
        r = session.closed() => r,
        r = bridge.local().closed() => {
            tracing::warn!(reason = %r, "local management session ended");
            let _ = session.leave("wamp.close.normal").await;
            r
        }
        _ = shutdown.cancelled() => {
            let _ = session.leave("wamp.close.normal").await;
            CloseReason::new("wamp.close.normal", "node shutting down")
        }
    };
    stop.cancel();
    probe.abort();
    let _ = hb.await;
    bridge.stop().await;
    reason
}

/// Node ids become URI components; Crossbar.io's master allows `[a-z0-9][a-z0-9_\-]*`.
fn valid_node_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['.', '#', ' ']) && !id.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap() {
        let mut b = Backoff::new();
        let steps: Vec<f64> = (0..14).map(|_| b.step().as_secs_f64()).collect();
        assert_eq!(steps[0], 1.0);
        assert_eq!(steps[1], 1.5);
        assert_eq!(steps[2], 2.25);
        assert_eq!(*steps.last().unwrap(), 60.0);
        assert!(steps.windows(2).all(|w| w[1] >= w[0]));
        b.reset();
        let d = b.next_delay();
        assert!(
            d >= Duration::from_secs(1) && d < Duration::from_secs(2),
            "{d:?}"
        );
    }

    #[test]
    fn node_ids() {
        assert!(valid_node_id("node1"));
        assert!(valid_node_id("node-664e99"));
        assert!(!valid_node_id(""));
        assert!(!valid_node_id("a.b"));
    }
}
