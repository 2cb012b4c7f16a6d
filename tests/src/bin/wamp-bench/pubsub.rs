//! `pubsub`: one publisher, M subscribers on one topic; events delivered per second and the
//! delivery latency (publish → event read by the subscriber, from a timestamp in the event).
//!
//! The publisher is closed-loop: it keeps at most `window` publications undelivered (events
//! published × M minus events received, counted across all subscribers in this process), so
//! the run measures what the router sustains rather than how deep its queues are.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::FutureExt as _;
use router_core::Codec;
use router_core::message::code;
use serde_json::json;
use tokio::sync::Notify;

use crate::conn::{Conn, Target};
use crate::fastcodec::{PublishTemplate, event_timestamp, peek};
use crate::hist::Histogram;
use crate::{Phase, Report, clock_ns};

/// One event in this many has its delivery latency measured.
const LATENCY_SAMPLE: u64 = 4;

pub struct PubSubOpts {
    /// Where subscribers connect, in turn (empty: where the publisher does).
    pub subscriber_urls: Vec<Target>,
    pub subscribers: usize,
    pub window: usize,
    pub payload: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

pub async fn run_pubsub(
    target: &Target,
    codec: Codec,
    realm: &str,
    o: &PubSubOpts,
) -> Result<Report> {
    if o.subscribers == 0 {
        bail!("--subscribers must be at least 1");
    }
    let topic = format!("bench.pubsub.t{}", std::process::id());
    let received = Arc::new(AtomicU64::new(0));
    let wake = Arc::new(Notify::new());
    let phase = Arc::new(Phase::default());
    let mut subs = Vec::new();
    for i in 0..o.subscribers {
        let at = match o.subscriber_urls.len() {
            0 => target,
            n => &o.subscriber_urls[i % n],
        };
        let mut c = Conn::join(at, codec, realm).await?;
        c.subscribe(&topic).await?;
        let (mut reader, tx, _w) = c.split();
        let (received, wake, phase) = (received.clone(), wake.clone(), phase.clone());
        subs.push(tokio::spawn(async move {
            // The writer stays alive with the subscriber (its drop would close the socket).
            let _tx = tx;
            let mut hist = Histogram::default();
            let mut count = 0u64;
            loop {
                // A frame that is ready (buffered, or the socket has data) is taken without
                // arming the idle timeout: reading the clock for it is a large part of this
                // process's time at millions of events per second.
                let ready = reader.read().now_or_never();
                let frame = match ready {
                    Some(Ok(Some(f))) => f,
                    Some(_) => break,
                    None => tokio::select! {
                        r = tokio::time::timeout(Duration::from_secs(5), reader.read()) => match r {
                            Ok(Ok(Some(f))) => f,
                            _ => break,
                        },
                        _ = phase.stopped() => break,
                    },
                };
                if peek(codec, &frame).map(|p| p.code) != Some(code::EVENT) {
                    continue;
                }
                received.fetch_add(1, Ordering::Relaxed);
                wake.notify_one();
                if phase.get() == Phase::MEASURE {
                    count += 1;
                    // Latency from a sample of every LATENCY_SAMPLE-th event (for the same
                    // reason); the percentiles rest on hundreds of thousands of samples.
                    if count.is_multiple_of(LATENCY_SAMPLE)
                        && let Some(ts) = event_timestamp(codec, &frame)
                    {
                        hist.record(clock_ns().saturating_sub(ts));
                    }
                }
            }
            (count, hist)
        }));
    }
    let c = Conn::join(target, codec, realm).await?;
    let (_reader, tx, _w) = c.split();
    let publish = PublishTemplate::new(codec, &topic, &"x".repeat(o.payload));
    let m = o.subscribers as u64;
    let limit = (o.window as u64) * m;
    let publisher = {
        let (received, wake, phase) = (received.clone(), wake.clone(), phase.clone());
        tokio::spawn(async move {
            let mut published = 0u64;
            while phase.get() != Phase::STOP {
                let outstanding = (published * m).saturating_sub(received.load(Ordering::Relaxed));
                if outstanding + m > limit {
                    // A lost wakeup only costs the timeout.
                    let _ = tokio::time::timeout(Duration::from_millis(5), wake.notified()).await;
                    continue;
                }
                published += 1;
                if tx
                    .send(publish.encode(published, clock_ns()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            published
        })
    };
    let started = Instant::now();
    let window = phase.run(o.warmup, o.duration).await;
    let published = publisher.await?;
    let mut hist = Histogram::default();
    let mut delivered = 0;
    for s in subs {
        let (n, h) = s.await?;
        delivered += n;
        hist.merge(&h);
    }
    if delivered == 0 {
        bail!(
            "no event delivered ({published} published in {:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    let rate = delivered as f64 / window.as_secs_f64();
    let us = |q: f64| hist.quantile(q) as f64 / 1000.0;
    eprintln!(
        "pubsub: 1 -> {} subscribers: {:.0} events/s delivered, p50 {:.0} us, p99 {:.0} us ({delivered} events)",
        o.subscribers,
        rate,
        us(0.5),
        us(0.99)
    );
    Ok(json!({
        "scenario": "pubsub", "subscribers": o.subscribers, "events": delivered,
        "seconds": window.as_secs_f64(),
        "events_per_s": rate, "publications_per_s": rate / m as f64,
        "p50_us": us(0.5), "p99_us": us(0.99), "p999_us": us(0.999),
    }))
}
