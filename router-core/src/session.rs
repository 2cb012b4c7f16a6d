//! The router side of one WAMP session: handshake, dispatch, and cleanup.
//!
//! A connection runs [`serve_wire`] (or [`connect_local`] for in-process peers). The session
//! task reads messages in order and routes each one synchronously under short realm locks;
//! messages for other sessions go into their bounded queues with `try_send`. A message that
//! finds a full queue is kept in the step's `Deferred` list and awaited before this session
//! reads its next message: a receiver that is slow but keeps taking messages slows its senders
//! down instead of growing memory. One that takes nothing for [`STALL_WINDOW`] is *stalled*:
//! its senders stop waiting for it and queue past its capacity (at most [`OVERFLOW_LIMIT`]
//! more messages, for at most [`SLOW_CONSUMER_TIMEOUT`]), so the other receivers of the same
//! publisher go on being served; a stalled receiver that exceeds either is closed.

use crate::util::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, debug_span, warn};

use crate::auth::{AuthStep, HelloInfo, Identity, TransportInfo, rate_limit};
use crate::authorization::{Action, Authorization};
use crate::codec::Codec;
use crate::message::{Id, Message, Payload, ProtocolViolation, code};
use crate::peer::{OutReceiver, OutSender, Outgoing, TrySendError, out_queue};
use crate::realm::Realm;
use crate::router::{ConnectionInfo, LocalLink, Router};
use crate::session_stats::SessionStats;
use crate::transport::wire::{WireError, WireRead, WireWrite};
use crate::value::{Dict, Value};
use crate::{broker, dealer, dict, meta};

/// Capacity of every session's outgoing queue, in messages. The queue's buffer grows with
/// what is queued and shrinks again once drained, so an idle session pays nothing for it.
pub const QUEUE_CAPACITY: usize = 8192;
/// How long a receiver may stay stalled (queue past its capacity) before it is closed, and
/// the longest a sender waits for room for one message.
pub const SLOW_CONSUMER_TIMEOUT: Duration = Duration::from_secs(20);
/// A receiver whose full queue had no message taken for this long is stalled: senders stop
/// waiting for it (see the module docs).
pub const STALL_WINDOW: Duration = Duration::from_millis(250);
/// How many messages a stalled receiver's queue may hold past its capacity.
pub const OVERFLOW_LIMIT: usize = QUEUE_CAPACITY;
/// Time allowed between connection and HELLO, and between CHALLENGE and AUTHENTICATE.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// After the session ends, how long the writer may take to flush what is queued.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the peer's GOODBYE after the router sent one.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a peer announced in HELLO.Details.roles that changes what the router sends it.
#[derive(Debug, Clone, Default)]
pub struct PeerFeatures {
    pub callee_call_canceling: bool,
    pub callee_progressive_call_results: bool,
}

impl PeerFeatures {
    fn from_hello(details: &Dict) -> Self {
        let feature = |role: &str, f: &str| -> bool {
            details
                .get("roles")
                .and_then(Value::as_dict)
                .and_then(|r| r.get(role))
                .and_then(Value::as_dict)
                .and_then(|r| r.get("features"))
                .and_then(Value::as_dict)
                .and_then(|fs| fs.get(f))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        PeerFeatures {
            callee_call_canceling: feature("callee", "call_canceling"),
            callee_progressive_call_results: feature("callee", "progressive_call_results"),
        }
    }
}

/// An INVOCATION sent to a callee that has not been answered yet.
pub(crate) struct PendingInvocation {
    pub caller: Arc<SessionHandle>,
    pub caller_request: Id,
    pub receive_progress: bool,
    /// Set once the caller canceled in `kill` mode: the callee's ERROR goes to the caller.
    pub canceled: bool,
    pub timeout: Option<tokio::task::AbortHandle>,
    /// The callee's concurrency place this invocation holds, given back when it is dropped.
    pub _concurrency: Option<crate::dealer::ConcurrencySlot>,
}

/// A CALL of this session that is in flight: with a callee (which INVOCATION), or waiting
/// in a registration's call queue.
pub(crate) enum CallRef {
    Invoked {
        callee: std::sync::Weak<SessionHandle>,
        invocation: Id,
    },
    Queued(std::sync::Weak<crate::call_queue::CallQueue>),
}

/// A testament: an event the router publishes when the session goes away.
#[derive(Clone, Debug)]
pub(crate) struct Testament {
    pub topic: String,
    pub payload: Payload,
    pub options: Dict,
    /// `destroyed` or `detached` (`wamp.session.add_testament`'s `scope`).
    pub scope: &'static str,
}

/// A joined session as other sessions and the management API see it.
pub struct SessionHandle {
    pub id: Id,
    pub identity: Identity,
    pub transport: Arc<TransportInfo>,
    pub serializer: Option<Codec>,
    pub features: PeerFeatures,
    tx: OutSender,
    /// Set by [`SessionHandle::close`]; the session task checks it whenever it is polled.
    closing: AtomicBool,
    /// The session task, woken when a close is requested (a waker, not a waiting future: the
    /// session's idle state stays small).
    closer: AtomicWaker,
    /// Boxed: set at most once, and a session handle is held for every session.
    close_reason: Mutex<Option<Box<(String, String)>>>,
    next_request: AtomicU64,
    pub(crate) invocations: Mutex<HashMap<Id, PendingInvocation>>,
    pub(crate) calls: Mutex<HashMap<Id, CallRef>>,
    pub(crate) testaments: Mutex<Vec<Testament>>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.id)
            .field("authid", &self.identity.authid)
            .field("authrole", &self.identity.authrole)
            .finish()
    }
}

