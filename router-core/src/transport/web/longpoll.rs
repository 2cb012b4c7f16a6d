//! `longpoll` service: WAMP-over-Long-Poll as autobahn-js speaks it (its fallback where
//! WebSocket is blocked), after Crossbar.io's `crossbar.router.longpoll`.
//!
//! Every request is a POST below the service's path: `open` (body `{"protocols": [...]}`,
//! answer `{"transport": <id>, "protocol": "wamp.2.json"}`), then `<id>/send` (one message,
//! 204), `<id>/receive` (held until there is a message, one message per answer; 204 after
//! `request_timeout` with nothing to send, and the client polls again) and `<id>/close`
//! (204). A transport is a wire like a socket's: the session runs on its own task, reading
//! what `send` requests bring and writing into a bounded queue that `receive` requests
//! drain. A transport with no request for `session_timeout` seconds is closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{Body, ConnMeta, empty, full, set_cors, text_response};
use crate::Codec;
use crate::auth::Authenticator;
use crate::auth::anonymous::random_token;
use crate::transport::config::LongPollConfig;
use crate::transport::conn::{Shared, Stoppable, spawn_session};
use crate::transport::websocket::header_dict;
use crate::transport::wire::{WireError, WireRead, WireWrite};

/// The one protocol autobahn-js offers over long-poll.
const PROTOCOL: &str = "wamp.2.json";
/// Bound of an `open` request body.
const OPEN_BODY_LIMIT: usize = 64 * 1024;
/// Bound of one message (`send`), as the WebSocket default.
const MESSAGE_LIMIT: usize = 16 * 1024 * 1024;
/// Messages from `send` requests not yet read by the session; a full queue makes `send`
/// wait (backpressure onto the client).
const INCOMING_QUEUE: usize = 16;

/// A `longpoll` path: its transports by id.
pub(crate) struct LongPoll {
    transports: Mutex<HashMap<String, Arc<Transport>>>,
    request_timeout: Duration,
    session_timeout: Option<Duration>,
    queue_limit: usize,
    fixed_id: Option<String>,
    authenticator: Arc<dyn Authenticator>,
    /// For the idle-time clock of the transports.
    epoch: Instant,
}

/// One long-poll transport: the two queues of its wire.
struct Transport {
    /// Into the session; `None` once the transport is closed (the session then ends).
    incoming: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// Out of the session. One receive at a time takes it.
    outgoing: tokio::sync::Mutex<mpsc::Receiver<Bytes>>,
    /// Milliseconds since [`LongPoll::epoch`] of the last request.
    last_activity: AtomicU64,
    /// Receive requests being held: a client that polls is not idle.
    polling: AtomicU64,
    closed: CancellationToken,
}

impl LongPoll {
    pub(crate) fn new(config: &LongPollConfig, authenticator: Arc<dyn Authenticator>) -> Self {
        let o = &config.options;
        LongPoll {
            transports: Mutex::new(HashMap::new()),
            request_timeout: Duration::from_secs(u64::from(o.request_timeout.max(1))),
            session_timeout: (o.session_timeout > 0)
                .then(|| Duration::from_secs(u64::from(o.session_timeout))),
            queue_limit: o.queue_limit_messages.max(1) as usize,
            fixed_id: o.debug_transport_id.clone(),
            authenticator,
            epoch: Instant::now(),
        }
    }

