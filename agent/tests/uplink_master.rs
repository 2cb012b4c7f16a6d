//! The uplink against the REAL Crossbar.io master (`/work/venvs/crossbar/bin/crossbar master
//! start`, or `$CROSSBAR_MASTER_BIN`), started as `shared/reference/crossbar-master.md`
//! describes: the node key is paired into a management realm with
//! `crossbarfabriccenter.mrealm.pair_node` while the node, refused as unpaired, keeps retrying;
//! then it connects, the master lists it online, and a
//! management client (autobahn) calls `remote.node.get_status/get_workers/start_worker`,
//! `remote.router.start_router_realm` through the master into the node, gets a node error back
//! and receives the node's events.
//!
//! Skipped, with a printed reason, when no Crossbar.io install is found.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::keys::NodeKey;
use agent::uplink::{self, TargetSource, UplinkState, UplinkTarget};
use router_core::{RealmConfig, Router};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use common::*;

/// The master boots a controller, a router and two containers (Python): give it time on a
/// busy machine.
const BOOT: Duration = Duration::from_secs(120);

fn crossbar_bin() -> Option<PathBuf> {
    let p = std::env::var("CROSSBAR_MASTER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/venvs/crossbar/bin/crossbar"));
    p.exists().then_some(p)
}

struct Master {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Master {
    fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its worker processes; SIGKILL if it does not exit.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_master(exe: &Path, dir: &Path, port: u16, superuser_seed: [u8; 32]) -> Master {
    let cbdir = dir.join("master");
    std::fs::create_dir_all(&cbdir).unwrap();
    let config = serde_json::json!({
        "controller": {"blockchain": null, "ipfs": null},
        "workers": [{"transports": ["COPY", "COPY",
            {"endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
             "paths": {"autobahn": null}}]},
            "COPY"]
    });
    std::fs::write(cbdir.join("config.json"), config.to_string()).unwrap();
    let su = dir.join("superuser.pub");
    let pubkey = ed25519_dalek::SigningKey::from_bytes(&superuser_seed).verifying_key();
    std::fs::write(
        &su,
        format!("public-key-ed25519: {}\n", hex::encode(pubkey.as_bytes())),
    )
    .unwrap();
    let mut child = Command::new(exe)
        .args(["master", "start", "--cbdir"])
        .arg(&cbdir)
        .env("CROSSBAR_FABRIC_SUPERUSER", &su)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = capture(&mut child);
    let mut m = Master { child, log };
    let deadline = Instant::now() + BOOT;
    while !m.text().contains("booted and ready") {
        if let Ok(Some(status)) = m.child.try_wait() {
            panic!("the master exited with {status}:\n{}", m.text());
        }
        assert!(
            Instant::now() < deadline,
            "the master did not boot:\n{}",
            m.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    m
}

fn script(url: &str, seed: [u8; 32], args: &[&str]) -> Result<String, String> {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/crossbar_master.py"))
        .args(["--url", url, "--seed", &hex::encode(seed)])
        .args(args)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("--- {}\n{text}", args[0]);
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_crossbar_master_pairs_and_drives_the_node() {
    let Some(exe) = crossbar_bin() else {
        println!(
            "SKIPPED: no Crossbar.io install (set CROSSBAR_MASTER_BIN or install crossbar into /work/venvs/crossbar)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let su = [5u8; 32];
    let d = dir.path().to_path_buf();
    let master = tokio::task::spawn_blocking(move || start_master(&exe, &d, port, su))
        .await
        .unwrap();

    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    let (key, _) = NodeKey::load_or_generate(&node_dir).unwrap();
    let router = Router::new();
    router.start_realm(RealmConfig::new("crossbar")).unwrap();
    let _node = local_node(&router).await;
    let mut target = UplinkTarget::new(url.clone(), TargetSource::Env);
    target.heartbeat.startup_delay = Duration::from_millis(500);
    target.heartbeat.period = Duration::from_secs(2);
    target.unpaired_retry = Duration::from_secs(1);
    let (tx, mut rx) = watch::channel(UplinkState::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(uplink::run(
        router.clone(),
        key.clone(),
        target,
        tx,
        stop.clone(),
    ));
    // Not paired yet: the master refuses the key; the node says so and keeps trying.
    wait_state(&mut rx, "unpaired", |s| {
        matches!(s, UplinkState::Unpaired { .. })
    })
    .await;
    let u = url.clone();
    let pk = key.public_key_hex();
    let paired = tokio::task::spawn_blocking(move || {
        script(
            &u,
            su,
            &[
                "pair", "--pubkey", &pk, "--mrealm", "mrealm1", "--node", "edge1",
            ],
        )
    })
    .await
    .unwrap();
    if let Err(e) = paired {
        panic!("pairing failed:\n{e}\n--- master\n{}", master.text());
    }

    wait_state(&mut rx, "connected", |s| s.is_connected()).await;
    match &*rx.borrow() {
        UplinkState::Connected {
            realm,
            node_id,
            authextra,
            ..
        } => {
            assert_eq!(
                (realm.as_str(), node_id.as_str()),
                ("mrealm1", "edge1"),
                "{authextra:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    let u = url.clone();
    let driven = tokio::task::spawn_blocking(move || {
        script(&u, su, &["drive", "--mrealm", "mrealm1", "--node", "edge1"])
    })
    .await
    .unwrap();
    if let Err(e) = driven {
        panic!(
            "driving the node failed:\n{e}\n--- master\n{}",
            master.text()
        );
    }
    assert!(rx.borrow().is_connected(), "{:?}", rx.borrow());

    // A second connection with the same key while the first still holds the registrations
    // (as after a network loss the master has not noticed yet; the real master accepts it):
    // its registrations are refused as taken and retried, so once the first goes, it serves.
    let mut target2 = UplinkTarget::new(url.clone(), TargetSource::Env);
    target2.heartbeat.startup_delay = Duration::from_secs(60);
    let (tx2, mut rx2) = watch::channel(UplinkState::default());
    let stop2 = CancellationToken::new();
    let task2 = tokio::spawn(uplink::run(
        router.clone(),
        key.clone(),
        target2,
        tx2,
        stop2.clone(),
    ));
    wait_state(&mut rx2, "connected (second)", |s| s.is_connected()).await;
    stop.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    let u = url.clone();
    let served = tokio::task::spawn_blocking(move || {
        script(
            &u,
            su,
            &["workers", "--mrealm", "mrealm1", "--node", "edge1"],
        )
    })
    .await
    .unwrap();
    if let Err(e) = served {
        panic!(
            "the second connection does not serve:\n{e}\n--- master\n{}",
            master.text()
        );
    }
    stop2.cancel();
    tokio::time::timeout(WAIT, task2).await.unwrap().unwrap();
    drop(master);
}