impl SessionHandle {
    /// Asks the session to end with GOODBYE(`reason`).
    pub fn close(&self, reason: &str, message: &str) {
        let mut r = self.close_reason.lock();
        if r.is_none() {
            *r = Some(Box::new((reason.to_owned(), message.to_owned())));
        }
        drop(r);
        self.closing.store(true, Ordering::Release);
        self.closer.wake();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Ready once a close was requested; registers the task to be woken for it.
    fn poll_close_requested(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_closing() {
            return Poll::Ready(());
        }
        self.closer.register(cx.waker());
        // Checked again: a close between the first check and the registration would
        // otherwise wake nobody.
        if self.is_closing() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// The next router→peer request ID (INVOCATION, INTERRUPT refer to it), sequential from 1.
    pub(crate) fn next_request_id(&self) -> Id {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        if id > crate::message::MAX_ID {
            self.next_request.store(1, Ordering::Relaxed);
            1
        } else {
            id
        }
    }

    /// Queues `out` for this session now, or defers it if the queue is full.
    pub(crate) fn send(self: &Arc<Self>, out: Outgoing, deferred: &mut Deferred) {
        if deferred.has(self.id) {
            deferred.push(self.clone(), out);
            return;
        }
        match self.tx.try_send(out) {
            Ok(()) => {}
            // A stalled receiver holds nobody up.
            Err(TrySendError::Full(out)) if self.tx.is_overflowing() => self.overflow(out),
            Err(TrySendError::Full(out)) => deferred.push(self.clone(), out),
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// Queues `out` past the capacity of this stalled session's queue, or closes the session
    /// if it has been stalled too long or holds too much.
    fn overflow(&self, out: Outgoing) {
        if self
            .tx
            .overflow(out, OVERFLOW_LIMIT, SLOW_CONSUMER_TIMEOUT)
            .is_err()
            && !self.is_closing()
        {
            warn!(session = self.id, authid = %self.identity.authid, "slow consumer: stalled with its outgoing queue full, closing session");
            self.close("wamp.close.killed", "slow consumer: outgoing queue full");
        }
    }

    /// The details published in `wamp.session.on_join` and returned by `wamp.session.get`.
    pub fn details(&self) -> Dict {
        dict! {
            "realm" => self.identity.realm.clone(),
            "session" => self.id,
            "authid" => self.identity.authid.clone(),
            "authrole" => self.identity.authrole.clone(),
            "authmethod" => self.identity.authmethod.clone(),
            "authprovider" => self.identity.authprovider.clone(),
            "authextra" => self.identity.authextra.clone(),
            "serializer" => self.serializer.map(|c| c.name().to_owned()),
            "transport" => dict! {
                "type" => self.transport.kind,
                "peer" => self.transport.peer.clone(),
                "transport_id" => &*self.transport.id,
            },
            "resumed" => false,
            "resumable" => false,
            "resume_token" => Value::Null,
        }
    }
}

/// Messages that found a full queue during one routing step, delivered before the next step.
#[derive(Default)]
pub(crate) struct Deferred(Vec<(Arc<SessionHandle>, Outgoing)>);

impl Deferred {
    fn has(&self, id: Id) -> bool {
        !self.0.is_empty() && self.0.iter().any(|(s, _)| s.id == id)
    }
    fn push(&mut self, s: Arc<SessionHandle>, out: Outgoing) {
        self.0.push((s, out));
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Waits for room in each full queue while its receiver keeps taking messages; a
    /// receiver that takes nothing for [`STALL_WINDOW`] gets the message past its capacity
    /// (or is closed, see [`SessionHandle::overflow`]) instead of holding this sender up.
    pub(crate) async fn flush(&mut self) {
        for (s, mut out) in self.0.drain(..) {
            let started = tokio::time::Instant::now();
            loop {
                if s.is_closing() {
                    break;
                }
                match s.tx.try_send(out) {
                    Ok(()) | Err(TrySendError::Closed(_)) => break,
                    Err(TrySendError::Full(o)) => out = o,
                }
                if s.tx.is_overflowing()
                    || started.elapsed() >= SLOW_CONSUMER_TIMEOUT
                    || !s.tx.room_within(STALL_WINDOW).await
                {
                    s.overflow(out);
                    break;
                }
            }
        }
    }
    /// Delivers in the background (for steps that are not driven by a session task).
    pub(crate) fn spawn_flush(mut self) {
        if !self.is_empty() {
            tokio::spawn(async move { self.flush().await });
        }
    }
}

/// Where a session's incoming messages come from.
pub(crate) trait MessageSource: Send {
    fn next_message(&mut self)
    -> impl Future<Output = Result<Option<Message>, SourceError>> + Send;

    /// The size in bytes of the last message's frame (0 where messages are not serialized).
    fn last_size(&self) -> usize {
        0
    }
}

pub(crate) enum SourceError {
    Violation(ProtocolViolation),
    Wire(WireError),
}

struct WireSource<R> {
    reader: R,
    codec: Codec,
    /// The size of the last frame read (for session statistics).
    last_size: u32,
}

impl<R: WireRead> MessageSource for WireSource<R> {
    fn last_size(&self) -> usize {
        self.last_size as usize
    }

    async fn next_message(&mut self) -> Result<Option<Message>, SourceError> {
        match self.reader.read_frame().await {
            Ok(Some(frame)) => {
                self.last_size = u32::try_from(frame.len()).unwrap_or(u32::MAX);
                self.codec
                    .decode_routed(&frame)
                    .map(Some)
                    .map_err(SourceError::Violation)
            }
            Ok(None) => Ok(None),
            Err(e) => Err(SourceError::Wire(e)),
        }
    }
}

struct LocalSource {
    rx: mpsc::Receiver<Message>,
}

impl MessageSource for LocalSource {
    async fn next_message(&mut self) -> Result<Option<Message>, SourceError> {
        Ok(self.rx.recv().await)
    }
}

/// Runs sessions over a framed wire until the connection ends.
///
/// The session (reading and routing) and the writer (draining the outgoing queue into the
/// wire) are polled together by one [`Connection`] future, so a connection is one task: an
/// idle connection costs the router what these two futures and its session handle hold, not
/// two tasks and a channel.
/// `guard` is dropped when the connection ends.
pub(crate) fn serve_wire<R: WireRead, W: WireWrite, G: Send + 'static>(
    router: Arc<Router>,
    codec: Codec,
    reader: R,
    writer: W,
    conn: ConnectionInfo,
    guard: G,
) -> impl Future<Output = ()> + Send + 'static {
    let (tx, rx) = out_queue(QUEUE_CAPACITY);
    Connection {
        session: run(
            router,
            conn,
            WireSource {
                reader,
                codec,
                last_size: 0,
            },
            tx,
            Some(codec),
        ),
        writer: write_queue(writer, codec, rx),
        session_done: false,
        writer_done: false,
        drain: None,
        _guard: guard,
    }
}

pin_project_lite::pin_project! {
    /// A session and its writer, polled together. A plain struct rather than an `async` block
    /// with `select!`: a block would keep its captured arguments next to the futures built
    /// from them, for the life of the connection.
    struct Connection<S, W, G> {
        #[pin]
        session: S,
        #[pin]
        writer: W,
        session_done: bool,
        writer_done: bool,
        // Allocated once the session is over: the writer's time to flush its last messages.
        drain: Option<Pin<Box<tokio::time::Sleep>>>,
        _guard: G,
    }
}

impl<S: Future<Output = ()>, W: Future<Output = ()>, G> Future for Connection<S, W, G> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        // The session closes its queue when it ends; the writer then flushes what is queued
        // (GOODBYE, ABORT) and closes the wire. A failed write closes the wire early, and the
        // session sees the connection gone on its next read.
        if !*this.session_done && this.session.poll(cx).is_ready() {
            *this.session_done = true;
        }
        if !*this.writer_done && this.writer.poll(cx).is_ready() {
            *this.writer_done = true;
        }
        if *this.session_done {
            if *this.writer_done {
                return Poll::Ready(());
            }
            // A peer that stopped reading does not keep the connection alive for long.
            let drain = this
                .drain
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(DRAIN_TIMEOUT)));
            if drain.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

/// Writes what the session's queue receives to the wire, in batches, until the queue is
/// closed and empty or a write fails; then closes the wire.
#[allow(clippy::manual_async_fn)] // see `run`: an `async fn` would store its arguments twice
fn write_queue<W: WireWrite>(
    mut writer: W,
    codec: Codec,
    mut rx: OutReceiver,
) -> impl Future<Output = ()> + Send {
    // A block, like `run`, so the arguments are stored once.
    async move {
        let mut frames: Vec<Bytes> = Vec::new();
        // Everything queued goes out in one write, its messages serialized into shared
        // buffers, each frame a slice of one; the batch is dead before the write.
        loop {
            // In a block, so the future keeps no room for `batch` across the write.
            {
                let Some(mut batch) = rx.recv_all().await else {
                    break;
                };
                let mut buf = BytesMut::new();
                frames.extend(batch.drain(..).map(|o| o.encode_in(codec, &mut buf)));
                rx.recycle(batch);
                if let Some(stats) = rx.stats() {
                    for f in &frames {
                        stats.count(f.len());
                    }
                }
            }
            let res = writer.write_frames(&frames).await;
            frames.clear();
            // Nothing more to write for now: the session may sit idle for hours, so it keeps no
            // buffers (under load the queue is rarely empty and they are reused).
            if rx.release_if_idle() {
                frames = Vec::new();
            }
            if let Err(e) = res {
                debug!(error = %e, "write failed");
                break;
            }
        }
        // Closing the queue before the wire: senders see it gone at once.
        drop(rx);
        writer.close().await;
    }
}

/// Opens an in-process session link; the router side runs on a spawned task.
pub(crate) fn connect_local(router: Arc<Router>, conn: ConnectionInfo) -> LocalLink {
    let (in_tx, in_rx) = mpsc::channel::<Message>(QUEUE_CAPACITY);
    let (out_tx, out_rx) = out_queue(QUEUE_CAPACITY);
    let span = debug_span!("local", transport = %conn.transport.id);
    tokio::spawn(
        async move {
            run(
                router,
                conn,
                LocalSource { rx: in_rx },
                out_tx.clone(),
                None,
            )
            .await;
            out_tx.close();
        }
        .instrument(span),
    );
    LocalLink {
        tx: in_tx,
        rx: out_rx,
    }
}

/// Sends one message to the peer directly (handshake phase: nobody else knows this queue yet).
async fn send_direct(tx: &OutSender, msg: Message) {
    let _ = tokio::time::timeout(SLOW_CONSUMER_TIMEOUT, tx.send(Outgoing::from(msg))).await;
}

async fn next_with_timeout<S: MessageSource>(src: &mut S) -> Result<Option<Message>, SourceError> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, src.next_message()).await {
        Ok(r) => r,
        Err(_) => Err(SourceError::Violation(ProtocolViolation(
            "handshake timeout".into(),
        ))),
    }
}

