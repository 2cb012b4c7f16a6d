//! `sessions`: open S idle sessions and report the router's resident memory per session
//! (VmRSS of the router process, or of a node's whole process tree, before and after).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use router_core::Codec;
use serde_json::json;

use crate::Report;
use crate::conn::{Conn, Target};
use crate::procfs::rss_total_kib;

/// Joins opened at once: enough to be quick, few enough not to overflow a listen backlog.
const CONCURRENCY: usize = 64;

pub async fn run_sessions(
    target: &Target,
    codec: Codec,
    realm: &str,
    count: usize,
    router_pid: u32,
    tree: bool,
    settle: Duration,
) -> Result<Report> {
    let rss = || {
        rss_total_kib(router_pid, tree)
            .with_context(|| format!("cannot read the RSS of pid {router_pid}"))
    };
    // One session first, so lazily allocated per-realm state is not charged to the others.
    let first = Conn::join(target, codec, realm).await?;
    tokio::time::sleep(settle).await;
    let before = rss()?;
    let started = Instant::now();
    let mut conns = Vec::with_capacity(count);
    let mut pending = tokio::task::JoinSet::new();
    let mut opened = 0;
    while conns.len() < count {
        while opened < count && pending.len() < CONCURRENCY {
            let (t, r) = (target.clone(), realm.to_owned());
            pending.spawn(async move { Conn::join(&t, codec, &r).await });
            opened += 1;
        }
        match pending.join_next().await {
            Some(r) => conns.push(r??),
            None => break,
        }
    }
    let open_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = rss()?;
    if conns.len() != count {
        bail!("opened {} of {count} sessions", conns.len());
    }
    let per = (after as f64 - before as f64) / count as f64;
    eprintln!(
        "sessions: {count} idle sessions: router RSS {before} KiB -> {after} KiB, {per:.2} KiB per session (opened in {open_s:.1} s)"
    );
    drop(conns);
    drop(first);
    Ok(json!({
        "scenario": "sessions", "sessions": count, "rss_before_kib": before,
        "rss_after_kib": after, "rss_per_session_kib": per, "open_seconds": open_s,
        "process_tree": tree,
    }))
}
