//! Measures what an idle RawSocket session costs in resident memory (ignored by default: it
//! opens many sockets and measures, it does not assert timings). Run with
//! `cargo test -p router-core --release --test idle_memory -- --ignored --nocapture`.

mod transport_common;
use transport_common as common;

use common::*;
use router_core::Codec;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn idle_rawsocket_session_memory() {
    let n: usize = std::env::var("IDLE_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "rawsocket",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": 0, "backlog": 1024}}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();
    let hello = Codec::Json.encode(&hello());
    let mut frame = vec![0u8, 0, 0, hello.len() as u8];
    frame.extend_from_slice(&hello);
    let open = |count: usize| {
        let frame = frame.clone();
        async move {
            let mut conns = Vec::with_capacity(count);
            for _ in 0..count {
                let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                s.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
                s.write_all(&frame).await.unwrap();
                let mut hs = [0u8; 4];
                s.read_exact(&mut hs).await.unwrap();
                let mut hdr = [0u8; 4];
                s.read_exact(&mut hdr).await.unwrap();
                let len = ((hdr[1] as usize) << 16) | ((hdr[2] as usize) << 8) | hdr[3] as usize;
                let mut welcome = vec![0u8; len];
                s.read_exact(&mut welcome).await.unwrap();
                conns.push(s);
            }
            conns
        }
    };
    // The slope between n and 2n open sessions: warm-up and allocator reuse cancel out.
    let first = open(n).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let at_n = rss_kib();
    let second = open(n).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let at_2n = rss_kib();
    println!(
        "RSS with {n} idle sessions {at_n} KiB, with {} {at_2n} KiB: about {} bytes per idle \
         session (router session, transport and the test's client socket together)",
        2 * n,
        at_2n.saturating_sub(at_n) * 1024 / n
    );
    drop((first, second));
    t.stop().await;
}
