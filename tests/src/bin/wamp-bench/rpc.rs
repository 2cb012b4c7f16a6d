//! `rpc`: N callers, each keeping K calls outstanding, against one callee (throughput and
//! latency under load); `rpc-latency`: one caller sending at a fixed rate (latency at a
//! given load, without the queueing a saturated router adds).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use router_core::message::code;
use router_core::{Codec, Value};
use serde_json::json;
use tokio::sync::mpsc;

use crate::conn::{Conn, Reader, Target};
use crate::fastcodec::{Template, peek};
use crate::hist::Histogram;
use crate::{Phase, Report};

pub struct RpcOpts {
    pub callers: usize,
    pub outstanding: usize,
    pub payload: usize,
    /// Each caller's pause after a result before its next call.
    pub interval: Duration,
    pub warmup: Duration,
    pub duration: Duration,
}

/// A unique procedure per run, so two runs against one router never share a registration.
fn procedure() -> String {
    format!("bench.rpc.p{}", std::process::id())
}

/// Registers the callee and starts its task: every INVOCATION is answered with a YIELD.
async fn start_callee(
    target: &Target,
    codec: Codec,
    realm: &str,
    proc_: &str,
) -> Result<tokio::task::JoinHandle<()>> {
    let mut c = Conn::join(target, codec, realm).await?;
    c.register(proc_).await?;
    let codec = c.codec;
    let (mut reader, tx, _w) = c.split();
    let reply = Template::yield_(codec, vec![Value::Int(1)]);
    Ok(tokio::spawn(async move {
        while let Ok(Some(frame)) = reader.read().await {
            match peek(codec, &frame) {
                Some(p) if p.code == code::INVOCATION => {
                    if let Some(req) = p.a
                        && tx.send(reply.encode(req)).await.is_err()
                    {
                        break;
                    }
                }
                _ => {}
            }
        }
    }))
}

/// Send times of outstanding calls, indexed by request id modulo a power of two at least
/// 8× the window (replies from one callee come back in order; the id check catches a lap).
struct Slots {
    mask: u64,
    slots: Vec<(u64, Instant)>,
}

impl Slots {
    fn new(window: usize) -> Slots {
        let n = (window * 8).next_power_of_two();
        Slots {
            mask: n as u64 - 1,
            slots: vec![(u64::MAX, Instant::now()); n],
        }
    }
    fn put(&mut self, id: u64, t: Instant) {
        self.slots[(id & self.mask) as usize] = (id, t);
    }
    fn take(&mut self, id: u64) -> Option<Instant> {
        let s = &mut self.slots[(id & self.mask) as usize];
        (s.0 == id).then(|| {
            s.0 = u64::MAX;
            s.1
        })
    }
}

#[derive(Default)]
struct CallerStats {
    hist: Histogram,
    done: u64,
    errors: u64,
    first_error: Option<String>,
}

async fn caller(
    mut reader: Reader,
    tx: mpsc::Sender<Bytes>,
    codec: Codec,
    call: Arc<Template>,
    window: usize,
    interval: Duration,
    phase: Arc<Phase>,
) -> CallerStats {
    let mut st = CallerStats::default();
    let mut slots = Slots::new(window);
    let mut next = 1u64;
    let mut inflight = 0usize;
    for _ in 0..window {
        slots.put(next, Instant::now());
        if tx.send(call.encode(next)).await.is_err() {
            return st;
        }
        next += 1;
        inflight += 1;
    }
    while inflight > 0 {
        let frame = match tokio::time::timeout(Duration::from_secs(10), reader.read()).await {
            Ok(Ok(Some(f))) => f,
            _ => break,
        };
        let Some(p) = peek(codec, &frame) else {
            continue;
        };
        let ok = match p.code {
            code::RESULT => true,
            code::ERROR => false,
            _ => continue,
        };
        let Some(sent) = p.request().and_then(|r| slots.take(r)) else {
            continue;
        };
        inflight -= 1;
        let state = phase.get();
        if state == Phase::MEASURE {
            if ok {
                st.hist.record(sent.elapsed().as_nanos() as u64);
                st.done += 1;
            } else {
                st.errors += 1;
            }
        }
        if !ok && st.first_error.is_none() {
            st.first_error = codec.decode(&frame).ok().map(|m| format!("{m:?}"));
        }
        if state != Phase::STOP {
            if !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            slots.put(next, Instant::now());
            if tx.send(call.encode(next)).await.is_err() {
                break;
            }
            next += 1;
            inflight += 1;
        }
    }
    st
}

