//! The CDC's listening transport. Interim: router-core's listening transports are not on this
//! branch yet, so `run` starts the CDC and reports that it cannot listen.

use crate::app::Cdc;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("this build has no listening transport yet (router_core::transport)")]
    Unavailable,
}

/// Why `run` ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Start(#[from] crate::app::StartError),
    #[error("cannot listen on {url}: {source}")]
    Listen { url: String, source: ListenError },
}

/// Runs the CDC until `shutdown` is cancelled.
pub async fn run(
    config: crate::CdcConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), RunError> {
    let url = config.listen.url();
    let cdc = Cdc::start(config, shutdown).await?;
    cdc.stop().await;
    Err(RunError::Listen {
        url,
        source: ListenError::Unavailable,
    })
}
