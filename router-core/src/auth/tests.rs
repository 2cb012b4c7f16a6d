//! Round trips through `ConfigAuthenticator` for every method, checked against Crossbar.io's
//! outcomes (reasons and messages) and its method selection order.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use serde_json::json;

use super::client::Credentials;
use super::cryptosign::{self, public_key_hex};
use super::reason;
use super::*;

const SEED1: &str = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
const SEED2: &str = "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd";
const SEED3: &str = "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b";

fn key(seed: &str) -> SigningKey {
    let mut b = [0u8; 32];
    hex::decode_to_slice(seed, &mut b).unwrap();
    SigningKey::from_bytes(&b)
}

fn dict(v: serde_json::Value) -> Dict {
    match crate::value::Value::from(v) {
        crate::value::Value::Dict(d) => d,
        _ => unreachable!("test input is an object"),
    }
}

fn hello(
    realm: Option<&str>,
    methods: &[&str],
    authid: Option<&str>,
    extra: serde_json::Value,
) -> HelloInfo {
    HelloInfo {
        realm: realm.map(str::to_owned),
        authmethods: methods.iter().map(|m| m.to_string()).collect(),
        authid: authid.map(str::to_owned),
        authrole: None,
        authextra: dict(extra),
        session_id: 4711,
        transport: Arc::new(TransportInfo::default()),
    }
}

fn authenticator(config: serde_json::Value) -> ConfigAuthenticator {
    ConfigAuthenticator::new(
        &AuthConfig::from_value(config).unwrap(),
        std::sync::Weak::new(),
    )
    .unwrap()
}

fn full() -> ConfigAuthenticator {
    authenticator(json!({
        "ticket": {"type": "static", "principals": {
            "joe": {"ticket": "secret!!!", "role": "user"},
            "norole": {"ticket": "x"}}},
        "wampcra": {"type": "static", "users": {
            "peter": {"secret": "secret1", "role": "frontend"},
            "salty": {"secret": "L3L1YUE8Txlw", "role": "frontend", "salt": "salt123", "iterations": 100, "keylen": 16},
            "lonesalt": {"secret": "secret2", "role": "frontend", "salt": "salt123"}}},
        "cryptosign": {"type": "static", "principals": {
            "dev1": {"realm": "devices", "role": "device", "authorized_keys": [public_key_hex(&key(SEED1))]},
            "any": {"role": "user", "authorized_keys": [public_key_hex(&key(SEED2)).to_uppercase()]},
            "dup1": {"role": "user", "authorized_keys": [public_key_hex(&key(SEED3))]},
            "dup2": {"role": "user", "authorized_keys": [public_key_hex(&key(SEED3))]}}}
    }))
}

fn welcome(step: AuthStep) -> Identity {
    match step {
        AuthStep::Welcome(id) => id,
        AuthStep::Challenge { method, .. } => panic!("expected WELCOME, got CHALLENGE {method}"),
        AuthStep::Deny(d) => panic!("expected WELCOME, got ABORT {d}"),
    }
}

fn denied(step: AuthStep) -> AuthDenied {
    match step {
        AuthStep::Deny(d) => d,
        AuthStep::Welcome(id) => panic!("expected ABORT, got WELCOME {id:?}"),
        AuthStep::Challenge { method, .. } => panic!("expected ABORT, got CHALLENGE {method}"),
    }
}

fn challenge(step: AuthStep) -> (String, Dict, Box<dyn PendingAuth>) {
    match step {
        AuthStep::Challenge {
            method,
            extra,
            pending,
        } => (method, extra, pending),
        AuthStep::Welcome(id) => panic!("expected CHALLENGE, got WELCOME {id:?}"),
        AuthStep::Deny(d) => panic!("expected CHALLENGE, got ABORT {d}"),
    }
}

fn assert_denied(d: &AuthDenied, reason: &str, message: &str) {
    assert_eq!(d.reason, reason, "{d}");
    assert_eq!(d.message, message, "{d}");
}

/// HELLO → CHALLENGE → AUTHENTICATE with the client's credentials.
async fn round_trip(
    auth: &ConfigAuthenticator,
    h: &HelloInfo,
    creds: &Credentials,
) -> Result<Identity, AuthDenied> {
    match auth.hello(h).await {
        AuthStep::Welcome(id) => Ok(id),
        AuthStep::Deny(d) => Err(d),
        AuthStep::Challenge {
            method,
            extra,
            pending,
        } => {
            let signature = creds.respond(&method, &extra)?;
            pending.authenticate(&signature, &Dict::new()).await
        }
    }
}

