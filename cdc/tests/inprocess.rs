//! The CDC's WAMP side in one process: real router, authenticator, roles and backends, with
//! in-process client sessions (the same handshake as over a socket) and a fake node that
//! registers `crossbarfabriccenter.node.<id>.*` like a node's uplink does.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use router_core::client::{RegisterOptions, Session, SubscribeOptions};
use router_core::message::Payload;
use router_core::uri::MatchPolicy;
use router_core::value::{Dict, Value};

type Calls = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// Registers a fake node API under the node's prefix; returns the calls it received.
async fn fake_node(node: &Session, node_id: &str) -> Calls {
    let calls: Calls = Arc::new(Mutex::new(Vec::new()));
    let prefix = format!("crossbarfabriccenter.node.{node_id}.");
    let c = calls.clone();
    let p = prefix.clone();
    let weak = node.downgrade();
    node.register(
        &prefix,
        RegisterOptions {
            match_: MatchPolicy::Prefix,
            ..Default::default()
        },
        move |inv| {
            let name = inv
                .procedure()
                .unwrap_or_default()
                .strip_prefix(&p)
                .unwrap_or_default()
                .to_owned();
            let args = to_json(&Value::List(inv.args.clone()));
            c.lock().unwrap().push((name.clone(), args.clone()));
            let weak = weak.clone();
            async move {
                let result = match name.as_str() {
                    "get_status" => serde_json::json!({"title": "fake node"}),
                    "get_worker" => {
                        let w = args[0].as_str().unwrap_or_default();
                        let t = if w.starts_with("cont") {
                            "container"
                        } else if w.starts_with("guest") {
                            "guest"
                        } else {
                            "router"
                        };
                        serde_json::json!({"id": w, "type": t})
                    }
                    "worker.w01.start_profiler" => {
                        serde_json::json!({"id": "prof123", "status": "running"})
                    }
                    "shutdown" => {
                        // Like a node that exits right away.
                        if let Some(s) = weak.upgrade() {
                            tokio::spawn(async move {
                                let _ = s.leave("wamp.close.normal").await;
                            });
                        }
                        serde_json::json!({"restart": false})
                    }
                    "get_workers" => serde_json::json!(["w01", "w02"]),
                    "worker.w02.get_profiles" => {
                        serde_json::json!([["p_local", "finished", "2026-01-01T00:00:00Z"]])
                    }
                    "worker.w01.fail" => {
                        return Err(router_core::client::CallError::with_message(
                            "crossbar.error.no_such_object",
                            "nope",
                        ));
                    }
                    _ => serde_json::json!({"proc": name, "args": args}),
                };
                Ok(Payload::args(vec![Value::from(result)]))
            }
        },
    )
    .await
    .expect("register node API");
    calls
}

struct World {
    _dir: tempfile::TempDir,
    cbdir: std::path::PathBuf,
    cdc: Arc<cdc::Cdc>,
    anon: Session,
}

const ALICE: u8 = 1;
const BOB: u8 = 2;
const CAROL: u8 = 3;
const NODE1: u8 = 10;
const NODE2: u8 = 20;

/// alice owns mrealm1 (node1 paired, bob a guest); carol owns mrealm2 (node2 paired).
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().to_path_buf();
    let cdc = start_cdc(&cbdir).await;
    let anon = anonymous(&cdc).await;
    for (name, k) in [("alice", ALICE), ("bob", BOB), ("carol", CAROL)] {
        let out = request_and_verify(
            &cbdir,
            &anon,
            &anon,
            "cdc.manage.create_user@1",
            serde_json::json!([name, format!("{name}@example.com"), pubkey(&key(k))]),
        )
        .await;
        assert_eq!(to_json(&out)["user_name"], name);
    }
    for (owner, realm, node, node_key, member) in [
        (ALICE, "mrealm1", "node1", NODE1, Some(BOB)),
        (CAROL, "mrealm2", "node2", NODE2, None),
    ] {
        let s = cryptosign(&cdc, &key(owner), Some("com.crossbario.cdc"), None)
            .await
            .unwrap();
        assert_eq!(s.details().authrole, "user");
        request_and_verify(
            &cbdir,
            &s,
            &anon,
            "cdc.manage.create_realm@1",
            serde_json::json!([realm, pubkey(&key(owner))]),
        )
        .await;
        request_and_verify(
            &cbdir,
            &s,
            &anon,
            "cdc.manage.register_node@1",
            serde_json::json!([realm, pubkey(&key(node_key)), node, {"tier": "edge"}]),
        )
        .await;
        if let Some(m) = member {
            request_and_verify(
                &cbdir,
                &s,
                &anon,
                "cdc.manage.register_user@1",
                serde_json::json!([realm, pubkey(&key(m)), "guest", null]),
            )
            .await;
        }
    }
    World {
        _dir: dir,
        cbdir,
        cdc,
        anon,
    }
}

