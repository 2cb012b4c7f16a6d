//! A WAMP client session: join a router in-process or over a wire, call and register
//! procedures, publish and subscribe.
//!
//! Used by worker processes (over their stdio pipes), the node controller and router
//! components (in-process, through [`Router::connect_local`]), the management uplink, CLI
//! tools, the load generator and tests.
//!
//! A [`Session`] is a cheap handle (an `Arc`); clones share one session and may be used from
//! many tasks at once. Each session has one receive loop task that reads and routes incoming
//! messages and never blocks on anything else (see `core`); procedure handlers run on tasks
//! of their own. Outgoing messages go through a bounded queue: senders wait when it is full.
//! Every task of a session ends when the session ends: by [`Session::leave`], by the router
//! (GOODBYE, ABORT), by the connection failing, or when the last clone is dropped (which
//! closes the connection without GOODBYE, as a lost transport would).

mod connect;
mod core;
mod dial;
mod error;
mod handshake;
mod link;
mod options;
mod pubsub;
mod rpc;
mod types;

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::codec::Codec;
use crate::message::{Id, Message};
use crate::router::{ConnectionInfo, Router};
use crate::transport::wire::{WireRead, WireWrite};

pub use connect::{Dialer, Endpoint, connect, connect_with};
pub use dial::{DialOptions, DialReader, DialWriter, TransportDialer};
pub use error::{
    CANCELED, CallError, ClientError, PROTOCOL_VIOLATION, RUNTIME_ERROR, TIMEOUT, TRANSPORT_LOST,
};
pub use handshake::client_roles;
pub use link::WIRE_QUEUE_CAPACITY;
pub use options::{
    CallOptions, CancelMode, ChallengeHandler, DEFAULT_HANDSHAKE_TIMEOUT, JoinOptions,
    ProgressHandler, PublishOptions, RegisterOptions, SubscribeOptions,
};
pub use rpc::Progress;
pub use types::{
    CallResult, CloseReason, Event, Invocation, Registration, SessionDetails, Subscription,
};

/// How long [`Session::leave`] waits for the router's GOODBYE.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A joined WAMP session. Clone it freely; the session ends when the last clone is dropped
/// (if it has not ended before).
#[derive(Clone)]
pub struct Session {
    handle: Arc<Handle>,
}

/// Owned by the `Session` clones only (never by the session's own tasks), so that dropping
/// the last clone can end the session.
struct Handle {
    shared: Arc<core::Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared
            .life
            .terminate(CloseReason::new("wamp.close.normal", "session dropped"));
    }
}

/// A session reference that does not keep the session alive (for handlers that call back
/// into their own session).
#[derive(Clone)]
pub struct WeakSession(Weak<Handle>);

impl WeakSession {
    pub fn upgrade(&self) -> Option<Session> {
        self.0.upgrade().map(|handle| Session { handle })
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.details();
        f.debug_struct("Session")
            .field("session", &d.session)
            .field("realm", &d.realm)
            .field("authid", &d.authid)
            .field("authrole", &d.authrole)
            .finish()
    }
}

impl Session {
    /// Joins an in-process session on `router`; `conn` decides how it authenticates.
    pub async fn join_local(
        router: &Arc<Router>,
        conn: ConnectionInfo,
        opts: JoinOptions,
    ) -> Result<Session, ClientError> {
        let link = router.connect_local(conn);
        handshake::establish(
            link::LocalIncoming(link.rx),
            link.tx,
            core::Lifecycle::new(),
            &opts,
        )
        .await
    }

    /// Joins over a framed wire (a RawSocket or WebSocket client connection, a worker's pipes)
    /// whose messages are serialized with `codec`.
    pub async fn join_wire<R: WireRead, W: WireWrite>(
        codec: Codec,
        reader: R,
        writer: W,
        opts: JoinOptions,
    ) -> Result<Session, ClientError> {
        let life = core::Lifecycle::new();
        let (tx, rx) = mpsc::channel::<Message>(WIRE_QUEUE_CAPACITY);
        tokio::spawn(link::write_loop(writer, codec, rx, life.clone()));
        handshake::establish(link::WireIncoming { reader, codec }, tx, life, &opts).await
    }

    fn from_shared(shared: Arc<core::Shared>) -> Session {
        Session {
            handle: Arc::new(Handle { shared }),
        }
    }

    fn shared(&self) -> &Arc<core::Shared> {
        &self.handle.shared
    }

    /// The session ID the router assigned.
    pub fn session_id(&self) -> Id {
        self.shared().details.session
    }

    /// What the router said in WELCOME.
    pub fn details(&self) -> &SessionDetails {
        &self.shared().details
    }

    /// Has the session ended?
    pub fn is_closed(&self) -> bool {
        self.shared().life.ended.is_cancelled()
    }

    /// Resolves when the session has ended, for whatever reason, with that reason.
    pub async fn closed(&self) -> CloseReason {
        let life = &self.shared().life;
        life.ended.cancelled().await;
        life.close_reason()
            .cloned()
            .unwrap_or_else(|| CloseReason::transport_lost("session ended"))
    }

    /// Leaves with GOODBYE(`reason`, e.g. `wamp.close.normal`) and waits for the router's
    /// GOODBYE (at most 5 s, then the connection is closed anyway). Returns how it ended.
    pub async fn leave(&self, reason: &str) -> Result<CloseReason, ClientError> {
        let shared = self.shared();
        shared.with_state(|st| st.leaving = true)?;
        shared
            .send(Message::Goodbye {
                details: crate::value::Dict::new(),
                reason: reason.to_owned(),
            })
            .await?;
        if tokio::time::timeout(LEAVE_TIMEOUT, shared.life.ended.cancelled())
            .await
            .is_err()
        {
            shared.life.terminate(CloseReason::new(
                reason,
                "the router did not answer GOODBYE in time",
            ));
        }
        Ok(self.closed().await)
    }

    /// A reference that does not keep the session alive.
    pub fn downgrade(&self) -> WeakSession {
        WeakSession(Arc::downgrade(&self.handle))
    }
}
