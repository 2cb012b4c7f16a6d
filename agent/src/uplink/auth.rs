//! How the node authenticates to its master: WAMP-cryptosign with the node key, the HELLO of
//! Crossbar.io's edge node (realm null, no authid, authrole `node`), and which refusals mean
//! "not paired".

use std::time::Duration;

use router_core::auth::client::Credentials;
use router_core::client::{ClientError, JoinOptions};
use router_core::value::Value;

use crate::keys::NodeKey;

/// The ABORT reason of a master that does not know the node key.
pub const NODE_UNPAIRED: &str = "fabric.auth-failed.node-unpaired";
/// Defined by Crossbar.io's master (never raised there); treated like any other refusal.
pub const NODE_ALREADY_CONNECTED: &str = "fabric.auth-failed.node-already-connected";

/// The HELLO and CHALLENGE answer of the uplink.
pub fn join_options(key: &NodeKey, handshake_timeout: Duration) -> JoinOptions {
    let creds = Credentials::Cryptosign {
        key: key.signing_key().clone(),
    };
    let mut authextra = creds.authextra();
    // As the Python edge node sends them; channel binding stays off (null), so the master
    // never asks for a TLS channel id.
    for k in ["trustroot", "challenge", "channel_binding"] {
        authextra.insert(k.into(), Value::Null);
    }
    JoinOptions {
        realm: None,
        authid: None,
        authrole: Some("node".into()),
        authmethods: creds.authmethods(),
        authextra,
        on_challenge: None,
        handshake_timeout: Some(handshake_timeout),
    }
    .on_challenge(move |method, extra| creds.respond(method, extra).map_err(|e| e.to_string()))
}

/// Did the master refuse the node because its key is not paired?
pub fn is_unpaired(e: &ClientError) -> bool {
    matches!(e, ClientError::Aborted { reason, .. } if reason == NODE_UNPAIRED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_the_edge_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = NodeKey::load_or_generate(dir.path()).unwrap();
        let o = join_options(&key, Duration::from_secs(5));
        assert_eq!(o.realm, None);
        assert_eq!(o.authid, None);
        assert_eq!(o.authrole.as_deref(), Some("node"));
        assert_eq!(o.authmethods, vec!["cryptosign".to_string()]);
        assert_eq!(
            o.authextra.get("pubkey").and_then(Value::as_str),
            Some(key.public_key_hex().as_str())
        );
        assert_eq!(o.authextra.get("channel_binding"), Some(&Value::Null));
        let challenge =
            router_core::dict! {"challenge" => "ab".repeat(32), "channel_binding" => Value::Null};
        let sig = (o.on_challenge.unwrap())("cryptosign", &challenge).unwrap();
        assert_eq!(sig.len(), 192);
        assert!(sig.ends_with(&"ab".repeat(32)));
        assert!(is_unpaired(&ClientError::Aborted {
            reason: NODE_UNPAIRED.into(),
            message: String::new()
        }));
        assert!(!is_unpaired(&ClientError::Connect("x".into())));
    }
}
