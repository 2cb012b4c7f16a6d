//! What the client hands to its user: session details, close reasons, call results,
//! invocations and events.

use std::fmt;

use crate::message::Id;
use crate::value::{Dict, List, Value};

use super::rpc::Progress;

/// What the router said about the session in WELCOME.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionDetails {
    pub session: Id,
    pub realm: String,
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authprovider: String,
    /// WELCOME.Details.authextra (Crossbar.io adds `x_cb_node`, `x_cb_peer`, …).
    pub authextra: Dict,
    /// The router's roles and features (WELCOME.Details.roles).
    pub roles: Dict,
}

impl SessionDetails {
    pub(crate) fn from_welcome(session: Id, details: &Dict) -> Self {
        let s = |k: &str| {
            details
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let d = |k: &str| details.get(k).and_then(Value::as_dict).cloned();
        SessionDetails {
            session,
            realm: s("realm"),
            authid: s("authid"),
            authrole: s("authrole"),
            authmethod: s("authmethod"),
            authprovider: s("authprovider"),
            authextra: d("authextra").unwrap_or_default(),
            roles: d("roles").unwrap_or_default(),
        }
    }
}

/// Why a session ended: a WAMP close or error URI and a human-readable message.
///
/// `wamp.close.transport_lost` when the connection went away; the router's GOODBYE or ABORT
/// reason when the router ended it; the router's reply (`wamp.close.goodbye_and_out`) after
/// [`leave`](super::Session::leave).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub reason: String,
    pub message: String,
}

impl CloseReason {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        CloseReason {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub(crate) fn transport_lost(message: impl Into<String>) -> Self {
        CloseReason::new(super::error::TRANSPORT_LOST, message)
    }

    /// From the Details of GOODBYE or ABORT (and ABORT's arguments, where some routers put
    /// the message).
    pub(crate) fn from_details(reason: String, details: &Dict, args: &List) -> Self {
        let message = details
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| args.first().and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned();
        CloseReason { reason, message }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{} ({})", self.reason, self.message)
        }
    }
}

/// The answer to a call (or one progressive part of it: `details.progress` is `true`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallResult {
    pub args: List,
    pub kwargs: Dict,
    pub details: Dict,
}

impl CallResult {
    /// The first positional result, or null (what most procedures return).
    pub fn value(&self) -> Value {
        self.args.first().cloned().unwrap_or_default()
    }
}

fn id_of(details: &Dict, key: &str) -> Option<Id> {
    details.get(key).and_then(Value::as_u64)
}

fn str_of<'a>(details: &'a Dict, key: &str) -> Option<&'a str> {
    details.get(key).and_then(Value::as_str)
}

/// A call to one of this session's procedures.
#[derive(Debug)]
pub struct Invocation {
    pub registration: Id,
    pub args: List,
    pub kwargs: Dict,
    /// INVOCATION.Details: `procedure` (pattern registrations), `caller`, `caller_authid`,
    /// `caller_authrole` (when disclosed), `receive_progress`, `timeout`.
    pub details: Dict,
    /// Present when the caller asked for progressive results.
    pub progress: Option<Progress>,
}

impl Invocation {
    /// The URI that was called: only the router tells it, for pattern-based registrations.
    pub fn procedure(&self) -> Option<&str> {
        str_of(&self.details, "procedure")
    }
    pub fn caller(&self) -> Option<Id> {
        id_of(&self.details, "caller")
    }
    pub fn caller_authid(&self) -> Option<&str> {
        str_of(&self.details, "caller_authid")
    }
    pub fn caller_authrole(&self) -> Option<&str> {
        str_of(&self.details, "caller_authrole")
    }
}

/// An event received on a subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub subscription: Id,
    pub publication: Id,
    pub args: List,
    pub kwargs: Dict,
    /// EVENT.Details: `topic` (pattern subscriptions), `publisher`, `publisher_authid`,
    /// `publisher_authrole` (when disclosed).
    pub details: Dict,
}

impl Event {
    /// The topic the event was published to: only sent for pattern-based subscriptions.
    pub fn topic(&self) -> Option<&str> {
        str_of(&self.details, "topic")
    }
    pub fn publisher(&self) -> Option<Id> {
        id_of(&self.details, "publisher")
    }
}

/// A procedure this session registered; pass it to [`unregister`](super::Session::unregister).
/// Dropping it does not unregister: registrations last until unregistered or the session ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub id: Id,
    pub procedure: String,
}

/// One handler on a subscription; pass it to [`unsubscribe`](super::Session::unsubscribe).
///
/// Subscribing twice to the same topic and policy yields the same router subscription `id`
/// with two handlers; the router is told to unsubscribe when the last handler goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: Id,
    pub topic: String,
    pub(crate) key: u64,
}
