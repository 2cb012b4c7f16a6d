//! Remote procedure calls: registrations (exact, prefix, wildcard; shared with invocation
//! policies), call routing, progressive results, cancellation and timeouts.
//!
//! In-flight calls are tracked on the sessions, not in a realm-wide table: the callee's handle
//! holds its pending INVOCATIONs (answered by its own YIELD/ERROR), the caller's handle maps
//! its CALL request IDs to them (for CANCEL and for cleanup when the caller leaves). Locks are
//! per session and never held two at a time.

use crate::util::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::RngExt as _;

use crate::authorization::Action;
use crate::broker::{match_option, restricted};
use crate::call_queue::CallQueue;
use crate::dict;
use crate::message::{Id, Message, Payload, code};
use crate::meta;
use crate::peer::Outgoing;
use crate::realm::Realm;
use crate::session::{CallRef, Deferred, PendingInvocation, SessionCtx, SessionHandle, Step};
use crate::uri::{self, MatchPolicy};
use crate::value::{Dict, Value};

/// How a shared registration picks its callee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvokePolicy {
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl InvokePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "single" => InvokePolicy::Single,
            "roundrobin" => InvokePolicy::RoundRobin,
            "random" => InvokePolicy::Random,
            "first" => InvokePolicy::First,
            "last" => InvokePolicy::Last,
            _ => return None,
        })
    }
}

/// One registration: a procedure pattern and its callees.
#[derive(Debug)]
pub struct Registration {
    pub id: Id,
    pub uri: String,
    pub policy: MatchPolicy,
    pub invoke: InvokePolicy,
    pub created: String,
    pub callees: Vec<Arc<SessionHandle>>,
    /// The callees that registered with a `concurrency` limit (by session).
    limits: HashMap<Id, Arc<Concurrency>>,
    next: AtomicUsize,
    /// Where calls wait while every callee is at its limit (the realm store's `call-queue`).
    queue: Option<Arc<CallQueue>>,
}

/// A callee's REGISTER `concurrency`: how many invocations it takes at once, and how many it
/// has running.
#[derive(Debug)]
struct Concurrency {
    limit: usize,
    running: AtomicUsize,
}

/// One place of a callee's concurrency, held by an invocation in flight and given back when
/// the invocation ends, however it ends (its pending entry is dropped); a call waiting in the
/// registration's queue then gets its turn.
#[derive(Debug)]
pub(crate) struct ConcurrencySlot {
    place: Arc<Concurrency>,
    queue: Option<Arc<CallQueue>>,
}

impl Concurrency {
    fn take(self: &Arc<Self>, queue: &Option<Arc<CallQueue>>) -> Option<ConcurrencySlot> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| ConcurrencySlot {
                place: self.clone(),
                queue: queue.clone(),
            })
    }
}

impl Drop for ConcurrencySlot {
    fn drop(&mut self) {
        self.place.running.fetch_sub(1, Ordering::AcqRel);
        if let Some(q) = &self.queue {
            q.dispatch_soon();
        }
    }
}

/// The callee chosen for an invocation, with the concurrency place it takes (if it has a limit).
type Choice<'a> = (&'a Arc<SessionHandle>, Option<ConcurrencySlot>);

/// Why a call found no callee that may take it.
const MAX_CONCURRENCY: &str = "crossbar.error.max_concurrency_reached";

impl Registration {
    /// The record used by the meta API (`wamp.registration.get`, `on_create`).
    pub fn details(&self) -> Dict {
        dict! {
            "id" => self.id,
            "created" => self.created.clone(),
            "uri" => self.uri.clone(),
            "match" => self.policy.as_str(),
            "invoke" => self.invoke.as_str(),
        }
    }

