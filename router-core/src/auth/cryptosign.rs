//! WAMP-cryptosign: Ed25519 challenge signing (client) and verification (router), the static
//! principal database lookup, and the router's pending authentication.
//!
//! The router sends 32 random bytes as hex; the client answers with hex(signature ‖ message),
//! 96 bytes, where the message is the challenge (XORed with the TLS channel id when channel
//! binding is on, which we do not offer yet). Denial messages are Crossbar.io's.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::config_auth::{Principal, assign};
use super::reason;
use super::{AuthDenied, AuthStep, HelloInfo, Identity, PendingAuth};
use crate::auth::config::CryptosignAuth;
use crate::value::{Dict, Value};

/// Length of the router's challenge in bytes.
pub const CHALLENGE_LEN: usize = 32;

/// Why a challenge could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("cryptosign challenge is not a hex string")]
    NotHex,
    #[error("unexpected cryptosign challenge (hex) length: was {0}, but expected 64")]
    WrongLength(usize),
}

/// Signs a router's challenge (64 hex characters) as autobahn does: hex(signature ‖ challenge).
pub fn sign_challenge(key: &SigningKey, challenge_hex: &str) -> Result<String, SignError> {
    sign_challenge_bound(key, challenge_hex, None)
}

/// Like [`sign_challenge`], with TLS channel binding: the signed message is the challenge XOR
/// the 32-byte channel id.
pub fn sign_challenge_bound(
    key: &SigningKey,
    challenge_hex: &str,
    channel_id: Option<&[u8; CHALLENGE_LEN]>,
) -> Result<String, SignError> {
    if challenge_hex.len() != 2 * CHALLENGE_LEN {
        return Err(SignError::WrongLength(challenge_hex.len()));
    }
    let mut message = [0u8; CHALLENGE_LEN];
    hex::decode_to_slice(challenge_hex, &mut message).map_err(|_| SignError::NotHex)?;
    if let Some(cid) = channel_id {
        for (m, c) in message.iter_mut().zip(cid) {
            *m ^= c;
        }
    }
    Ok(sign_message(key, &message))
}

/// hex(Ed25519 signature ‖ message): the form of both the client's AUTHENTICATE signature and
/// the router's signature in router authentication.
fn sign_message(key: &SigningKey, message: &[u8]) -> String {
    let sig = key.sign(message);
    let mut out = hex::encode(sig.to_bytes());
    out.push_str(&hex::encode(message));
    out
}

/// The public key of a signing key as 64 lowercase hex characters (HELLO `authextra.pubkey`).
pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().as_bytes())
}

/// Parses a public key written as 64 hex characters.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    if hex_key.len() != 64 || hex::decode_to_slice(hex_key, &mut bytes).is_err() {
        return Err(format!(
            "invalid Ed25519 public key \"{hex_key}\" (expected 64 hex characters)"
        ));
    }
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| format!("invalid Ed25519 public key \"{hex_key}\" (not a curve point)"))
}

/// Checks an AUTHENTICATE signature against the key and the message the router expects signed.
pub fn verify_signature(
    key: &VerifyingKey,
    signature_hex: &str,
    expected: &[u8],
) -> Result<(), AuthDenied> {
    let deny = |m: String| AuthDenied::new(reason::NOT_AUTHORIZED, m);
    let signed = hex::decode(signature_hex)
        .map_err(|_| deny("signed message is invalid (not a HEX encoded string)".into()))?;
    if signed.len() != 96 {
        return Err(deny(format!(
            "signed message has invalid length (was {}, but should have been 96)",
            signed.len()
        )));
    }
    let (sig, message) = signed.split_at(64);
    let sig = Signature::from_slice(sig)
        .map_err(|_| deny("signed message has invalid signature".into()))?;
    // Strict verification rejects small-order keys and malleable signatures, as libsodium's
    // crypto_sign_open (which Crossbar.io uses) does.
    key.verify_strict(message, &sig)
        .map_err(|_| deny("signed message has invalid signature".into()))?;
    if message != expected {
        return Err(deny(format!(
            "message signed is bogus [got 0x{}, expected 0x{}]",
            hex::encode(message),
            hex::encode(expected)
        )));
    }
    Ok(())
}

