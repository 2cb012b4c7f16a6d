//! `startup`: wall time from spawning a router command to the first successful WAMP call
//! (`wamp.session.count`, served by the router itself, so no component has to be running).

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use router_core::Codec;
use serde_json::json;

use crate::Report;
use crate::conn::{Conn, Target};

/// One attempt to join and call; errors mean "not ready yet".
async fn probe(target: &Target, codec: Codec, realm: &str) -> Result<()> {
    let mut c = Conn::join(target, codec, realm).await?;
    match c.call("wamp.session.count", vec![]).await? {
        Ok(_) => Ok(()),
        Err((e, _)) => bail!("wamp.session.count failed: {e}"),
    }
}

/// Stops the spawned process group (the node and its workers): SIGTERM, then SIGKILL.
async fn stop(child: &mut tokio::process::Child) {
    let Some(pid) = child.id() else { return };
    let pg = Pid::from_raw(pid as i32);
    let _ = killpg(pg, Signal::SIGTERM);
    if tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .is_err()
    {
        let _ = killpg(pg, Signal::SIGKILL);
        let _ = child.wait().await;
    }
    // Workers of the group may outlive the leader for a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = killpg(pg, Signal::SIGKILL);
}

pub async fn run_startup(
    target: &Target,
    codec: Codec,
    realm: &str,
    runs: usize,
    timeout: Duration,
    command: &[String],
) -> Result<Report> {
    let Some((prog, args)) = command.split_first() else {
        bail!("startup needs the router command after `--`");
    };
    let mut times = Vec::new();
    for run in 0..runs {
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {prog}"))?;
        let res = loop {
            if t0.elapsed() > timeout {
                break Err(anyhow::anyhow!(
                    "no successful call within {} s",
                    timeout.as_secs()
                ));
            }
            if let Ok(Some(status)) = child.try_wait() {
                break Err(anyhow::anyhow!("the router exited early with {status}"));
            }
            match tokio::time::timeout(Duration::from_secs(2), probe(target, codec, realm)).await {
                Ok(Ok(())) => break Ok(t0.elapsed()),
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        };
        stop(&mut child).await;
        let t = res?;
        eprintln!("startup run {}: {:.1} ms", run + 1, t.as_secs_f64() * 1e3);
        times.push(t.as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    eprintln!("startup: median {median:.1} ms over {runs} runs");
    Ok(json!({ "scenario": "startup", "startup_ms": median, "runs_ms": times }))
}