    /// The callee for the next invocation, with its concurrency place if it has a limit, as
    /// Crossbar.io chooses: single, first and last fail when that callee is at its limit,
    /// round-robin goes on to the next callee below its limit, random does not look.
    /// `None` without callees; `Some(Err(message))` when a limit refuses the call.
    fn pick(&self) -> Option<Result<Choice<'_>, String>> {
        let n = self.callees.len();
        if n == 0 {
            return None;
        }
        let place = |c: &Arc<SessionHandle>| match self.limits.get(&c.id) {
            None => Some(None),
            Some(l) => l.take(&self.queue).map(Some),
        };
        let refused = |what: &str| {
            let limit = self.limits.values().map(|l| l.limit).max().unwrap_or(0);
            Err(format!(
                "maximum concurrency {limit} of {what} reached (on {} registration)",
                self.invoke.as_str()
            ))
        };
        Some(match self.invoke {
            InvokePolicy::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|k| &self.callees[(start + k) % n])
                    .find_map(|c| place(c).map(|slot| (c, slot)))
                    .map_or_else(|| refused("all callee/endpoints"), Ok)
            }
            InvokePolicy::Random => Ok((&self.callees[rand::rng().random_range(0..n)], None)),
            single => {
                let c = &self.callees[if single == InvokePolicy::Last {
                    n - 1
                } else {
                    0
                }];
                match place(c) {
                    Some(slot) => Ok((c, slot)),
                    None => refused("callee/endpoint"),
                }
            }
        })
    }
}

/// The registrations of one realm.
#[derive(Debug, Default)]
pub struct Dealer {
    exact: HashMap<String, Id>,
    prefix: HashMap<String, Id>,
    wildcard: HashMap<String, Id>,
    regs: HashMap<Id, Registration>,
}

impl Dealer {
    fn index_mut(&mut self, policy: MatchPolicy) -> &mut HashMap<String, Id> {
        match policy {
            MatchPolicy::Exact => &mut self.exact,
            MatchPolicy::Prefix => &mut self.prefix,
            MatchPolicy::Wildcard => &mut self.wildcard,
        }
    }

    pub fn get(&self, id: Id) -> Option<&Registration> {
        self.regs.get(&id)
    }

    /// The registration for exactly this pattern and policy.
    pub fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        match policy {
            MatchPolicy::Exact => &self.exact,
            MatchPolicy::Prefix => &self.prefix,
            MatchPolicy::Wildcard => &self.wildcard,
        }
        .get(uri)
        .copied()
    }

    pub fn list(&self) -> (Vec<Id>, Vec<Id>, Vec<Id>) {
        (
            self.exact.values().copied().collect(),
            self.prefix.values().copied().collect(),
            self.wildcard.values().copied().collect(),
        )
    }

    /// The registration a call to `procedure` goes to: exact, then the longest matching prefix,
    /// then the wildcard whose literal components come first (and then the longest).
    pub fn best_match(&self, procedure: &str) -> Option<&Registration> {
        if let Some(r) = self.exact.get(procedure).and_then(|id| self.regs.get(id)) {
            return Some(r);
        }
        let prefix = self
            .prefix
            .iter()
            .filter(|(p, _)| procedure.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .and_then(|(_, id)| self.regs.get(id));
        if prefix.is_some() {
            return prefix;
        }
        self.wildcard
            .iter()
            .filter(|(p, _)| uri::wildcard_matches(p, procedure))
            .max_by(|(a, _), (b, _)| {
                uri::wildcard_rank(a)
                    .cmp(&uri::wildcard_rank(b))
                    .then(a.len().cmp(&b.len()))
            })
            .and_then(|(_, id)| self.regs.get(id))
    }

    /// Removes a callee; returns (was a callee, the registration if that deleted it, its uri).
    fn remove(&mut self, id: Id, session: Id) -> (bool, Option<Registration>, String) {
        let Some(reg) = self.regs.get_mut(&id) else {
            return (false, None, String::new());
        };
        let before = reg.callees.len();
        reg.callees.retain(|s| s.id != session);
        reg.limits.remove(&session);
        let removed = before != reg.callees.len();
        let uri = reg.uri.clone();
        if reg.callees.is_empty() {
            let policy = reg.policy;
            let deleted = self.regs.remove(&id);
            self.index_mut(policy).remove(&uri);
            return (removed, deleted, uri);
        }
        (removed, None, uri)
    }
}