/// A static cryptosign principal database, with keys parsed once.
pub(crate) struct CryptosignDb {
    principals: BTreeMap<String, (Principal, Vec<VerifyingKey>)>,
    default_role: Option<String>,
}

impl CryptosignDb {
    pub(crate) fn new(config: &CryptosignAuth) -> Result<CryptosignDb, crate::config::ConfigError> {
        let mut principals = BTreeMap::new();
        for (authid, p) in &config.principals {
            let mut keys = Vec::with_capacity(p.authorized_keys.len());
            for (i, k) in p.authorized_keys.iter().enumerate() {
                let key = parse_public_key(k).map_err(|e| {
                    crate::config::ConfigError::new(
                        format!("principals.{authid}.authorized_keys[{i}]"),
                        e,
                    )
                })?;
                keys.push(key);
            }
            let principal = Principal {
                realm: p.realm.clone(),
                role: p.role.clone(),
            };
            principals.insert(authid.clone(), (principal, keys));
        }
        Ok(CryptosignDb {
            principals,
            default_role: config.default_role.clone(),
        })
    }

    /// Answers a HELLO for `cryptosign`: a challenge, or Crossbar.io's denial.
    pub(crate) fn hello(&self, hello: &HelloInfo, router_key: Option<&SigningKey>) -> AuthStep {
        match self.challenge(hello, router_key) {
            Ok(step) => step,
            Err(denied) => AuthStep::Deny(denied),
        }
    }

    fn challenge(
        &self,
        hello: &HelloInfo,
        router_key: Option<&SigningKey>,
    ) -> Result<AuthStep, AuthDenied> {
        let deny = |m: String| AuthDenied::new(reason::NOT_AUTHORIZED, m);
        let binding = check_channel_binding(hello)?;

        let pubkey = match hello.authextra.get("pubkey") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(other) => {
                return Err(deny(format!(
                    "invalid type {} for extra.pubkey",
                    other.type_name()
                )));
            }
        };
        // Keys are compared as bytes, so upper- and lowercase hex name the same key.
        let pubkey = match pubkey {
            Some(s) => {
                Some(parse_public_key(s).map_err(|e| deny(format!("invalid extra.pubkey: {e}")))?)
            }
            None => None,
        };

        let authid = match (&hello.authid, &pubkey) {
            (Some(authid), _) => authid.clone(),
            (None, Some(key)) => self.authid_for_key(key)?,
            (None, None) => {
                return Err(deny(
                    "cannot identify client: no authid requested and no extra.pubkey provided"
                        .into(),
                ));
            }
        };
        let Some((principal, keys)) = self.principals.get(&authid) else {
            return Err(deny(format!(
                "no principal with authid \"{authid}\" exists"
            )));
        };
        let Some(key) = pubkey else {
            // Crossbar.io fails with an internal error here; the client must name its key.
            return Err(deny("cannot authenticate: no extra.pubkey provided".into()));
        };
        if !keys.contains(&key) {
            return Err(deny(
                "extra.pubkey provided does not match any one of authorized_keys for the principal"
                    .into(),
            ));
        }
        let (realm, authrole) = assign(hello, &authid, principal, self.default_role.as_deref())?;

        let router_signature = router_signature(&hello.authextra, router_key)?;
        let identity = Identity {
            realm,
            authid,
            authrole,
            authmethod: "cryptosign".into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
        };
        Ok(challenge(identity, key, router_signature, binding))
    }

    fn authid_for_key(&self, key: &VerifyingKey) -> Result<String, AuthDenied> {
        let mut found = self
            .principals
            .iter()
            .filter(|(_, (_, keys))| keys.contains(key))
            .map(|(a, _)| a);
        match (found.next(), found.next()) {
            (Some(authid), None) => Ok(authid.clone()),
            (Some(_), Some(_)) => Err(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                "cannot infer client identity from pubkey: multiple authids in principal database have this pubkey",
            )),
            (None, _) => Err(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                "cannot identify client: no authid requested and no principal found for provided extra.pubkey",
            )),
        }
    }
}

