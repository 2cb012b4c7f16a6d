//! Remote procedure calls from the client side: calling (with progressive results, timeouts
//! and cancellation), registering handlers, and running invocations on their own tasks.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::oneshot;
use tracing::debug;

use crate::dict;
use crate::message::{Id, Message, Payload, code};
use crate::value::{Dict, List, Value};

use super::Session;
use super::core::{PendingCall, PendingRegister, Shared};
use super::error::{CANCELED, CallError, ClientError, RUNTIME_ERROR, TIMEOUT};
use super::options::{CallOptions, CancelMode, RegisterOptions};
use super::types::{CallResult, Invocation, Registration};

/// How much longer than the router's call timeout the client waits before giving up itself.
const LOCAL_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Payload, CallError>> + Send>>;
/// A registered procedure, type-erased.
pub(crate) type Handler = Arc<dyn Fn(Invocation) -> HandlerFuture + Send + Sync>;

/// Sends progressive results of one invocation (present when the caller asked for them).
#[derive(Clone)]
pub struct Progress {
    shared: Arc<Shared>,
    request: Id,
}

impl Progress {
    /// Sends one progressive result. Fails once the invocation was answered or interrupted.
    pub async fn send(&self, args: List, kwargs: Dict) -> Result<(), ClientError> {
        if !self
            .shared
            .with_state(|st| st.invocations.contains_key(&self.request))?
        {
            return Err(ClientError::Wamp(CallError::with_message(
                CANCELED,
                "the invocation is over",
            )));
        }
        self.shared
            .send(Message::Yield {
                request: self.request,
                options: dict! {"progress" => true},
                payload: Payload::new(args, kwargs),
            })
            .await
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("request", &self.request)
            .finish()
    }
}

/// Cancels a call whose future is dropped before its answer arrived.
struct CancelOnDrop {
    shared: Arc<Shared>,
    request: Id,
    mode: CancelMode,
    armed: bool,
}

impl CancelOnDrop {
    /// Forgets the call and tells the router to cancel it, if it is still pending.
    fn cancel(&mut self, mode: CancelMode) {
        self.armed = false;
        if self
            .shared
            .state
            .lock()
            .calls
            .remove(&self.request)
            .is_some()
        {
            self.shared.send_nowait(cancel_message(self.request, mode));
        }
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.cancel(self.mode);
        }
    }
}

fn cancel_message(request: Id, mode: CancelMode) -> Message {
    Message::Cancel {
        request,
        options: dict! {"mode" => mode.as_str()},
    }
}

impl Session {
    /// Calls `procedure`. Dropping the returned future cancels the call (CANCEL with
    /// `opts.cancel_mode`).
    pub async fn call(
        &self,
        procedure: &str,
        args: List,
        kwargs: Dict,
        opts: CallOptions,
    ) -> Result<CallResult, CallError> {
        let shared = self.shared();
        let request = shared.next_id();
        let (tx, mut rx) = oneshot::channel();
        shared.with_state(|st| {
            st.calls.insert(
                request,
                PendingCall {
                    tx,
                    progress: opts.on_progress.clone(),
                },
            )
        })?;
        let mut guard = CancelOnDrop {
            shared: shared.clone(),
            request,
            mode: opts.cancel_mode,
            armed: true,
        };
        shared
            .send(Message::Call {
                request,
                options: opts.to_dict(),
                procedure: procedure.to_owned(),
                payload: Payload::new(args, kwargs),
            })
            .await?;
        let deadline = opts
            .timeout
            .map(|t| tokio::time::Instant::now() + t + LOCAL_TIMEOUT_GRACE);
        let mut cancel = opts.cancel.clone();
        let outcome = loop {
            let canceled = async {
                match &cancel {
                    Some(c) => c.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            let expired = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = &mut rx => break r,
                _ = canceled => {
                    // Keep waiting: the router answers a canceled call with ERROR.
                    cancel = None;
                    shared.send(cancel_message(request, opts.cancel_mode)).await?;
                }
                _ = expired => {
                    guard.cancel(CancelMode::KillNoWait);
                    return Err(CallError::with_message(
                        TIMEOUT,
                        format!("no answer to the call of {procedure} in time"),
                    ));
                }
            }
        };
        guard.armed = false;
        match outcome {
            Ok(r) => r,
            Err(_) => Err(shared.life.closed_error().into()),
        }
    }

    /// Calls `procedure` with positional arguments and default options; returns the first
    /// positional result (null if there is none).
    pub async fn call_simple(&self, procedure: &str, args: List) -> Result<Value, CallError> {
        self.call(procedure, args, Dict::new(), CallOptions::default())
            .await
            .map(|r| r.value())
    }

    /// Registers `handler` for `procedure`. Each invocation runs on its own task, so a slow
    /// handler never holds up the session; an INTERRUPT aborts the task. A handler that
    /// panics answers `wamp.error.runtime_error`.
    ///
    /// A handler that captures this `Session` keeps it alive until `leave` or the end of the
    /// connection; capture a [`WeakSession`](super::WeakSession) to let a drop end it.
    pub async fn register<F, Fut>(
        &self,
        procedure: &str,
        opts: RegisterOptions,
        handler: F,
    ) -> Result<Registration, ClientError>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Payload, CallError>> + Send + 'static,
    {
        let shared = self.shared();
        let handler: Handler = Arc::new(move |inv| Box::pin(handler(inv)));
        let request = shared.next_id();
        let (tx, rx) = oneshot::channel();
        shared.with_state(|st| {
            st.registers
                .insert(request, PendingRegister { tx, handler })
        })?;
        let id = shared
            .request(
                Message::Register {
                    request,
                    options: opts.to_dict(),
                    procedure: procedure.to_owned(),
                },
                rx,
            )
            .await?;
        Ok(Registration {
            id,
            procedure: procedure.to_owned(),
        })
    }

    /// Unregisters; invocations already running finish normally.
    pub async fn unregister(&self, registration: &Registration) -> Result<(), ClientError> {
        let shared = self.shared();
        let request = shared.next_id();
        let (tx, rx) = oneshot::channel();
        shared.with_state(|st| st.unregisters.insert(request, (registration.id, tx)))?;
        shared
            .request(
                Message::Unregister {
                    request,
                    registration: registration.id,
                },
                rx,
            )
            .await
    }
}

impl Shared {
    pub(super) fn on_registered(&self, request: Id, registration: Id) {
        let mut st = self.state.lock();
        match st.registers.remove(&request) {
            Some(p) => {
                st.registrations.insert(registration, p.handler);
                let _ = p.tx.send(Ok(registration));
            }
            None => debug!(request, "REGISTERED for an unknown request"),
        }
    }

