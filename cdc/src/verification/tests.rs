use super::*;
use crate::testutil::pubkey;

fn setup() -> (Registry, Verifier) {
    (
        Registry::open_in_memory().unwrap(),
        Verifier::new(VerificationConfig::default()),
    )
}

fn create_user(name: &str, key: u8) -> Action {
    Action::CreateUser {
        user_name: name.into(),
        user_email: format!("{name}@example.com"),
        user_pubkey: pubkey(key),
    }
}

/// A PIN that is certainly not `token`.
fn wrong(token: &str) -> String {
    let first = if token.starts_with('A') { "C" } else { "A" };
    format!("{first}{}", &token[1..])
}

const T0: i64 = 1_700_000_000;

#[test]
fn success_consumes_the_verification_and_the_pin() {
    let (reg, v) = setup();
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    assert_eq!(p.expires, T0 + 900);
    assert_eq!(p.token.len(), 14, "{}", p.token);
    let (action, outcome) = v
        .verify(&reg, &p.verification_id, &p.token, T0 + 1)
        .unwrap();
    assert_eq!(action.kind(), "create_user");
    assert_eq!(
        outcome,
        Outcome::UserCreated {
            user: "alice".into(),
            pubkey: pubkey(1)
        }
    );
    assert_eq!(
        reg.user_by_name("alice").unwrap().unwrap().pubkeys,
        vec![pubkey(1)]
    );
    // Reuse is refused, with the same or any other verification ID.
    let e = v
        .verify(&reg, &p.verification_id, &p.token, T0 + 2)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::VERIFICATION_FAILED);
    assert!(e.to_string().contains("already used"), "{e}");
    let q = v.create(&reg, &create_user("bob", 2), "anon", T0).unwrap();
    let e = v
        .verify(&reg, &q.verification_id, &p.token, T0 + 2)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::VERIFICATION_FAILED);
}

#[test]
fn pins_are_accepted_in_any_case_and_without_dashes() {
    let (reg, v) = setup();
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    let typed = p.token.replace('-', " ").to_lowercase();
    v.verify(&reg, &p.verification_id, &typed, T0).unwrap();
}

#[test]
fn wrong_tries_are_limited_per_verification() {
    let (reg, v) = setup();
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    // Five different wrong PINs (so the per-PIN limit is not what stops us).
    for i in 0..5u8 {
        let guess = format!("AAAA-AAAA-AAA{}", PIN_ALPHABET[i as usize] as char);
        let e = v.verify(&reg, &p.verification_id, &guess, T0).unwrap_err();
        assert_eq!(e.uri(), crate::error::uri::VERIFICATION_FAILED, "{e}");
        assert!(
            e.to_string().contains(&format!("{} tries left", 4 - i)),
            "{e}"
        );
    }
    // Locked: even the right PIN is refused now.
    let e = v
        .verify(&reg, &p.verification_id, &p.token, T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::TOO_MANY_TRIES, "{e}");
    assert!(reg.user_by_name("alice").unwrap().is_none());
}

#[test]
fn wrong_tries_are_limited_per_pin_value() {
    let (reg, v) = setup();
    let guess = "AAAA-AAAA-AAAA";
    let mut ids = Vec::new();
    for i in 0..6u8 {
        let p = v
            .create(&reg, &create_user(&format!("user{i}"), i + 1), "anon", T0)
            .unwrap();
        ids.push(p);
    }
    for p in &ids[..5] {
        let e = v.verify(&reg, &p.verification_id, guess, T0).unwrap_err();
        assert_eq!(e.uri(), crate::error::uri::VERIFICATION_FAILED);
    }
    // The sixth verification has had no wrong try, but this PIN value is spent.
    let e = v
        .verify(&reg, &ids[5].verification_id, guess, T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::TOO_MANY_TRIES, "{e}");
    // The right PIN of that verification still works.
    v.verify(&reg, &ids[5].verification_id, &ids[5].token, T0)
        .unwrap();
}

