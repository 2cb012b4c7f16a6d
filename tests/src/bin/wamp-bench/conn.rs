//! Connections to a router: RawSocket over TCP or a Unix socket, or WebSocket, with
//! router-core's framing; joining a realm; and a writer task that batches outgoing frames.
//!
//! The reader sits on a `BufReader`, so a burst of small frames costs one `read` syscall; the
//! writer task drains its queue with `recv_many` and hands the whole batch to the wire, which
//! writes it with one syscall. Together that is the pipelining the router sees from a busy
//! client.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use router_core::transport::io::BoxedIo;
use router_core::transport::rawsocket::{self, RawSocketReader, RawSocketWriter};
use router_core::transport::websocket::{WsReader, WsWriter};
use router_core::transport::wire::{WireRead, WireWrite};
use router_core::transport::ws_client::{self, WsClientOptions};
use router_core::{Codec, Dict, Message, Value};
use tokio::io::BufReader;
use tokio::sync::mpsc;

/// Where the router listens.
#[derive(Debug, Clone)]
pub enum Target {
    /// `rs://host:port`: RawSocket over TCP.
    RawTcp(String),
    /// `unix:/path`: RawSocket over a Unix socket (e.g. `node.sock`).
    RawUnix(PathBuf),
    /// `ws://host:port/path`.
    Ws(String),
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(a) = s.strip_prefix("rs://").or_else(|| s.strip_prefix("tcp://")) {
            Ok(Target::RawTcp(a.trim_end_matches('/').to_owned()))
        } else if let Some(p) = s
            .strip_prefix("unix://")
            .or_else(|| s.strip_prefix("unix:"))
        {
            Ok(Target::RawUnix(PathBuf::from(p)))
        } else if s.starts_with("ws://") || s.starts_with("wss://") {
            Ok(Target::Ws(s.to_owned()))
        } else {
            Err(format!(
                "unknown target \"{s}\": use rs://host:port, unix:/path or ws://host:port/path"
            ))
        }
    }
}

type TcpR = tokio::net::tcp::OwnedReadHalf;
type TcpW = tokio::net::tcp::OwnedWriteHalf;
type UnixR = tokio::net::unix::OwnedReadHalf;
type UnixW = tokio::net::unix::OwnedWriteHalf;

/// Read buffer per connection: large enough for a burst of pipelined replies.
const READ_BUF: usize = 64 * 1024;

pub enum Reader {
    Tcp(RawSocketReader<BufReader<TcpR>, TcpW>),
    Unix(RawSocketReader<BufReader<UnixR>, UnixW>),
    Ws(WsReader<BoxedIo>),
}

pub enum Writer {
    Tcp(RawSocketWriter<TcpW>),
    Unix(RawSocketWriter<UnixW>),
    Ws(WsWriter<BoxedIo>),
}

impl Reader {
    /// The next serialized message; `Ok(None)` when the router closed the connection.
    pub async fn read(&mut self) -> Result<Option<Bytes>> {
        let r = match self {
            Reader::Tcp(r) => r.read_frame().await,
            Reader::Unix(r) => r.read_frame().await,
            Reader::Ws(r) => r.read_frame().await,
        };
        Ok(r?)
    }
}

impl Writer {
    pub async fn write(&mut self, frames: &[Bytes]) -> Result<()> {
        let r = match self {
            Writer::Tcp(w) => w.write_frames(frames).await,
            Writer::Unix(w) => w.write_frames(frames).await,
            Writer::Ws(w) => w.write_frames(frames).await,
        };
        Ok(r?)
    }

    pub async fn close(&mut self) {
        match self {
            Writer::Tcp(w) => w.close().await,
            Writer::Unix(w) => w.close().await,
            Writer::Ws(w) => w.close().await,
        }
    }
}

/// A joined session, before its halves go to tasks.
pub struct Conn {
    pub codec: Codec,
    pub reader: Reader,
    pub writer: Writer,
    pub session_id: u64,
    next_request: u64,
}

/// Opens the transport connection (no WAMP yet).
pub async fn open(target: &Target, codec: Codec) -> Result<(Reader, Writer)> {
    const MAX: usize = 16 << 20;
    Ok(match target {
        Target::RawTcp(addr) => {
            let s = tokio::net::TcpStream::connect(addr)
                .await
                .with_context(|| format!("connect to {addr}"))?;
            let _ = s.set_nodelay(true);
            let (r, w) = s.into_split();
            let mut r = BufReader::with_capacity(READ_BUF, r);
            let mut w = w;
            let peer_max = rawsocket::client_handshake(&mut r, &mut w, codec, MAX).await?;
            let (r, w) = rawsocket::framed(r, w, MAX, peer_max);
            (Reader::Tcp(r), Writer::Tcp(w))
        }
        Target::RawUnix(path) => {
            let s = tokio::net::UnixStream::connect(path)
                .await
                .with_context(|| format!("connect to {}", path.display()))?;
            let (r, w) = s.into_split();
            let mut r = BufReader::with_capacity(READ_BUF, r);
            let mut w = w;
            let peer_max = rawsocket::client_handshake(&mut r, &mut w, codec, MAX).await?;
            let (r, w) = rawsocket::framed(r, w, MAX, peer_max);
            (Reader::Unix(r), Writer::Unix(w))
        }
        Target::Ws(url) => {
            let opts = WsClientOptions {
                protocols: vec![(codec, false)],
                max_message_size: Some(MAX),
                connect_timeout: Duration::from_secs(10),
                ..WsClientOptions::default()
            };
            let c = ws_client::connect(url, &opts).await?;
            (Reader::Ws(c.reader), Writer::Ws(c.writer))
        }
    })
}