    pub(super) fn on_unregistered(&self, request: Id) {
        let mut st = self.state.lock();
        match st.unregisters.remove(&request) {
            Some((registration, tx)) => {
                st.registrations.remove(&registration);
                let _ = tx.send(Ok(()));
            }
            None => debug!(request, "UNREGISTERED for an unknown request"),
        }
    }

    pub(super) fn on_invocation(
        self: &Arc<Self>,
        request: Id,
        registration: Id,
        details: Dict,
        payload: Payload,
    ) {
        let handler = {
            let mut st = self.state.lock();
            let handler = st.registrations.get(&registration).cloned();
            if handler.is_some() {
                if st.invocations.contains_key(&request) {
                    debug!(
                        request,
                        "INVOCATION with a request ID already in use: ignored"
                    );
                    return;
                }
                // The entry exists before the task does, so a fast task always finds it.
                st.invocations.insert(request, None);
            }
            handler
        };
        let Some(handler) = handler else {
            self.send_nowait(Message::error(
                code::INVOCATION,
                request,
                "wamp.error.no_such_registration",
                vec![Value::from(format!(
                    "this session has no registration {registration}"
                ))],
            ));
            return;
        };
        let receive_progress = details
            .get("receive_progress")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let inv = Invocation {
            registration,
            args: payload.args,
            kwargs: payload.kwargs,
            details,
            progress: receive_progress.then(|| Progress {
                shared: self.clone(),
                request,
            }),
        };
        let shared = self.clone();
        let task = tokio::spawn(async move {
            let outcome = AssertUnwindSafe(async move { handler(inv).await })
                .catch_unwind()
                .await;
            // Whoever removes the entry answers: this task, or an INTERRUPT.
            if shared.state.lock().invocations.remove(&request).is_none() {
                return;
            }
            let msg = match outcome {
                Ok(Ok(payload)) => Message::Yield {
                    request,
                    options: Dict::new(),
                    payload,
                },
                Ok(Err(e)) => Message::Error {
                    request_type: code::INVOCATION,
                    request,
                    details: Dict::new(),
                    error: e.error,
                    payload: Payload::new(e.args, e.kwargs),
                },
                Err(_) => Message::error(
                    code::INVOCATION,
                    request,
                    RUNTIME_ERROR,
                    vec![Value::from("the procedure handler panicked")],
                ),
            };
            let _ = shared.send(msg).await;
        });
        if let Some(slot) = self.state.lock().invocations.get_mut(&request) {
            *slot = Some(task.abort_handle());
        }
    }

    pub(super) fn on_interrupt(self: &Arc<Self>, request: Id, options: &Dict) {
        let entry = self.state.lock().invocations.remove(&request);
        let Some(task) = entry else {
            debug!(request, "INTERRUPT for an invocation that is over");
            return;
        };
        if let Some(t) = task {
            t.abort();
        }
        let mode = options.get("mode").and_then(Value::as_str).unwrap_or("");
        debug!(request, mode, "invocation interrupted");
        self.send_nowait(Message::error(
            code::INVOCATION,
            request,
            CANCELED,
            vec![Value::from("the invocation was interrupted")],
        ));
    }
}