/// Peak throughput: calls/s and latency percentiles with `callers × outstanding` in flight.
pub async fn run_rpc(target: &Target, codec: Codec, realm: &str, o: &RpcOpts) -> Result<Report> {
    let proc_ = procedure();
    let callee = start_callee(target, codec, realm, &proc_).await?;
    let call = Arc::new(Template::call(
        codec,
        &proc_,
        vec![Value::String("x".repeat(o.payload))],
    ));
    let phase = Arc::new(Phase::default());
    let mut tasks = Vec::new();
    for _ in 0..o.callers {
        let c = Conn::join(target, codec, realm).await?;
        let (reader, tx, _w) = c.split();
        tasks.push(tokio::spawn(caller(
            reader,
            tx,
            codec,
            call.clone(),
            o.outstanding,
            o.interval,
            phase.clone(),
        )));
    }
    let window = phase.run(o.warmup, o.duration).await;
    let mut hist = Histogram::default();
    let (mut done, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let st = t.await?;
        hist.merge(&st.hist);
        done += st.done;
        errors += st.errors;
        first_error = first_error.or(st.first_error);
    }
    callee.abort();
    if done == 0 {
        bail!(
            "no call completed ({errors} errors{})",
            first_error
                .map(|e| format!(", first: {e}"))
                .unwrap_or_default()
        );
    }
    let rate = done as f64 / window.as_secs_f64();
    let us = |q: f64| hist.quantile(q) as f64 / 1000.0;
    eprintln!(
        "rpc: {} callers x {} outstanding: {:.0} calls/s, p50 {:.0} us, p99 {:.0} us, p999 {:.0} us ({done} calls, {errors} errors in {:.1} s)",
        o.callers,
        o.outstanding,
        rate,
        us(0.5),
        us(0.99),
        us(0.999),
        window.as_secs_f64()
    );
    Ok(json!({
        "scenario": "rpc", "callers": o.callers, "outstanding": o.outstanding,
        "calls": done, "errors": errors, "seconds": window.as_secs_f64(),
        "interval_ms": o.interval.as_secs_f64() * 1000.0,
        "calls_per_s": rate, "p50_us": us(0.5), "p99_us": us(0.99), "p999_us": us(0.999),
    }))
}

/// Latency at a fixed offered load: one caller sends `rate` calls per second on a fixed
/// schedule (busy-waiting between sends: the load generator has a core of its own, and
/// tokio's millisecond timers are far too coarse for sub-millisecond intervals).
pub async fn run_rpc_latency(
    target: &Target,
    codec: Codec,
    realm: &str,
    rate: f64,
    o: &RpcOpts,
) -> Result<Report> {
    if rate.is_nan() || rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let proc_ = procedure();
    let callee = start_callee(target, codec, realm, &proc_).await?;
    let call = Template::call(codec, &proc_, vec![Value::String("x".repeat(o.payload))]);
    let c = Conn::join(target, codec, realm).await?;
    let (mut reader, tx, _w) = c.split();
    let phase = Arc::new(Phase::default());
    // Send times shared with the reader; the window bounds calls in flight when the router
    // falls behind the schedule (then the run reports the overload instead of queueing).
    const WINDOW: usize = 4096;
    let slots = Arc::new(std::sync::Mutex::new(Slots::new(WINDOW)));
    let inflight = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let sender = {
        let (slots, inflight, skipped, phase) = (
            slots.clone(),
            inflight.clone(),
            skipped.clone(),
            phase.clone(),
        );
        tokio::spawn(async move {
            let interval = Duration::from_secs_f64(1.0 / rate);
            let mut due = Instant::now();
            let mut id = 1u64;
            while phase.get() != Phase::STOP {
                let now = Instant::now();
                if due > now + Duration::from_millis(2) {
                    tokio::time::sleep(due - now - Duration::from_millis(1)).await;
                    continue;
                }
                if now < due {
                    tokio::task::yield_now().await;
                    continue;
                }
                if inflight.load(Ordering::Relaxed) as usize >= WINDOW {
                    skipped.fetch_add(1, Ordering::Relaxed);
                } else {
                    slots.lock().unwrap().put(id, Instant::now());
                    inflight.fetch_add(1, Ordering::Relaxed);
                    if tx.send(call.encode(id)).await.is_err() {
                        break;
                    }
                    id += 1;
                }
                due += interval;
                // After a stall, do not send a burst to catch up.
                if due + interval * 64 < Instant::now() {
                    due = Instant::now();
                }
            }
        })
    };
    let reader_task = {
        let (slots, inflight, phase) = (slots.clone(), inflight.clone(), phase.clone());
        tokio::spawn(async move {
            let mut hist = Histogram::default();
            let mut errors = 0u64;
            loop {
                let frame = match tokio::time::timeout(Duration::from_secs(10), reader.read()).await
                {
                    Ok(Ok(Some(f))) => f,
                    _ => break,
                };
                let Some(p) = peek(codec, &frame) else {
                    continue;
                };
                if p.code != code::RESULT && p.code != code::ERROR {
                    continue;
                }
                let Some(sent) = p.request().and_then(|r| slots.lock().unwrap().take(r)) else {
                    continue;
                };
                let left = inflight.fetch_sub(1, Ordering::Relaxed) - 1;
                match phase.get() {
                    Phase::MEASURE if p.code == code::RESULT => {
                        hist.record(sent.elapsed().as_nanos() as u64)
                    }
                    Phase::MEASURE => errors += 1,
                    Phase::STOP if left == 0 => break,
                    _ => {}
                }
            }
            (hist, errors)
        })
    };
    let window = phase.run(o.warmup, o.duration).await;
    let _ = sender.await;
    let (hist, errors) = reader_task.await?;
    callee.abort();
    if hist.count() == 0 {
        bail!("no call completed ({errors} errors)");
    }
    let achieved = hist.count() as f64 / window.as_secs_f64();
    let us = |q: f64| hist.quantile(q) as f64 / 1000.0;
    let skipped = skipped.load(Ordering::Relaxed);
    eprintln!(
        "rpc-latency: {rate:.0} calls/s offered, {achieved:.0} completed: p50 {:.0} us, p99 {:.0} us, p999 {:.0} us ({errors} errors, {skipped} sends skipped)",
        us(0.5),
        us(0.99),
        us(0.999)
    );
    Ok(json!({
        "scenario": "rpc-latency", "rate": rate, "calls_per_s": achieved, "errors": errors,
        "skipped": skipped, "p50_us": us(0.5), "p99_us": us(0.99), "p999_us": us(0.999),
    }))
}