fn is_serial(s: &str) -> bool {
    s.len() == 29 && s.split('-').all(|g| g.len() == 4)
}

#[tokio::test]
async fn unconfigured_transport_is_anonymous() {
    for auth in [
        ConfigAuthenticator::unconfigured(),
        authenticator(json!({})),
    ] {
        let h = hello(Some("realm1"), &[], Some("bob"), json!({"x": 1}));
        let id = welcome(auth.hello(&h).await);
        assert_eq!(id.realm, "realm1");
        assert_eq!(id.authrole, "anonymous");
        assert_eq!(id.authmethod, "anonymous");
        assert_eq!(id.authprovider, "static");
        assert!(
            is_serial(&id.authid),
            "the client's authid is ignored: {}",
            id.authid
        );
        assert_eq!(id.authextra, dict(json!({"x": 1})));

        let id = welcome(
            auth.hello(&hello(
                Some("realm1"),
                &["ticket", "anonymous"],
                None,
                json!({}),
            ))
            .await,
        );
        assert_eq!(id.authmethod, "anonymous");

        let d = denied(
            auth.hello(&hello(
                Some("realm1"),
                &["ticket", "wampcra"],
                None,
                json!({}),
            ))
            .await,
        );
        assert_denied(
            &d,
            reason::NO_AUTH_METHOD,
            "cannot authenticate [1] using any of the offered authmethods ['ticket', 'wampcra']",
        );

        let d = denied(
            auth.hello(&hello(None, &["anonymous"], None, json!({})))
                .await,
        );
        assert_denied(&d, reason::NO_SUCH_REALM, "no realm requested");
    }
}

#[tokio::test]
async fn anonymous_configured() {
    let auth = authenticator(json!({"anonymous": {"type": "static", "role": "public"}}));
    let id = welcome(
        auth.hello(&hello(Some("realm1"), &["anonymous"], None, json!({})))
            .await,
    );
    assert_eq!(
        (id.realm.as_str(), id.authrole.as_str()),
        ("realm1", "public")
    );
    assert!(is_serial(&id.authid));

    let d = denied(
        auth.hello(&hello(None, &["anonymous"], None, json!({})))
            .await,
    );
    assert_denied(&d, reason::NO_SUCH_REALM, "no realm assigned");

    let auth = authenticator(
        json!({"anonymous": {"type": "static", "authid": "guest", "realm": "lobby"}}),
    );
    let id = welcome(auth.hello(&hello(None, &[], None, json!({}))).await);
    assert_eq!(
        (id.realm.as_str(), id.authid.as_str(), id.authrole.as_str()),
        ("lobby", "guest", "anonymous")
    );
    // The configured realm is only a default: Crossbar.io does not restrict anonymous sessions.
    let id = welcome(
        auth.hello(&hello(Some("realm1"), &[], None, json!({})))
            .await,
    );
    assert_eq!(id.realm, "realm1");
}

#[tokio::test]
async fn ticket_round_trip() {
    let auth = full();
    let h = hello(Some("realm1"), &["ticket"], Some("joe"), json!({"k": "v"}));
    let (method, extra, _) = challenge(auth.hello(&h).await);
    assert_eq!(method, "ticket");
    assert!(extra.is_empty());

    let id = round_trip(&auth, &h, &Credentials::Ticket("secret!!!".into()))
        .await
        .unwrap();
    assert_eq!(
        id,
        Identity {
            realm: "realm1".into(),
            authid: "joe".into(),
            authrole: "user".into(),
            authmethod: "ticket".into(),
            authprovider: "static".into(),
            authextra: dict(json!({"k": "v"})),
        }
    );

    for wrong in ["secret!!", "secret!!!!", "", "SECRET!!!"] {
        let d = round_trip(&auth, &h, &Credentials::Ticket(wrong.into()))
            .await
            .unwrap_err();
        assert_denied(
            &d,
            reason::NOT_AUTHORIZED,
            "ticket in static WAMP-Ticket authentication is invalid",
        );
    }

    let d = denied(
        auth.hello(&hello(Some("realm1"), &["ticket"], Some("bob"), json!({})))
            .await,
    );
    assert_denied(
        &d,
        reason::NOT_AUTHORIZED,
        "no principal with authid \"bob\" exists",
    );
    let d = denied(
        auth.hello(&hello(Some("realm1"), &["ticket"], None, json!({})))
            .await,
    );
    assert_denied(
        &d,
        reason::NOT_AUTHORIZED,
        "no principal with authid \"None\" exists",
    );
    let d = denied(
        auth.hello(&hello(
            Some("realm1"),
            &["ticket"],
            Some("norole"),
            json!({}),
        ))
        .await,
    );
    assert_denied(&d, reason::NO_SUCH_ROLE, "no authrole assigned");
    let d = denied(
        auth.hello(&hello(None, &["ticket"], Some("joe"), json!({})))
            .await,
    );
    assert_denied(&d, reason::NO_SUCH_REALM, "no realm assigned");

    let auth = authenticator(json!({"ticket": {"type": "static", "default-role": "guest",
        "principals": {"norole": {"ticket": "x"}}}}));
    let id = round_trip(
        &auth,
        &hello(Some("r"), &["ticket"], Some("norole"), json!({})),
        &Credentials::Ticket("x".into()),
    )
    .await
    .unwrap();
    assert_eq!(id.authrole, "guest");
}