#[allow(clippy::manual_async_fn)] // an `async fn` would store its arguments twice
fn run<S: MessageSource>(
    router: Arc<Router>,
    conn: ConnectionInfo,
    mut src: S,
    tx: OutSender,
    codec: Option<Codec>,
) -> impl Future<Output = ()> + Send {
    // A block rather than an `async fn`: an `async fn` moves its arguments into locals and its
    // future keeps room for both; the block uses what it captured in place.
    async move {
        // WAMP allows a new session on the same transport after GOODBYE.
        loop {
            // Boxed: the handshake's state (auth, realm lookup) is large and needed once; kept
            // inline, every idle session would carry its space for as long as it lives.
            let Some(mut ctx) = Box::pin(handshake(&router, &conn, &mut src, &tx, codec)).await
            else {
                break;
            };
            let again = established(&mut ctx, &mut src).await;
            ctx.detach().await;
            if !again {
                break;
            }
        }
        // Nothing more will be queued: the writer flushes what is there and ends.
        tx.close();
    }
}

/// Bounds the warnings a misbehaving peer can make us write.
static VIOLATION_LOG: crate::util::RateLimit = crate::util::RateLimit::new(10);

/// A session closed for a protocol violation: a warning with who and why (at most 10 a
/// second; the rest are counted in the next one).
fn log_violation(transport: &TransportInfo, session: Option<Id>, reason: &str) {
    if let Some(suppressed) = VIOLATION_LOG.allow() {
        warn!(
            session = session.unwrap_or(0),
            transport = %transport.id,
            peer = %transport.peer,
            reason,
            suppressed,
            "closing session for a protocol violation"
        );
    }
}

