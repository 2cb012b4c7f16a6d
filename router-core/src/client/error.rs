//! Errors of the client: session-level failures ([`ClientError`]) and WAMP errors carried by
//! ERROR messages ([`CallError`]), which callers receive and procedure handlers return.

use crate::value::{Dict, List, Value};

use super::types::CloseReason;

/// The close reason when the connection went away without a GOODBYE (autobahn's name for it).
pub const TRANSPORT_LOST: &str = "wamp.close.transport_lost";
/// A call whose answer did not arrive in time on the client side.
pub const TIMEOUT: &str = "wamp.error.timeout";
/// A canceled call, or an interrupted invocation.
pub const CANCELED: &str = "wamp.error.canceled";
/// A procedure handler failed without a WAMP error of its own (it panicked).
pub const RUNTIME_ERROR: &str = "wamp.error.runtime_error";
/// The peer broke the protocol.
pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";

/// A WAMP error: an error URI with optional positional and keyword arguments.
///
/// It is what a caller gets when the router or the callee answers a CALL with ERROR, and what
/// a procedure handler returns to answer an INVOCATION with ERROR. Failures of the session
/// itself reach callers as a `CallError` too, with the close reason as the URI
/// (`wamp.close.transport_lost`, `wamp.close.killed`, …) or [`TIMEOUT`], so that a handler
/// forwarding a call can pass any failure on with `?`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{error}{}", .args.first().and_then(Value::as_str).map(|m| format!(": {m}")).unwrap_or_default())]
pub struct CallError {
    pub error: String,
    pub args: List,
    pub kwargs: Dict,
}

impl CallError {
    /// An error with no arguments.
    pub fn new(error: impl Into<String>) -> Self {
        CallError {
            error: error.into(),
            args: List::new(),
            kwargs: Dict::new(),
        }
    }

    /// An error with a human-readable message as its only argument (the usual form).
    pub fn with_message(error: impl Into<String>, message: impl Into<String>) -> Self {
        CallError {
            error: error.into(),
            args: vec![Value::String(message.into())],
            kwargs: Dict::new(),
        }
    }

    pub fn with_args(error: impl Into<String>, args: List, kwargs: Dict) -> Self {
        CallError {
            error: error.into(),
            args,
            kwargs,
        }
    }

    /// The first positional argument if it is a string (routers put their message there).
    pub fn message(&self) -> Option<&str> {
        self.args.first().and_then(Value::as_str)
    }
}

/// Why a session operation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The router (or a peer through it) answered with ERROR.
    #[error("{0}")]
    Wamp(CallError),
    /// The router refused the session during the handshake.
    #[error("session aborted: {reason}: {message}")]
    Aborted { reason: String, message: String },
    /// The connection was lost (or could not carry the message).
    #[error("transport lost: {0}")]
    TransportLost(String),
    /// The session has ended (router GOODBYE, ABORT, `leave`, or it was dropped).
    #[error("session closed: {0}")]
    Closed(CloseReason),
    /// The peer broke the WAMP protocol.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
    /// A bounded wait ran out (handshake, `leave`).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The router sent a CHALLENGE that no challenge handler could answer.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// A connection URL that cannot be used (bad syntax or a transport not available).
    #[error("cannot connect: {0}")]
    Connect(String),
}

impl ClientError {
    /// The error URI when the router answered with ERROR.
    pub fn error_uri(&self) -> Option<&str> {
        match self {
            ClientError::Wamp(e) => Some(&e.error),
            _ => None,
        }
    }

    /// The error for an operation on a session that ended for `reason`.
    pub(crate) fn from_close(reason: &CloseReason) -> Self {
        if reason.reason == TRANSPORT_LOST {
            ClientError::TransportLost(reason.message.clone())
        } else {
            ClientError::Closed(reason.clone())
        }
    }
}

impl From<CallError> for ClientError {
    fn from(e: CallError) -> Self {
        ClientError::Wamp(e)
    }
}

/// Lets a procedure handler forward any client failure as a WAMP error with `?`.
impl From<ClientError> for CallError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Wamp(e) => e,
            ClientError::Aborted { reason, message } => CallError::with_message(reason, message),
            ClientError::TransportLost(m) => CallError::with_message(TRANSPORT_LOST, m),
            ClientError::Closed(r) => CallError::with_message(r.reason, r.message),
            ClientError::ProtocolViolation(m) => CallError::with_message(PROTOCOL_VIOLATION, m),
            ClientError::Timeout(m) => CallError::with_message(TIMEOUT, m),
            other => CallError::with_message(RUNTIME_ERROR, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_conversions() {
        let e = CallError::with_message("wamp.error.no_such_procedure", "nobody");
        assert_eq!(e.to_string(), "wamp.error.no_such_procedure: nobody");
        assert_eq!(CallError::new("com.x").to_string(), "com.x");
        let c: ClientError = e.clone().into();
        assert_eq!(c.error_uri(), Some("wamp.error.no_such_procedure"));
        assert_eq!(CallError::from(c), e);
        let lost = ClientError::from_close(&CloseReason::transport_lost("gone"));
        assert_eq!(lost, ClientError::TransportLost("gone".into()));
        assert_eq!(CallError::from(lost).error, TRANSPORT_LOST);
        let closed = ClientError::from_close(&CloseReason::new("wamp.close.killed", "x"));
        assert_eq!(CallError::from(closed).error, "wamp.close.killed");
    }
}
