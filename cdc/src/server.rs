//! The CDC's listening transport: one WebSocket endpoint (`ws://127.0.0.1:9000/ws` by
//! default, `wss://` with TLS configured), served by router-core's transport with the CDC's
//! authenticator. Like Crossbar.io's master it pings every 10 s and drops a peer that has
//! not answered within 5 s, so a vanished node goes offline promptly.

use crate::app::Cdc;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid listen configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Transport(String),
}

/// The CDC's `listen` section as a router-core transport item (`type: websocket`).
pub fn transport_json(cdc: &Cdc) -> serde_json::Value {
    let l = &cdc.config.listen;
    let mut endpoint = serde_json::json!({
        "type": "tcp",
        "interface": l.host,
        "port": l.port,
    });
    if let Some(tls) = &l.tls {
        endpoint["tls"] = serde_json::json!({
            "certificate": cdc.config.resolve(&tls.certificate),
            "key": cdc.config.resolve(&tls.key),
        });
    }
    serde_json::json!({
        "type": "websocket",
        "id": "cdc",
        "endpoint": endpoint,
        "url": l.url(),
        "serializers": ["cbor", "msgpack", "json"],
        "options": {
            "auto_ping_interval": 10_000,
            "auto_ping_timeout": 5_000,
        },
    })
}

mod listener {
    use std::sync::Arc;

    use router_core::transport::{
        RunningTransport, TransportConfig, TransportContext, start_transport,
    };

    use super::{ListenError, transport_json};
    use crate::app::Cdc;

    /// A listening transport.
    pub struct Listening(RunningTransport);

    impl Listening {
        pub fn local_addr(&self) -> String {
            self.0.local_addr().to_string()
        }

        /// Closes the port and ends the connections.
        pub async fn stop(self) {
            self.0.stop().await
        }
    }

    /// Starts listening.
    pub async fn listen(cdc: &Arc<Cdc>) -> Result<Listening, ListenError> {
        let config = TransportConfig::from_json(transport_json(cdc))
            .map_err(|e| ListenError::Config(e.to_string()))?;
        start_transport(
            cdc.router.clone(),
            config,
            cdc.authenticator(),
            TransportContext::new(cdc.config.cbdir.clone(), "cdc"),
        )
        .await
        .map(Listening)
        .map_err(|e| ListenError::Transport(e.to_string()))
    }
}

pub use listener::{Listening, listen};

/// Why `run` ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Start(#[from] crate::app::StartError),
    #[error("cannot listen on {url}: {source}")]
    Listen { url: String, source: ListenError },
}

/// Runs the CDC until `shutdown` is cancelled: starts it, listens, then stops in order
/// (listener first, so no new session arrives while the backends leave).
pub async fn run(
    config: crate::CdcConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), RunError> {
    let url = config.listen.url();
    let cdc = Cdc::start(config, shutdown.clone()).await?;
    let transport = match listen(&cdc).await {
        Ok(t) => t,
        Err(source) => {
            cdc.stop().await;
            return Err(RunError::Listen { url, source });
        }
    };
    let addr = transport.local_addr();
    tracing::info!(%url, %addr, "CDC listening");
    // One line on stdout for supervisors and tests (the address shows the real port).
    println!(
        "crossbar-cdc {} listening on {url} ({addr})",
        crate::VERSION
    );
    notify(&[sd_notify::NotifyState::Ready]);
    shutdown.cancelled().await;
    notify(&[sd_notify::NotifyState::Stopping]);
    transport.stop().await;
    cdc.stop().await;
    tracing::info!("CDC stopped");
    Ok(())
}

/// Tells a `Type=notify` service manager (systemd) about readiness and shutdown; a no-op
/// without `NOTIFY_SOCKET`, and a failure only logs: serving matters more than being watched.
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("cannot notify the service manager: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listen_section_becomes_a_websocket_transport() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::CdcConfig::new(dir.path());
        config.listen.tls = Some(crate::config::TlsConfig {
            certificate: "c.pem".into(),
            key: "/abs/k.pem".into(),
        });
        let cdc = Cdc::start(config, Default::default()).await.unwrap();
        let j = transport_json(&cdc);
        assert_eq!(j["type"], "websocket");
        assert_eq!(j["endpoint"]["port"], 9000);
        assert_eq!(j["endpoint"]["interface"], "127.0.0.1");
        assert_eq!(
            j["endpoint"]["tls"]["certificate"],
            dir.path().join("c.pem").to_str().unwrap()
        );
        assert_eq!(j["endpoint"]["tls"]["key"], "/abs/k.pem");
        assert_eq!(j["url"], "wss://127.0.0.1:9000/ws");
        cdc.stop().await;
    }
}