/// The checks autobahn's `Hello.parse` makes (so a HELLO that Crossbar.io refuses is refused
/// here too): `roles` a non-empty dict of the four client roles, each a dict with an optional
/// `features` dict; `authmethods` a list of strings; `authid`/`authrole` strings; `authextra`
/// a dict; `resumable` a boolean.
fn check_hello_details(details: &Dict) -> Result<(), String> {
    let roles = match details.get("roles") {
        None => return Err("HELLO: missing mandatory roles attribute in details".into()),
        Some(Value::Dict(r)) => r,
        Some(v) => {
            return Err(format!(
                "HELLO: roles must be a dict, not {}",
                v.type_name()
            ));
        }
    };
    if roles.is_empty() {
        return Err("HELLO: empty roles in details".into());
    }
    for (role, v) in roles {
        if !matches!(
            role.as_str(),
            "subscriber" | "publisher" | "caller" | "callee"
        ) {
            return Err(format!("HELLO: invalid role \"{role}\" in roles"));
        }
        match v {
            Value::Dict(d) => {
                if let Some(f) = d.get("features")
                    && !matches!(f, Value::Dict(_))
                {
                    return Err(format!("HELLO: features of role \"{role}\" must be a dict"));
                }
            }
            other => {
                return Err(format!(
                    "HELLO: role \"{role}\" must be a dict, not {}",
                    other.type_name()
                ));
            }
        }
    }
    for key in ["authid", "authrole"] {
        if let Some(v) = details.get(key)
            && !matches!(v, Value::String(_))
        {
            return Err(format!(
                "HELLO: {key} must be a string, not {}",
                v.type_name()
            ));
        }
    }
    if let Some(v) = details.get("authextra")
        && !matches!(v, Value::Dict(_) | Value::Null)
    {
        return Err(format!(
            "HELLO: authextra must be a dict, not {}",
            v.type_name()
        ));
    }
    if let Some(v) = details.get("resumable")
        && !matches!(v, Value::Bool(_))
    {
        return Err(format!(
            "HELLO: resumable must be a boolean, not {}",
            v.type_name()
        ));
    }
    Ok(())
}