#[tokio::test]
async fn wampcra_round_trip() {
    let auth = full();
    let h = hello(Some("realm1"), &["wampcra"], Some("peter"), json!({}));
    let (method, extra, _) = challenge(auth.hello(&h).await);
    assert_eq!(method, "wampcra");
    assert_eq!(extra.len(), 1, "unsalted: only the challenge {extra:?}");
    let text = extra["challenge"].as_str().unwrap();
    let c: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(c["authid"], "peter");
    assert_eq!(c["authrole"], "frontend");
    assert_eq!(c["authmethod"], "wampcra");
    assert_eq!(c["authprovider"], "static");
    assert_eq!(c["session"], 4711);
    assert_eq!(c["nonce"].as_str().unwrap().len(), 64);
    let ts = c["timestamp"].as_str().unwrap();
    assert_eq!(
        (ts.len(), &ts[10..11], &ts[19..20], &ts[23..]),
        (24, "T", ".", "Z"),
        "{ts}"
    );
    assert!(text.starts_with(
        "{\"authid\": \"peter\", \"authrole\": \"frontend\", \"authmethod\": \"wampcra\""
    ));

    let id = round_trip(
        &auth,
        &h,
        &Credentials::WampCra {
            secret: "secret1".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        id,
        Identity {
            realm: "realm1".into(),
            authid: "peter".into(),
            authrole: "frontend".into(),
            authmethod: "wampcra".into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
        }
    );
    // The pending auth checks the signature of its own challenge, by the expected formula.
    let (_, extra, pending) = challenge(auth.hello(&h).await);
    let sig = wampcra::sign("secret1", extra["challenge"].as_str().unwrap());
    assert_eq!(
        pending
            .authenticate(&sig, &Dict::new())
            .await
            .unwrap()
            .authid,
        "peter"
    );

    let d = round_trip(
        &auth,
        &h,
        &Credentials::WampCra {
            secret: "secret2".into(),
        },
    )
    .await
    .unwrap_err();
    assert_denied(
        &d,
        reason::NOT_AUTHORIZED,
        "WAMP-CRA client signature is invalid",
    );
    let (_, _, pending) = challenge(auth.hello(&h).await);
    let d = pending
        .authenticate("not base64 at all \u{0}", &Dict::new())
        .await
        .unwrap_err();
    assert_denied(
        &d,
        reason::NOT_AUTHORIZED,
        "WAMP-CRA client signature is invalid",
    );

    let d = denied(
        auth.hello(&hello(
            Some("realm1"),
            &["wampcra"],
            Some("nobody"),
            json!({}),
        ))
        .await,
    );
    assert_denied(
        &d,
        reason::NOT_AUTHORIZED,
        "no principal with authid \"nobody\" exists",
    );
}

#[tokio::test]
async fn wampcra_salted() {
    let auth = full();
    let h = hello(Some("realm1"), &["wampcra"], Some("salty"), json!({}));
    let (_, extra, pending) = challenge(auth.hello(&h).await);
    assert_eq!(extra["salt"].as_str(), Some("salt123"));
    assert_eq!(extra["iterations"].as_u64(), Some(100));
    assert_eq!(extra["keylen"].as_u64(), Some(16));
    let key = wampcra::derive_key("L3L1YUE8Txlw", "salt123", 100, 16);
    let sig = wampcra::sign(&key, extra["challenge"].as_str().unwrap());
    assert_eq!(
        pending
            .authenticate(&sig, &Dict::new())
            .await
            .unwrap()
            .authid,
        "salty"
    );

    let creds = Credentials::WampCra {
        secret: "L3L1YUE8Txlw".into(),
    };
    assert_eq!(
        round_trip(&auth, &h, &creds).await.unwrap().authrole,
        "frontend"
    );
    // The raw secret is not the key of a salted user.
    let (_, extra, pending) = challenge(auth.hello(&h).await);
    let sig = wampcra::sign("L3L1YUE8Txlw", extra["challenge"].as_str().unwrap());
    assert!(pending.authenticate(&sig, &Dict::new()).await.is_err());

    // A salt without iterations and keylen is ignored, as in Crossbar.io.
    let h = hello(Some("realm1"), &["wampcra"], Some("lonesalt"), json!({}));
    let (_, extra, _) = challenge(auth.hello(&h).await);
    assert!(!extra.contains_key("salt"));
    let creds = Credentials::WampCra {
        secret: "secret2".into(),
    };
    assert_eq!(
        round_trip(&auth, &h, &creds).await.unwrap().authid,
        "lonesalt"
    );
}

#[tokio::test]
async fn cryptosign_round_trip() {
    let auth = full();
    let creds = Credentials::Cryptosign { key: key(SEED1) };
    let h = hello(
        Some("devices"),
        &["cryptosign"],
        Some("dev1"),
        json!({"pubkey": public_key_hex(&key(SEED1))}),
    );
    let (method, extra, _) = challenge(auth.hello(&h).await);
    assert_eq!(method, "cryptosign");
    assert_eq!(extra.len(), 2, "{extra:?}");
    assert_eq!(extra["channel_binding"], crate::value::Value::Null);
    let c = extra["challenge"].as_str().unwrap();
    assert!(c.len() == 64 && hex::decode(c).is_ok(), "{c}");

    let id = round_trip(&auth, &h, &creds).await.unwrap();
    assert_eq!(
        id,
        Identity {
            realm: "devices".into(),
            authid: "dev1".into(),
            authrole: "device".into(),
            authmethod: "cryptosign".into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
        }
    );

    // By public key alone, with the realm taken from the principal (the uplink's HELLO).
    let h = hello(None, &["cryptosign"], None, creds.authextra_json());
    let id = round_trip(&auth, &h, &creds).await.unwrap();
    assert_eq!((id.realm.as_str(), id.authid.as_str()), ("devices", "dev1"));

    // Keys are compared as keys: the config wrote this one in uppercase.
    let any = Credentials::Cryptosign { key: key(SEED2) };
    let h = hello(Some("realm1"), &["cryptosign"], None, any.authextra_json());
    assert_eq!(round_trip(&auth, &h, &any).await.unwrap().authid, "any");

    // A signature by another key.
    let h = hello(
        Some("devices"),
        &["cryptosign"],
        Some("dev1"),
        creds.authextra_json(),
    );
    let (_, extra, pending) = challenge(auth.hello(&h).await);
    let sig =
        cryptosign::sign_challenge(&key(SEED2), extra["challenge"].as_str().unwrap()).unwrap();
    let d = pending.authenticate(&sig, &Dict::new()).await.unwrap_err();
    assert_denied(
        &d,
        reason::NOT_AUTHORIZED,
        "signed message has invalid signature",
    );
    // A valid signature of another challenge.
    let (_, _, pending) = challenge(auth.hello(&h).await);
    let sig = cryptosign::sign_challenge(&key(SEED1), &"00".repeat(32)).unwrap();
    let d = pending.authenticate(&sig, &Dict::new()).await.unwrap_err();
    assert!(
        d.message.starts_with("message signed is bogus [got 0x0000"),
        "{d}"
    );
    // Garbage.
    for sig in ["", "xyz", "0123", &"ab".repeat(200)] {
        let (_, _, pending) = challenge(auth.hello(&h).await);
        let d = pending.authenticate(sig, &Dict::new()).await.unwrap_err();
        assert_eq!(d.reason, reason::NOT_AUTHORIZED, "{d}");
    }
}

#[tokio::test]
async fn cryptosign_denials() {
    let auth = full();
    let pk1 = public_key_hex(&key(SEED1));
    let pk2 = public_key_hex(&key(SEED2));
    let pk3 = public_key_hex(&key(SEED3));
    let unknown = public_key_hex(&key(&"01".repeat(32)));
    let cases: Vec<(HelloInfo, &str, &str)> = vec![
        (
            hello(
                Some("realm1"),
                &["cryptosign"],
                Some("dev1"),
                json!({"pubkey": &pk1}),
            ),
            reason::NOT_AUTHORIZED,
            "principal \"dev1\" may only join realm \"devices\", not \"realm1\"",
        ),
        (
            hello(
                Some("devices"),
                &["cryptosign"],
                Some("nobody"),
                json!({"pubkey": &pk1}),
            ),
            reason::NOT_AUTHORIZED,
            "no principal with authid \"nobody\" exists",
        ),
        (
            hello(
                Some("devices"),
                &["cryptosign"],
                Some("dev1"),
                json!({"pubkey": &pk2}),
            ),
            reason::NOT_AUTHORIZED,
            "extra.pubkey provided does not match any one of authorized_keys for the principal",
        ),
        (
            hello(
                Some("realm1"),
                &["cryptosign"],
                None,
                json!({"pubkey": &unknown}),
            ),
            reason::NOT_AUTHORIZED,
            "cannot identify client: no authid requested and no principal found for provided extra.pubkey",
        ),
        (
            hello(
                Some("realm1"),
                &["cryptosign"],
                None,
                json!({"pubkey": &pk3}),
            ),
            reason::NOT_AUTHORIZED,
            "cannot infer client identity from pubkey: multiple authids in principal database have this pubkey",
        ),
        (
            hello(Some("realm1"), &["cryptosign"], None, json!({})),
            reason::NOT_AUTHORIZED,
            "cannot identify client: no authid requested and no extra.pubkey provided",
        ),
        (
            hello(Some("devices"), &["cryptosign"], Some("dev1"), json!({})),
            reason::NOT_AUTHORIZED,
            "cannot authenticate: no extra.pubkey provided",
        ),
        (
            hello(
                Some("devices"),
                &["cryptosign"],
                Some("dev1"),
                json!({"pubkey": &pk1, "channel_binding": "tls-unique"}),
            ),
            reason::NOT_AUTHORIZED,
            "channel binding \"tls-unique\" requested, but the transport has no TLS channel ID",
        ),
        (
            hello(
                Some("devices"),
                &["cryptosign"],
                Some("dev1"),
                json!({"pubkey": &pk1, "channel_binding": "tls-exporter"}),
            ),
            reason::NOT_AUTHORIZED,
            "invalid channel binding type \"tls-exporter\" requested",
        ),
        (
            hello(
                Some("devices"),
                &["cryptosign"],
                Some("dev1"),
                json!({"pubkey": &pk1, "challenge": "ff".repeat(32)}),
            ),
            reason::NOT_AUTHORIZED,
            "router authentication requested (extra.challenge), but this transport has no router key",
        ),
    ];
    for (h, reason, message) in cases {
        let d = denied(auth.hello(&h).await);
        assert_denied(&d, reason, message);
    }
    for bad in [
        json!({"pubkey": "nothex"}),
        json!({"pubkey": 5}),
        json!({"pubkey": "ab".repeat(32) + "x"}),
    ] {
        let d = denied(
            auth.hello(&hello(Some("devices"), &["cryptosign"], Some("dev1"), bad))
                .await,
        );
        assert_eq!(d.reason, reason::NOT_AUTHORIZED, "{d}");
    }
}

#[tokio::test]
async fn cryptosign_router_authentication() {
    let router_key = key(SEED3);
    let auth = full().with_router_key(router_key.clone());
    let client_challenge = "ab".repeat(32);
    let h = hello(
        Some("devices"),
        &["cryptosign"],
        Some("dev1"),
        json!({"pubkey": public_key_hex(&key(SEED1)), "challenge": client_challenge}),
    );
    let (_, extra, pending) = challenge(auth.hello(&h).await);
    assert_eq!(
        extra["pubkey"].as_str(),
        Some(public_key_hex(&router_key).as_str())
    );
    let sig = extra["signature"].as_str().unwrap();
    cryptosign::verify_signature(
        &router_key.verifying_key(),
        sig,
        &hex::decode(&client_challenge).unwrap(),
    )
    .unwrap();
    // The client's own challenge still has to be answered.
    let mine =
        cryptosign::sign_challenge(&key(SEED1), extra["challenge"].as_str().unwrap()).unwrap();
    assert_eq!(
        pending
            .authenticate(&mine, &Dict::new())
            .await
            .unwrap()
            .authid,
        "dev1"
    );
}

#[tokio::test]
async fn method_selection_follows_client_order() {
    let auth = full();
    let method_of = |step: AuthStep| challenge(step).0;

    let h = hello(
        Some("realm1"),
        &["wampcra", "ticket"],
        Some("joe"),
        json!({}),
    );
    // joe is a ticket principal, not a WAMP-CRA user: the first enabled method decides, with
    // no fallback to the next one (as in Crossbar.io).
    let d = denied(auth.hello(&h).await);
    assert_denied(
        &d,
        reason::NOT_AUTHORIZED,
        "no principal with authid \"joe\" exists",
    );

    let h = hello(
        Some("realm1"),
        &["ticket", "wampcra"],
        Some("joe"),
        json!({}),
    );
    assert_eq!(method_of(auth.hello(&h).await), "ticket");
    let h = hello(
        Some("realm1"),
        &["wampcra", "ticket"],
        Some("peter"),
        json!({}),
    );
    assert_eq!(method_of(auth.hello(&h).await), "wampcra");

    // Known but not enabled methods are skipped; unknown ones are refused where they appear.
    let h = hello(
        Some("realm1"),
        &["scram", "anonymous", "ticket"],
        Some("joe"),
        json!({}),
    );
    assert_eq!(method_of(auth.hello(&h).await), "ticket");
    let h = hello(Some("realm1"), &["ticket", "bogus"], Some("joe"), json!({}));
    assert_eq!(method_of(auth.hello(&h).await), "ticket");
    let h = hello(Some("realm1"), &["bogus", "ticket"], Some("joe"), json!({}));
    assert_denied(
        &denied(auth.hello(&h).await),
        reason::NOT_AUTHORIZED,
        "invalid authmethod \"bogus\"",
    );

    // No acceptable method; an empty list means ["anonymous"].
    let h = hello(Some("realm1"), &["anonymous", "cookie"], None, json!({}));
    assert_denied(
        &denied(auth.hello(&h).await),
        reason::NO_AUTH_METHOD,
        "cannot authenticate [2] using any of the offered authmethods ['anonymous', 'cookie']",
    );
    let h = hello(Some("realm1"), &[], None, json!({}));
    assert_denied(
        &denied(auth.hello(&h).await),
        reason::NO_AUTH_METHOD,
        "cannot authenticate [2] using any of the offered authmethods ['anonymous']",
    );

    let auth = authenticator(json!({
        "anonymous": {"type": "static"},
        "ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "role": "user"}}}
    }));
    let h = hello(Some("realm1"), &[], Some("joe"), json!({}));
    assert_eq!(welcome(auth.hello(&h).await).authmethod, "anonymous");
    let h = hello(
        Some("realm1"),
        &["ticket", "anonymous"],
        Some("joe"),
        json!({}),
    );
    assert_eq!(method_of(auth.hello(&h).await), "ticket");
    let h = hello(
        Some("realm1"),
        &["anonymous", "ticket"],
        Some("joe"),
        json!({}),
    );
    assert_eq!(welcome(auth.hello(&h).await).authmethod, "anonymous");
    assert_eq!(auth.enabled_methods(), vec!["anonymous", "ticket"]);
}

#[test]
fn hand_built_config_with_bad_key_is_refused() {
    let mut config = AuthConfig::default();
    config.cryptosign = Some(config::MethodConfig::Static(config::CryptosignAuth {
        principals: [(
            "a".to_string(),
            config::CryptosignPrincipal {
                authorized_keys: vec!["00".into()],
                ..Default::default()
            },
        )]
        .into(),
        default_role: None,
    }));
    let e = ConfigAuthenticator::new(&config, std::sync::Weak::new()).unwrap_err();
    assert_eq!(e.path, "cryptosign.principals.a.authorized_keys[0]");
}

impl Credentials {
    /// The HELLO authextra as JSON, for building test HELLOs.
    fn authextra_json(&self) -> serde_json::Value {
        serde_json::Value::from(crate::value::Value::Dict(self.authextra()))
    }
}
