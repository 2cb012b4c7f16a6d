//! `soak`: many sessions with mixed traffic for a bounded time, watching the router for
//! leaks. S sessions are open (most of them subscribers spread over T topics), C of them call
//! one callee in a loop (one call in flight each, a pause between calls), one publisher
//! publishes to the topics in turn at a fixed rate. Every `sample` seconds the router's RSS
//! and open descriptors (over its process tree) and the interval's calls, errors, call
//! latency p99 and events are recorded; the verdict compares the end with the state after
//! the warm-up: RSS within `max_rss_growth_pct`, descriptors back to where they were, no
//! errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use router_core::message::code;
use router_core::{Codec, Value};
use serde_json::json;
use tokio::task::JoinSet;

use crate::conn::{Conn, Target};
use crate::fastcodec::{PublishTemplate, Template, peek};
use crate::hist::Histogram;
use crate::procfs;
use crate::{Report, clock_ns};

pub struct SoakOpts {
    pub sessions: usize,
    pub callers: usize,
    pub topics: usize,
    /// Each caller's pause after a result.
    pub call_interval: Duration,
    pub publish_rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub sample: Duration,
    pub router_pid: u32,
    pub tree: bool,
    pub max_rss_growth_pct: f64,
}

/// Counters shared by the tasks, read and reset at every sample.
#[derive(Default)]
struct Interval {
    calls: AtomicU64,
    errors: AtomicU64,
    events: AtomicU64,
    latency: Mutex<Histogram>,
}

fn open_fds(pid: u32, tree: bool) -> usize {
    let pids = if tree { procfs::tree(pid) } else { vec![pid] };
    pids.iter()
        .map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).map_or(0, |d| d.count()))
        .sum()
}