/// Runs HELLO → (CHALLENGE → AUTHENTICATE) → WELCOME. `None` if the session did not open.
async fn handshake<S: MessageSource>(
    router: &Arc<Router>,
    conn: &ConnectionInfo,
    src: &mut S,
    tx: &OutSender,
    codec: Option<Codec>,
) -> Option<SessionCtx> {
    let (realm_req, details) = match next_with_timeout(src).await {
        Ok(Some(Message::Hello { realm, details })) => (realm, details),
        Ok(Some(other)) => {
            let text = format!("expected HELLO, got {}", other.name());
            log_violation(&conn.transport, None, &text);
            send_direct(tx, Message::abort("wamp.error.protocol_violation", text)).await;
            return None;
        }
        Ok(None) => return None,
        Err(SourceError::Violation(v)) => {
            log_violation(&conn.transport, None, &v.0);
            send_direct(tx, Message::abort("wamp.error.protocol_violation", v.0)).await;
            return None;
        }
        Err(SourceError::Wire(e)) => {
            debug!(error = %e, "connection failed before HELLO");
            return None;
        }
    };
    if let Err(text) = check_hello_details(&details) {
        log_violation(&conn.transport, None, &text);
        send_direct(tx, Message::abort("wamp.error.protocol_violation", text)).await;
        return None;
    }
    let str_of = |k: &str| details.get(k).and_then(Value::as_str).map(str::to_owned);
    let authmethods = match details.get("authmethods") {
        None | Some(Value::Null) => vec!["anonymous".to_owned()],
        Some(Value::List(l)) => {
            let mut v = Vec::with_capacity(l.len());
            for m in l {
                match m.as_str() {
                    Some(s) => v.push(s.to_owned()),
                    None => {
                        let text = "HELLO: authmethods must be a list of strings";
                        log_violation(&conn.transport, None, text);
                        send_direct(tx, Message::abort("wamp.error.protocol_violation", text))
                            .await;
                        return None;
                    }
                }
            }
            v
        }
        Some(_) => {
            let text = "HELLO: authmethods must be a list";
            log_violation(&conn.transport, None, text);
            send_direct(tx, Message::abort("wamp.error.protocol_violation", text)).await;
            return None;
        }
    };
    let authextra = match details.get("authextra") {
        Some(Value::Dict(d)) => d.clone(),
        _ => Dict::new(),
    };
    let session_id = crate::util::random_id();
    let hello = HelloInfo {
        realm: realm_req,
        authmethods,
        authid: str_of("authid"),
        authrole: str_of("authrole"),
        authextra,
        session_id,
        transport: conn.transport.clone(),
    };
    // Password logins from an address with too many failures are refused before they are
    // checked (`auth::rate_limit`).
    let limited = rate_limit::subject(&hello);
    let attempt = match router.auth_limit().begin(limited) {
        Ok(a) => a,
        Err(d) => {
            send_direct(tx, Message::abort(&d.reason, d.message)).await;
            return None;
        }
    };
    let step = conn.authenticator.hello(&hello).await;
    attempt.record(match &step {
        AuthStep::Deny(d) => Some(d),
        _ => None,
    });
    let identity = match step {
        AuthStep::Welcome(id) => id,
        AuthStep::Deny(d) => {
            send_direct(tx, Message::abort(&d.reason, d.message)).await;
            return None;
        }
        AuthStep::Challenge {
            method,
            extra,
            pending,
        } => {
            let limited = limited.filter(|_| rate_limit::is_password_method(&method));
            send_direct(
                tx,
                Message::Challenge {
                    authmethod: method,
                    extra,
                },
            )
            .await;
            match next_with_timeout(src).await {
                Ok(Some(Message::Authenticate { signature, extra })) => {
                    let attempt = match router.auth_limit().begin(limited) {
                        Ok(a) => a,
                        Err(d) => {
                            send_direct(tx, Message::abort(&d.reason, d.message)).await;
                            return None;
                        }
                    };
                    let checked = pending.authenticate(&signature, &extra).await;
                    attempt.record(checked.as_ref().err());
                    match checked {
                        Ok(id) => id,
                        Err(d) => {
                            send_direct(tx, Message::abort(&d.reason, d.message)).await;
                            return None;
                        }
                    }
                }
                Ok(Some(Message::Abort { .. })) | Ok(None) => return None,
                Ok(Some(other)) => {
                    let text = format!("expected AUTHENTICATE, got {}", other.name());
                    log_violation(&conn.transport, Some(session_id), &text);
                    send_direct(tx, Message::abort("wamp.error.protocol_violation", text)).await;
                    return None;
                }
                Err(SourceError::Violation(v)) => {
                    log_violation(&conn.transport, Some(session_id), &v.0);
                    send_direct(tx, Message::abort("wamp.error.protocol_violation", v.0)).await;
                    return None;
                }
                Err(SourceError::Wire(_)) => return None,
            }
        }
    };
    let Some(realm) = router.realm(&identity.realm) else {
        let text = format!("no realm \"{}\" exists on this router", identity.realm);
        send_direct(tx, Message::abort("wamp.error.no_such_realm", text)).await;
        return None;
    };
    if !realm.has_role(&identity.authrole) {
        // Crossbar.io's wording (`_assign_principal`).
        let text = format!(
            "realm \"{}\" has no role \"{}\"",
            identity.realm, identity.authrole
        );
        send_direct(tx, Message::abort("wamp.error.no_such_role", text)).await;
        return None;
    }
    let handle = Arc::new(SessionHandle {
        id: session_id,
        identity,
        transport: conn.transport.clone(),
        serializer: codec,
        features: PeerFeatures::from_hello(&details),
        tx: tx.clone(),
        closing: AtomicBool::new(false),
        closer: AtomicWaker::new(),
        close_reason: Mutex::new(None),
        next_request: AtomicU64::new(0),
        invocations: Mutex::new(HashMap::default()),
        calls: Mutex::new(HashMap::default()),
        testaments: Mutex::new(Vec::new()),
    });
    if !realm.attach(handle.clone()) {
        let text = format!("realm \"{}\" is shutting down", realm.name());
        send_direct(tx, Message::abort("wamp.error.no_such_realm", text)).await;
        return None;
    }
    if let Some(cookie) = &conn.transport.cookie {
        cookie.join(&handle);
    }
    let mut welcome = dict! {
        "realm" => realm.name().to_owned(),
        "authid" => handle.identity.authid.clone(),
        "authrole" => handle.identity.authrole.clone(),
        "authmethod" => handle.identity.authmethod.clone(),
        "authprovider" => handle.identity.authprovider.clone(),
        "roles" => router_roles(),
    };
    let mut authextra = handle.identity.authextra.clone();
    authextra.insert("x_cb_peer".into(), Value::from(conn.transport.peer.clone()));
    authextra.insert("x_cb_pid".into(), Value::from(std::process::id()));
    welcome.insert("authextra".into(), Value::Dict(authextra));
    send_direct(
        tx,
        Message::Welcome {
            session: session_id,
            details: welcome,
        },
    )
    .await;
    debug!(session = session_id, realm = %realm.name(), authid = %handle.identity.authid, authrole = %handle.identity.authrole, peer = %conn.transport.peer, transport = %conn.transport.id, "session joined");
    let mut ctx = SessionCtx {
        handle,
        realm,
        subscriptions: HashSet::default(),
        registrations: HashSet::default(),
        deferred: Deferred::default(),
        authorizer: None,
    };
    meta::on_join(&ctx.realm, &ctx.handle, &mut ctx.deferred);
    if let Some(config) = ctx.realm.stats_config() {
        let stats = Arc::new(SessionStats::new(config.clone(), &ctx.realm, &ctx.handle));
        if config.trigger_on_join {
            stats.publish_now(false);
        }
        tx.attach_stats(stats);
    }
    ctx.deferred.flush().await;
    Some(ctx)
}