/// The TLS channel id the client's signature must be bound to, if it asked for
/// `channel_binding: "tls-unique"` (Crossbar.io's only binding); a binding the connection
/// cannot give (not TLS) or an unknown one is denied, as Crossbar.io never authenticates
/// without the binding a client asked for.
pub(crate) fn check_channel_binding(
    hello: &HelloInfo,
) -> Result<Option<[u8; CHALLENGE_LEN]>, AuthDenied> {
    match hello.authextra.get("channel_binding") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "tls-unique" => match hello.transport.channel_id {
            Some(id) => Ok(Some(id)),
            None => Err(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                "channel binding \"tls-unique\" requested, but the transport has no TLS channel ID",
            )),
        },
        Some(Value::String(s)) => Err(AuthDenied::new(
            reason::NOT_AUTHORIZED,
            format!("invalid channel binding type \"{s}\" requested"),
        )),
        Some(other) => Err(AuthDenied::new(
            reason::NOT_AUTHORIZED,
            format!(
                "invalid channel binding type {} requested",
                other.type_name()
            ),
        )),
    }
}

/// Router authentication: when the client sends its own `challenge`, the router signs it with
/// the node key and returns `(signature, router pubkey)` for CHALLENGE.extra.
fn router_signature(
    authextra: &Dict,
    router_key: Option<&SigningKey>,
) -> Result<Option<(String, String)>, AuthDenied> {
    let challenge = match authextra.get("challenge") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                format!("invalid type {} for extra.challenge", other.type_name()),
            ));
        }
    };
    let data = hex::decode(challenge).map_err(|_| {
        AuthDenied::new(
            reason::NOT_AUTHORIZED,
            "extra.challenge is invalid (not a HEX encoded string)",
        )
    })?;
    let Some(key) = router_key else {
        return Err(AuthDenied::new(
            reason::NOT_AUTHORIZED,
            "router authentication requested (extra.challenge), but this transport has no router key",
        ));
    };
    Ok(Some((sign_message(key, &data), public_key_hex(key))))
}

/// A CHALLENGE of 32 random bytes for `identity`, whose signature `key` must verify; with the
/// router's own signature (router authentication) when there is one. With a channel
/// `binding`, the client signs the challenge XOR the TLS channel id.
pub(crate) fn challenge(
    identity: Identity,
    key: VerifyingKey,
    router_signature: Option<(String, String)>,
    binding: Option<[u8; CHALLENGE_LEN]>,
) -> AuthStep {
    let mut challenge = [0u8; CHALLENGE_LEN];
    rand::fill(&mut challenge);
    let mut extra = Dict::new();
    extra.insert("challenge".into(), Value::String(hex::encode(challenge)));
    extra.insert(
        "channel_binding".into(),
        match binding {
            Some(_) => Value::from("tls-unique"),
            None => Value::Null,
        },
    );
    let mut signed = challenge;
    if let Some(id) = binding {
        for (m, c) in signed.iter_mut().zip(id) {
            *m ^= c;
        }
    }
    if let Some((signature, router_pubkey)) = router_signature {
        extra.insert("signature".into(), Value::String(signature));
        extra.insert("pubkey".into(), Value::String(router_pubkey));
    }
    AuthStep::Challenge {
        method: "cryptosign".into(),
        extra,
        pending: Box::new(PendingCryptosign {
            key,
            signed,
            identity,
        }),
    }
}

/// A cryptosign CHALLENGE sent, waiting for the signature.
struct PendingCryptosign {
    key: VerifyingKey,
    /// What the client must have signed: the challenge, XOR the channel id if bound.
    signed: [u8; CHALLENGE_LEN],
    identity: Identity,
}

