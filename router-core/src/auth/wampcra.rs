//! WAMP-CRA: the challenge Crossbar.io builds, the HMAC-SHA256 signature over it, autobahn's
//! PBKDF2 key derivation for salted secrets, and the router's pending authentication.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::config::WampCraAuth;
use super::config_auth::{Principal, assign, authid_display};
use super::reason;
use super::{AuthDenied, AuthStep, HelloInfo, Identity, PendingAuth};
use crate::message::Id;
use crate::value::{Dict, Value};

/// Derives the key of a salted secret as autobahn's `derive_key` does: PBKDF2-HMAC-SHA256,
/// returned as base64 text. That text (not the raw bytes) is the HMAC key for [`sign`].
pub fn derive_key(secret: &str, salt: &str, iterations: u32, keylen: u16) -> String {
    let mut key = vec![0u8; usize::from(keylen)];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), salt.as_bytes(), iterations, &mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// The WAMP-CRA signature: base64(HMAC-SHA256(key, challenge)), autobahn's `compute_wcs`.
pub fn sign(key: &str, challenge: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256>>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(challenge.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The challenge string exactly as Crossbar.io writes it: Python's `json.dumps` of a dict in
/// this key order, with its `", "` and `": "` separators and non-ASCII left unescaped. The
/// client signs these exact bytes, so the format is kept even though any JSON would verify.
pub fn challenge_string(
    authid: &str,
    authrole: &str,
    authprovider: &str,
    session: Id,
    nonce: &str,
    timestamp: &str,
) -> String {
    let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    format!(
        "{{\"authid\": {}, \"authrole\": {}, \"authmethod\": \"wampcra\", \"authprovider\": {}, \
         \"session\": {session}, \"nonce\": {}, \"timestamp\": {}}}",
        s(authid),
        s(authrole),
        s(authprovider),
        s(nonce),
        s(timestamp)
    )
}

/// A random nonce like autobahn's `newid(64)`: 48 random bytes as 64 base64 characters.
fn nonce() -> String {
    let mut bytes = [0u8; 48];
    rand::fill(&mut bytes[..]);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The time as autobahn's `utcnow()` writes it: `2024-05-23T13:03:44.123Z`.
pub fn utc_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Compares two signatures in time independent of where they differ.
fn signatures_match(expected: &str, got: &str) -> bool {
    expected.as_bytes().ct_eq(got.as_bytes()).into()
}

/// One WAMP-CRA user, with the HMAC key derived once at startup rather than per HELLO.
struct User {
    principal: Principal,
    key: String,
    salting: Option<(String, u32, u16)>,
}

/// A static WAMP-CRA user database.
pub(crate) struct WampCraDb {
    users: BTreeMap<String, User>,
    default_role: Option<String>,
}

impl WampCraDb {
    pub(crate) fn new(config: &WampCraAuth) -> WampCraDb {
        let users = config
            .users
            .iter()
            .map(|(authid, u)| {
                let salting = u.salting().map(|(s, i, k)| (s.to_owned(), i, k));
                let key = match &salting {
                    Some((salt, iterations, keylen)) => {
                        derive_key(&u.secret, salt, *iterations, *keylen)
                    }
                    None => u.secret.clone(),
                };
                let principal = Principal {
                    realm: None,
                    role: u.role.clone(),
                };
                (
                    authid.clone(),
                    User {
                        principal,
                        key,
                        salting,
                    },
                )
            })
            .collect();
        WampCraDb {
            users,
            default_role: config.default_role.clone(),
        }
    }

    /// Answers a HELLO for `wampcra`: a challenge, or Crossbar.io's denial.
    pub(crate) fn hello(&self, hello: &HelloInfo) -> AuthStep {
        let Some(user) = hello.authid.as_ref().and_then(|a| self.users.get(a)) else {
            return AuthStep::Deny(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                format!(
                    "no principal with authid \"{}\" exists",
                    authid_display(hello.authid.as_deref())
                ),
            ));
        };
        let authid = hello.authid.clone().unwrap_or_default();
        let (realm, authrole) = match assign(
            hello,
            &authid,
            &user.principal,
            self.default_role.as_deref(),
        ) {
            Ok(assigned) => assigned,
            Err(denied) => return AuthStep::Deny(denied),
        };

        let identity = Identity {
            realm,
            authid,
            authrole,
            authmethod: "wampcra".into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
        };
        challenge(identity, hello.session_id, &user.key, user.salting.as_ref())
    }
}

/// The CHALLENGE for `identity` (whose authid, authrole and authprovider the challenge
/// string names), signed with `key` (the derived key of a salted secret).
pub(crate) fn challenge(
    identity: Identity,
    session: Id,
    key: &str,
    salting: Option<&(String, u32, u16)>,
) -> AuthStep {
    let challenge = challenge_string(
        &identity.authid,
        &identity.authrole,
        &identity.authprovider,
        session,
        &nonce(),
        &utc_timestamp(SystemTime::now()),
    );
    let expected = sign(key, &challenge);
    let mut extra = Dict::new();
    extra.insert("challenge".into(), Value::String(challenge));
    if let Some((salt, iterations, keylen)) = salting {
        extra.insert("salt".into(), Value::String(salt.clone()));
        extra.insert("iterations".into(), Value::from(*iterations));
        extra.insert("keylen".into(), Value::from(u32::from(*keylen)));
    }
    AuthStep::Challenge {
        method: "wampcra".into(),
        extra,
        pending: Box::new(PendingWampCra { expected, identity }),
    }
}

/// A WAMP-CRA CHALLENGE sent, waiting for the signature.
struct PendingWampCra {
    expected: String,
    identity: Identity,
}

#[async_trait]
impl PendingAuth for PendingWampCra {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        if signatures_match(&self.expected, signature) {
            Ok(self.identity)
        } else {
            Err(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                "WAMP-CRA client signature is invalid",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn compute_wcs_vector() {
        // autobahn test_wamp_auth.py test_compute_wcs: challenge is json.dumps([1, 2, 3]).
        assert_eq!(
            sign("L3L1YUE8Txlw", "[1, 2, 3]"),
            "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0="
        );
    }

    #[test]
    fn derive_key_vector() {
        // autobahn test_wamp_auth.py test_derive_key: PBKDF2-HMAC-SHA256, defaults 1000 / 32.
        // (The file's PBKDF2_TEST_VECTORS are HMAC-SHA1 and do not apply to WAMP-CRA.)
        assert_eq!(
            derive_key("L3L1YUE8Txlw", "salt123", 1000, 32),
            "qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y="
        );
    }

    #[test]
    fn derive_key_is_pbkdf2_sha256() {
        // RFC 7914 §11 PBKDF2-HMAC-SHA256 vector (P="passwd", S="salt", c=1, dkLen=64).
        let b64 = derive_key("passwd", "salt", 1, 64);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            hex::encode(raw),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
    }

    #[test]
    fn salted_signature_uses_base64_key_text() {
        // What autobahn's AuthWampCra.on_challenge computes for a salted challenge.
        // Expected value from autobahn 26.x: compute_wcs(derive_key(b"L3L1YUE8Txlw", b"salt123"), b"[1, 2, 3]").
        let key = derive_key("L3L1YUE8Txlw", "salt123", 1000, 32);
        assert_eq!(
            sign(&key, "[1, 2, 3]"),
            "c3pCfyceJEbMIYZ/MRvn3RbPu4aqaQ/IeiCmHKfGMx4="
        );
    }

    #[test]
    fn challenge_is_python_json() {
        let c = challenge_string(
            "jöe\"",
            "user",
            "static",
            4711,
            "NONCE",
            "2024-01-02T03:04:05.006Z",
        );
        assert_eq!(
            c,
            "{\"authid\": \"jöe\\\"\", \"authrole\": \"user\", \"authmethod\": \"wampcra\", \
             \"authprovider\": \"static\", \"session\": 4711, \"nonce\": \"NONCE\", \
             \"timestamp\": \"2024-01-02T03:04:05.006Z\"}"
        );
        let v: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["authid"], "jöe\"");
    }

    #[test]
    fn timestamps() {
        let at = |s: u64, ms: u64| {
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 999), "2000-02-29T00:00:00.999Z");
        assert_eq!(at(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
        assert_eq!(at(4_107_542_399, 5), "2100-02-28T23:59:59.005Z");
    }

    #[test]
    fn nonce_shape() {
        let n = nonce();
        assert_eq!(n.len(), 64);
        assert_ne!(n, nonce());
    }

    #[test]
    fn constant_time_compare() {
        assert!(signatures_match("abc", "abc"));
        assert!(!signatures_match("abc", "abd"));
        assert!(!signatures_match("abc", "ab"));
        assert!(!signatures_match("abc", ""));
    }
}