/// The router's advertised roles and features (WELCOME.Details.roles).
fn router_roles() -> Dict {
    let features = |names: &[&str]| -> Value {
        let mut d = Dict::new();
        for n in names {
            d.insert((*n).to_owned(), Value::Bool(true));
        }
        Value::Dict(dict! { "features" => Value::Dict(d) })
    };
    dict! {
        "broker" => features(&[
            "publisher_identification", "publisher_exclusion", "subscriber_blackwhite_listing",
            "pattern_based_subscription", "session_meta_api", "subscription_meta_api",
            "event_retention", "subscription_revocation", "payload_transparency",
            "payload_encryption_cryptobox",
        ]),
        "dealer" => features(&[
            "caller_identification", "call_canceling", "call_timeout", "progressive_call_results",
            "pattern_based_registration", "shared_registration", "registration_meta_api",
            "session_meta_api", "testament_meta_api", "registration_revocation",
            "payload_transparency", "payload_encryption_cryptobox",
        ]),
    }
}

/// The state of a joined session, owned by its task.
pub(crate) struct SessionCtx {
    pub handle: Arc<SessionHandle>,
    pub realm: Arc<Realm>,
    pub subscriptions: HashSet<Id>,
    pub registrations: HashSet<Id>,
    pub deferred: Deferred,
    /// Dynamic authorization (cache and the current decision), for roles with an authorizer.
    pub authorizer: Option<Box<crate::authorizer::AuthorizerState>>,
}

