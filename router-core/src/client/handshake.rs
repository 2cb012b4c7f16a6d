//! Opening a client session: HELLO with the client's roles and features, then CHALLENGE and
//! AUTHENTICATE as often as the router asks, until WELCOME or ABORT.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::dict;
use crate::message::Message;
use crate::value::{Dict, Value};

use super::Session;
use super::core::{Lifecycle, Shared, receive_loop};
use super::error::{ClientError, PROTOCOL_VIOLATION, TRANSPORT_LOST};
use super::link::{InError, Incoming};
use super::options::{DEFAULT_HANDSHAKE_TIMEOUT, JoinOptions};
use super::types::{CloseReason, SessionDetails};

/// The roles and features this client announces in HELLO.Details.roles.
pub fn client_roles() -> Dict {
    let role = |features: &[&str]| -> Value {
        let mut d = Dict::new();
        for f in features {
            d.insert((*f).to_owned(), Value::Bool(true));
        }
        Value::Dict(dict! { "features" => Value::Dict(d) })
    };
    dict! {
        "caller" => role(&[
            "progressive_call_results", "call_canceling", "call_timeout", "caller_identification",
        ]),
        "callee" => role(&[
            "progressive_call_results", "call_canceling", "caller_identification",
            "pattern_based_registration", "shared_registration",
        ]),
        "publisher" => role(&[
            "publisher_exclusion", "publisher_identification", "subscriber_blackwhite_listing",
        ]),
        "subscriber" => role(&["pattern_based_subscription", "publisher_identification"]),
    }
}

fn hello(opts: &JoinOptions) -> Message {
    let mut details = dict! {
        "roles" => client_roles(),
        "agent" => concat!("crossbar-edge-", env!("CARGO_PKG_VERSION")),
    };
    if !opts.authmethods.is_empty() {
        let methods = opts.authmethods.iter().map(|m| Value::from(m.as_str()));
        details.insert("authmethods".into(), Value::List(methods.collect()));
    }
    if let Some(a) = &opts.authid {
        details.insert("authid".into(), Value::from(a.as_str()));
    }
    if let Some(a) = &opts.authrole {
        details.insert("authrole".into(), Value::from(a.as_str()));
    }
    if !opts.authextra.is_empty() {
        details.insert("authextra".into(), Value::Dict(opts.authextra.clone()));
    }
    Message::Hello {
        realm: opts.realm.clone(),
        details,
    }
}

async fn send(tx: &mpsc::Sender<Message>, msg: Message) -> Result<(), ClientError> {
    tx.send(msg)
        .await
        .map_err(|_| ClientError::TransportLost("connection closed during the handshake".into()))
}

/// Runs the handshake up to WELCOME.
async fn handshake<I: Incoming>(
    incoming: &mut I,
    tx: &mpsc::Sender<Message>,
    opts: &JoinOptions,
) -> Result<SessionDetails, ClientError> {
    send(tx, hello(opts)).await?;
    loop {
        let msg = match incoming.next().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(ClientError::TransportLost(
                    "connection closed during the handshake".into(),
                ));
            }
            Err(InError::Transport(e)) => return Err(ClientError::TransportLost(e)),
            Err(InError::Violation(v)) => {
                let _ = tx.try_send(Message::abort(PROTOCOL_VIOLATION, v.clone()));
                return Err(ClientError::ProtocolViolation(v));
            }
        };
        match msg {
            Message::Welcome { session, details } => {
                return Ok(SessionDetails::from_welcome(session, &details));
            }
            Message::Abort {
                details,
                reason,
                payload,
            } => {
                let r = CloseReason::from_details(reason, &details, &payload.args);
                return Err(ClientError::Aborted {
                    reason: r.reason,
                    message: r.message,
                });
            }
            Message::Challenge { authmethod, extra } => {
                let answer = match &opts.on_challenge {
                    Some(handler) => handler(&authmethod, &extra),
                    None => Err(format!(
                        "challenge for \"{authmethod}\" but no challenge handler"
                    )),
                };
                match answer {
                    Ok(signature) => {
                        send(
                            tx,
                            Message::Authenticate {
                                signature,
                                extra: Dict::new(),
                            },
                        )
                        .await?
                    }
                    Err(e) => {
                        let _ = tx.try_send(Message::abort("wamp.error.cannot_authenticate", &*e));
                        return Err(ClientError::Authentication(e));
                    }
                }
            }
            other => {
                let text = format!("expected WELCOME, got {}", other.name());
                let _ = tx.try_send(Message::abort(PROTOCOL_VIOLATION, text.clone()));
                return Err(ClientError::ProtocolViolation(text));
            }
        }
    }
}

/// Joins over an open connection and starts the receive loop; on failure the connection is
/// closed (`life` ends, `tx` is dropped).
pub(crate) async fn establish<I: Incoming>(
    mut incoming: I,
    tx: mpsc::Sender<Message>,
    life: Arc<Lifecycle>,
    opts: &JoinOptions,
) -> Result<Session, ClientError> {
    let limit = opts.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
    let outcome = tokio::select! {
        r = tokio::time::timeout(limit, handshake(&mut incoming, &tx, opts)) => {
            r.unwrap_or_else(|_| Err(ClientError::Timeout(format!("no WELCOME within {limit:?}"))))
        }
        // The wire writer failed.
        _ = life.stop.cancelled() => Err(life.closed_error()),
    };
    match outcome {
        Ok(details) => {
            // HELLO used no request ID: requests count from 1.
            let shared = Arc::new(Shared::new(life, tx, details, 1));
            tokio::spawn(receive_loop(shared.clone(), incoming));
            Ok(Session::from_shared(shared))
        }
        Err(e) => {
            let reason = match &e {
                ClientError::Aborted { reason, message } => CloseReason::new(reason, message),
                ClientError::ProtocolViolation(m) => CloseReason::new(PROTOCOL_VIOLATION, m),
                other => CloseReason::new(TRANSPORT_LOST, other.to_string()),
            };
            life.end(reason);
            Err(e)
        }
    }
}