pub(crate) fn register(
    ctx: &mut SessionCtx,
    request: Id,
    options: Dict,
    procedure: String,
) -> Step {
    let policy = match match_option(&options) {
        Ok(p) => p,
        Err(e) => {
            ctx.error(code::REGISTER, request, "wamp.error.invalid_argument", e);
            return Step::Continue;
        }
    };
    let invoke = match options.get("invoke") {
        None | Some(Value::Null) => InvokePolicy::Single,
        Some(Value::String(s)) => match InvokePolicy::parse(s) {
            Some(p) => p,
            None => {
                ctx.error(
                    code::REGISTER,
                    request,
                    "wamp.error.invalid_argument",
                    format!("invalid invocation policy \"{s}\""),
                );
                return Step::Continue;
            }
        },
        Some(_) => {
            ctx.error(
                code::REGISTER,
                request,
                "wamp.error.invalid_argument",
                "option \"invoke\" must be a string".into(),
            );
            return Step::Continue;
        }
    };
    if !uri::is_valid(&procedure, ctx.realm.options().uri_check, policy) {
        ctx.error(
            code::REGISTER,
            request,
            "wamp.error.invalid_uri",
            format!("register for invalid procedure URI '{procedure}'"),
        );
        return Step::Continue;
    }
    if let Some(err) = restricted(ctx, &procedure) {
        ctx.error(
            code::REGISTER,
            request,
            err,
            format!("register for restricted procedure URI '{procedure}'"),
        );
        return Step::Continue;
    }
    let auth = ctx.authorize(&procedure, Action::Register);
    if !auth.allow {
        let msg = format!(
            "session (session_id={}, authid=\"{}\", authrole=\"{}\") is not authorized to register procedure \"{}\" on realm \"{}\"",
            ctx.handle.id,
            ctx.handle.identity.authid,
            ctx.handle.identity.authrole,
            procedure,
            ctx.realm.name()
        );
        ctx.error(code::REGISTER, request, "wamp.error.not_authorized", msg);
        return Step::Continue;
    }
    let concurrency = match options.get("concurrency") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|n| *n > 0) {
            Some(n) => Some(Arc::new(Concurrency {
                limit: usize::try_from(n).unwrap_or(usize::MAX),
                running: AtomicUsize::new(0),
            })),
            None => {
                ctx.error(
                    code::REGISTER,
                    request,
                    "wamp.error.invalid_argument",
                    "option \"concurrency\" must be a positive integer".into(),
                );
                return Step::Continue;
            }
        },
    };
    if options.get("force_reregister").and_then(Value::as_bool) == Some(true) {
        kick_callees(ctx, &procedure, policy);
    }
    let outcome = {
        let mut dealer = ctx.realm.dealer.write();
        match dealer.lookup(&procedure, policy) {
            Some(id) => {
                let reg = dealer
                    .regs
                    .get_mut(&id)
                    .expect("index and registrations agree");
                if reg.invoke == InvokePolicy::Single
                    || reg.callees.iter().any(|c| c.id == ctx.handle.id)
                {
                    Err((
                        "wamp.error.procedure_already_exists",
                        format!("register for already registered procedure '{procedure}'"),
                    ))
                } else if reg.invoke != invoke {
                    Err((
                        "wamp.error.procedure_exists_with_different_invocation_policy",
                        format!(
                            "register for already registered procedure '{procedure}' with conflicting invocation policy (has {} and {} was requested)",
                            reg.invoke.as_str(),
                            invoke.as_str()
                        ),
                    ))
                } else {
                    reg.callees.push(ctx.handle.clone());
                    if let Some(c) = concurrency.clone() {
                        reg.limits.insert(ctx.handle.id, c);
                    }
                    Ok((id, false))
                }
            }
            None => {
                let id = loop {
                    let id = crate::util::random_id();
                    if !dealer.regs.contains_key(&id) {
                        break id;
                    }
                };
                dealer.index_mut(policy).insert(procedure.clone(), id);
                dealer.regs.insert(
                    id,
                    Registration {
                        id,
                        uri: procedure.clone(),
                        policy,
                        invoke,
                        created: crate::util::utcnow(),
                        callees: vec![ctx.handle.clone()],
                        limits: concurrency
                            .iter()
                            .map(|c| (ctx.handle.id, c.clone()))
                            .collect(),
                        next: AtomicUsize::new(0),
                        queue: ctx
                            .realm
                            .call_queue_limit(&procedure)
                            .map(|limit| CallQueue::new(&ctx.realm, id, limit)),
                    },
                );
                Ok((id, true))
            }
        }
    };
    match outcome {
        Err((err, msg)) => ctx.error(code::REGISTER, request, err, msg),
        Ok((id, created)) => {
            ctx.registrations.insert(id);
            ctx.reply(Message::Registered {
                request,
                registration: id,
            });
            if !procedure.starts_with("wamp.") {
                let realm = ctx.realm.clone();
                if created {
                    let details = realm
                        .dealer
                        .read()
                        .get(id)
                        .map(Registration::details)
                        .unwrap_or_default();
                    meta::publish(
                        &realm,
                        "wamp.registration.on_create",
                        vec![ctx.handle.id.into(), details.into()],
                        &mut ctx.deferred,
                    );
                }
                meta::publish(
                    &realm,
                    "wamp.registration.on_register",
                    vec![ctx.handle.id.into(), id.into()],
                    &mut ctx.deferred,
                );
            }
        }
    }
    Step::Continue
}