/// What a step asks the session loop to do next.
pub(crate) enum Step {
    Continue,
    /// The peer said GOODBYE (answered); a new HELLO may follow.
    Goodbye,
    /// Close the connection with ABORT(protocol_violation).
    Violation(String),
}

/// Runs the joined session. Returns `true` if the transport may carry another session.
///
/// Written so that what the session keeps while it waits is small: the wait itself holds
/// two pointers, a read message is routed before the next await, and the rare waits are
/// boxed.
async fn established<S: MessageSource>(ctx: &mut SessionCtx, src: &mut S) -> bool {
    let handle = ctx.handle.clone();
    loop {
        // In a block: `next` (a whole message) must be dead before the awaits below, or the
        // future would keep room for it.
        let step = {
            let next = tokio::select! {
                biased;
                _ = std::future::poll_fn(|cx| handle.poll_close_requested(cx)) => None,
                m = src.next_message() => Some(m),
            };
            match next {
                None => None,
                Some(Ok(Some(msg))) if handle.tx.stats().is_some() => {
                    if let Some(stats) = handle.tx.stats() {
                        stats.count(src.last_size());
                    }
                    if ctx.realm.has_authorizers() {
                        Some(Box::pin(crate::authorizer::dispatch_authorized(ctx, msg)).await)
                    } else {
                        Some(dispatch(ctx, msg))
                    }
                }
                Some(Ok(Some(msg))) if ctx.realm.has_authorizers() => {
                    Some(Box::pin(crate::authorizer::dispatch_authorized(ctx, msg)).await)
                }
                Some(Ok(Some(msg))) => Some(dispatch(ctx, msg)),
                Some(Ok(None)) => return false,
                Some(Err(SourceError::Violation(v))) => Some(Step::Violation(v.0)),
                Some(Err(SourceError::Wire(e))) => {
                    debug!(session = ctx.handle.id, error = %e, "connection lost");
                    return false;
                }
            }
        };
        let Some(step) = step else {
            Box::pin(goodbye_on_close(ctx, src)).await;
            return false;
        };
        if !ctx.deferred.is_empty() {
            Box::pin(ctx.deferred.flush()).await;
        }
        match step {
            Step::Continue => {}
            Step::Goodbye => return true,
            Step::Violation(text) => {
                log_violation(&ctx.handle.transport, Some(ctx.handle.id), &text);
                let _ = ctx.handle.tx.try_send(Outgoing::from(Message::abort(
                    "wamp.error.protocol_violation",
                    text,
                )));
                return false;
            }
        }
    }
}