    pub(crate) async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        rest: &str,
        meta: &ConnMeta,
        shared: &Arc<Shared>,
    ) -> Response<Body> {
        let mut cors = HeaderMap::new();
        for h in [header::ORIGIN, header::ACCESS_CONTROL_REQUEST_HEADERS] {
            if let Some(v) = req.headers().get(&h) {
                cors.insert(h, v.clone());
            }
        }
        let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let mut resp = match (req.method().clone(), segments.as_slice()) {
            (Method::OPTIONS, _) => {
                let mut r = status(StatusCode::NO_CONTENT);
                r.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("POST, OPTIONS"),
                );
                r
            }
            (Method::POST, ["open"]) => self.open(req, meta, shared).await,
            (Method::GET, [id]) => match self.transport(id) {
                Some(_) => json(format!(
                    "{{\"transport\": {}}}",
                    serde_json::Value::from(*id)
                )),
                None => no_transport(id),
            },
            (Method::POST, [id, "send"]) => self.send(id, req).await,
            (Method::POST, [id, "receive"]) => self.receive(id).await,
            (Method::POST, [id, "close"]) => self.close(id),
            _ => text_response(StatusCode::NOT_FOUND, "no such long-poll resource\n"),
        };
        let h = resp.headers_mut();
        set_cors(&cors, h);
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
        );
        resp
    }

    fn transport(&self, id: &str) -> Option<Arc<Transport>> {
        self.transports.lock().get(id).cloned()
    }

    fn touch(&self, t: &Transport) {
        let now = self.epoch.elapsed().as_millis() as u64;
        t.last_activity.store(now, Ordering::Relaxed);
    }

    async fn open(
        self: &Arc<Self>,
        req: Request<Incoming>,
        meta: &ConnMeta,
        shared: &Arc<Shared>,
    ) -> Response<Body> {
        let headers = header_dict(req.headers());
        let Ok(body) = read(req.into_body(), OPEN_BODY_LIMIT).await else {
            return text_response(
                StatusCode::BAD_REQUEST,
                "could not parse WAMP session open request body",
            );
        };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return text_response(
                StatusCode::BAD_REQUEST,
                "could not parse WAMP session open request body",
            );
        };
        let Some(protocols) = doc.get("protocols").and_then(|p| p.as_array()) else {
            return text_response(
                StatusCode::BAD_REQUEST,
                "invalid type for WAMP session open request",
            );
        };
        if !protocols.iter().any(|p| p.as_str() == Some(PROTOCOL)) {
            return text_response(
                StatusCode::BAD_REQUEST,
                format!("no common protocol to speak (I speak: ['{PROTOCOL}'])"),
            );
        }
        let id = match &self.fixed_id {
            Some(id) => id.clone(),
            None => random_token(12),
        };
        let (in_tx, in_rx) = mpsc::channel(INCOMING_QUEUE);
        let (out_tx, out_rx) = mpsc::channel(self.queue_limit);
        let transport = Arc::new(Transport {
            incoming: Mutex::new(Some(in_tx)),
            outgoing: tokio::sync::Mutex::new(out_rx),
            last_activity: AtomicU64::new(0),
            polling: AtomicU64::new(0),
            closed: CancellationToken::new(),
        });
        self.touch(&transport);
        if let Some(old) = self.transports.lock().insert(id.clone(), transport.clone()) {
            old.close();
        }
        spawn_session(
            Codec::Json,
            LongPollReader {
                rx: in_rx,
                stop: None,
            },
            LongPollWriter { tx: out_tx },
            "longpoll",
            meta.peer.to_string(),
            meta.tls.clone(),
            Some(headers),
            None,
            self.authenticator.clone(),
            shared.clone(),
            (),
        );
        if let Some(timeout) = self.session_timeout {
            let lp = self.clone();
            let shutdown = shared.shutdown.clone();
            shared
                .tracker
                .spawn(lp.expire_when_idle(id.clone(), transport, timeout, shutdown));
        }
        json(format!(
            "{{\"transport\": {}, \"protocol\": \"{PROTOCOL}\"}}",
            serde_json::Value::from(id)
        ))
    }

    /// Closes the transport once no request came for `timeout`.
    async fn expire_when_idle(
        self: Arc<Self>,
        id: String,
        t: Arc<Transport>,
        timeout: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            let last = Duration::from_millis(t.last_activity.load(Ordering::Relaxed));
            let due = last + timeout;
            let now = self.epoch.elapsed();
            if now >= due && t.polling.load(Ordering::Acquire) == 0 {
                debug!(transport = %id, "long-poll transport idle, closing");
                self.remove(&id, &t);
                return;
            }
            let wait = due.saturating_sub(now).max(Duration::from_millis(100));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = t.closed.cancelled() => return,
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Forgets `t` (if it is still the transport of `id`) and closes it.
    fn remove(&self, id: &str, t: &Arc<Transport>) {
        let mut map = self.transports.lock();
        if map.get(id).is_some_and(|x| Arc::ptr_eq(x, t)) {
            map.remove(id);
        }
        drop(map);
        t.close();
    }

    async fn send(&self, id: &str, req: Request<Incoming>) -> Response<Body> {
        let Some(t) = self.transport(id) else {
            return no_transport(id);
        };
        self.touch(&t);
        let Ok(body) = read(req.into_body(), MESSAGE_LIMIT).await else {
            return text_response(StatusCode::BAD_REQUEST, "could not read WAMP message.");
        };
        let tx = t.incoming.lock().clone();
        let Some(tx) = tx else {
            return no_transport(id);
        };
        match tokio::time::timeout(self.request_timeout, tx.send(body)).await {
            Ok(Ok(())) => status(StatusCode::NO_CONTENT),
            Ok(Err(_)) => no_transport(id),
            Err(_) => text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "the session is not reading; try again",
            ),
        }
    }

    async fn receive(&self, id: &str) -> Response<Body> {
        let Some(t) = self.transport(id) else {
            return no_transport(id);
        };
        self.touch(&t);
        // Counted while held, also when the client goes away and this future is dropped.
        let _polling = Polling::start(&t);
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let answer = tokio::time::timeout_at(deadline, async {
            let mut rx = t.outgoing.lock().await;
            rx.recv().await
        })
        .await;
        self.touch(&t);
        match answer {
            Ok(Some(frame)) => {
                let mut r = Response::new(full(frame));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            // The session ended and everything it sent was taken.
            Ok(None) => {
                self.remove(id, &t);
                no_transport(id)
            }
            Err(_) => status(StatusCode::NO_CONTENT),
        }
    }

    fn close(&self, id: &str) -> Response<Body> {
        let Some(t) = self.transport(id) else {
            return no_transport(id);
        };
        self.remove(id, &t);
        status(StatusCode::NO_CONTENT)
    }
}