/// REGISTER with `force_reregister`, as Crossbar.io does it: the procedure's callees lose
/// it (UNREGISTERED with request 0, reason `wamp.error.unregistered`) and the registration is
/// deleted, so the new callee's REGISTER creates it afresh.
fn kick_callees(ctx: &mut SessionCtx, procedure: &str, policy: MatchPolicy) {
    let found = {
        let dealer = ctx.realm.dealer.read();
        dealer
            .lookup(procedure, policy)
            .and_then(|id| dealer.get(id))
            .map(|reg| (reg.id, reg.callees.clone()))
    };
    let Some((id, callees)) = found else {
        return;
    };
    let realm = ctx.realm.clone();
    for callee in callees {
        remove_callee(&realm, &callee, id, &mut ctx.deferred);
        let details = dict! {"registration" => id, "reason" => "wamp.error.unregistered"};
        callee.send(
            Outgoing::from(Message::Unregistered {
                request: 0,
                details,
            }),
            &mut ctx.deferred,
        );
    }
    ctx.registrations.remove(&id);
}

pub(crate) fn unregister(ctx: &mut SessionCtx, request: Id, registration: Id) -> Step {
    if !ctx.registrations.remove(&registration) {
        ctx.error(
            code::UNREGISTER,
            request,
            "wamp.error.no_such_registration",
            format!("session has no registration {registration}"),
        );
        return Step::Continue;
    }
    let realm = ctx.realm.clone();
    remove_callee(&realm, &ctx.handle, registration, &mut ctx.deferred);
    ctx.reply(Message::Unregistered {
        request,
        details: Dict::new(),
    });
    Step::Continue
}

/// Removes a session from a registration, with meta events.
pub(crate) fn remove_callee(
    realm: &Arc<Realm>,
    session: &Arc<SessionHandle>,
    id: Id,
    deferred: &mut Deferred,
) {
    let (removed, deleted, uri) = realm.dealer.write().remove(id, session.id);
    // Calls still waiting for the registration have nowhere to go now.
    if let Some(queue) = deleted.as_ref().and_then(|r| r.queue.as_ref()) {
        queue.fail_all(&uri, deferred);
    }
    if removed && !uri.starts_with("wamp.") {
        meta::publish(
            realm,
            "wamp.registration.on_unregister",
            vec![session.id.into(), id.into()],
            deferred,
        );
        if deleted.is_some() {
            meta::publish(
                realm,
                "wamp.registration.on_delete",
                vec![session.id.into(), id.into()],
                deferred,
            );
        }
    }
}

/// A CALL on its way to a callee: what the INVOCATION is made of.
pub(crate) struct CallRequest {
    pub request: Id,
    pub options: Dict,
    pub procedure: String,
    pub payload: Payload,
    /// The caller is disclosed to the callee (its role's `disclose.caller`, or a meta URI).
    pub disclose: bool,
}

