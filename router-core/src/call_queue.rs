//! Call queues (the realm store's `call-queue`, as Crossbar.io has them): a call to a
//! registration whose callees are all at their REGISTER `concurrency` waits here instead of
//! failing with `crossbar.error.max_concurrency_reached`, and is invoked, in order, as soon as
//! an invocation of the registration ends and frees a place.
//!
//! A queue belongs to one registration and is bounded by its `limit`; a call beyond it fails
//! as it would without a queue. The caller's handle marks a waiting call
//! ([`CallRef::Queued`]), so CANCEL (any mode) and a caller that leaves take it out. When the
//! registration goes away (its last callee left), the waiting calls fail with
//! `wamp.error.no_such_procedure`.
//!
//! Lock order: the dealer's read lock, then the queue's; the callers' handles are only sent to
//! or have their `calls` entry updated after the queue's lock is released.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::dealer::{self, CallRequest};
use crate::message::{Id, Message, code};
use crate::peer::Outgoing;
use crate::realm::Realm;
use crate::session::{CallRef, Deferred, SessionHandle};
use crate::value::Value;

/// The calls waiting for one registration.
pub(crate) struct CallQueue {
    realm: Weak<Realm>,
    registration: Id,
    limit: usize,
    calls: Mutex<VecDeque<Waiting>>,
    /// A dispatch task is spawned and has not started yet: one is enough.
    scheduled: AtomicBool,
}

struct Waiting {
    caller_id: Id,
    caller: Weak<SessionHandle>,
    call: CallRequest,
}

impl std::fmt::Debug for CallQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallQueue")
            .field("registration", &self.registration)
            .field("limit", &self.limit)
            .field("waiting", &self.calls.lock().len())
            .finish()
    }
}

impl CallQueue {
    pub(crate) fn new(realm: &Arc<Realm>, registration: Id, limit: usize) -> Arc<CallQueue> {
        Arc::new(CallQueue {
            realm: Arc::downgrade(realm),
            registration,
            limit,
            calls: Mutex::new(VecDeque::new()),
            scheduled: AtomicBool::new(false),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.calls.lock().is_empty()
    }

    /// Puts `call` of `caller` at the end of the queue, or says why it cannot wait.
    pub(crate) fn push(
        self: &Arc<Self>,
        caller: &Arc<SessionHandle>,
        call: CallRequest,
    ) -> Result<(), String> {
        let request = call.request;
        // Marked on the caller first: a dispatch running meanwhile replaces the mark.
        caller
            .calls
            .lock()
            .insert(request, CallRef::Queued(Arc::downgrade(self)));
        let mut calls = self.calls.lock();
        if calls.len() >= self.limit {
            drop(calls);
            caller.calls.lock().remove(&request);
            return Err(format!(
                "maximum concurrency of all callee/endpoints reached and the call queue is full ({} calls waiting)",
                self.limit
            ));
        }
        calls.push_back(Waiting {
            caller_id: caller.id,
            caller: Arc::downgrade(caller),
            call,
        });
        drop(calls);
        // A place may have been freed between the caller's attempt and the push, with nobody
        // left to notice: look once more.
        self.dispatch_soon();
        Ok(())
    }

    /// Takes the call `request` of session `caller` out of the queue; false if it is not there
    /// (it was invoked meanwhile).
    pub(crate) fn remove(&self, caller: Id, request: Id) -> bool {
        let mut calls = self.calls.lock();
        let before = calls.len();
        calls.retain(|w| !(w.call.request == request && w.caller_id == caller));
        before != calls.len()
    }

    /// Fails every waiting call: its registration (`procedure`) is gone.
    pub(crate) fn fail_all(&self, procedure: &str, deferred: &mut Deferred) {
        let waiting = std::mem::take(&mut *self.calls.lock());
        for w in waiting {
            let Some(caller) = w.caller.upgrade() else {
                continue;
            };
            caller.calls.lock().remove(&w.call.request);
            caller.send(
                Outgoing::from(Message::error(
                    code::CALL,
                    w.call.request,
                    "wamp.error.no_such_procedure",
                    vec![Value::from(format!(
                        "no callee registered for procedure <{procedure}> any more (the call was waiting in its call queue)"
                    ))],
                )),
                deferred,
            );
        }
    }

    /// Invokes waiting calls, in order, while the registration has callees with free places;
    /// on a task of its own, since it is asked for where an invocation ends (a drop).
    pub(crate) fn dispatch_soon(self: &Arc<Self>) {
        if self.is_empty() || self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime: the router is shutting down.
            self.scheduled.store(false, Ordering::Release);
            return;
        };
        let queue = self.clone();
        runtime.spawn(async move {
            queue.scheduled.store(false, Ordering::Release);
            let mut deferred = Deferred::default();
            queue.dispatch(&mut deferred);
            deferred.flush().await;
        });
    }

    fn dispatch(&self, deferred: &mut Deferred) {
        let Some(realm) = self.realm.upgrade() else {
            return;
        };
        loop {
            let next = {
                let dealer = realm.dealer.read();
                let Some(reg) = dealer.get(self.registration) else {
                    return;
                };
                let mut calls = self.calls.lock();
                // Callers gone without taking their calls out (they do on leaving) are skipped.
                while calls.front().is_some_and(|w| w.caller.strong_count() == 0) {
                    calls.pop_front();
                }
                if calls.is_empty() {
                    return;
                }
                match reg.pick_callee() {
                    Some(Ok(picked)) => calls.pop_front().map(|w| (w, picked)),
                    _ => None,
                }
            };
            let Some((waiting, picked)) = next else {
                return;
            };
            if let Some(caller) = waiting.caller.upgrade() {
                dealer::invoke(&caller, waiting.call, picked, deferred);
            }
        }
    }
}
