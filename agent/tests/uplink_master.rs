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

use std::time::Duration;

use agent::keys::NodeKey;
use agent::uplink::{self, TargetSource, UplinkState, UplinkTarget};
use router_core::{RealmConfig, Router};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use common::master::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_crossbar_master_pairs_and_drives_the_node() {
    let Some(exe) = crossbar_bin() else {
        println!("SKIPPED: no Crossbar.io install (run tests/run.sh, or set CROSSBAR_MASTER_BIN)");
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