/// Where a call goes: a callee (with the concurrency place it takes), the registration's
/// queue, or nowhere.
enum Target {
    Callee(Picked),
    Queue(Arc<CallQueue>),
    Refused(String),
    None,
}

/// The callee picked for an invocation, with the registration it is called through.
pub(crate) struct Picked {
    pub callee: Arc<SessionHandle>,
    pub registration: Id,
    pub policy: MatchPolicy,
    pub slot: Option<ConcurrencySlot>,
}

impl Registration {
    /// The callee for the next invocation as [`Registration::pick`] chooses it.
    pub(crate) fn pick_callee(&self) -> Option<Result<Picked, String>> {
        self.pick().map(|r| {
            r.map(|(callee, slot)| Picked {
                callee: callee.clone(),
                registration: self.id,
                policy: self.policy,
                slot,
            })
        })
    }
}

pub(crate) fn call(
    ctx: &mut SessionCtx,
    request: Id,
    options: Dict,
    procedure: String,
    payload: Payload,
) -> Step {
    if !uri::is_valid(
        &procedure,
        ctx.realm.options().uri_check,
        MatchPolicy::Exact,
    ) {
        ctx.error(
            code::CALL,
            request,
            "wamp.error.invalid_uri",
            format!("call with invalid procedure URI '{procedure}'"),
        );
        return Step::Continue;
    }
    let auth = ctx.authorize(&procedure, Action::Call);
    if !auth.allow {
        let msg = format!(
            "session (session_id={}, authid=\"{}\", authrole=\"{}\") is not authorized to call procedure \"{}\" on realm \"{}\"",
            ctx.handle.id,
            ctx.handle.identity.authid,
            ctx.handle.identity.authrole,
            procedure,
            ctx.realm.name()
        );
        ctx.error(code::CALL, request, "wamp.error.not_authorized", msg);
        return Step::Continue;
    }
    if ctx.handle.calls.lock().contains_key(&request) {
        return Step::Violation(format!(
            "CALL with request ID {request} that is already in flight"
        ));
    }
    let disclose =
        auth.disclose || procedure.starts_with("wamp.") || procedure.starts_with("crossbar.");

    // Pick the callee under the dealer's read lock; send after building the INVOCATION.
    // A registration with a call queue takes no call past the ones already waiting.
    let target = {
        let dealer = ctx.realm.dealer.read();
        match dealer.best_match(&procedure) {
            None => Target::None,
            Some(reg) => match (
                &reg.queue,
                reg.queue.as_ref().is_some_and(|q| !q.is_empty()),
            ) {
                (Some(q), true) => Target::Queue(q.clone()),
                (queue, _) => match reg.pick_callee() {
                    None => Target::None,
                    Some(Ok(picked)) => Target::Callee(picked),
                    Some(Err(message)) => match queue {
                        Some(q) => Target::Queue(q.clone()),
                        None => Target::Refused(message),
                    },
                },
            },
        }
    };
    let call = CallRequest {
        request,
        options,
        procedure,
        payload,
        disclose,
    };
    match target {
        Target::Callee(picked) => {
            let caller = ctx.handle.clone();
            invoke(&caller, call, picked, &mut ctx.deferred);
        }
        Target::Queue(queue) => {
            if let Err(message) = queue.push(&ctx.handle, call) {
                ctx.error(code::CALL, request, MAX_CONCURRENCY, message);
            }
        }
        Target::Refused(message) => ctx.error(code::CALL, request, MAX_CONCURRENCY, message),
        Target::None => no_callee(ctx, call),
    }
    Step::Continue
}

/// A call no registration takes: the meta API answers `wamp.*` procedures nobody registered,
/// anything else is `no_such_procedure`.
fn no_callee(ctx: &mut SessionCtx, call: CallRequest) {
    let CallRequest {
        request,
        procedure,
        payload,
        ..
    } = call;
    let answer = if ctx.realm.options().enable_meta_api && procedure.starts_with("wamp.") {
        let realm = ctx.realm.clone();
        let handle = ctx.handle.clone();
        meta::call(
            &realm,
            &handle,
            &procedure,
            payload.into_decoded(),
            &mut ctx.deferred,
        )
    } else {
        None
    };
    match answer {
        Some(Ok(result)) => ctx.reply(Message::Result {
            request,
            details: Dict::new(),
            payload: result,
        }),
        Some(Err((err, msg))) => ctx.error(code::CALL, request, &err, msg),
        None => ctx.error(
            code::CALL,
            request,
            "wamp.error.no_such_procedure",
            format!("no callee registered for procedure <{procedure}>"),
        ),
    }
}

