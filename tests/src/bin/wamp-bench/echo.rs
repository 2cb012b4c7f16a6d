//! The limit lines: bare echo servers (`echo-server`, `echo-server --raw`) and a client
//! (`echo`) with the same write patterns as the WAMP scenarios. What a pair reaches is what
//! the framing and the loopback network alone allow on this machine, with no WAMP work at
//! all: WebSocket through tokio-tungstenite, or RawSocket-framed messages through a TCP
//! server that sends back every byte it reads (the RawSocket handshake included, which
//! echoed is a valid answer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use router_core::Codec;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::conn::{self, Target};
use crate::hist::Histogram;
use crate::{Phase, Report, clock_ns};

/// Serves until killed. WebSocket: every text or binary message is sent back unchanged;
/// `forward` feeds while messages are ready and flushes when the socket has nothing more to
/// read, so the server batches exactly like the router's writer does. `raw`: every read's
/// bytes are written back as they came.
pub async fn run_echo_server(listen: &str, raw: bool) -> Result<()> {
    let l = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("echo-server listening on {}", l.local_addr()?);
    loop {
        let (s, _) = l.accept().await?;
        let _ = s.set_nodelay(true);
        if raw {
            tokio::spawn(echo_bytes(s));
            continue;
        }
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(s).await else {
                return;
            };
            let (w, r) = ws.split();
            let _ = r
                .try_filter(|m| std::future::ready(m.is_binary() || m.is_text()))
                .forward(w)
                .await;
        });
    }
}

async fn echo_bytes(mut s: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The receiving half of an echo client's connection.
enum EchoReader {
    Ws(SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Raw(conn::Reader),
}

impl EchoReader {
    /// The next echoed message; `None` when the connection ends.
    async fn next(&mut self) -> Option<Bytes> {
        match self {
            EchoReader::Ws(r) => loop {
                match r.next().await? {
                    Ok(Message::Binary(data)) => return Some(data),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            },
            EchoReader::Raw(r) => r.read().await.ok().flatten(),
        }
    }
}

/// Opens one echo connection: its reader and a sender whose writer task honours
/// `--unbatched` (every message its own write).
async fn open(target: &Target) -> Result<(EchoReader, mpsc::Sender<Bytes>)> {
    match target {
        Target::Ws(url) => {
            let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .with_context(|| format!("cannot connect to {url}"))?;
            let (mut w, r) = ws.split();
            let (tx, mut rx) = mpsc::channel::<Bytes>(8192);
            let per_message = conn::unbatched();
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(1024);
                while rx.recv_many(&mut batch, 1024).await > 0 {
                    for m in batch.drain(..) {
                        let sent = if per_message {
                            w.send(Message::Binary(m)).await
                        } else {
                            w.feed(Message::Binary(m)).await
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                    if w.flush().await.is_err() {
                        return;
                    }
                }
                let _ = w.close().await;
            });
            Ok((EchoReader::Ws(r), tx))
        }
        Target::RawTcp(_) => {
            let (r, w) = conn::open(target, Codec::MsgPack).await?;
            let (tx, task) = conn::spawn_writer(w);
            drop(task);
            Ok((EchoReader::Raw(r), tx))
        }
        other => bail!("echo needs a ws:// or rs:// --url, got {other:?}"),
    }
}

pub struct EchoOpts {
    pub connections: usize,
    pub outstanding: usize,
    pub size: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

fn message(size: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(size.max(8));
    b.put_u64(clock_ns());
    b.resize(size.max(8), b'x');
    b.freeze()
}

pub async fn run_echo(target: &Target, o: &EchoOpts) -> Result<Report> {
    let phase = Arc::new(Phase::default());
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        let (mut r, tx) = open(target).await?;
        let (phase, size, k) = (phase.clone(), o.size, o.outstanding);
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::default();
            let mut done = 0u64;
            for _ in 0..k {
                if tx.send(message(size)).await.is_err() {
                    return (done, hist);
                }
            }
            let mut inflight = k;
            while inflight > 0 {
                let data = match tokio::time::timeout(Duration::from_secs(10), r.next()).await {
                    Ok(Some(data)) => data,
                    _ => break,
                };
                inflight -= 1;
                let state = phase.get();
                if state == Phase::MEASURE {
                    done += 1;
                    if data.len() >= 8 {
                        let ts = u64::from_be_bytes(data[..8].try_into().expect("8 bytes"));
                        hist.record(clock_ns().saturating_sub(ts));
                    }
                }
                if state != Phase::STOP {
                    if tx.send(message(size)).await.is_err() {
                        break;
                    }
                    inflight += 1;
                }
            }
            (done, hist)
        }));
    }
    let t = Instant::now();
    let window = phase.run(o.warmup, o.duration).await;
    let mut hist = Histogram::default();
    let mut done = 0;
    for task in tasks {
        let (n, h) = task.await?;
        done += n;
        hist.merge(&h);
    }
    if done == 0 {
        bail!("no echo came back in {:.1} s", t.elapsed().as_secs_f64());
    }
    let rate = done as f64 / window.as_secs_f64();
    let us = |q: f64| hist.quantile(q) as f64 / 1000.0;
    eprintln!(
        "echo: {} connections x {} outstanding: {rate:.0} round trips/s, p50 {:.0} us, p99 {:.0} us",
        o.connections,
        o.outstanding,
        us(0.5),
        us(0.99)
    );
    Ok(json!({
        "scenario": "echo", "msgs_per_s": rate, "p50_us": us(0.5), "p99_us": us(0.99),
        "round_trips": done, "seconds": window.as_secs_f64(),
    }))
}
