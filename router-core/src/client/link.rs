//! The two kinds of connection a client session runs over: an in-process link to a
//! [`Router`](crate::Router) (messages as values) and a framed wire (RawSocket, WebSocket)
//! through the [`WireRead`]/[`WireWrite`] seam shared with the router side.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::debug;

use crate::codec::Codec;
use crate::message::Message;
use crate::peer::Outgoing;
use crate::transport::wire::{WireRead, WireWrite};

use super::core::Lifecycle;
use super::types::CloseReason;

/// Capacity of a wire session's outgoing queue, in messages. Senders wait when it is full:
/// that is the backpressure of a slow connection. (In-process sessions use the router's own
/// bounded inbound queue instead.)
pub const WIRE_QUEUE_CAPACITY: usize = 1024;
/// Messages written with one `write_frames` call at most.
const WRITE_BATCH: usize = 64;
/// After the session ended, how long the writer may take to flush its last messages (the
/// GOODBYE reply) and close.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why reading the next message failed.
pub(crate) enum InError {
    /// The bytes were not a valid WAMP message: the session is aborted.
    Violation(String),
    /// The connection failed.
    Transport(String),
}

/// Where a client session's incoming messages come from.
pub(crate) trait Incoming: Send + 'static {
    /// The next message, or `Ok(None)` when the peer closed the connection.
    fn next(&mut self) -> impl Future<Output = Result<Option<Message>, InError>> + Send;
}

/// The router→client half of a [`LocalLink`](crate::LocalLink).
pub(crate) struct LocalIncoming(pub crate::peer::OutReceiver);

impl Incoming for LocalIncoming {
    async fn next(&mut self) -> Result<Option<Message>, InError> {
        Ok(self.0.recv().await.map(Outgoing::into_message))
    }
}

/// The reading half of a wire, decoded with the wire's codec.
pub(crate) struct WireIncoming<R> {
    pub reader: R,
    pub codec: Codec,
}

impl<R: WireRead> Incoming for WireIncoming<R> {
    async fn next(&mut self) -> Result<Option<Message>, InError> {
        match self.reader.read_frame().await {
            Ok(Some(frame)) => self
                .codec
                .decode(&frame)
                .map(Some)
                .map_err(|v| InError::Violation(v.0)),
            Ok(None) => Ok(None),
            Err(e) => Err(InError::Transport(e.to_string())),
        }
    }
}

/// Drains the outgoing queue of a wire session into the wire, in batches, until the session
/// ends (then flushes what is left, bounded in time) or the queue's senders are all gone.
/// A write error ends the session as transport lost.
pub(crate) async fn write_loop<W: WireWrite>(
    mut writer: W,
    codec: Codec,
    mut rx: mpsc::Receiver<Message>,
    life: Arc<Lifecycle>,
) {
    let mut batch: Vec<Message> = Vec::with_capacity(WRITE_BATCH);
    let mut frames: Vec<Bytes> = Vec::with_capacity(WRITE_BATCH);
    loop {
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, WRITE_BATCH) => n,
            _ = life.ended.cancelled() => 0,
        };
        if n == 0 {
            break;
        }
        frames.extend(batch.drain(..).map(|m| codec.encode(&m)));
        let res = tokio::select! {
            biased;
            r = writer.write_frames(&frames) => r,
            // A peer that stopped reading must not keep the writer alive long after the
            // session ended; until then, the last messages (GOODBYE, ABORT) get their chance.
            _ = async {
                life.ended.cancelled().await;
                tokio::time::sleep(DRAIN_TIMEOUT).await;
            } => Ok(()),
        };
        frames.clear();
        if let Err(e) = res {
            debug!(error = %e, "client write failed");
            life.terminate(CloseReason::transport_lost(e.to_string()));
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, writer.close()).await;
            return;
        }
    }
    let drain = async {
        while let Ok(m) = rx.try_recv() {
            frames.push(codec.encode(&m));
        }
        if !frames.is_empty() {
            let _ = writer.write_frames(&frames).await;
        }
        writer.close().await;
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}