/// Sends `call` of `caller` to the picked callee as an INVOCATION and tracks it on both
/// sessions (or answers the caller with an ERROR if the callee's serializer cannot carry it).
pub(crate) fn invoke(
    caller: &Arc<SessionHandle>,
    call: CallRequest,
    picked: Picked,
    deferred: &mut Deferred,
) {
    let CallRequest {
        request,
        options,
        procedure,
        payload,
        disclose,
    } = call;
    let Picked {
        callee,
        registration,
        policy,
        slot,
    } = picked;
    if let Some(why) = refused(caller, &callee, &payload) {
        caller.calls.lock().remove(&request);
        caller.send(
            Outgoing::from(Message::error(
                code::CALL,
                request,
                "wamp.error.invalid_argument",
                vec![Value::from(format!(
                    "the callee's serializer cannot carry the call's arguments: {why}"
                ))],
            )),
            deferred,
        );
        return;
    }
    let receive_progress = options
        .get("receive_progress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Seconds, as Crossbar.io and autobahn read CALL.Options.timeout (the spec says
    // milliseconds; clients written against Crossbar.io send seconds).
    let timeout = options.get("timeout").cloned().unwrap_or(Value::Null);
    let timeout_secs = timeout.as_f64().filter(|t| *t > 0.0 && t.is_finite());

    let invocation = callee.next_request_id();
    let mut details = Dict::new();
    if policy != MatchPolicy::Exact {
        details.insert("procedure".into(), Value::from(procedure));
    }
    if receive_progress {
        details.insert("receive_progress".into(), Value::Bool(true));
    }
    if timeout_secs.is_some() {
        details.insert("timeout".into(), timeout);
    }
    payload.forward_transparency(&options, &mut details);
    if disclose {
        details.insert("caller".into(), Value::from(caller.id));
        details.insert(
            "caller_authid".into(),
            Value::from(caller.identity.authid.clone()),
        );
        details.insert(
            "caller_authrole".into(),
            Value::from(caller.identity.authrole.clone()),
        );
    }
    let timeout = timeout_secs.map(|secs| {
        let callee = callee.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            let mut deferred = Deferred::default();
            abort_invocation(
                &callee,
                invocation,
                "wamp.error.canceled",
                "timeout reached",
                &mut deferred,
            );
            deferred.flush().await;
        })
        .abort_handle()
    });
    callee.invocations.lock().insert(
        invocation,
        PendingInvocation {
            caller: caller.clone(),
            caller_request: request,
            receive_progress,
            canceled: false,
            timeout,
            _concurrency: slot,
        },
    );
    caller.calls.lock().insert(
        request,
        CallRef::Invoked {
            callee: Arc::downgrade(&callee),
            invocation,
        },
    );
    callee.send(
        Outgoing::from(Message::Invocation {
            request: invocation,
            registration,
            details,
            payload,
        }),
        deferred,
    );
}

/// What `receiver`'s serializer cannot carry of `payload` from `sender` (in-process peers
/// take any value, and a serializer carries whatever it decoded), with the serializer's name.
pub(crate) fn refused(
    sender: &SessionHandle,
    receiver: &SessionHandle,
    payload: &Payload,
) -> Option<String> {
    let codec = receiver.serializer?;
    if sender.serializer == Some(codec) {
        return None;
    }
    payload
        .refused_by(codec)
        .map(|why| format!("{why} (in {codec})"))
}

