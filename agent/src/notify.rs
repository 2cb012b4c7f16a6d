//! The service manager's readiness protocol (`sd_notify(3)`), so a `Type=notify` systemd unit
//! knows when the node is really serving: `READY=1` once the configured workers listen,
//! `STOPPING=1` when shutdown starts, and `WATCHDOG=1` pings while the runtime is alive.
//!
//! Without `NOTIFY_SOCKET` (not under systemd, or a test) every call is a no-op, so the node
//! behaves the same everywhere. A failed send is logged and never stops the node: the service
//! manager's view is advisory, serving clients is not.
//!
//! `NOTIFY_SOCKET` is left in the environment (removing it is unsound once threads run);
//! worker processes should not inherit it — systemd ignores them anyway with the default
//! `NotifyAccess=main`.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Tells the service manager the node is up; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(
        &[NotifyState::Ready, NotifyState::Status(status)],
        "READY=1",
    );
}

/// Tells the service manager the node is shutting down (workers are being stopped).
pub fn stopping() {
    send(
        &[NotifyState::Stopping, NotifyState::Status("stopping")],
        "STOPPING=1",
    );
}

/// When the unit sets `WatchdogSec=` (systemd passes `WATCHDOG_USEC` for this PID), pings the
/// watchdog at half that interval until `shutdown`; `None` when no watchdog is asked for.
///
/// The pings run on the node's async runtime on purpose: if the runtime stalls, the pings stop
/// and systemd restarts the node.
pub fn spawn_watchdog(shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    let timeout = sd_notify::watchdog_enabled()?;
    let every = ping_interval(timeout);
    tracing::info!(
        timeout_ms = timeout.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => send(&[NotifyState::Watchdog], "WATCHDOG=1"),
            }
        }
    }))
}

/// Half the watchdog timeout (as `sd_watchdog_enabled(3)` recommends), never below 1 ms.
fn ping_interval(timeout: Duration) -> Duration {
    (timeout / 2).max(Duration::from_millis(1))
}

fn send(state: &[NotifyState<'_>], what: &str) {
    match sd_notify::notify(state) {
        Ok(()) => tracing::debug!(state = what, "service manager notified"),
        Err(e) => tracing::warn!("cannot notify the service manager ({what}): {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_at_half_the_timeout() {
        assert_eq!(
            ping_interval(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
        assert_eq!(
            ping_interval(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
    }
}
