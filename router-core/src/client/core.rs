//! The state every clone of a session shares, and the receive loop that owns the incoming
//! half of the connection.
//!
//! The receive loop never waits for anything but the next message: it routes each one
//! synchronously under a short lock, answers with `try_send` (or a spawned send when the
//! queue is full), and runs procedure handlers on their own tasks. An in-process session whose
//! loop awaited a send into the router could deadlock with the router delivering to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::message::{Id, MAX_ID, Message, code};
use crate::value::{Dict, Value};

use super::error::{CallError, ClientError, PROTOCOL_VIOLATION};
use super::link::{InError, Incoming};
use super::options::ProgressHandler;
use super::pubsub::EventHandler;
use super::rpc::Handler;
use super::types::{CallResult, CloseReason, SessionDetails};

/// How a session ends: anyone may ask it to stop (`stop`, with a reason); the receive loop
/// then cleans up and marks it `ended` with the final reason.
pub(crate) struct Lifecycle {
    pub stop: CancellationToken,
    stop_reason: Mutex<Option<CloseReason>>,
    pub ended: CancellationToken,
    close_reason: OnceLock<CloseReason>,
}

impl Lifecycle {
    pub fn new() -> Arc<Self> {
        Arc::new(Lifecycle {
            stop: CancellationToken::new(),
            stop_reason: Mutex::new(None),
            ended: CancellationToken::new(),
            close_reason: OnceLock::new(),
        })
    }

    /// Asks the session to end; the first reason given wins.
    pub fn terminate(&self, reason: CloseReason) {
        self.stop_reason.lock().get_or_insert(reason);
        self.stop.cancel();
    }

    fn stop_reason(&self) -> CloseReason {
        self.stop_reason
            .lock()
            .clone()
            .unwrap_or_else(|| CloseReason::transport_lost("session stopped"))
    }

    /// Records the final reason and wakes everyone waiting for the end.
    pub fn end(&self, reason: CloseReason) {
        let _ = self.close_reason.set(reason);
        self.stop.cancel();
        self.ended.cancel();
    }

    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.get()
    }

    /// The error for an operation on a session that has ended (or is ending).
    pub fn closed_error(&self) -> ClientError {
        match self.close_reason() {
            Some(r) => ClientError::from_close(r),
            None => ClientError::from_close(&self.stop_reason()),
        }
    }
}

/// One reply channel of a request.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, CallError>>;

pub(crate) struct PendingCall {
    pub tx: Reply<CallResult>,
    pub progress: Option<ProgressHandler>,
}

pub(crate) struct PendingRegister {
    pub tx: Reply<Id>,
    /// Installed when REGISTERED arrives, before any INVOCATION can follow it.
    pub handler: Handler,
}

pub(crate) struct PendingSubscribe {
    pub tx: Reply<Id>,
    pub key: u64,
    pub handler: EventHandler,
}

/// Requests in flight and what the session serves, by ID.
#[derive(Default)]
pub(crate) struct State {
    /// Set once the session ended: nothing new may wait on it.
    pub closed: bool,
    /// `leave` sent GOODBYE: the router's GOODBYE is a reply, not a request.
    pub leaving: bool,
    pub next_key: u64,
    pub calls: HashMap<Id, PendingCall>,
    pub registers: HashMap<Id, PendingRegister>,
    /// Request → (registration, reply).
    pub unregisters: HashMap<Id, (Id, Reply<()>)>,
    pub subscribes: HashMap<Id, PendingSubscribe>,
    pub unsubscribes: HashMap<Id, Reply<()>>,
    pub publishes: HashMap<Id, Reply<Id>>,
    pub registrations: HashMap<Id, Handler>,
    pub subscriptions: HashMap<Id, Vec<(u64, EventHandler)>>,
    /// INVOCATIONs being handled: their tasks, for INTERRUPT. `None` only for the instant
    /// between inserting the entry and spawning the task.
    pub invocations: HashMap<Id, Option<AbortHandle>>,
}

/// The state shared by all clones of a session, its receive loop and its handler tasks.
pub(crate) struct Shared {
    pub life: Arc<Lifecycle>,
    /// Dropped when the session ends, which closes an in-process link or ends the wire writer.
    out: RwLock<Option<mpsc::Sender<Message>>>,
    pub state: Mutex<State>,
    next_request: AtomicU64,
    pub details: SessionDetails,
}