/// Ends a session whose close was requested: GOODBYE with the reason, then a short wait for
/// the peer's GOODBYE (anything else it sends is dropped).
async fn goodbye_on_close<S: MessageSource>(ctx: &mut SessionCtx, src: &mut S) {
    let (reason, message) = ctx
        .handle
        .close_reason
        .lock()
        .as_deref()
        .cloned()
        .unwrap_or_else(|| ("wamp.close.system_shutdown".into(), String::new()));
    let _ = ctx.handle.tx.try_send(Outgoing::from(Message::Goodbye {
        details: dict! { "message" => message },
        reason,
    }));
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
        while let Ok(Some(m)) = src.next_message().await {
            if matches!(m, Message::Goodbye { .. }) {
                break;
            }
        }
    })
    .await;
}

/// Routes one message of a joined session.
pub(crate) fn dispatch(ctx: &mut SessionCtx, msg: Message) -> Step {
    match msg {
        Message::Publish {
            request,
            options,
            topic,
            payload,
        } => broker::publish(ctx, request, options, topic, payload),
        Message::Subscribe {
            request,
            options,
            topic,
        } => broker::subscribe(ctx, request, options, topic),
        Message::Unsubscribe {
            request,
            subscription,
        } => broker::unsubscribe(ctx, request, subscription),
        Message::Call {
            request,
            options,
            procedure,
            payload,
        } => dealer::call(ctx, request, options, procedure, payload),
        Message::Register {
            request,
            options,
            procedure,
        } => dealer::register(ctx, request, options, procedure),
        Message::Unregister {
            request,
            registration,
        } => dealer::unregister(ctx, request, registration),
        Message::Yield {
            request,
            options,
            payload,
        } => dealer::yield_(ctx, request, options, payload),
        Message::Error {
            request_type: code::INVOCATION,
            request,
            details,
            error,
            payload,
        } => dealer::invocation_error(ctx, request, details, error, payload),
        Message::Cancel { request, options } => dealer::cancel(ctx, request, options),
        Message::Goodbye { reason, .. } => {
            // Crossbar.io: leaving with `wamp.close.logout` deletes the login's cookie.
            if reason == "wamp.close.logout"
                && let Some(cookie) = &ctx.handle.transport.cookie
            {
                cookie.forget(ctx.handle.id);
            }
            let me = ctx.handle.clone();
            me.send(
                Outgoing::from(Message::Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.goodbye_and_out".into(),
                }),
                &mut ctx.deferred,
            );
            Step::Goodbye
        }
        other => Step::Violation(format!(
            "unexpected {} message in an established session",
            other.name()
        )),
    }
}

impl SessionCtx {
    /// May this session take `action` on `uri`? Its role decides, or for a role with a
    /// dynamic authorizer, the answer the authorizer gave for the message being routed.
    pub(crate) fn authorize(&mut self, uri: &str, action: Action) -> Authorization {
        if let Some(state) = &mut self.authorizer
            && let Some(decided) = state.take_decided(uri, action)
        {
            return decided;
        }
        self.realm
            .authorize(&self.handle.identity.authrole, uri, action)
    }

    /// Sends a reply to this session itself.
    pub(crate) fn reply(&mut self, msg: Message) {
        let me = self.handle.clone();
        me.send(Outgoing::from(msg), &mut self.deferred);
    }

    /// Replies with ERROR to a request of type `request_type`.
    pub(crate) fn error(&mut self, request_type: u64, request: Id, error: &str, message: String) {
        self.reply(Message::error(
            request_type,
            request,
            error,
            vec![Value::String(message)],
        ));
    }

    /// Leaves the realm: testaments, subscriptions, registrations, calls in flight, meta events.
    async fn detach(&mut self) {
        let id = self.handle.id;
        self.realm.detach(id);
        let testaments = std::mem::take(&mut *self.handle.testaments.lock());
        for t in testaments {
            broker::publish_internal(
                &self.realm,
                &t.topic,
                t.payload,
                &t.options,
                &mut self.deferred,
            );
        }
        let subs: Vec<Id> = self.subscriptions.drain().collect();
        for sub in subs {
            broker::remove_subscriber(&self.realm, &self.handle, sub, &mut self.deferred);
        }
        let regs: Vec<Id> = self.registrations.drain().collect();
        for reg in regs {
            dealer::remove_callee(&self.realm, &self.handle, reg, &mut self.deferred);
        }
        dealer::session_gone(&self.handle, &mut self.deferred);
        meta::on_leave(&self.realm, &self.handle, &mut self.deferred);
        if let Some(stats) = self.handle.tx.stats()
            && stats.config().trigger_on_leave
        {
            stats.publish_now(true);
        }
        // Deliver in the background: this session's own queue is going away.
        std::mem::take(&mut self.deferred).spawn_flush();
        debug!(session = id, "session left");
    }
}