#[test]
fn limits_come_from_the_configuration() {
    let reg = Registry::open_in_memory().unwrap();
    let v = Verifier::new(VerificationConfig {
        max_tries_per_id: 1,
        max_tries_per_token: 5,
        expiry_secs: 10,
        pin_length: 8,
    });
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    assert_eq!(normalize_token(&p.token).len(), 8);
    assert_eq!(p.expires, T0 + 10);
    v.verify(&reg, &p.verification_id, &wrong(&p.token), T0)
        .unwrap_err();
    let e = v
        .verify(&reg, &p.verification_id, &p.token, T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::TOO_MANY_TRIES);
}

#[test]
fn verifications_expire() {
    let (reg, v) = setup();
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    let e = v
        .verify(&reg, &p.verification_id, &p.token, T0 + 900)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::EXPIRED, "{e}");
    let q = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    v.verify(&reg, &q.verification_id, &q.token, T0 + 899)
        .unwrap();
}

#[test]
fn unknown_ids_and_empty_tokens() {
    let (reg, v) = setup();
    let e = v.verify(&reg, "nope", "ABCD", T0).unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::NO_SUCH_VERIFICATION);
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    let e = v.verify(&reg, &p.verification_id, " - ", T0).unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::INVALID_ARGUMENT);
    let e = v
        .verify(&reg, &p.verification_id, &"A".repeat(100), T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::INVALID_ARGUMENT);
    // Neither counted as a try.
    v.verify(&reg, &p.verification_id, &p.token, T0).unwrap();
}

#[test]
fn duplicates_are_refused_at_request_and_at_verification() {
    let (reg, v) = setup();
    let a = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    // A second pending registration of the same name (another key, another mail) is allowed
    // to wait; whichever is verified first wins.
    let b = v
        .create(
            &reg,
            &Action::CreateUser {
                user_name: "alice".into(),
                user_email: "mallory@example.com".into(),
                user_pubkey: pubkey(9),
            },
            "anon",
            T0,
        )
        .unwrap();
    v.verify(&reg, &a.verification_id, &a.token, T0).unwrap();
    let e = v
        .verify(&reg, &b.verification_id, &b.token, T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::ALREADY_EXISTS, "{e}");
    // ...and that verification is consumed.
    let e = v
        .verify(&reg, &b.verification_id, &b.token, T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::VERIFICATION_FAILED);
    // Requests that cannot succeed are refused at once.
    let e = v
        .create(
            &reg,
            &Action::CreateUser {
                user_name: "alice".into(),
                user_email: "other@example.com".into(),
                user_pubkey: pubkey(3),
            },
            "anon",
            T0,
        )
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::ALREADY_EXISTS);
    let e = v
        .create(&reg, &create_user("bob", 1), "anon", T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::ALREADY_EXISTS, "key in use");
}

#[test]
fn a_user_adds_keys_with_the_same_email() {
    let (reg, v) = setup();
    let a = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    v.verify(&reg, &a.verification_id, &a.token, T0).unwrap();
    let b = v
        .create(&reg, &create_user("alice", 2), "anon", T0)
        .unwrap();
    v.verify(&reg, &b.verification_id, &b.token, T0).unwrap();
    assert_eq!(
        reg.user_by_name("alice").unwrap().unwrap().pubkeys,
        vec![pubkey(1), pubkey(2)]
    );
}

