//! Helpers for the CDC's integration tests: keys, in-process clients, PINs from the outbox.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use cdc::Cdc;
use ed25519_dalek::SigningKey;
use router_core::auth::{Credentials, TransportInfo};
use router_core::client::{CallError, JoinOptions, Session};
use router_core::value::{Dict, List, Value};

pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn pubkey(k: &SigningKey) -> String {
    hex::encode(k.verifying_key().as_bytes())
}

pub fn json(v: serde_json::Value) -> Value {
    Value::from(v)
}

pub fn list(v: serde_json::Value) -> List {
    match Value::from(v) {
        Value::List(l) => l,
        other => vec![other],
    }
}

pub fn to_json(v: &Value) -> serde_json::Value {
    serde_json::Value::from(v.clone())
}

fn transport() -> TransportInfo {
    TransportInfo::new("test", "local", "test")
}

/// Joins anonymously (the global realm).
pub async fn anonymous(cdc: &Arc<Cdc>) -> Session {
    Session::join_local(
        &cdc.router,
        cdc.connection(transport()),
        JoinOptions::default(),
    )
    .await
    .expect("anonymous join")
}

/// Joins with cryptosign: `realm` None for the node way (HELLO realm null), `authrole` e.g.
/// `node`.
pub async fn cryptosign(
    cdc: &Arc<Cdc>,
    k: &SigningKey,
    realm: Option<&str>,
    authrole: Option<&str>,
) -> Result<Session, router_core::client::ClientError> {
    let cred = Credentials::Cryptosign { key: k.clone() };
    let mut opts = JoinOptions {
        realm: realm.map(str::to_owned),
        authrole: authrole.map(str::to_owned),
        authmethods: cred.authmethods(),
        authextra: cred.authextra(),
        ..Default::default()
    };
    opts = opts.on_challenge(move |m, e| cred.respond(m, e).map_err(|e| e.to_string()));
    Session::join_local(&cdc.router, cdc.connection(transport()), opts).await
}

pub async fn call(s: &Session, uri: &str, args: serde_json::Value) -> Result<Value, CallError> {
    s.call(uri, list(args), Dict::new(), Default::default())
        .await
        .map(|r| r.value())
}

/// The PIN of verification `vid`, from the outbox of `cbdir`.
pub fn pin_for(cbdir: &Path, vid: &str) -> String {
    for entry in std::fs::read_dir(cbdir.join("outbox")).expect("outbox") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if cdc::mail::verification_id_from_message(&text).as_deref() == Some(vid) {
            return cdc::mail::pin_from_message(&text).expect("PIN line");
        }
    }
    panic!("no mail for verification {vid}");
}

/// Calls a `cdc.manage.*@1` procedure that answers with a verification ID, then verifies it
/// with the PIN from the outbox (over `verifier`, e.g. an anonymous session).
pub async fn request_and_verify(
    cbdir: &Path,
    caller: &Session,
    verifier: &Session,
    uri: &str,
    args: serde_json::Value,
) -> Value {
    let vid = call(caller, uri, args)
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    let vid = vid.as_str().expect("verification id").to_owned();
    let pin = pin_for(cbdir, &vid);
    call(
        verifier,
        "cdc.manage.verify@1",
        serde_json::json!([vid, pin]),
    )
    .await
    .unwrap_or_else(|e| panic!("verify {uri}: {e}"))
}

/// A CDC in a fresh directory (fast node polling for tests).
pub async fn start_cdc(dir: &Path) -> Arc<Cdc> {
    let mut config = cdc::CdcConfig::new(dir);
    config.nodes.status_poll_secs = 1;
    config.nodes.heartbeat_timeout_secs = 30;
    config.nodes.call_timeout_secs = 10;
    Cdc::start(config, tokio_util::sync::CancellationToken::new())
        .await
        .expect("start CDC")
}

/// Waits (bounded) for a condition.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}
