//! The seam between a byte transport and a WAMP session: framed, serialized messages.
//!
//! A transport (RawSocket over TCP, Unix socket or pipes; WebSocket over TCP or TLS) does its
//! handshake, picks a [`Codec`](crate::Codec), and splits into a [`WireRead`] and a
//! [`WireWrite`] half. Everything above — decoding, the session state machine, routing — is the
//! same for all transports. The write half gets whole batches so it can write many messages
//! with one syscall.

use std::future::Future;

use bytes::Bytes;

/// Why a wire stopped.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// A framing error (bad RawSocket header, a text frame on a binary subprotocol, …).
    #[error("transport protocol error: {0}")]
    Protocol(String),
    #[error("websocket error: {0}")]
    WebSocket(String),
}

/// The receiving half: yields one serialized WAMP message at a time.
pub trait WireRead: Send + 'static {
    /// The next serialized message, or `Ok(None)` when the peer closed the connection.
    /// Transport-level keepalives (RawSocket PING, WebSocket ping) are answered inside.
    fn read_frame(&mut self) -> impl Future<Output = Result<Option<Bytes>, WireError>> + Send;
}

/// The sending half: writes batches of serialized WAMP messages.
pub trait WireWrite: Send + 'static {
    /// Writes all `frames` (each one serialized message) and flushes.
    fn write_frames(
        &mut self,
        frames: &[Bytes],
    ) -> impl Future<Output = Result<(), WireError>> + Send;
    /// Closes the connection in an orderly way (WebSocket close frame, TCP shutdown).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}
