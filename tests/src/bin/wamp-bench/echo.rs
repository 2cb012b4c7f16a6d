//! The limit line: a bare tokio-tungstenite echo server (`echo-server`) and a client (`echo`)
//! with the same pipelining as the WAMP scenarios. What this pair reaches is what WebSocket
//! framing and the loopback network alone allow on this machine, with no WAMP work at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::hist::Histogram;
use crate::{Phase, Report, clock_ns};

/// Serves until killed: every text or binary message is sent back unchanged. `forward`
/// feeds while messages are ready and flushes when the socket has nothing more to read, so
/// the server batches exactly like the router's writer does.
pub async fn run_echo_server(listen: &str) -> Result<()> {
    let l = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("echo-server listening on {}", l.local_addr()?);
    loop {
        let (s, _) = l.accept().await?;
        let _ = s.set_nodelay(true);
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

pub async fn run_echo(url: &str, o: &EchoOpts) -> Result<Report> {
    let phase = Arc::new(Phase::default());
    let per_message = crate::conn::unbatched();
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let (mut w, mut r) = ws.split();
        let (tx, mut rx) = mpsc::channel::<Bytes>(8192);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(1024);
            while rx.recv_many(&mut batch, 1024).await > 0 {
                for m in batch.drain(..) {
                    // Ordinary clients (--unbatched): every message its own write.
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
                let m = match tokio::time::timeout(Duration::from_secs(10), r.next()).await {
                    Ok(Some(Ok(m))) => m,
                    _ => break,
                };
                let Message::Binary(data) = m else { continue };
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