pub async fn run_soak(target: &Target, codec: Codec, realm: &str, o: &SoakOpts) -> Result<Report> {
    if o.callers == 0 || o.topics == 0 || o.sessions < o.callers + 2 {
        bail!("soak needs callers and topics, and more sessions than callers + 2");
    }
    let rss = || {
        procfs::rss_total_kib(o.router_pid, o.tree)
            .with_context(|| format!("cannot read the RSS of pid {}", o.router_pid))
    };
    let fds_idle = open_fds(o.router_pid, o.tree);
    let stats = Arc::new(Interval::default());
    let mut tasks = JoinSet::new();
    let proc_ = format!("soak.echo.p{}", std::process::id());

    // The callee answers every INVOCATION.
    let mut callee = Conn::join(target, codec, realm).await?;
    callee.register(&proc_).await?;
    let (mut reader, tx, _) = callee.split();
    let reply = Template::yield_(codec, vec![Value::Int(1)]);
    tasks.spawn(async move {
        while let Ok(Some(frame)) = reader.read().await {
            if let Some(p) = peek(codec, &frame)
                && p.code == code::INVOCATION
                && let Some(req) = p.a
                && tx.send(reply.encode(req)).await.is_err()
            {
                break;
            }
        }
    });

    // Subscribers: every session that is not the callee, a caller or the publisher.
    let subscribers = o.sessions - o.callers - 2;
    let topic = |i: usize| format!("soak.t{}.{}", std::process::id(), i % o.topics);
    let mut joining = JoinSet::new();
    let mut opened = 0;
    let mut done = 0;
    while done < subscribers {
        while opened < subscribers && joining.len() < 64 {
            let (t, r, topic) = (target.clone(), realm.to_owned(), topic(opened));
            joining.spawn(async move {
                let mut c = Conn::join(&t, codec, &r).await?;
                c.subscribe(&topic).await?;
                anyhow::Ok(c)
            });
            opened += 1;
        }
        let c = joining.join_next().await.context("joining")???;
        done += 1;
        let (mut reader, tx, _) = c.split();
        let stats = stats.clone();
        tasks.spawn(async move {
            // The sender keeps the connection's writer (and so the socket) open.
            let _tx = tx;
            while let Ok(Some(frame)) = reader.read().await {
                if peek(codec, &frame).map(|p| p.code) == Some(code::EVENT) {
                    stats.events.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }

    // Callers: one call in flight each, a pause after every result.
    let call = Arc::new(Template::call(codec, &proc_, vec![Value::from("soak")]));
    for _ in 0..o.callers {
        let c = Conn::join(target, codec, realm).await?;
        let (mut reader, tx, _) = c.split();
        let (stats, call, pause) = (stats.clone(), call.clone(), o.call_interval);
        tasks.spawn(async move {
            let mut id = 0u64;
            loop {
                id += 1;
                let t = Instant::now();
                if tx.send(call.encode(id)).await.is_err() {
                    break;
                }
                let reply = loop {
                    match tokio::time::timeout(Duration::from_secs(10), reader.read()).await {
                        Ok(Ok(Some(f))) => match peek(codec, &f) {
                            Some(p) if p.request() == Some(id) => break Some(p.code),
                            _ => continue,
                        },
                        _ => break None,
                    }
                };
                match reply {
                    Some(code::RESULT) => {
                        stats.calls.fetch_add(1, Ordering::Relaxed);
                        stats
                            .latency
                            .lock()
                            .expect("not poisoned")
                            .record(t.elapsed().as_nanos() as u64);
                    }
                    Some(_) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                tokio::time::sleep(pause).await;
            }
        });
    }

    // The publisher: the topics in turn, at a fixed rate.
    let c = Conn::join(target, codec, realm).await?;
    let (reader, tx, _) = c.split();
    let templates: Vec<PublishTemplate> = (0..o.topics)
        .map(|i| PublishTemplate::new(codec, &topic(i), "soak"))
        .collect();
    let period = Duration::from_secs_f64(1.0 / o.publish_rate.max(1.0));
    tasks.spawn(async move {
        // Kept: dropping the reader would close the publisher's connection.
        let _reader = reader;
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        loop {
            tick.tick().await;
            n += 1;
            let t = &templates[(n as usize) % templates.len()];
            if tx.send(t.encode(n, clock_ns())).await.is_err() {
                break;
            }
        }
    });

    // Warm-up, then samples.
    tokio::time::sleep(o.warmup).await;
    let take = |stats: &Interval| {
        let calls = stats.calls.swap(0, Ordering::Relaxed);
        let errors = stats.errors.swap(0, Ordering::Relaxed);
        let events = stats.events.swap(0, Ordering::Relaxed);
        let p99 = std::mem::take(&mut *stats.latency.lock().expect("not poisoned")).quantile(0.99)
            as f64
            / 1000.0;
        (calls, errors, events, p99)
    };
    take(&stats);
    let (rss_start, fds_start) = (rss()?, open_fds(o.router_pid, o.tree));
    let started = Instant::now();
    let mut samples = Vec::new();
    let (mut errors_total, mut calls_total, mut rss_max) = (0, 0, rss_start);
    while started.elapsed() < o.duration {
        tokio::time::sleep(o.sample).await;
        let (calls, errors, events, p99) = take(&stats);
        let (r, f) = (rss()?, open_fds(o.router_pid, o.tree));
        rss_max = rss_max.max(r);
        errors_total += errors;
        calls_total += calls;
        let s = started.elapsed().as_secs_f64();
        eprintln!(
            "soak {s:>6.0} s: RSS {r} KiB, {f} fds, {calls} calls ({errors} errors, p99 {p99:.0} us), {events} events"
        );
        samples.push(json!({"t_s": s, "rss_kib": r, "fds": f, "calls": calls,
            "errors": errors, "p99_us": p99, "events": events}));
    }
    let (rss_end, fds_end) = (rss()?, open_fds(o.router_pid, o.tree));
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    // Everything closed: the router's descriptors go back to what it had idle.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fds_after = open_fds(o.router_pid, o.tree);
    while fds_after > fds_idle && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fds_after = open_fds(o.router_pid, o.tree);
    }
    let growth_pct = (rss_end as f64 - rss_start as f64) / rss_start as f64 * 100.0;
    let max_pct = (rss_max as f64 - rss_start as f64) / rss_start as f64 * 100.0;
    let p99s: Vec<f64> = samples
        .iter()
        .filter_map(|s| s["p99_us"].as_f64())
        .collect();
    let p99_min = p99s.iter().copied().fold(f64::INFINITY, f64::min);
    let p99_max = p99s.iter().copied().fold(0.0, f64::max);
    let ok = growth_pct <= o.max_rss_growth_pct
        && fds_end <= fds_start
        && fds_after <= fds_idle
        && errors_total == 0;
    eprintln!(
        "soak: {} sessions, {calls_total} calls, {errors_total} errors; RSS {rss_start} -> {rss_end} KiB ({growth_pct:+.1} %, peak {max_pct:+.1} %); fds {fds_start} -> {fds_end}, {fds_after} after closing ({fds_idle} idle); p99 {p99_min:.0}-{p99_max:.0} us: {}",
        o.sessions,
        if ok { "ok" } else { "FAILED" }
    );
    let report = json!({
        "scenario": "soak", "sessions": o.sessions, "seconds": started.elapsed().as_secs_f64(),
        "calls": calls_total, "errors": errors_total,
        "rss_start_kib": rss_start, "rss_end_kib": rss_end, "rss_growth_pct": growth_pct,
        "rss_peak_growth_pct": max_pct, "fds_idle": fds_idle, "fds_start": fds_start,
        "fds_end": fds_end, "fds_after_close": fds_after,
        "p99_us_min": p99_min, "p99_us_max": p99_max, "ok": ok, "samples": samples,
    });
    if !ok {
        bail!("soak failed: {report}");
    }
    Ok(report)
}
