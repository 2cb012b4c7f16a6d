//! The control pipe between the controller and a native worker: WAMP over the worker's
//! stdin (controller → worker) and stdout (worker → controller) with RawSocket framing and
//! MessagePack.
//!
//! Before the RawSocket handshake the controller writes the worker's config item on stdin as
//! one frame: a 4-byte big-endian length, then the item as JSON. The item travels this way
//! rather than in an argument or environment variable because it may hold secrets (ticket
//! secrets, TLS key paths with `${VAR}`s resolved) and has no size limit here.

use std::sync::Arc;
use std::time::Duration;

use router_core::Router;
use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::client::{ClientError, JoinOptions, Session};
use router_core::codec::Codec;
use router_core::router::ConnectionInfo;
use router_core::transport::rawsocket::{self, HandshakeError};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use mgmt_api::vocabulary::{MANAGEMENT_REALM, worker_role};

/// Largest WAMP message on the pipe (RawSocket's maximum).
pub const MAX_MESSAGE: usize = rawsocket::MAX_LENGTH;
/// Largest config item accepted in the preamble.
pub const MAX_ITEM: usize = 16 * 1024 * 1024;
/// How long the item + handshake exchange may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the control pipe could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("control pipe I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("control pipe handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("control pipe: config item: {0}")]
    Item(String),
    #[error("control pipe: the other side did not answer within {0:?}")]
    Timeout(Duration),
    #[error("joining the management realm: {0}")]
    Join(#[from] ClientError),
}

/// Controller side: sends `item` to the worker, accepts its RawSocket handshake and returns
/// the future that serves its WAMP session on `router` (realm `crossbar`, authid `worker_id`,
/// authrole `crossbar.worker.<worker_id>`). The future ends when the pipe closes.
pub async fn serve_worker<R, W>(
    router: Arc<Router>,
    worker_id: &str,
    item: &Value,
    mut to_worker: W,
    from_worker: R,
) -> Result<impl Future<Output = ()> + Send + 'static, PipeError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let bytes = serde_json::to_vec(item).map_err(|e| PipeError::Item(e.to_string()))?;
    if bytes.len() > MAX_ITEM {
        return Err(PipeError::Item(format!(
            "{} bytes, more than the {MAX_ITEM} allowed",
            bytes.len()
        )));
    }
    let exchange = async {
        to_worker
            .write_all(&(bytes.len() as u32).to_be_bytes())
            .await?;
        to_worker.write_all(&bytes).await?;
        to_worker.flush().await?;
        Ok::<_, PipeError>(
            rawsocket::accept_split(from_worker, to_worker, &[Codec::MsgPack], MAX_MESSAGE).await?,
        )
    };
    let conn = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| PipeError::Timeout(HANDSHAKE_TIMEOUT))??;
    let info = ConnectionInfo {
        transport: Arc::new(TransportInfo::new(
            format!("worker:{worker_id}"),
            "pipe",
            "process",
        )),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: MANAGEMENT_REALM.into(),
            authid: Some(worker_id.to_owned()),
            authrole: worker_role(worker_id),
        }),
    };
    Ok(async move {
        router
            .serve_wire(conn.codec, conn.reader, conn.writer, info)
            .await
    })
}

/// Worker side, on any pair of streams: reads the config item, then joins the management
/// realm as `worker_id`.
pub async fn join_over<R, W>(
    worker_id: &str,
    mut from_controller: R,
    to_controller: W,
) -> Result<(Session, Value), PipeError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let exchange = async {
        let len = from_controller.read_u32().await? as usize;
        if len > MAX_ITEM {
            return Err(PipeError::Item(format!("announced {len} bytes")));
        }
        let mut buf = vec![0u8; len];
        from_controller.read_exact(&mut buf).await?;
        let item: Value =
            serde_json::from_slice(&buf).map_err(|e| PipeError::Item(e.to_string()))?;
        let conn =
            rawsocket::connect_split(from_controller, to_controller, Codec::MsgPack, MAX_MESSAGE)
                .await?;
        Ok((item, conn))
    };
    let (item, conn) = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| PipeError::Timeout(HANDSHAKE_TIMEOUT))??;
    let opts = JoinOptions {
        authid: Some(worker_id.to_owned()),
        authrole: Some(worker_role(worker_id)),
        ..JoinOptions::realm(MANAGEMENT_REALM)
    };
    let session = Session::join_wire(conn.codec, conn.reader, conn.writer, opts).await?;
    Ok((session, item))
}

/// Worker side, on this process's stdin/stdout (which must be the controller's pipes).
pub async fn join_controller(worker_id: &str) -> Result<(Session, Value), PipeError> {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    let stdin = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let stdout = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    let not_a_pipe = |e: std::io::Error| {
        std::io::Error::new(
            e.kind(),
            format!(
                "stdin/stdout must be the controller's pipes ({e}); this command is run by `crossbar-edge start`"
            ),
        )
    };
    let rx = pipe::Receiver::from_file(stdin).map_err(not_a_pipe)?;
    let tx = pipe::Sender::from_file(stdout).map_err(not_a_pipe)?;
    join_over(worker_id, rx, tx).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use router_core::RealmConfig;

    #[tokio::test]
    async fn worker_joins_with_its_role_and_gets_its_item() {
        let router = Router::new();
        let realm = router
            .start_realm(RealmConfig::new(MANAGEMENT_REALM))
            .unwrap();
        realm.add_trusted_role(&worker_role("w1"));
        let (c_to_w, w_from_c) = tokio::io::duplex(1 << 16);
        let (w_to_c, c_from_w) = tokio::io::duplex(1 << 16);
        let item = serde_json::json!({"type": "router", "id": "w1", "realms": []});
        let r2 = router.clone();
        let item2 = item.clone();
        let controller = tokio::spawn(async move {
            let serve = serve_worker(r2, "w1", &item2, c_to_w, c_from_w)
                .await
                .unwrap();
            serve.await
        });
        let (session, got) = join_over("w1", w_from_c, w_to_c).await.unwrap();
        assert_eq!(got, item);
        assert_eq!(session.details().authid, "w1");
        assert_eq!(session.details().authrole, "crossbar.worker.w1");
        assert_eq!(session.details().realm, "crossbar");
        session.leave("wamp.close.normal").await.unwrap();
        drop(session);
        tokio::time::timeout(Duration::from_secs(5), controller)
            .await
            .expect("serve ends when the pipe closes")
            .unwrap();
    }
}
