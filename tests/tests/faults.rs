//! Faults injected into real processes: a router worker killed under load, the controller
//! killed (and started again), the node killed while it writes its config and a full disk,
//! a subscriber stopped (SIGSTOP) under publish load, and ten thousand connections that send
//! nothing. Application load comes from unmodified autobahn-python clients
//! (`tests/py/faults.py`).

use std::time::{Duration, Instant};

use rand::{RngExt as _, SeedableRng as _};
use router_core::client::{JoinOptions, SubscribeOptions};
use router_core::uri::MatchPolicy;
use router_core::{Codec, Value as WampValue};
use serde_json::{Value, json};
use tests::mgmt::{call, call_ok, connect, events, runtime, status_is, wait_event};
use tests::procs::wait_gone;
use tests::{Node, PyService, free_port, wait_port};

fn realm() -> Value {
    json!([{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
        {"uri": "", "match": "prefix",
         "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}])
}

fn router(id: &str, port: u16) -> Value {
    json!({"id": id, "type": "router", "realms": realm(),
           "transports": [{"type": "websocket",
                           "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"}}]})
}

fn worker_pid(cbdir: &std::path::Path, id: &str) -> u64 {
    runtime().block_on(async {
        let s = connect(cbdir).await;
        call_ok(&s, "crossbar.get_worker", vec![json!(id)]).await["pid"]
            .as_u64()
            .unwrap()
    })
}

fn rss_kib(pid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds(pid: u64) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn kill(pid: u64, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {signal} {pid}");
}

/// The `summary {json}` line of a finished `faults.py load`.
fn load_summary(load: &mut PyService) -> Value {
    load.wait_exit(Duration::from_secs(60))
        .expect("the load script ends by itself");
    let line = load.last("summary ").expect("a summary line");
    serde_json::from_str(&line).unwrap()
}

#[test]
fn a_router_killed_under_load_restarts_and_its_clients_reconnect_the_others_unaffected() {
    let (pa, pb) = (free_port(), free_port());
    let config = json!({"version": 2, "workers": [router("router_a", pa), router("router_b", pb)]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[pa, pb]);
    let cbdir = node.cbdir();
    let url = |p: u16| format!("ws://127.0.0.1:{p}/ws");
    let seconds = "12";
    let (ua, ub) = (url(pa), url(pb));
    let mut load_a = PyService::start(
        "faults.py",
        &["load", "--url", &ua, "--ns", "com.a", "--seconds", seconds],
    );
    let mut load_b = PyService::start(
        "faults.py",
        &["load", "--url", &ub, "--ns", "com.b", "--seconds", seconds],
    );
    let rt = runtime();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        let mut status = events(&s, "crossbar.on_worker_status", MatchPolicy::Exact).await;
        let pid = call_ok(&s, "crossbar.get_worker", vec![json!("router_a")]).await["pid"]
            .as_u64()
            .unwrap();
        let b_pid = call_ok(&s, "crossbar.get_worker", vec![json!("router_b")]).await["pid"]
            .as_u64()
            .unwrap();
        kill(pid, "-9");
        wait_event(
            &mut status,
            "router_a failed",
            status_is("router_a", "started", "failed"),
        )
        .await;
        wait_event(
            &mut status,
            "router_a back",
            status_is("router_a", "starting", "started"),
        )
        .await;
        // The controller and the other router did not notice.
        let st = call_ok(&s, "crossbar.get_status", vec![]).await;
        assert!(st.is_object(), "{st}");
        let b = call_ok(&s, "crossbar.get_worker", vec![json!("router_b")]).await;
        assert_eq!(
            (b["pid"].as_u64(), b["status"].as_str()),
            (Some(b_pid), Some("started"))
        );
    });
    let a = load_summary(&mut load_a);
    let b = load_summary(&mut load_b);
    println!("load on the killed router: {a}\nload on the other router: {b}");
    assert_eq!(b["fail"], 0, "the other router's clients saw failures: {b}");
    assert!(b["ok"].as_u64().unwrap() > 100, "{b}");
    assert!(
        a["fail"].as_u64().unwrap() >= 1,
        "the killed router's clients noticed: {a}"
    );
    assert!(
        a["ok_after_last_fail"].as_u64().unwrap() > 10,
        "the killed router's clients reconnected and succeeded: {a}"
    );
    assert_eq!(node.terminate(), Some(0), "{}", node.log_text());
}

#[test]
fn a_killed_controller_leaves_no_orphans_and_comes_back_with_its_saved_config() {
    let (pa, pb) = (free_port(), free_port());
    let config = json!({"version": 2, "workers": [router("router_a", pa)]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[pa]);
    let cbdir = node.cbdir();
    let rt = runtime();
    let pids = rt.block_on(async {
        let s = connect(&cbdir).await;
        // A worker started at runtime, then the live config saved.
        let item = router("router_b", pb);
        call_ok(
            &s,
            "crossbar.start_worker",
            vec![json!("router_b"), json!("router"), item],
        )
        .await;
        call_ok(&s, "crossbar.save_config", vec![]).await;
        let mut pids = Vec::new();
        for id in ["router_a", "router_b"] {
            pids.push(
                call_ok(&s, "crossbar.get_worker", vec![json!(id)]).await["pid"]
                    .as_u64()
                    .unwrap(),
            );
        }
        pids
    });
    assert!(wait_port(pb, Duration::from_secs(20)));
    kill(u64::from(node.child.id()), "-9");
    let _ = node.child.wait();
    wait_gone(&pids);
    node.restart(&[]);
    node.wait_ready(&[pa, pb]);
    let workers = rt.block_on(async {
        let s = connect(&cbdir).await;
        call_ok(&s, "crossbar.get_workers", vec![]).await
    });
    assert_eq!(workers, json!(["router_a", "router_b"]));
    assert_eq!(node.terminate(), Some(0), "{}", node.log_text());
}

/// A config whose text is large enough (about 400 KB) that writing it takes a while: a
/// disabled container (never started) with a long list in `options.extra`, the last item
/// `marker`.
fn big_config(marker: &str) -> Value {
    let mut items: Vec<Value> = (0..25_000).map(|i| json!(format!("item-{i}"))).collect();
    items.push(json!(marker));
    json!({"version": 2, "workers": [
        {"id": "ballast", "type": "container",
         "options": {"disabled": true, "extra": {"items": items}}}]})
}

fn marker_of(config: &Value) -> String {
    config["workers"][0]["options"]["extra"]["items"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn temp_files(cbdir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(cbdir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn the_node_killed_while_writing_its_config_leaves_the_old_or_the_new_file_200_times() {
    let seed: u64 = std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("FAULTS_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut node = Node::start(&big_config("old-0").to_string(), &[]);
    let cbdir = node.cbdir();
    let path = cbdir.join("config.json");
    let rt = runtime();
    // How long one upload takes here: the kills fall anywhere from the call to a while after
    // it returned, so some land mid-write and some after the rename.
    let took = rt.block_on(async {
        let s = connect(&cbdir).await;
        let t = Instant::now();
        call_ok(&s, "crossbar.upload_config", vec![big_config("old-0")]).await;
        t.elapsed()
    });
    let window = u64::try_from((took * 3 / 2).as_micros()).unwrap().max(1000);
    println!("one upload takes {took:?}: kills within {window} us of the call");
    let (mut old, mut new_seen, mut old_seen) = ("old-0".to_owned(), 0, 0);
    for round in 1..=200 {
        let new = format!("new-{round}");
        let upload = big_config(&new);
        let delay = Duration::from_micros(rng.random_range(0..window));
        rt.block_on(async {
            let s = connect(&cbdir).await;
            let uploading = tokio::spawn(async move {
                let _ = call(&s, "crossbar.upload_config", vec![upload]).await;
            });
            tokio::time::sleep(delay).await;
            kill(u64::from(node.child.id()), "-9");
            let _ = uploading.await;
        });
        let _ = node.child.wait();
        let text = std::fs::read_to_string(&path).unwrap();
        let written: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("round {round} (seed {seed}): config.json is not JSON: {e}")
        });
        let marker = marker_of(&written);
        if marker == new {
            new_seen += 1;
            old = new;
        } else {
            assert_eq!(
                marker, old,
                "round {round} (seed {seed}): neither the old nor the new config"
            );
            old_seen += 1;
        }
        node.restart(&[]);
        // The next start removes what a killed write left behind.
        rt.block_on(connect(&cbdir));
        assert!(
            temp_files(&cbdir).is_empty(),
            "round {round}: {:?}",
            temp_files(&cbdir)
        );
    }
    println!("200 kills: the new config {new_seen} times, the old one {old_seen} times");
    assert!(
        new_seen > 0 && old_seen > 0,
        "the kills fell both before and after the rename"
    );
    assert_eq!(node.terminate(), Some(0), "{}", node.log_text());
}

/// A tmpfs of `size` mounted at `dir` for the test's lifetime (root only: under `CI=true` a
/// failed mount fails the test).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot mount a tmpfs (the disk-full test needs root)"
            );
            println!("SKIPPED: cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_config_write_on_a_full_disk_fails_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_fs) = Tmpfs::mount(&dir.path().join("fs"), "2m") else {
        return;
    };
    let cbdir = dir.path().join("fs/.crossbar");
    // The node directory on the small tmpfs: config and keys first, then ballast that leaves
    // less room than the next config needs.
    std::fs::create_dir_all(&cbdir).unwrap();
    let old = json!({"version": 2, "workers": []});
    std::fs::write(cbdir.join("config.json"), old.to_string()).unwrap();
    let mut node = spawn_on(&cbdir);
    let rt = runtime();
    rt.block_on(connect(&cbdir));
    let free = nix::sys::statvfs::statvfs(&cbdir).unwrap();
    let room = free.blocks_available() * free.fragment_size();
    std::fs::write(
        cbdir.join("ballast"),
        vec![0u8; usize::try_from(room).unwrap().saturating_sub(64 * 1024)],
    )
    .unwrap();
    let e = rt.block_on(async {
        let s = connect(&cbdir).await;
        call(&s, "crossbar.upload_config", vec![big_config("too-big")])
            .await
            .unwrap_err()
    });
    println!("upload on a full disk: {} {:?}", e.error, e.args);
    assert!(e.error.starts_with("crossbar.error."), "{}", e.error);
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(cbdir.join("config.json")).unwrap()).unwrap();
    assert_eq!(kept, old);
    assert!(temp_files(&cbdir).is_empty(), "{:?}", temp_files(&cbdir));
    // The node goes on: a small upload fits.
    std::fs::remove_file(cbdir.join("ballast")).unwrap();
    rt.block_on(async {
        let s = connect(&cbdir).await;
        call_ok(
            &s,
            "crossbar.upload_config",
            vec![json!({"version": 2, "workers": []})],
        )
        .await;
    });
    let _ = node.kill();
    let _ = node.wait();
}

/// `crossbar-edge start` on an existing node directory.
fn spawn_on(cbdir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(tests::bin("crossbar-edge"))
        .args(["start", "--cbdir"])
        .arg(cbdir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_stopped_subscriber_is_closed_and_the_others_keep_receiving() {
    let port = free_port();
    let config = json!({"version": 2, "workers": [router("router_a", port)]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let worker = worker_pid(&node.cbdir(), "router_a");
    let url = format!("ws://127.0.0.1:{port}/ws");
    let rt = runtime();
    let watcher = rt.block_on(async {
        router_core::client::connect(&url, Codec::MsgPack, JoinOptions::realm("realm1"))
            .await
            .unwrap()
    });
    let mut left = rt.block_on(async {
        watcher
            .subscribe_stream("wamp.session.on_leave", SubscribeOptions::default(), 64)
            .await
            .unwrap()
            .1
    });
    let stuck = PyService::start("faults.py", &["subscriber", "--url", &url]);
    let reader = PyService::start("faults.py", &["subscriber", "--url", &url]);
    let stuck_session: u64 = stuck.last("session ").unwrap().parse().unwrap();
    let events = |s: &PyService| -> u64 { s.last("events ").map_or(0, |n| n.parse().unwrap()) };
    let rss_before = rss_kib(worker);
    let _publisher = PyService::start("faults.py", &["publisher", "--url", &url, "--size", "2048"]);
    assert!(
        reader
            .wait_line(
                |l| l
                    .strip_prefix("events ")
                    .is_some_and(|n| n.parse::<u64>().unwrap() > 1000),
                Duration::from_secs(30)
            )
            .is_some(),
        "events flow"
    );
    kill(u64::from(stuck.child.id()), "-STOP");
    let stopped_at = events(&reader);
    let mut peak = rss_before;
    let closed = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            peak = peak.max(rss_kib(worker));
            if let Ok(Some(ev)) =
                tokio::time::timeout(Duration::from_millis(200), left.recv()).await
                && ev.args.first() == Some(&WampValue::from(stuck_session))
            {
                return true;
            }
        }
        false
    });
    assert!(
        closed,
        "the stopped subscriber's session was not closed within 40 s"
    );
    let after = events(&reader);
    println!(
        "router RSS {rss_before} KiB before, peak {peak} KiB; the reading subscriber got {} events while the other was stopped",
        after - stopped_at
    );
    assert!(
        after > stopped_at + 1000,
        "the reading subscriber kept receiving"
    );
    assert!(
        peak < rss_before + 200 * 1024,
        "router memory stayed bounded: {rss_before} -> {peak} KiB"
    );
    kill(u64::from(stuck.child.id()), "-CONT");
    assert!(
        node.log_text().contains("slow consumer"),
        "{}",
        node.log_text()
    );
}

#[test]
fn ten_thousand_silent_connections_are_closed_and_max_connections_holds() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 12_000 {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    let port = free_port();
    let config = json!({"version": 2, "workers": [{"id": "router_a", "type": "router", "realms": realm(),
        "transports": [{"type": "websocket", "max_connections": 5000,
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1", "backlog": 1024},
            "options": {"open_handshake_timeout": 3000}}]}]});
    let mut node = Node::start(&config.to_string(), &[]);
    node.wait_ready(&[port]);
    let worker = worker_pid(&node.cbdir(), "router_a");
    let fds_before = open_fds(worker);
    // Each connection, from its connect, until the router ends it (EOF or reset): the ones
    // over max_connections at once, the others at the handshake timeout (3 s).
    let lifetimes: Vec<Duration> = runtime().block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..10_000 {
            let t = Instant::now();
            let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap_or_else(|e| panic!("connect {i}: {e}"));
            tasks.push(tokio::spawn(async move {
                use tokio::io::AsyncReadExt as _;
                let mut b = [0u8; 1];
                match tokio::time::timeout(Duration::from_secs(30), c.read(&mut b)).await {
                    Ok(Ok(0) | Err(_)) => t.elapsed(),
                    Ok(Ok(_)) => panic!("the router sent data to a connection that sent nothing"),
                    Err(_) => panic!("a silent connection stayed open for 30 s"),
                }
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let refused = lifetimes
        .iter()
        .filter(|t| **t < Duration::from_millis(1000))
        .count();
    let timed_out = lifetimes
        .iter()
        .filter(|t| **t >= Duration::from_millis(2500))
        .count();
    println!(
        "10,000 silent connections: {refused} refused at once (over max_connections 5,000), {timed_out} closed at the 3 s handshake timeout, the longest lived {:?}",
        lifetimes.iter().max()
    );
    assert!(
        refused >= 3000 && (3000..=6000).contains(&timed_out),
        "refused {refused}, timed out {timed_out}"
    );
    // The router's descriptors are back where they were, and it still serves.
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds(worker) > fds_before + 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        open_fds(worker) <= fds_before + 5,
        "{} fds, {fds_before} before",
        open_fds(worker)
    );
    assert!(wait_port(port, Duration::from_secs(5)));
    assert_eq!(node.terminate(), Some(0), "{}", node.log_text());
}