#[test]
fn realm_user_and_node_registration() {
    let (reg, v) = setup();
    for (name, k) in [("alice", 1), ("bob", 2)] {
        let p = v.create(&reg, &create_user(name, k), "anon", T0).unwrap();
        v.verify(&reg, &p.verification_id, &p.token, T0).unwrap();
    }
    let realm = Action::CreateRealm {
        realm: "mrealm1".into(),
        owner_pubkey: pubkey(1),
    };
    let p = v.create(&reg, &realm, "alice", T0).unwrap();
    let (_, o) = v.verify(&reg, &p.verification_id, &p.token, T0).unwrap();
    assert_eq!(
        o,
        Outcome::RealmCreated {
            realm: "mrealm1".into(),
            owner: "alice".into()
        }
    );
    assert_eq!(
        v.create(&reg, &realm, "alice", T0).unwrap_err().uri(),
        crate::error::uri::ALREADY_EXISTS
    );
    let global = Action::CreateRealm {
        realm: realms::GLOBAL_REALM.into(),
        owner_pubkey: pubkey(1),
    };
    assert_eq!(
        v.create(&reg, &global, "alice", T0).unwrap_err().uri(),
        crate::error::uri::ALREADY_EXISTS
    );

    let member = Action::RegisterUser {
        realm: "mrealm1".into(),
        user_pubkey: pubkey(2),
        user_role: "devops".into(),
        user_extra: Some(serde_json::json!({"team": "ops"})),
    };
    let p = v.create(&reg, &member, "alice", T0).unwrap();
    v.verify(&reg, &p.verification_id, &p.token, T0).unwrap();
    let m = reg.membership("mrealm1", &pubkey(2)).unwrap().unwrap();
    assert_eq!(m.role, realms::UserRole::Devops);
    assert_eq!(m.user, "bob");
    assert_eq!(m.extra, Some(serde_json::json!({"team": "ops"})));
    assert_eq!(
        v.create(&reg, &member, "alice", T0).unwrap_err().uri(),
        crate::error::uri::ALREADY_EXISTS
    );

    let node = Action::RegisterNode {
        realm: "mrealm1".into(),
        node_pubkey: pubkey(10),
        node_id: "node1".into(),
        node_extra: None,
    };
    let p = v.create(&reg, &node, "alice", T0).unwrap();
    v.verify(&reg, &p.verification_id, &p.token, T0).unwrap();
    let n = reg.node("mrealm1", "node1").unwrap().unwrap();
    assert_eq!(n.pubkey, pubkey(10));
    assert_eq!(n.status, crate::registry::NodeStatus::Offline);
    // The same node ID or key again; a user's key as a node key; an unknown realm.
    for (a, uri) in [
        (
            Action::RegisterNode {
                realm: "mrealm1".into(),
                node_pubkey: pubkey(11),
                node_id: "node1".into(),
                node_extra: None,
            },
            crate::error::uri::ALREADY_EXISTS,
        ),
        (
            Action::RegisterNode {
                realm: "mrealm1".into(),
                node_pubkey: pubkey(10),
                node_id: "node2".into(),
                node_extra: None,
            },
            crate::error::uri::ALREADY_EXISTS,
        ),
        (
            Action::RegisterNode {
                realm: "mrealm1".into(),
                node_pubkey: pubkey(1),
                node_id: "node3".into(),
                node_extra: None,
            },
            crate::error::uri::ALREADY_EXISTS,
        ),
        (
            Action::RegisterNode {
                realm: "nope".into(),
                node_pubkey: pubkey(12),
                node_id: "node4".into(),
                node_extra: None,
            },
            crate::error::uri::NO_SUCH_REALM,
        ),
    ] {
        assert_eq!(
            v.create(&reg, &a, "alice", T0).unwrap_err().uri(),
            uri,
            "{a:?}"
        );
    }
}

#[test]
fn purge_forgets_old_verifications() {
    let (reg, v) = setup();
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    assert_eq!(v.purge(&reg, T0 + 100).unwrap(), 0);
    assert_eq!(v.purge(&reg, T0 + 900 + RETENTION_SECS + 1).unwrap(), 1);
    let e = v
        .verify(&reg, &p.verification_id, &p.token, T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::NO_SUCH_VERIFICATION);
}

#[test]
fn cancel_removes_a_pending_verification() {
    let (reg, v) = setup();
    let p = v
        .create(&reg, &create_user("alice", 1), "anon", T0)
        .unwrap();
    v.cancel(&reg, &p.verification_id).unwrap();
    let e = v
        .verify(&reg, &p.verification_id, &p.token, T0)
        .unwrap_err();
    assert_eq!(e.uri(), crate::error::uri::NO_SUCH_VERIFICATION);
}

#[test]
fn tokens_use_the_alphabet() {
    for len in [8, 12, 13, 32] {
        let t = generate_token(len);
        let n = normalize_token(&t);
        assert_eq!(n.len(), len);
        assert!(n.bytes().all(|b| PIN_ALPHABET.contains(&b)), "{t}");
    }
    assert_ne!(generate_token(12), generate_token(12));
}
