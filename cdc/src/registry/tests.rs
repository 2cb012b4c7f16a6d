use super::*;
use crate::testutil::pubkey;

fn with_realm() -> Registry {
    let reg = Registry::open_in_memory().unwrap();
    reg.transaction(|tx| {
        users::create_or_add_key(tx, "alice", "alice@example.com", &pubkey(1))?;
        users::create_or_add_key(tx, "bob", "bob@example.com", &pubkey(2))?;
        realms::create(tx, "mrealm1", &pubkey(1))?;
        realms::create(tx, "mrealm2", &pubkey(2))?;
        nodes::register(
            tx,
            "mrealm1",
            &pubkey(10),
            "node1",
            Some(&serde_json::json!({"a": 1})),
        )?;
        nodes::register(tx, "mrealm2", &pubkey(20), "node1", None)?;
        Ok(())
    })
    .unwrap();
    reg
}

#[test]
fn schema_is_current() {
    let reg = Registry::open_in_memory().unwrap();
    assert_eq!(reg.schema_version().unwrap(), schema::VERSION);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdc.sqlite");
    drop(Registry::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let e = Registry::open(&path).err().unwrap();
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn keys_identify_one_principal() {
    let reg = with_realm();
    assert_eq!(
        reg.key_owner(&pubkey(1)).unwrap(),
        Some(KeyOwner::User("alice".into()))
    );
    assert_eq!(
        reg.key_owner(&pubkey(10)).unwrap(),
        Some(KeyOwner::Node {
            realm: "mrealm1".into(),
            node_id: "node1".into()
        })
    );
    assert_eq!(reg.key_owner(&pubkey(99)).unwrap(), None);
    let e = reg
        .transaction(|tx| nodes::register(tx, "mrealm1", &pubkey(2), "node9", None))
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::ALREADY_EXISTS);
}

#[test]
fn realms_are_separate() {
    let reg = with_realm();
    let n1: Vec<String> = reg
        .nodes("mrealm1")
        .unwrap()
        .into_iter()
        .map(|n| n.pubkey)
        .collect();
    assert_eq!(n1, vec![pubkey(10)]);
    let n2: Vec<String> = reg
        .nodes("mrealm2")
        .unwrap()
        .into_iter()
        .map(|n| n.pubkey)
        .collect();
    assert_eq!(n2, vec![pubkey(20)]);
    assert_eq!(reg.realm("mrealm1").unwrap().unwrap().owner, "alice");
    assert_eq!(
        reg.realms()
            .unwrap()
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["mrealm1", "mrealm2"]
    );
    assert_eq!(
        reg.node("mrealm1", "node1").unwrap().unwrap().extra,
        Some(serde_json::json!({"a": 1}))
    );
}

#[test]
fn the_owner_cannot_be_a_member_and_roles_are_checked() {
    let reg = with_realm();
    let e = reg
        .transaction(|tx| realms::add_member(tx, "mrealm1", &pubkey(1), UserRole::Admin, None))
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::ALREADY_EXISTS);
    let e = reg
        .transaction(|tx| realms::add_member(tx, "mrealm1", &pubkey(77), UserRole::Admin, None))
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::NO_SUCH_USER);
    assert!(UserRole::parse("owner").is_err());
    assert_eq!(UserRole::parse("guest").unwrap(), UserRole::Guest);
}

#[test]
fn node_status_profiles_and_audit() {
    let reg = with_realm();
    reg.set_node_status(
        "mrealm1",
        "node1",
        NodeStatus::Online,
        Some("2026-01-01T00:00:00.000Z"),
    )
    .unwrap();
    let n = reg.node("mrealm1", "node1").unwrap().unwrap();
    assert_eq!(n.status, NodeStatus::Online);
    assert_eq!(
        n.last_heartbeat.as_deref(),
        Some("2026-01-01T00:00:00.000Z")
    );
    // The same node ID on the other realm is untouched.
    assert_eq!(
        reg.node("mrealm2", "node1").unwrap().unwrap().status,
        NodeStatus::Offline
    );
    reg.reset_node_statuses().unwrap();
    assert_eq!(
        reg.node("mrealm1", "node1").unwrap().unwrap().status,
        NodeStatus::Offline
    );

    reg.remember_profile("mrealm1", "p1", "node1", "worker1")
        .unwrap();
    assert_eq!(
        reg.profile_location("mrealm1", "p1").unwrap(),
        Some(("node1".into(), "worker1".into()))
    );
    assert_eq!(reg.profile_location("mrealm2", "p1").unwrap(), None);

    let big = serde_json::json!({"config": "x".repeat(5000)});
    reg.audit(&AuditEntry::new(
        "mrealm1",
        "alice",
        "owner",
        "cdc.remote.start_worker@1",
        &big,
        "ok".into(),
    ))
    .unwrap();
    let log = reg.audit_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].who, "alice");
    assert!(log[0].args.len() <= audit::ARGS_SUMMARY_MAX + '…'.len_utf8());
}

#[test]
fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdc.sqlite");
    {
        let reg = Registry::open(&path).unwrap();
        reg.transaction(|tx| {
            users::create_or_add_key(tx, "alice", "alice@example.com", &pubkey(1))?;
            realms::create(tx, "mrealm1", &pubkey(1))?;
            nodes::register(tx, "mrealm1", &pubkey(10), "node1", None)?;
            Ok(())
        })
        .unwrap();
    }
    let reg = Registry::open(&path).unwrap();
    assert!(reg.user_by_pubkey(&pubkey(1)).unwrap().is_some());
    assert!(reg.realm("mrealm1").unwrap().is_some());
    assert!(reg.node_by_pubkey(&pubkey(10)).unwrap().is_some());
}