/// Ends an INVOCATION from the router's side: the caller gets ERROR(`error`), the callee an
/// INTERRUPT if it can take one (timeouts, `killnowait` cancels).
fn abort_invocation(
    callee: &Arc<SessionHandle>,
    invocation: Id,
    error: &str,
    message: &str,
    deferred: &mut Deferred,
) {
    let Some(p) = callee.invocations.lock().remove(&invocation) else {
        return;
    };
    if let Some(t) = &p.timeout {
        t.abort();
    }
    p.caller.calls.lock().remove(&p.caller_request);
    p.caller.send(
        Outgoing::from(Message::error(
            code::CALL,
            p.caller_request,
            error,
            vec![Value::from(message)],
        )),
        deferred,
    );
    if callee.features.callee_call_canceling {
        callee.send(
            Outgoing::from(Message::Interrupt {
                request: invocation,
                options: dict! {"mode" => "killnowait"},
            }),
            deferred,
        );
    }
}

pub(crate) fn yield_(ctx: &mut SessionCtx, request: Id, options: Dict, payload: Payload) -> Step {
    let progress = options
        .get("progress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let pending = {
        let mut inv = ctx.handle.invocations.lock();
        if progress {
            match inv.get(&request) {
                Some(p) if p.receive_progress => Some((p.caller.clone(), p.caller_request, false)),
                // Progress the caller did not ask for is dropped.
                Some(_) => return Step::Continue,
                None => None,
            }
        } else {
            inv.remove(&request).map(|p| {
                if let Some(t) = &p.timeout {
                    t.abort();
                }
                (p.caller, p.caller_request, true)
            })
        }
    };
    // A YIELD for an invocation that was canceled or timed out is dropped.
    let Some((caller, caller_request, last)) = pending else {
        return Step::Continue;
    };
    if last {
        caller.calls.lock().remove(&caller_request);
    }
    // Crossbar.io discloses the callee in every RESULT (autobahn's CallResult.callee, …).
    let mut details = Dict::with_capacity(4);
    if progress {
        details.insert("progress".into(), Value::Bool(true));
    }
    payload.forward_transparency(&options, &mut details);
    let id = &ctx.handle.identity;
    details.insert("callee".into(), Value::from(ctx.handle.id));
    details.insert("callee_authid".into(), Value::from(id.authid.clone()));
    details.insert("callee_authrole".into(), Value::from(id.authrole.clone()));
    let reply = match refused(&ctx.handle, &caller, &payload) {
        None => Message::Result {
            request: caller_request,
            details,
            payload,
        },
        // A progressive result the caller cannot read is left out; the call goes on.
        Some(why) if !last => {
            tracing::warn!(session = ctx.handle.id, reason = %why, "progressive result dropped: the caller's serializer cannot carry it");
            return Step::Continue;
        }
        Some(why) => Message::error(
            code::CALL,
            caller_request,
            "wamp.error.invalid_argument",
            vec![Value::from(format!(
                "the caller's serializer cannot carry the call's result: {why}"
            ))],
        ),
    };
    caller.send(Outgoing::from(reply), &mut ctx.deferred);
    Step::Continue
}

pub(crate) fn invocation_error(
    ctx: &mut SessionCtx,
    request: Id,
    error_details: Dict,
    error: String,
    payload: Payload,
) -> Step {
    let pending = ctx.handle.invocations.lock().remove(&request);
    let Some(p) = pending else {
        return Step::Continue;
    };
    if let Some(t) = &p.timeout {
        t.abort();
    }
    p.caller.calls.lock().remove(&p.caller_request);
    let error = if p.canceled {
        "wamp.error.canceled".to_owned()
    } else {
        error
    };
    // The error's URI always reaches the caller; arguments it cannot read are replaced.
    let payload = match refused(&ctx.handle, &p.caller, &payload) {
        None => payload,
        Some(why) => Payload::args(vec![Value::from(format!(
            "the caller's serializer cannot carry the error's arguments: {why}"
        ))]),
    };
    let mut details = Dict::new();
    payload.forward_transparency(&error_details, &mut details);
    p.caller.send(
        Outgoing::from(Message::Error {
            request_type: code::CALL,
            request: p.caller_request,
            details,
            error,
            payload,
        }),
        &mut ctx.deferred,
    );
    Step::Continue
}

