//! The client side of authentication: what a connecting session puts in HELLO and how it
//! answers the router's CHALLENGE, for each method the router side supports.

use std::fmt;

use ed25519_dalek::SigningKey;

use super::{AuthDenied, cryptosign, wampcra};
use crate::value::{Dict, Value};

/// The ABORT reason autobahn sends when it cannot answer a CHALLENGE.
pub const CANNOT_AUTHENTICATE: &str = "wamp.error.cannot_authenticate";

/// Upper bound on the PBKDF2 iterations a router may ask for: a hostile or misconfigured router
/// must not make the client spin for minutes (Crossbar.io's examples use 100 to 100 000).
pub const MAX_ITERATIONS: u64 = 10_000_000;

/// How a client authenticates.
#[derive(Clone)]
pub enum Credentials {
    Anonymous,
    Ticket(String),
    WampCra { secret: String },
    Cryptosign { key: SigningKey },
}

/// Why a CHALLENGE could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("router sent a \"{got}\" challenge, but the credentials are for \"{expected}\"")]
    UnexpectedMethod { expected: &'static str, got: String },
    #[error("invalid {method} challenge: {message}")]
    InvalidChallenge {
        method: &'static str,
        message: String,
    },
}

impl From<ChallengeError> for AuthDenied {
    fn from(e: ChallengeError) -> AuthDenied {
        AuthDenied::new(CANNOT_AUTHENTICATE, e.to_string())
    }
}

impl Credentials {
    /// The method these credentials are for (`anonymous`, `ticket`, `wampcra`, `cryptosign`).
    pub fn authmethod(&self) -> &'static str {
        match self {
            Credentials::Anonymous => "anonymous",
            Credentials::Ticket(_) => "ticket",
            Credentials::WampCra { .. } => "wampcra",
            Credentials::Cryptosign { .. } => "cryptosign",
        }
    }

    /// HELLO.Details.authmethods.
    pub fn authmethods(&self) -> Vec<String> {
        vec![self.authmethod().to_owned()]
    }

    /// HELLO.Details.authextra: the public key for cryptosign (so the router can find the
    /// principal without an authid), empty otherwise.
    pub fn authextra(&self) -> Dict {
        let mut extra = Dict::new();
        if let Credentials::Cryptosign { key } = self {
            extra.insert(
                "pubkey".into(),
                Value::String(cryptosign::public_key_hex(key)),
            );
        }
        extra
    }

    /// The AUTHENTICATE signature answering CHALLENGE(`method`, `extra`).
    pub fn respond(&self, method: &str, extra: &Dict) -> Result<String, ChallengeError> {
        let expected = self.authmethod();
        if method != expected {
            return Err(ChallengeError::UnexpectedMethod {
                expected,
                got: method.to_owned(),
            });
        }
        let invalid = |message: String| ChallengeError::InvalidChallenge {
            method: expected,
            message,
        };
        match self {
            Credentials::Anonymous => Err(invalid(
                "anonymous authentication takes no challenge".into(),
            )),
            Credentials::Ticket(ticket) => Ok(ticket.clone()),
            Credentials::WampCra { secret } => {
                let challenge = string_field(extra, "challenge").map_err(invalid)?;
                let key = match extra.get("salt") {
                    None | Some(Value::Null) => secret.clone(),
                    Some(Value::String(salt)) => {
                        // autobahn's derive_key defaults, for routers that send only the salt.
                        let iterations = uint_field(extra, "iterations", 1000).map_err(invalid)?;
                        let keylen = uint_field(extra, "keylen", 32).map_err(invalid)?;
                        if iterations == 0 || iterations > MAX_ITERATIONS {
                            return Err(invalid(format!("iterations {iterations} out of range")));
                        }
                        let keylen = u16::try_from(keylen)
                            .ok()
                            .filter(|k| *k > 0)
                            .ok_or_else(|| invalid(format!("keylen {keylen} out of range")))?;
                        wampcra::derive_key(secret, salt, iterations as u32, keylen)
                    }
                    Some(other) => {
                        return Err(invalid(format!(
                            "salt is a {}, not a string",
                            other.type_name()
                        )));
                    }
                };
                Ok(wampcra::sign(&key, challenge))
            }
            Credentials::Cryptosign { key } => {
                match extra.get("channel_binding") {
                    None | Some(Value::Null) => {}
                    Some(other) => {
                        return Err(invalid(format!(
                            "channel binding {} requested, but this connection has no TLS channel ID",
                            serde_json::Value::from(other.clone())
                        )));
                    }
                }
                let challenge = string_field(extra, "challenge").map_err(invalid)?;
                cryptosign::sign_challenge(key, challenge).map_err(|e| invalid(e.to_string()))
            }
        }
    }
}

fn string_field<'a>(extra: &'a Dict, name: &str) -> Result<&'a str, String> {
    match extra.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{name} is a {}, not a string", other.type_name())),
        None => Err(format!("missing {name}")),
    }
}