#[async_trait]
impl PendingAuth for PendingCryptosign {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        verify_signature(&self.key, signature, &self.signed)?;
        Ok(self.identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed_hex: &str) -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex, &mut seed).unwrap();
        SigningKey::from_bytes(&seed)
    }

    /// autobahn `test_wamp_cryptosign.py` `test_vectors_1` (also the spec's test vectors):
    /// (channel_id, private key seed, challenge, signature ‖ signed message).
    const VECTORS: [(Option<&str>, &str, &str, &str); 6] = [
        (
            None,
            "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ),
        (
            None,
            "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
            "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
            "d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
        ),
        (
            None,
            "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
            "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
            "7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1ec184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30bb05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
        ),
        (
            Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
            "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "9b6f41540c9b95b4b7b281c3042fa9c54cef43c842d62ea3fd6030fcb66e70b3e80d49d44c29d1635da9348d02ec93f3ed1ef227dfb59a07b580095c2b82f80f9d16ca518aa0c2b707f2b2a609edeca73bca8dd59817a633f35574ac6fd80d00",
        ),
        (
            Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
            "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
            "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
            "305aaa3ac25e98f651427688b3fc43fe7d8a68a7ec1d7d61c61517c519bd4a427c3015599d83ca28b4c652333920223844ef0725eb5dc2febfd6af7677b73f01d0852a29b460fc92ec943242ac638a053bbacc200512b18b30d15083cbdc9282",
        ),
        (
            Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
            "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
            "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
            "ee3c7644fd8070532bc1fde3d70d742267da545d8c8f03e63bda63f1ad4214f4d2c4bfdb4eb9526def42deeb7e31602a6ff99eba893e0a4ad4d45892ca75e608d2b75e24a189a7f78ca776ba36fc53f6c3e31c32f251f2c524f0a44202f2902d",
        ),
    ];

    #[test]
    fn test_vectors_sign_and_verify() {
        for (i, (channel_id, seed, challenge, expected)) in VECTORS.iter().enumerate() {
            let k = key(seed);
            let cid: Option<[u8; 32]> = channel_id.map(|c| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(c, &mut b).unwrap();
                b
            });
            let signed = sign_challenge_bound(&k, challenge, cid.as_ref()).unwrap();
            assert_eq!(signed.len(), 192, "vector {i}");
            assert_eq!(&signed, expected, "vector {i}");
            if channel_id.is_none() {
                assert_eq!(
                    sign_challenge(&k, challenge).unwrap(),
                    *expected,
                    "vector {i}"
                );
            }

            // The router side accepts exactly what it expects to be signed.
            let signed_message = hex::decode(&expected[128..]).unwrap();
            verify_signature(&k.verifying_key(), expected, &signed_message).unwrap();
            let other = [0x11u8; 32];
            let e = verify_signature(&k.verifying_key(), expected, &other).unwrap_err();
            assert!(e.message.starts_with("message signed is bogus"), "{e}");
        }
    }

    #[test]
    fn public_key_of_autobahn_test_key() {
        // autobahn TestAuth: the OpenSSH test key's seed and public key.
        let k = key("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510");
        assert_eq!(
            public_key_hex(&k),
            "1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d"
        );
    }

    #[test]
    fn malformed_signatures_are_denials() {
        let k = key("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510");
        let vk = k.verifying_key();
        let expected = [0xffu8; 32];
        let cases = [
            ("zz", "not a HEX encoded string"),
            ("abc", "not a HEX encoded string"),
            ("", "invalid length (was 0"),
            (&"00".repeat(95), "invalid length (was 95"),
            (&"00".repeat(96), "invalid signature"),
            ("é", "not a HEX encoded string"),
        ];
        for (sig, msg) in cases {
            let e = verify_signature(&vk, sig, &expected).unwrap_err();
            assert_eq!(e.reason, reason::NOT_AUTHORIZED);
            assert!(e.message.contains(msg), "{sig:?}: {e}");
        }
        // A valid signature by another key.
        let other = key("d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd");
        let sig = sign_challenge(&other, &"ff".repeat(32)).unwrap();
        let e = verify_signature(&vk, &sig, &expected).unwrap_err();
        assert!(e.message.contains("invalid signature"), "{e}");
    }

    #[test]
    fn bad_challenges_are_errors() {
        let k = key("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510");
        assert_eq!(sign_challenge(&k, "ff"), Err(SignError::WrongLength(2)));
        assert_eq!(sign_challenge(&k, &"zz".repeat(32)), Err(SignError::NotHex));
        // 64 bytes of UTF-8 that are not 64 hex digits.
        assert_eq!(sign_challenge(&k, &"é".repeat(32)), Err(SignError::NotHex));
    }

    #[test]
    fn public_key_parsing() {
        assert!(
            parse_public_key("1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d")
                .is_ok()
        );
        assert!(
            parse_public_key("1ADFC8BFE1D35616E64DFFBD900096F23B066F914C8C2FFBB66F6075B96E116D")
                .is_ok()
        );
        assert!(parse_public_key("1adf").is_err());
        assert!(parse_public_key(&"g".repeat(64)).is_err());
    }
}