impl Shared {
    pub fn new(
        life: Arc<Lifecycle>,
        out: mpsc::Sender<Message>,
        details: SessionDetails,
        next_request: Id,
    ) -> Self {
        Shared {
            life,
            out: RwLock::new(Some(out)),
            state: Mutex::new(State::default()),
            next_request: AtomicU64::new(next_request),
            details,
        }
    }

    /// The next request ID: sequential from 1 per session (HELLO does not use one).
    pub fn next_id(&self) -> Id {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        if id == 0 || id > MAX_ID {
            // Wrapping takes 2^53 requests; IDs of requests long finished may be reused.
            self.next_request.store(2, Ordering::Relaxed);
            1
        } else {
            id
        }
    }

    /// Runs `f` on the state unless the session has ended.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, ClientError> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(self.life.closed_error());
        }
        Ok(f(&mut st))
    }

    /// Queues a message, waiting while the queue is full (backpressure).
    pub async fn send(&self, msg: Message) -> Result<(), ClientError> {
        let Some(tx) = self.out.read().clone() else {
            return Err(self.life.closed_error());
        };
        tokio::select! {
            r = tx.send(msg) => r.map_err(|_| self.life.closed_error()),
            _ = self.life.ended.cancelled() => Err(self.life.closed_error()),
        }
    }

    /// Queues a message without waiting: for the receive loop and `Drop` impls. If the queue
    /// is full, a task sends it (and gives up when the session ends).
    pub fn send_nowait(self: &Arc<Self>, msg: Message) {
        let Some(tx) = self.out.read().clone() else {
            return;
        };
        match tx.try_send(msg) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(msg)) => {
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    debug!("outgoing queue full outside a runtime: message dropped");
                    return;
                };
                let ended = self.life.ended.clone();
                rt.spawn(async move {
                    tokio::select! {
                        _ = tx.send(msg) => {}
                        _ = ended.cancelled() => {}
                    }
                });
            }
        }
    }

    /// Sends a request and waits for its reply channel.
    pub async fn request<T>(
        &self,
        msg: Message,
        rx: oneshot::Receiver<Result<T, CallError>>,
    ) -> Result<T, ClientError> {
        self.send(msg).await?;
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ClientError::Wamp(e)),
            Err(_) => Err(self.life.closed_error()),
        }
    }

    /// Ends the session: fails everything in flight, aborts handler tasks, drops the sender.
    fn finish(&self, reason: CloseReason) {
        debug!(session = self.details.session, %reason, "client session ended");
        // The reason is recorded before the reply channels drop, so waiters can read it.
        let _ = self.life.close_reason.set(reason.clone());
        let state = {
            let mut st = self.state.lock();
            let state = std::mem::take(&mut *st);
            st.closed = true;
            state
        };
        for h in state.invocations.values().flatten() {
            h.abort();
        }
        drop(state);
        *self.out.write() = None;
        self.life.end(reason);
    }

    /// Routes one incoming message; `Some` ends the session with that reason.
    fn dispatch(self: &Arc<Self>, msg: Message) -> Option<CloseReason> {
        match msg {
            Message::Result {
                request,
                details,
                payload,
            } => self.on_result(request, details, payload),
            Message::Error {
                request_type,
                request,
                details: _,
                error,
                payload,
            } => self.on_error(
                request_type,
                request,
                CallError::with_args(error, payload.args, payload.kwargs),
            ),
            Message::Registered {
                request,
                registration,
            } => self.on_registered(request, registration),
            Message::Unregistered {
                request: 0,
                details,
            } => {
                // Revoked by the router: the handler goes.
                if let Some(id) = details.get("registration").and_then(Value::as_u64) {
                    self.state.lock().registrations.remove(&id);
                }
            }
            Message::Unregistered { request, .. } => self.on_unregistered(request),
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => self.on_invocation(request, registration, details, payload),
            Message::Interrupt { request, options } => self.on_interrupt(request, &options),
            Message::Subscribed {
                request,
                subscription,
            } => self.on_subscribed(request, subscription),
            Message::Unsubscribed {
                request: 0,
                details,
            } => {
                if let Some(id) = details.get("subscription").and_then(Value::as_u64) {
                    self.state.lock().subscriptions.remove(&id);
                }
            }
            Message::Unsubscribed { request, .. } => {
                let tx = self.state.lock().unsubscribes.remove(&request);
                match tx {
                    Some(tx) => {
                        let _ = tx.send(Ok(()));
                    }
                    None => debug!(request, "UNSUBSCRIBED for an unknown request"),
                }
            }
            Message::Published {
                request,
                publication,
            } => {
                let tx = self.state.lock().publishes.remove(&request);
                match tx {
                    Some(tx) => {
                        let _ = tx.send(Ok(publication));
                    }
                    None => debug!(request, "PUBLISHED for an unknown request"),
                }
            }
            Message::Event {
                subscription,
                publication,
                details,
                payload,
            } => self.on_event(subscription, publication, details, payload),
            Message::Goodbye { details, reason } => {
                let leaving = self.state.lock().leaving;
                if !leaving {
                    self.send_nowait(Message::Goodbye {
                        details: Dict::new(),
                        reason: "wamp.close.goodbye_and_out".into(),
                    });
                }
                return Some(CloseReason::from_details(reason, &details, &Vec::new()));
            }
            Message::Abort {
                details,
                reason,
                payload,
            } => return Some(CloseReason::from_details(reason, &details, &payload.args)),
            other => {
                let text = format!(
                    "unexpected {} message in an established session",
                    other.name()
                );
                self.send_nowait(Message::abort(PROTOCOL_VIOLATION, text.clone()));
                return Some(CloseReason::new(PROTOCOL_VIOLATION, text));
            }
        }
        None
    }

    fn on_error(&self, request_type: u64, request: Id, err: CallError) {
        let mut st = self.state.lock();
        let delivered = match request_type {
            code::CALL => st.calls.remove(&request).map(|p| {
                let _ = p.tx.send(Err(err));
            }),
            code::REGISTER => st.registers.remove(&request).map(|p| {
                let _ = p.tx.send(Err(err));
            }),
            code::UNREGISTER => st.unregisters.remove(&request).map(|(_, tx)| {
                let _ = tx.send(Err(err));
            }),
            code::SUBSCRIBE => st.subscribes.remove(&request).map(|p| {
                let _ = p.tx.send(Err(err));
            }),
            code::UNSUBSCRIBE => st.unsubscribes.remove(&request).map(|tx| {
                let _ = tx.send(Err(err));
            }),
            code::PUBLISH => st.publishes.remove(&request).map(|tx| {
                let _ = tx.send(Err(err));
            }),
            _ => None,
        };
        if delivered.is_none() {
            debug!(request_type, request, "ERROR for an unknown request");
        }
    }

    fn on_result(&self, request: Id, details: Dict, payload: crate::Payload) {
        let progress = details
            .get("progress")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let result = CallResult {
            args: payload.args,
            kwargs: payload.kwargs,
            details,
        };
        if progress {
            let handler = self
                .state
                .lock()
                .calls
                .get(&request)
                .and_then(|p| p.progress.clone());
            match handler {
                Some(h) => h(result),
                None => debug!(request, "progressive RESULT nobody asked for"),
            }
            return;
        }
        let pending = self.state.lock().calls.remove(&request);
        match pending {
            Some(p) => {
                let _ = p.tx.send(Ok(result));
            }
            None => debug!(request, "RESULT for an unknown request"),
        }
    }
}

/// Reads and routes messages until the session ends, then cleans up.
pub(crate) async fn receive_loop<I: Incoming>(shared: Arc<Shared>, mut incoming: I) {
    let life = shared.life.clone();
    let reason = loop {
        let next = tokio::select! {
            biased;
            _ = life.stop.cancelled() => break life.stop_reason(),
            m = incoming.next() => m,
        };
        match next {
            Ok(Some(msg)) => {
                if let Some(reason) = shared.dispatch(msg) {
                    break reason;
                }
            }
            Ok(None) => break CloseReason::transport_lost("connection closed by the router"),
            Err(InError::Transport(e)) => break CloseReason::transport_lost(e),
            Err(InError::Violation(v)) => {
                shared.send_nowait(Message::abort(PROTOCOL_VIOLATION, v.clone()));
                break CloseReason::new(PROTOCOL_VIOLATION, v);
            }
        }
    };
    drop(incoming);
    shared.finish(reason);
}