pub(crate) fn cancel(ctx: &mut SessionCtx, request: Id, options: Dict) -> Step {
    let call = match ctx.handle.calls.lock().get(&request) {
        // The call already finished: nothing to cancel.
        None => return Step::Continue,
        Some(CallRef::Invoked { callee, invocation }) => Ok((callee.clone(), *invocation)),
        Some(CallRef::Queued(queue)) => Err(queue.clone()),
    };
    let mut mode = options
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("killnowait")
        .to_owned();
    if !matches!(mode.as_str(), "skip" | "kill" | "killnowait") {
        ctx.error(
            code::CANCEL,
            request,
            "wamp.error.invalid_argument",
            format!("invalid cancel mode \"{mode}\""),
        );
        return Step::Continue;
    }
    let (callee, invocation) = match call {
        Ok(invoked) => invoked,
        // A call that is still waiting for a callee ends now, whatever the mode.
        Err(queue) => {
            if queue
                .upgrade()
                .is_some_and(|q| q.remove(ctx.handle.id, request))
            {
                ctx.handle.calls.lock().remove(&request);
                ctx.error(
                    code::CALL,
                    request,
                    "wamp.error.canceled",
                    "call canceled by caller while waiting in the call queue".into(),
                );
            }
            return Step::Continue;
        }
    };
    let Some(callee) = callee.upgrade() else {
        return Step::Continue;
    };
    if !callee.features.callee_call_canceling {
        mode = "skip".into();
    }
    match mode.as_str() {
        "kill" => {
            let marked = match callee.invocations.lock().get_mut(&invocation) {
                Some(p) if !p.canceled => {
                    p.canceled = true;
                    true
                }
                _ => false,
            };
            if marked {
                callee.send(
                    Outgoing::from(Message::Interrupt {
                        request: invocation,
                        options: dict! {"mode" => "kill"},
                    }),
                    &mut ctx.deferred,
                );
            }
        }
        "killnowait" => abort_invocation(
            &callee,
            invocation,
            "wamp.error.canceled",
            "call canceled by caller",
            &mut ctx.deferred,
        ),
        _ => {
            // skip: the caller is told now; the callee's eventual answer is dropped.
            let removed = callee.invocations.lock().remove(&invocation);
            if let Some(p) = removed {
                if let Some(t) = &p.timeout {
                    t.abort();
                }
                ctx.handle.calls.lock().remove(&request);
                ctx.error(
                    code::CALL,
                    request,
                    "wamp.error.canceled",
                    "call canceled by caller".into(),
                );
            }
        }
    }
    Step::Continue
}

/// Cleans up after a session that left: its pending invocations fail for their callers, and
/// its own calls in flight are interrupted at their callees.
pub(crate) fn session_gone(handle: &Arc<SessionHandle>, deferred: &mut Deferred) {
    let invocations: Vec<(Id, PendingInvocation)> = handle.invocations.lock().drain().collect();
    for (_, p) in invocations {
        if let Some(t) = &p.timeout {
            t.abort();
        }
        p.caller.calls.lock().remove(&p.caller_request);
        p.caller.send(
            Outgoing::from(Message::error(
                code::CALL,
                p.caller_request,
                "wamp.error.canceled",
                vec![Value::from("callee disconnected from in-flight request")],
            )),
            deferred,
        );
    }
    let calls: Vec<(Id, CallRef)> = handle.calls.lock().drain().collect();
    for (request, c) in calls {
        let (callee, invocation) = match c {
            CallRef::Invoked { callee, invocation } => (callee, invocation),
            CallRef::Queued(queue) => {
                if let Some(q) = queue.upgrade() {
                    q.remove(handle.id, request);
                }
                continue;
            }
        };
        let Some(callee) = callee.upgrade() else {
            continue;
        };
        let removed = callee.invocations.lock().remove(&invocation);
        if let Some(p) = removed {
            if let Some(t) = &p.timeout {
                t.abort();
            }
            if callee.features.callee_call_canceling {
                callee.send(
                    Outgoing::from(Message::Interrupt {
                        request: invocation,
                        options: dict! {"mode" => "killnowait"},
                    }),
                    deferred,
                );
            }
        }
    }
}