#[tokio::test]
async fn nodes_join_their_realm_and_are_driven_through_the_remote_api() {
    let w = world().await;
    let alice = cryptosign(&w.cdc, &key(ALICE), Some("mrealm1"), None)
        .await
        .unwrap();
    assert_eq!(alice.details().authrole, "owner");
    assert_eq!(alice.details().authid, "alice");

    let (_sub, mut status_events) = alice
        .subscribe_stream(
            "cdc.remote.on_node_status@1",
            SubscribeOptions::default(),
            16,
        )
        .await
        .unwrap();
    let (_sub2, mut worker_events) = alice
        .subscribe_stream(
            "cdc.remote.on_worker_status@1",
            SubscribeOptions::default(),
            16,
        )
        .await
        .unwrap();

    assert_eq!(
        to_json(
            &call(&alice, "cdc.remote.list_nodes@1", serde_json::json!([]))
                .await
                .unwrap()
        ),
        serde_json::json!(["node1"])
    );
    assert_eq!(
        to_json(
            &call(
                &alice,
                "cdc.remote.list_nodes@1",
                serde_json::json!(["online"])
            )
            .await
            .unwrap()
        ),
        serde_json::json!([])
    );
    let e = call(
        &alice,
        "cdc.remote.list_workers@1",
        serde_json::json!(["node1"]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.node_offline", "{e}");

    // The node connects the way nodes connect to Crossbar.io's master: realm null, role node.
    let node = cryptosign(&w.cdc, &key(NODE1), None, Some("node"))
        .await
        .unwrap();
    assert_eq!(node.details().realm, "mrealm1");
    assert_eq!(node.details().authid, "node1");
    assert_eq!(
        node.details().authextra.get("tier"),
        Some(&Value::from("edge"))
    );
    let calls = fake_node(&node, "node1").await;

    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), status_events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        to_json(&Value::List(ev.args)),
        serde_json::json!(["node1", "offline", "online"])
    );
    assert_eq!(
        to_json(
            &call(&alice, "cdc.remote.list_nodes@1", serde_json::json!([]))
                .await
                .unwrap()
        ),
        serde_json::json!(["node1"])
    );
    let q = to_json(
        &call(
            &alice,
            "cdc.remote.query_node@1",
            serde_json::json!(["node1"]),
        )
        .await
        .unwrap(),
    );
    assert_eq!(q["status"], "online");
    assert_eq!(q["pubkey"], pubkey(&key(NODE1)));

    // The node's mrealm status procedure, as nodes call it after joining.
    let st = to_json(
        &call(
            &node,
            "crossbarfabriccenter.mrealm.get_status",
            serde_json::json!([]),
        )
        .await
        .unwrap(),
    );
    assert_eq!(st["realm"], "mrealm1");
    assert_eq!(st["type"], "management");

    // Forwards, with the seed's argument order turned into the node's.
    call(
        &alice,
        "cdc.remote.start_worker@1",
        serde_json::json!(["node1", "w01", {"type": "router", "options": {"title": "r"}}]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.start_worker@1",
        serde_json::json!(["node1", "guest1", {"type": "guest", "executable": "/bin/true"}]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.start_realm@1",
        serde_json::json!(["node1", "w01", "realm1", {"name": "realm1"}]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.stop_role@1",
        serde_json::json!(["node1", "w01", "realm1", "anonymous"]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.stop_role@1",
        serde_json::json!(["node1", "w01", "realm1", "anonymous", "grant001"]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.start_web_resource@1",
        serde_json::json!(["node1", "w01", "web001", "info", {"type": "nodeinfo"}]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.start_component@1",
        serde_json::json!(["node1", "cont1", "c001", {"type": "class"}]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.list_components@1",
        serde_json::json!(["node1", "w01"]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.query_worker_log@1",
        serde_json::json!(["node1", "w01"]),
    )
    .await
    .unwrap();
    call(
        &alice,
        "cdc.remote.set_limit@1",
        serde_json::json!(["node1", "w01", "nice", null]),
    )
    .await
    .unwrap();
    let pid = call(
        &alice,
        "cdc.remote.start_profile@1",
        serde_json::json!(["node1", "w01"]),
    )
    .await
    .unwrap();
    assert_eq!(pid, Value::from("prof123"));
    call(
        &alice,
        "cdc.remote.query_profile@1",
        serde_json::json!(["prof123"]),
    )
    .await
    .unwrap();
    let topic = call(
        &alice,
        "cdc.remote.map_worker_log_topic@1",
        serde_json::json!(["node1", "w01"]),
    )
    .await
    .unwrap();
    assert_eq!(topic, Value::from("cdc.remote.worker_log.node1.w01"));
    let e = call(
        &alice,
        "cdc.remote.start_component@1",
        serde_json::json!(["node1", "guest1", "comp1", {}]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.invalid_argument", "{e}");
    let e = call(
        &alice,
        "cdc.remote.start_worker@1",
        serde_json::json!(["node1", "w02", {"options": {}}]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.invalid_argument", "{e}");
    let e = call(
        &alice,
        "cdc.remote.query_worker@1",
        serde_json::json!(["nodex", "w01"]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.no_such_node", "{e}");
    let e = call(
        &alice,
        "cdc.remote.query_profile@1",
        serde_json::json!(["nope"]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.no_such_profile", "{e}");
    // A profile started on the node itself is found by asking the workers.
    let p = call(
        &alice,
        "cdc.remote.query_profile@1",
        serde_json::json!(["p_local"]),
    );
    let p = to_json(&p.await.unwrap());
    assert_eq!(p["proc"], "worker.w02.get_profile", "{p}");
    let e = call(
        &alice,
        "cdc.remote.list_realms@1",
        serde_json::json!(["node1", "BAD ID"]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.invalid_argument", "{e}");

    let got: Vec<(String, serde_json::Value)> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| {
            n != "get_status"
                && n != "get_workers"
                && !n.ends_with(".get_profiles")
                && n != "worker.w02.get_profile"
        })
        .cloned()
        .collect();
    let expect = [
        (
            "start_worker",
            serde_json::json!(["w01", "router", {"title": "r"}]),
        ),
        (
            "start_worker",
            serde_json::json!(["guest1", "guest", {"type": "guest", "executable": "/bin/true"}]),
        ),
        (
            "worker.w01.start_router_realm",
            serde_json::json!(["realm1", {"name": "realm1"}]),
        ),
        (
            "worker.w01.stop_router_realm_role",
            serde_json::json!(["realm1", "anonymous"]),
        ),
        (
            "worker.w01.stop_router_realm_role_grant",
            serde_json::json!(["realm1", "anonymous", "grant001"]),
        ),
        (
            "worker.w01.start_web_transport_service",
            serde_json::json!(["web001", "info", {"type": "nodeinfo"}]),
        ),
        ("get_worker", serde_json::json!(["cont1"])),
        (
            "worker.cont1.start_component",
            serde_json::json!(["c001", {"type": "class"}]),
        ),
        ("get_worker", serde_json::json!(["w01"])),
        ("worker.w01.get_router_components", serde_json::json!([])),
        ("get_worker_log", serde_json::json!(["w01", 50])),
        ("worker.w01.set_limit", serde_json::json!(["nice", null])),
        (
            "worker.w01.start_profiler",
            serde_json::json!(["vmprof", 10, true]),
        ),
        ("worker.w01.get_profile", serde_json::json!(["prof123"])),
        ("get_worker", serde_json::json!(["guest1"])),
    ];
    for (i, (name, args)) in expect.iter().enumerate() {
        assert_eq!(
            got.get(i).map(|(n, a)| (n.as_str(), a)),
            Some((*name, args)),
            "call {i}: {got:#?}"
        );
    }

    // Node errors pass through unchanged.
    let e = alice
        .call(
            "cdc.remote.query_worker@1",
            list(serde_json::json!(["node1", "w01"])),
            Dict::new(),
            Default::default(),
        )
        .await;
    assert!(e.is_ok());

    // Node events become the seed's events.
    node.publish(
        "crossbarfabriccenter.node.node1.on_worker_status",
        list(serde_json::json!(["w01", "starting", "started"])),
        Dict::new(),
        Default::default(),
    )
    .await
    .unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), worker_events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        to_json(&Value::List(ev.args)),
        serde_json::json!(["node1", "w01", "starting", "started"])
    );

    // Worker logs on the mapped topic, only that worker's.
    let (_s, mut logs) = alice
        .subscribe_stream(
            "cdc.remote.worker_log.node1.w01",
            SubscribeOptions::default(),
            16,
        )
        .await
        .unwrap();
    for w in ["w02", "w01"] {
        node.publish(
            &format!("crossbarfabriccenter.node.node1.worker.{w}.on_log"),
            list(serde_json::json!([{"text": format!("hello from {w}")}])),
            Dict::new(),
            Default::default(),
        )
        .await
        .unwrap();
    }
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), logs.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        to_json(&Value::List(ev.args)),
        serde_json::json!([{"text": "hello from w01"}])
    );

    // The node may not publish or register under another node's prefix.
    let e = node
        .publish(
            "crossbarfabriccenter.node.node2.on_worker_status",
            list(serde_json::json!(["w", "a", "b"])),
            Dict::new(),
            router_core::client::PublishOptions::acknowledged(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not_authorized"), "{e}");

    // Changes are audited.
    let log = w.cdc.registry.audit_log(100).unwrap();
    assert!(
        log.iter()
            .any(|e| e.what == "cdc.remote.start_worker@1" && e.who == "alice" && e.result == "ok")
    );
    assert!(log.iter().any(|e| e.what == "cdc.manage.verify@1"));
    assert!(!log.iter().any(|e| e.what == "cdc.remote.list_nodes@1"));

    // stop_node: the node goes away, and offline is announced.
    call(
        &alice,
        "cdc.remote.stop_node@1",
        serde_json::json!(["node1"]),
    )
    .await
    .unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), status_events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        to_json(&Value::List(ev.args)),
        serde_json::json!(["node1", "online", "offline"])
    );
    drop(w.anon);
}

#[tokio::test]
async fn roles_and_realms_keep_users_apart() {
    let w = world().await;
    let node1 = cryptosign(&w.cdc, &key(NODE1), None, Some("node"))
        .await
        .unwrap();
    fake_node(&node1, "node1").await;

    // bob is a guest on mrealm1: reads, but cannot start workers.
    let bob = cryptosign(&w.cdc, &key(BOB), Some("mrealm1"), None)
        .await
        .unwrap();
    assert_eq!(bob.details().authrole, "guest");
    call(&bob, "cdc.remote.list_nodes@1", serde_json::json!([]))
        .await
        .unwrap();
    call(
        &bob,
        "cdc.remote.list_workers@1",
        serde_json::json!(["node1"]),
    )
    .await
    .unwrap();
    let e = call(
        &bob,
        "cdc.remote.start_worker@1",
        serde_json::json!(["node1", "w01", {"type": "router"}]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "wamp.error.not_authorized", "{e}");
    assert!(e.to_string().contains("cdc.remote.start_worker@1"), "{e}");
    // bob is not the owner: he cannot pair nodes.
    let bob_global = cryptosign(&w.cdc, &key(BOB), Some("com.crossbario.cdc"), None)
        .await
        .unwrap();
    let e = call(
        &bob_global,
        "cdc.manage.register_node@1",
        serde_json::json!(["mrealm1", pubkey(&key(99)), "node9", null]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.not_authorized", "{e}");
    // ...nor create a realm for alice's key.
    let e = call(
        &bob_global,
        "cdc.manage.create_realm@1",
        serde_json::json!(["bobrealm", pubkey(&key(ALICE))]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.not_authorized", "{e}");

    // carol (mrealm2) sees only her own nodes and cannot join mrealm1.
    let carol = cryptosign(&w.cdc, &key(CAROL), Some("mrealm2"), None)
        .await
        .unwrap();
    assert_eq!(
        to_json(
            &call(&carol, "cdc.remote.list_nodes@1", serde_json::json!([]))
                .await
                .unwrap()
        ),
        serde_json::json!(["node2"])
    );
    let e = call(
        &carol,
        "cdc.remote.list_workers@1",
        serde_json::json!(["node1"]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.no_such_node", "{e}");
    let e = cryptosign(&w.cdc, &key(CAROL), Some("mrealm1"), None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("not registered on management realm"),
        "{e}"
    );
    // A node key cannot join another realm either.
    let e = cryptosign(&w.cdc, &key(NODE2), Some("mrealm1"), Some("node"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("paired with management realm \"mrealm2\""),
        "{e}"
    );

    // Anonymous sessions may only create users and verify.
    let e = call(
        &w.anon,
        "cdc.manage.create_realm@1",
        serde_json::json!(["x1x", pubkey(&key(ALICE))]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "wamp.error.not_authorized", "{e}");
    let e = router_core::client::Session::join_local(
        &w.cdc.router,
        w.cdc
            .connection(router_core::auth::TransportInfo::default()),
        router_core::client::JoinOptions::realm("mrealm1"),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("anonymous access"), "{e}");
}

#[tokio::test]
async fn an_unpaired_node_is_refused_with_the_reason_nodes_expect() {
    let w = world().await;
    let e = cryptosign(&w.cdc, &key(77), None, Some("node"))
        .await
        .unwrap_err();
    match e {
        router_core::client::ClientError::Aborted { reason, message } => {
            assert_eq!(reason, "fabric.auth-failed.node-unpaired");
            assert!(message.contains(&pubkey(&key(77))), "{message}");
            assert!(message.contains("cdc.manage.register_node@1"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A wrong signature for a paired key is refused too.
    let cred_key = key(NODE1);
    let opts = router_core::client::JoinOptions {
        realm: None,
        authrole: Some("node".into()),
        authmethods: vec!["cryptosign".into()],
        authextra: router_core::dict! {"pubkey" => pubkey(&cred_key)},
        ..Default::default()
    }
    .on_challenge(|_, _| Ok("00".repeat(96)));
    let e = Session::join_local(&w.cdc.router, w.cdc.connection(Default::default()), opts)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not_authorized"), "{e}");
}

#[tokio::test]
async fn pins_are_single_use_and_wrong_pins_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let cdc = start_cdc(dir.path()).await;
    let anon = anonymous(&cdc).await;
    let vid = call(
        &anon,
        "cdc.manage.create_user@1",
        serde_json::json!(["dave", "dave@example.com", pubkey(&key(4))]),
    )
    .await
    .unwrap();
    let vid = vid.as_str().unwrap().to_owned();
    let pin = pin_for(dir.path(), &vid);
    for i in 0..5 {
        let e = call(
            &anon,
            "cdc.manage.verify@1",
            serde_json::json!([vid, format!("WRONG{i}")]),
        )
        .await
        .unwrap_err();
        assert_eq!(e.error, "cdc.error.verification_failed", "{e}");
    }
    let e = call(&anon, "cdc.manage.verify@1", serde_json::json!([vid, pin]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "cdc.error.too_many_tries", "{e}");

    let vid = call(
        &anon,
        "cdc.manage.create_user@1",
        serde_json::json!(["dave", "dave@example.com", pubkey(&key(4))]),
    )
    .await
    .unwrap();
    let vid = vid.as_str().unwrap().to_owned();
    let pin = pin_for(dir.path(), &vid);
    call(&anon, "cdc.manage.verify@1", serde_json::json!([vid, pin]))
        .await
        .unwrap();
    let e = call(&anon, "cdc.manage.verify@1", serde_json::json!([vid, pin]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "cdc.error.verification_failed", "{e}");
    assert!(e.to_string().contains("already used"), "{e}");

    // Bad arguments are cdc.error.invalid_argument with a readable message.
    for args in [
        serde_json::json!(["x", "dave@example.com", pubkey(&key(5))]),
        serde_json::json!(["eve", "not-an-address", pubkey(&key(5))]),
        serde_json::json!(["eve", "eve@example.com", "abcd"]),
        serde_json::json!(["eve"]),
        serde_json::json!([1, 2, 3]),
    ] {
        let e = call(&anon, "cdc.manage.create_user@1", args.clone())
            .await
            .unwrap_err();
        assert_eq!(e.error, "cdc.error.invalid_argument", "{args}: {e}");
        assert!(e.message().is_some_and(|m| !m.is_empty()));
    }
    let e = call(
        &anon,
        "cdc.manage.create_user@1",
        serde_json::json!(["dave", "dave@example.com", pubkey(&key(6))]),
    )
    .await
    .unwrap();
    assert!(
        e.as_str().is_some(),
        "a second key for dave (same e-mail) is a new request"
    );
    let e = call(
        &anon,
        "cdc.manage.create_user@1",
        serde_json::json!(["dave", "other@example.com", pubkey(&key(7))]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error, "cdc.error.already_exists", "{e}");
    cdc.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_users_realms_and_nodes() {
    let w = world().await;
    let cbdir = w.cbdir.clone();
    w.cdc.stop().await;
    let cdc = start_cdc(&cbdir).await;
    let alice = cryptosign(&cdc, &key(ALICE), Some("mrealm1"), None)
        .await
        .unwrap();
    assert_eq!(
        to_json(
            &call(&alice, "cdc.remote.list_nodes@1", serde_json::json!([]))
                .await
                .unwrap()
        ),
        serde_json::json!(["node1"])
    );
    let node = cryptosign(&cdc, &key(NODE1), None, Some("node"))
        .await
        .unwrap();
    assert_eq!(node.details().authid, "node1");
    let bob = cryptosign(&cdc, &key(BOB), Some("mrealm1"), None)
        .await
        .unwrap();
    assert_eq!(bob.details().authrole, "guest");
    let state = cdc.realm_state("mrealm1").await.unwrap();
    eventually("node1 online", || state.tracker.is_online("node1")).await;
    cdc.stop().await;
}

#[tokio::test]
async fn heartbeats_are_recorded_and_silent_nodes_go_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cdc::CdcConfig::new(dir.path());
    config.nodes.status_poll_secs = 1;
    config.nodes.heartbeat_timeout_secs = 2;
    let cdc = cdc::Cdc::start(config, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let anon = anonymous(&cdc).await;
    request_and_verify(
        dir.path(),
        &anon,
        &anon,
        "cdc.manage.create_user@1",
        serde_json::json!(["alice", "a@example.com", pubkey(&key(ALICE))]),
    )
    .await;
    let s = cryptosign(&cdc, &key(ALICE), None, None).await.unwrap();
    assert_eq!(
        s.details().realm,
        "com.crossbario.cdc",
        "a user without a realm lands on the global realm"
    );
    request_and_verify(
        dir.path(),
        &s,
        &anon,
        "cdc.manage.create_realm@1",
        serde_json::json!(["mrealm1", pubkey(&key(ALICE))]),
    )
    .await;
    request_and_verify(
        dir.path(),
        &s,
        &anon,
        "cdc.manage.register_node@1",
        serde_json::json!(["mrealm1", pubkey(&key(NODE1)), "node1", null]),
    )
    .await;

    let alice = cryptosign(&cdc, &key(ALICE), Some("mrealm1"), None)
        .await
        .unwrap();
    let (_sub, mut status) = alice
        .subscribe_stream(
            "cdc.remote.on_node_status@1",
            SubscribeOptions::default(),
            16,
        )
        .await
        .unwrap();
    // A node that joins (HELLO naming its realm works too) but never answers get_status.
    let node = cryptosign(&cdc, &key(NODE1), Some("mrealm1"), Some("node"))
        .await
        .unwrap();
    node.publish(
        "crossbarfabriccenter.node.on_heartbeat",
        list(serde_json::json!(["node1", {"timestamp": 1, "seq": 1, "state": 1, "pubkey": pubkey(&key(NODE1))}])),
        Dict::new(),
        router_core::client::PublishOptions::acknowledged(),
    )
    .await
    .unwrap();
    let state = cdc.realm_state("mrealm1").await.unwrap();
    eventually("the heartbeat", || {
        state
            .tracker
            .info("node1")
            .is_some_and(|i| i.heartbeat.is_some())
    })
    .await;
    let q = to_json(
        &call(
            &alice,
            "cdc.remote.query_node@1",
            serde_json::json!(["node1"]),
        )
        .await
        .unwrap(),
    );
    assert_eq!(q["heartbeat"]["seq"], 1);
    assert!(q["last_heartbeat"].is_string(), "{q}");

    let online = tokio::time::timeout(std::time::Duration::from_secs(5), status.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(online.args[2], Value::from("online"));
    let offline = tokio::time::timeout(std::time::Duration::from_secs(10), status.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        to_json(&Value::List(offline.args)),
        serde_json::json!(["node1", "online", "offline"])
    );
    let reason = tokio::time::timeout(std::time::Duration::from_secs(5), node.closed())
        .await
        .unwrap();
    assert_eq!(reason.reason, "wamp.close.killed", "{reason}");
    cdc.stop().await;
}
