//! The uplink against a real `crossbar-cdc` process on loopback: a node that is not paired
//! yet is refused, keeps retrying and connects by itself once paired (onboarding by PIN with
//! autobahn, `cdc/tests/py/cdc_scenarios.py`); the CDC then sees it online, reaches local
//! `crossbar.*` procedures (also ones registered later), gets its events and heartbeats; a CDC
//! restart is survived without the local realm noticing. And the `crossbar-edge` binary with an
//! unpaired key says why and keeps running.
//!
//! Needs the test venv's Python with autobahn (`EDGE_TEST_PYTHON`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use agent::keys::NodeKey;
use agent::uplink::{self, TargetSource, UplinkState, UplinkTarget};
use router_core::client::{RegisterOptions, SubscribeOptions};
use router_core::value::{Dict, Value};
use router_core::{Payload, RealmConfig, Router};
use tokio::sync::watch;

use common::cdc::*;
use common::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_bridge_events_heartbeats_and_cdc_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cdc_dir = dir.path().join("cdc");
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let cdc = Cdc::start(&cdc_dir, port);

    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    let (key, _) = NodeKey::load_or_generate(&node_dir).unwrap();
    let router = Router::new();
    router.start_realm(RealmConfig::new("crossbar")).unwrap();
    let node = local_node(&router).await;

    let mut target = UplinkTarget::new(url.clone(), TargetSource::Env);
    target.unpaired_retry = Duration::from_millis(500);
    target.heartbeat.startup_delay = Duration::from_millis(200);
    target.heartbeat.period = Duration::from_secs(1);
    let (tx, mut rx) = watch::channel(UplinkState::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(uplink::run(
        router.clone(),
        key.clone(),
        target,
        tx,
        stop.clone(),
    ));

    // Not paired yet: refused, keeps retrying.
    wait_state(&mut rx, "unpaired", |s| {
        matches!(s, UplinkState::Unpaired { .. })
    })
    .await;
    if let UplinkState::Unpaired { pubkey, .. } = &*rx.borrow() {
        assert_eq!(pubkey, &key.public_key_hex());
    }

    // Paired while it waits: it connects by itself.
    let owner_seed = [1u8; 32];
    let outbox = cdc_dir.join("outbox");
    let (u, o, pk) = (url.clone(), outbox.clone(), key.public_key_hex());
    tokio::task::spawn_blocking(move || onboard(&u, &o, &hex::encode(owner_seed), &pk))
        .await
        .unwrap();
    wait_state(&mut rx, "connected", |s| {
        matches!(s, UplinkState::Connected { .. })
    })
    .await;
    match &*rx.borrow() {
        UplinkState::Connected { realm, node_id, .. } => {
            assert_eq!((realm.as_str(), node_id.as_str()), ("mrealm1", "node1"))
        }
        other => panic!("{other:?}"),
    }

    let m = manager(&url, owner_seed).await;
    eventually("node1 online", || async {
        let l = call(&m, "cdc.remote.list_nodes@1", vec!["online".into()])
            .await
            .ok()?;
        l.as_list()?
            .iter()
            .any(|n| n.as_str() == Some("node1"))
            .then_some(())
    })
    .await;
    // A bridged procedure, with its result.
    let workers = call(&m, "cdc.remote.list_workers@1", vec!["node1".into()])
        .await
        .unwrap();
    assert_eq!(workers, v(serde_json::json!(["worker1"])));
    // A local error comes back with its URI and message.
    let e = call(
        &m,
        "cdc.remote.query_worker@1",
        vec!["node1".into(), "nope".into()],
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "crossbar.error.no_such_worker", "{e:?}");
    assert!(e.message().unwrap_or_default().contains("nope"), "{e:?}");
    // An event caused by a call that came over the uplink (the publisher excluded the caller)
    // still reaches the CDC.
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    m.subscribe(
        "cdc.remote.on_worker_status@1",
        SubscribeOptions::default(),
        move |ev| {
            let _ = events_tx.send(ev.args);
        },
    )
    .await
    .unwrap();
    let r = call(
        &m,
        "cdc.remote.start_worker@1",
        vec![
            "node1".into(),
            "worker2".into(),
            v(serde_json::json!({"type": "router"})),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r.as_dict().unwrap().get("id"),
        Some(&Value::from("worker2")),
        "{r:?}"
    );
    let ev = tokio::time::timeout(WAIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ev,
        vec![
            Value::from("node1"),
            "worker2".into(),
            "stopped".into(),
            "started".into()
        ]
    );
    // Heartbeats arrive (the CDC records them).
    eventually("a heartbeat on the CDC", || async {
        let q = call(&m, "cdc.remote.query_node@1", vec!["node1".into()])
            .await
            .ok()?;
        let hb = q.as_dict()?.get("heartbeat")?.as_dict()?.clone();
        (hb.get("seq").and_then(Value::as_u64)? >= 1).then_some(hb)
    })
    .await;

    // A procedure registered after the uplink connected is bridged; unregistered, it goes.
    let log_reg = node
        .register(
            "crossbar.get_worker_log",
            RegisterOptions::default(),
            |inv| async move {
                Ok(Payload::new(
                    vec![Value::List(vec![v(
                        serde_json::json!({"text": "hello", "args": inv.args}),
                    )])],
                    Dict::new(),
                ))
            },
        )
        .await
        .unwrap();
    let log = eventually("a later registration bridged", || async {
        call(
            &m,
            "cdc.remote.query_worker_log@1",
            vec!["node1".into(), "worker1".into(), 5.into()],
        )
        .await
        .ok()
    })
    .await;
    assert_eq!(log.as_list().map(Vec::len), Some(1), "{log:?}");
    node.unregister(&log_reg).await.unwrap();
    eventually("an unregistration followed", || async {
        call(
            &m,
            "cdc.remote.query_worker_log@1",
            vec!["node1".into(), "worker1".into(), 5.into()],
        )
        .await
        .err()
    })
    .await;

    // The CDC dies: the local realm keeps serving, the uplink reconnects when it is back.
    let _ = m.leave("wamp.close.normal").await;
    cdc.kill();
    wait_state(&mut rx, "disconnected", |s| !s.is_connected()).await;
    let local = uplink::bridge::join_local(&router, "app").await.unwrap();
    for i in 0..20 {
        let echoed = call(&local, "crossbar.test_echo", vec![i.into()])
            .await
            .unwrap();
        assert_eq!(echoed, Value::from(i));
    }
    let cdc = Cdc::start(&cdc_dir, port);
    wait_state(&mut rx, "connected again", |s| s.is_connected()).await;
    let m = manager(&url, owner_seed).await;
    let workers = eventually("procedures callable after the restart", || async {
        call(&m, "cdc.remote.list_workers@1", vec!["node1".into()])
            .await
            .ok()
    })
    .await;
    assert_eq!(workers, v(serde_json::json!(["worker1"])));

    stop.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(*rx.borrow(), UplinkState::Disconnected);
    drop(cdc);
}

#[test]
fn unpaired_node_process_says_why_and_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cdc = Cdc::start(&dir.path().join("cdc"), port);
    let cbdir = dir.path().join("node");
    std::fs::create_dir_all(&cbdir).unwrap();
    std::fs::write(
        cbdir.join("config.json"),
        r#"{"version": 2, "workers": []}"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossbar-edge"))
        .args(["start", "--cbdir"])
        .arg(&cbdir)
        .env("CROSSBAR_FABRIC_URL", format!("ws://127.0.0.1:{port}/ws"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = capture(&mut child);
    let text = || log.lock().unwrap().join("\n");
    let deadline = Instant::now() + WAIT;
    while !text().contains("not paired") {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "no unpaired message:\n{}\n--- CDC\n{}",
            text(),
            cdc.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pubkey = NodeKey::load(&cbdir).unwrap().public_key_hex();
    let t = text();
    assert!(t.contains(&pubkey), "the message names the key:\n{t}");
    assert!(
        t.contains("cdc.manage.register_node@1"),
        "and how to pair:\n{t}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the node exited:\n{}",
        text()
    );
    // `status` asks the running node and shows the uplink state.
    let out = Command::new(env!("CARGO_BIN_EXE_crossbar-edge"))
        .args(["status", "--cbdir"])
        .arg(&cbdir)
        .output()
        .unwrap();
    let status_text = String::from_utf8_lossy(&out.stdout);
    assert!(
        status_text.contains(&format!("Uplink: unpaired (ws://127.0.0.1:{port}/ws)")),
        "{status_text}"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit {status}:\n{}", text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_the_ca_file_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let cdc_dir = dir.path().join("cdc");
    std::fs::create_dir_all(&cdc_dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(cdc_dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(cdc_dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let _cdc = Cdc::start_with(&cdc_dir, port, |c| {
        c["listen"]["tls"] = serde_json::json!({"certificate": "cert.pem", "key": "key.pem"});
    });
    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    std::fs::copy(cdc_dir.join("cert.pem"), node_dir.join("ca.pem")).unwrap();
    let (key, _) = NodeKey::load_or_generate(&node_dir).unwrap();
    let router = Router::new();
    router.start_realm(RealmConfig::new("crossbar")).unwrap();
    // The CA file comes from the config, resolved against the node directory.
    let config = agent::config::NodeConfig::from_value(serde_json::json!({
        "version": 2,
        "controller": {"fabric": {"transport": {"type": "websocket",
            "url": format!("wss://localhost:{port}/ws"),
            "endpoint": {"type": "tcp", "host": "localhost", "port": port,
                "tls": {"ca_certificates": ["ca.pem"]}}}}}
    }))
    .unwrap();
    let target = uplink::resolve(&node_dir, &config, None).unwrap().unwrap();
    assert_eq!(target.ca_file, Some(node_dir.join("ca.pem")));

    // With the CA the TLS handshake succeeds and the CDC answers (the key is not paired).
    let (tx, mut rx) = watch::channel(UplinkState::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(uplink::run(
        router.clone(),
        key.clone(),
        target.clone(),
        tx,
        stop.clone(),
    ));
    wait_state(&mut rx, "unpaired over wss", |s| {
        matches!(s, UplinkState::Unpaired { .. })
    })
    .await;
    stop.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();

    // Without it the certificate is not trusted: the uplink never gets an answer.
    let mut untrusted = target;
    untrusted.ca_file = None;
    let (tx, mut rx) = watch::channel(UplinkState::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(uplink::run(router, key, untrusted, tx, stop.clone()));
    wait_state(&mut rx, "connecting", |s| {
        matches!(s, UplinkState::Connecting { .. })
    })
    .await;
    wait_state(&mut rx, "a failed attempt", |s| {
        matches!(s, UplinkState::Disconnected)
    })
    .await;
    let r = tokio::time::timeout(
        Duration::from_secs(3),
        rx.wait_for(|s| {
            matches!(
                s,
                UplinkState::Unpaired { .. } | UplinkState::Connected { .. }
            )
        }),
    )
    .await;
    assert!(r.is_err(), "an untrusted certificate was accepted");
    stop.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

#[test]
fn activation_file_written_while_running_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cdc = Cdc::start(&dir.path().join("cdc"), port);
    let cbdir = dir.path().join("node");
    std::fs::create_dir_all(&cbdir).unwrap();
    std::fs::write(
        cbdir.join("config.json"),
        r#"{"version": 2, "workers": []}"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossbar-edge"))
        .args(["start", "--cbdir"])
        .arg(&cbdir)
        .env_remove("CROSSBAR_FABRIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = capture(&mut child);
    let text = || log.lock().unwrap().join("\n");
    let mut wait_for = |needle: &str| {
        let deadline = Instant::now() + WAIT;
        while !text().contains(needle) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the node exited with {status}:\n{}", text());
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{}\n--- CDC\n{}",
                text(),
                cdc.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("waiting for an activation file");
    // As a master's auto-pairing writes it (Crossbar.io's format).
    let activation = format!(
        "Crossbar.io node activation\n\ncreated-at: 2026-01-01T00:00:00.000Z\n\
         management-url: ws://127.0.0.1:{port}/ws\nmanagement-realm: default\n\
         node-authid: edge1\nactivation-code: unknown\n"
    );
    std::fs::write(cbdir.join("key.activate"), activation).unwrap();
    wait_for("switching the management uplink");
    // The CDC knows nothing of this key: the node is told so, through the new target.
    wait_for("not paired");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the node exited:\n{}",
        text()
    );
    let _ = child.kill();
    let _ = child.wait();
}