fn uint_field(extra: &Dict, name: &str, default: u64) -> Result<u64, String> {
    match extra.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("{name} is not a non-negative integer")),
    }
}

// Secrets stay out of logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Ticket(_) => f.write_str("Ticket(<redacted>)"),
            Credentials::WampCra { .. } => f.write_str("WampCra { secret: <redacted> }"),
            Credentials::Cryptosign { key } => {
                write!(
                    f,
                    "Cryptosign {{ pubkey: {} }}",
                    cryptosign::public_key_hex(key)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(v: serde_json::Value) -> Dict {
        match Value::from(v) {
            Value::Dict(d) => d,
            _ => unreachable!("test input is an object"),
        }
    }

    fn test_key() -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
            &mut seed,
        )
        .unwrap();
        SigningKey::from_bytes(&seed)
    }

    #[test]
    fn hello_fields() {
        let c = Credentials::Cryptosign { key: test_key() };
        assert_eq!(c.authmethods(), vec!["cryptosign".to_string()]);
        assert_eq!(
            c.authextra().get("pubkey").and_then(Value::as_str),
            Some("1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d")
        );
        assert!(Credentials::Ticket("t".into()).authextra().is_empty());
        assert_eq!(
            Credentials::Anonymous.authmethods(),
            vec!["anonymous".to_string()]
        );
    }

    #[test]
    fn wampcra_plain_and_salted() {
        let c = Credentials::WampCra {
            secret: "L3L1YUE8Txlw".into(),
        };
        let plain = c
            .respond(
                "wampcra",
                &dict(serde_json::json!({"challenge": "[1, 2, 3]"})),
            )
            .unwrap();
        assert_eq!(plain, "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0=");
        let salted = c
            .respond(
                "wampcra",
                &dict(serde_json::json!({"challenge": "[1, 2, 3]", "salt": "salt123", "iterations": 1000, "keylen": 32})),
            )
            .unwrap();
        assert_eq!(salted, "c3pCfyceJEbMIYZ/MRvn3RbPu4aqaQ/IeiCmHKfGMx4=");
    }

    #[test]
    fn cryptosign_vector() {
        let c = Credentials::Cryptosign { key: test_key() };
        let sig = c
            .respond(
                "cryptosign",
                &dict(serde_json::json!({"challenge": "ff".repeat(32), "channel_binding": null})),
            )
            .unwrap();
        assert!(sig.starts_with("b32675b221f08593213737bef8240e7c"), "{sig}");
        assert!(sig.ends_with(&"ff".repeat(32)), "{sig}");
    }

    #[test]
    fn bad_challenges_are_errors_not_panics() {
        let cra = Credentials::WampCra { secret: "s".into() };
        let cs = Credentials::Cryptosign { key: test_key() };
        let cases: Vec<(&Credentials, &str, serde_json::Value)> = vec![
            (&cra, "wampcra", serde_json::json!({})),
            (&cra, "wampcra", serde_json::json!({"challenge": 5})),
            (
                &cra,
                "wampcra",
                serde_json::json!({"challenge": "c", "salt": 1}),
            ),
            (
                &cra,
                "wampcra",
                serde_json::json!({"challenge": "c", "salt": "s", "iterations": -1}),
            ),
            (
                &cra,
                "wampcra",
                serde_json::json!({"challenge": "c", "salt": "s", "iterations": 0}),
            ),
            (
                &cra,
                "wampcra",
                serde_json::json!({"challenge": "c", "salt": "s", "iterations": 1u64 << 40}),
            ),
            (
                &cra,
                "wampcra",
                serde_json::json!({"challenge": "c", "salt": "s", "keylen": 1 << 20}),
            ),
            (&cs, "cryptosign", serde_json::json!({"challenge": "ff"})),
            (
                &cs,
                "cryptosign",
                serde_json::json!({"challenge": "zz".repeat(32)}),
            ),
            (
                &cs,
                "cryptosign",
                serde_json::json!({"challenge": "ff".repeat(32), "channel_binding": "tls-unique"}),
            ),
            (&cs, "ticket", serde_json::json!({})),
            (&Credentials::Anonymous, "anonymous", serde_json::json!({})),
        ];
        for (cred, method, extra) in cases {
            let r = cred.respond(method, &dict(extra.clone()));
            assert!(r.is_err(), "{method} {extra}: {r:?}");
            let denied = AuthDenied::from(r.unwrap_err());
            assert_eq!(denied.reason, CANNOT_AUTHENTICATE);
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let s = format!(
            "{:?} {:?}",
            Credentials::Ticket("hunter2".into()),
            Credentials::WampCra {
                secret: "swordfish".into()
            }
        );
        assert!(!s.contains("hunter2") && !s.contains("swordfish"), "{s}");
    }
}
