//! A client of the local management socket: what the CLI's `workers`, `logs` and `call`
//! use, and tests.

use std::path::Path;

use mgmt_api::vocabulary::MANAGEMENT_REALM;
use router_core::client::{ClientError, JoinOptions, Session};
use router_core::codec::Codec;
use router_core::transport::rawsocket;
use tokio::net::UnixStream;

use super::node_sock;

/// Joins the management realm of the node running from `cbdir` through its `node.sock`.
pub async fn connect(cbdir: &Path) -> Result<Session, ClientError> {
    let path = node_sock::path(cbdir);
    let stream = UnixStream::connect(&path).await.map_err(|e| {
        ClientError::Connect(format!(
            "{}: {e} (is a node running from {}?)",
            path.display(),
            cbdir.display()
        ))
    })?;
    let conn = rawsocket::connect(stream, Codec::MsgPack, rawsocket::MAX_LENGTH)
        .await
        .map_err(|e| ClientError::Connect(format!("{}: {e}", path.display())))?;
    Session::join_wire(
        conn.codec,
        conn.reader,
        conn.writer,
        JoinOptions::realm(MANAGEMENT_REALM),
    )
    .await
}
