//! `<cbdir>/node.sock`: the management realm over RawSocket (any serializer) on a Unix
//! socket with mode 0600. Whoever can open it is the node's owner, so sessions on it are
//! `trusted`. Local tools (`crossbar-edge workers`, `logs`, `call`) and tests use it.
//!
//! The mode is the first guard; the second is the peer's credentials (`SO_PEERCRED`): a
//! connection from a process whose user is neither the node's nor root is closed before its
//! handshake, so a loosened mode (an operator's `chmod`, a copied directory) does not hand the
//! node to other local users.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use router_core::Router;
use router_core::codec::Codec;
use router_core::transport::rawsocket;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use super::realm::trusted_connection;

/// The socket's file name in the node directory.
pub const NODE_SOCK: &str = "node.sock";
/// Largest message on the socket (uploading a config, reading a long log).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one warning per this interval about refused peers (each names the last one and
/// how many were refused since the previous warning).
const REFUSED_LOG_INTERVAL: Duration = Duration::from_secs(60);

pub fn path(cbdir: &Path) -> PathBuf {
    cbdir.join(NODE_SOCK)
}

/// The listening socket; closing it stops accepting and removes the file.
pub struct NodeSock {
    path: PathBuf,
    stop: CancellationToken,
}

impl NodeSock {
    /// Binds `<cbdir>/node.sock` (replacing a stale one: the caller holds `node.pid`) and
    /// serves it on `router`.
    pub fn bind(cbdir: &Path, router: Arc<Router>) -> std::io::Result<NodeSock> {
        let path = path(cbdir);
        // Bound under a temporary name, restricted, then renamed: nobody can connect while
        // the mode is still the umask's.
        let tmp = cbdir.join(format!(".{NODE_SOCK}.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, &path)?;
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, router, stop.clone()));
        tracing::info!(path = %path.display(), "management socket listening");
        Ok(NodeSock { path, stop })
    }

    pub fn close(self) {
        self.stop.cancel();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(listener: UnixListener, router: Arc<Router>, stop: CancellationToken) {
    let mut refused = RefusedPeers::default();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "node.sock accept failed");
                    // E.g. out of file descriptors: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !peer_allowed(&stream, &mut refused) {
            continue;
        }
        let (router, stop) = (router.clone(), stop.clone());
        tokio::spawn(async move {
            let accepted = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                rawsocket::accept(
                    stream,
                    &[Codec::MsgPack, Codec::Json, Codec::Cbor],
                    MAX_MESSAGE,
                ),
            )
            .await;
            let mut conn = match accepted {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "node.sock handshake failed");
                    return;
                }
                Err(_) => return,
            };
            conn.reader.set_shutdown(stop);
            let info = trusted_connection(NODE_SOCK, "unix", "unix", None);
            router
                .serve_wire(conn.codec, conn.reader, conn.writer, info)
                .await;
        });
    }
}

/// Connections refused since the last warning.
#[derive(Default)]
struct RefusedPeers {
    last_warning: Option<std::time::Instant>,
    since: u64,
}

/// May this connection's process use the socket: its user is the node's or root? The others
/// are dropped (closing the connection) with a warning at most once per
/// [`REFUSED_LOG_INTERVAL`].
fn peer_allowed(stream: &UnixStream, refused: &mut RefusedPeers) -> bool {
    let own = nix::unistd::geteuid().as_raw();
    let (uid, pid) = match stream.peer_cred() {
        Ok(c) if c.uid() == own || c.uid() == 0 => return true,
        Ok(c) => (Some(c.uid()), c.pid()),
        Err(_) => (None, None),
    };
    refused.since += 1;
    let now = std::time::Instant::now();
    if refused
        .last_warning
        .is_none_or(|t| now.duration_since(t) >= REFUSED_LOG_INTERVAL)
    {
        tracing::warn!(
            // -1: unknown (the credentials could not be read)
            peer_uid = uid.map_or(-1, i64::from),
            peer_pid = pid.map_or(-1, i64::from),
            node_uid = own,
            refused = refused.since,
            "node.sock: refused a connection from another user"
        );
        refused.last_warning = Some(now);
        refused.since = 0;
    }
    false
}