impl Conn {
    /// Connects and joins `realm` anonymously.
    pub async fn join(target: &Target, codec: Codec, realm: &str) -> Result<Conn> {
        let (reader, writer) = open(target, codec).await?;
        let mut c = Conn {
            codec,
            reader,
            writer,
            session_id: 0,
            next_request: 1,
        };
        let mut details = Dict::new();
        details.insert(
            "roles".into(),
            Value::Dict(router_core::client::client_roles()),
        );
        c.send(&Message::Hello {
            realm: Some(realm.into()),
            details,
        })
        .await?;
        match c.recv().await? {
            Message::Welcome { session, .. } => c.session_id = session,
            Message::Abort { reason, .. } => bail!("router refused to join {realm}: {reason}"),
            other => bail!("expected WELCOME, got {}", other.name()),
        }
        Ok(c)
    }

    pub async fn send(&mut self, m: &Message) -> Result<()> {
        let b = self.codec.encode(m);
        self.writer.write(&[b]).await
    }

    pub async fn recv(&mut self) -> Result<Message> {
        match self.reader.read().await? {
            Some(b) => Ok(self.codec.decode(&b)?),
            None => bail!("router closed the connection"),
        }
    }

    pub fn request_id(&mut self) -> u64 {
        let r = self.next_request;
        self.next_request += 1;
        r
    }

    /// Sends a request built by `make(request_id)` and waits for its reply, skipping other
    /// messages (events published meanwhile).
    pub async fn request(&mut self, make: impl FnOnce(u64) -> Message) -> Result<Message> {
        let id = self.request_id();
        self.send(&make(id)).await?;
        loop {
            let m = self.recv().await?;
            let answers = match &m {
                Message::Error { request, .. }
                | Message::Result { request, .. }
                | Message::Registered { request, .. }
                | Message::Subscribed { request, .. }
                | Message::Published { request, .. }
                | Message::Unregistered { request, .. }
                | Message::Unsubscribed { request, .. } => *request == id,
                Message::Goodbye { reason, .. } | Message::Abort { reason, .. } => {
                    bail!("session closed by the router: {reason}")
                }
                _ => false,
            };
            if answers {
                return Ok(m);
            }
        }
    }

    pub async fn register(&mut self, procedure: &str) -> Result<u64> {
        match self
            .request(|request| Message::Register {
                request,
                options: Dict::new(),
                procedure: procedure.into(),
            })
            .await?
        {
            Message::Registered { registration, .. } => Ok(registration),
            Message::Error { error, .. } => bail!("cannot register {procedure}: {error}"),
            other => bail!("unexpected reply to REGISTER: {}", other.name()),
        }
    }

    pub async fn subscribe(&mut self, topic: &str) -> Result<u64> {
        match self
            .request(|request| Message::Subscribe {
                request,
                options: Dict::new(),
                topic: topic.into(),
            })
            .await?
        {
            Message::Subscribed { subscription, .. } => Ok(subscription),
            Message::Error { error, .. } => bail!("cannot subscribe to {topic}: {error}"),
            other => bail!("unexpected reply to SUBSCRIBE: {}", other.name()),
        }
    }

    /// Calls `procedure`; `Ok(Err(uri))` when the router or callee answered with an error.
    pub async fn call(
        &mut self,
        procedure: &str,
        args: Vec<Value>,
    ) -> Result<std::result::Result<Vec<Value>, (String, Vec<Value>)>> {
        match self
            .request(|request| Message::Call {
                request,
                options: Dict::new(),
                procedure: procedure.into(),
                payload: router_core::Payload::args(args),
            })
            .await?
        {
            Message::Result { payload, .. } => Ok(Ok(payload.args)),
            Message::Error { error, payload, .. } => Ok(Err((error, payload.args))),
            other => bail!("unexpected reply to CALL: {}", other.name()),
        }
    }

    /// Splits into the reader and a batching writer task (see [`spawn_writer`]).
    pub fn split(self) -> (Reader, mpsc::Sender<Bytes>, tokio::task::JoinHandle<()>) {
        let (tx, task) = spawn_writer(self.writer);
        (self.reader, tx, task)
    }
}

/// Whether every frame goes out in a write of its own (`--unbatched`).
static UNBATCHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets the write pattern of every connection's writer task (see [`spawn_writer`]).
pub fn set_unbatched(on: bool) {
    UNBATCHED.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub fn unbatched() -> bool {
    UNBATCHED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Frames queued per connection before senders wait: bounded so a stalled router pushes back
/// on the load generator instead of growing memory.
const QUEUE: usize = 8192;

/// A task that writes everything queued on the returned sender, as many frames per syscall
/// as are waiting (or, with `--unbatched`, each frame with a syscall of its own, as ordinary
/// clients do). It ends (closing the connection) when every sender is dropped.
pub fn spawn_writer(mut w: Writer) -> (mpsc::Sender<Bytes>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let per_message = unbatched();
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(1024);
        'run: while rx.recv_many(&mut batch, 1024).await > 0 {
            if per_message {
                for f in batch.drain(..) {
                    if w.write(std::slice::from_ref(&f)).await.is_err() {
                        break 'run;
                    }
                }
            } else if w.write(&batch).await.is_err() {
                break;
            }
            batch.clear();
        }
        w.close().await;
    });
    (tx, task)
}