impl Transport {
    /// Ends the session (its reader sees the end of the stream).
    fn close(&self) {
        self.incoming.lock().take();
        self.closed.cancel();
    }
}

/// One held receive request of a transport.
struct Polling<'t>(&'t Transport);

impl<'t> Polling<'t> {
    fn start(t: &'t Transport) -> Self {
        t.polling.fetch_add(1, Ordering::AcqRel);
        Polling(t)
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.0.polling.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The session's reading half: what `send` requests brought.
struct LongPollReader {
    rx: mpsc::Receiver<Bytes>,
    stop: Option<CancellationToken>,
}

impl WireRead for LongPollReader {
    async fn read_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        let stop = self.stop.clone();
        tokio::select! {
            m = self.rx.recv() => Ok(m),
            _ = async {
                match stop {
                    Some(s) => s.cancelled().await,
                    None => std::future::pending().await,
                }
            } => Ok(None),
        }
    }
}

impl Stoppable for LongPollReader {
    fn stop_on(&mut self, token: CancellationToken) {
        self.stop = Some(token);
    }
}

/// The session's writing half: a bounded queue that `receive` requests drain.
struct LongPollWriter {
    tx: mpsc::Sender<Bytes>,
}

impl WireWrite for LongPollWriter {
    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        for f in frames {
            self.tx.send(f.clone()).await.map_err(|_| {
                WireError::Io(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "long-poll transport closed",
                ))
            })?;
        }
        Ok(())
    }

    async fn close(&mut self) {}
}

async fn read(body: Incoming, limit: usize) -> Result<Bytes, ()> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(()),
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = code;
    r
}

fn json(text: String) -> Response<Body> {
    let mut r = Response::new(full(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn no_transport(id: &str) -> Response<Body> {
    text_response(StatusCode::NOT_FOUND, format!("no WAMP transport '{id}'\n"))
}
