//! WAMP-SCRAM as Crossbar.io and autobahn-python speak it (the draft of wamp-proto issue 135):
//! the client sends a nonce in HELLO, the router answers with its nonce and the credential's
//! KDF parameters, the client proves it knows the password with `ClientProof`, and WELCOME
//! carries the router's signature so the client can check the router knew the credential.
//!
//! The router holds only `StoredKey` and `ServerKey` (RFC 5802): it never sees the password,
//! so it needs no KDF, only HMAC-SHA256 and SHA-256. Channel binding is not part of what
//! Crossbar.io checks (`c=` is empty), and neither is it here.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::config::{ScramAuth, ScramKdf, ScramPrincipal};
use super::config_auth::{Principal, assign, authid_display};
use super::reason;
use super::{AuthDenied, AuthStep, HelloInfo, Identity, PendingAuth};
use crate::value::{Dict, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What the router knows of one credential.
#[derive(Clone)]
pub(crate) struct Credential {
    pub kdf: ScramKdf,
    pub iterations: u32,
    pub memory: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl From<&ScramPrincipal> for Credential {
    fn from(p: &ScramPrincipal) -> Self {
        Credential {
            kdf: p.kdf,
            iterations: p.iterations,
            memory: p.memory,
            salt: p.salt.clone(),
            stored_key: p.stored_key.clone(),
            server_key: p.server_key.clone(),
        }
    }
}

impl Credential {
    /// The credential in a dynamic authenticator's answer: the keys of a static principal
    /// (`kdf`, `iterations`, `memory`, hex `salt`, `stored-key`, `server-key`).
    pub(crate) fn from_answer(answer: &Dict) -> Result<Credential, String> {
        let text = |key: &str| match answer.get(key) {
            Some(Value::String(s)) => Ok(s.as_str()),
            None | Some(Value::Null) => Err(format!("has no \"{key}\"")),
            Some(other) => Err(format!(
                "\"{key}\" must be a string, not {}",
                other.type_name()
            )),
        };
        let number = |key: &str| {
            answer
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("\"{key}\" must be a positive integer"))
        };
        let hex = |key: &str, len: Option<usize>| {
            let bytes =
                hex::decode(text(key)?).map_err(|e| format!("\"{key}\" is not hex: {e}"))?;
            match len {
                Some(n) if bytes.len() != n => Err(format!("\"{key}\" must be {n} bytes")),
                _ if bytes.is_empty() => Err(format!("\"{key}\" is empty")),
                _ => Ok(bytes),
            }
        };
        let kdf = text("kdf")?;
        Ok(Credential {
            kdf: ScramKdf::from_name(kdf).ok_or_else(|| {
                format!("\"kdf\" must be \"argon2id-13\" or \"pbkdf2\", not \"{kdf}\"")
            })?,
            iterations: number("iterations")?,
            memory: number("memory")?,
            salt: hex("salt", None)?,
            stored_key: hex("stored-key", Some(32))?,
            server_key: hex("server-key", Some(32))?,
        })
    }
}

/// The client's nonce from HELLO.authextra, decoded (Crossbar.io's checks and messages).
pub(crate) fn client_nonce(hello: &HelloInfo) -> Result<Vec<u8>, AuthDenied> {
    let deny = |m: &str| AuthDenied::new(reason::NOT_AUTHORIZED, m);
    let Some(nonce) = hello.authextra.get("nonce") else {
        return Err(deny("client must send a nonce"));
    };
    nonce
        .as_str()
        .and_then(|n| B64.decode(n).ok())
        .ok_or_else(|| deny("client nonce must be base64"))
}

/// The authid the client asked for (SCRAM has no anonymous principals).
pub(crate) fn requested_authid(hello: &HelloInfo) -> Result<&str, AuthDenied> {
    hello.authid.as_deref().ok_or_else(|| {
        AuthDenied::new(
            reason::NOT_AUTHORIZED,
            "cannot identify client: no authid requested",
        )
    })
}

/// The CHALLENGE for `identity` with `credential`, after the client's nonce.
pub(crate) fn challenge(
    identity: Identity,
    client_nonce: Vec<u8>,
    credential: Credential,
) -> AuthStep {
    let mut server_nonce = client_nonce.clone();
    let mut random = [0u8; 16];
    rand::fill(&mut random[..]);
    server_nonce.extend_from_slice(&random);

    let mut extra = Dict::new();
    extra.insert("nonce".into(), Value::from(B64.encode(&server_nonce)));
    extra.insert("kdf".into(), Value::from(credential.kdf.name()));
    extra.insert("salt".into(), Value::from(B64.encode(&credential.salt)));
    extra.insert("iterations".into(), Value::from(credential.iterations));
    extra.insert("memory".into(), Value::from(credential.memory));
    AuthStep::Challenge {
        method: "scram".into(),
        extra,
        pending: Box::new(PendingScram {
            identity,
            client_nonce,
            server_nonce,
            credential,
        }),
    }
}

/// RFC 5802's AuthMessage as autobahn builds it (no channel binding: `c=`).
fn auth_message(
    authid: &str,
    client_nonce: &[u8],
    server_nonce: &[u8],
    salt: &[u8],
    i: u32,
) -> String {
    let (cn, sn, s) = (
        B64.encode(client_nonce),
        B64.encode(server_nonce),
        B64.encode(salt),
    );
    format!("n={authid},r={cn},r={sn},s={s},i={i},c=,r={sn}")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Checks `ClientProof` against `StoredKey`; the router's `ServerSignature` when it holds.
fn verify(credential: &Credential, auth_message: &str, proof: &[u8]) -> Option<[u8; 32]> {
    let client_signature = hmac_sha256(&credential.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return None;
    }
    let client_key: Vec<u8> = client_signature
        .iter()
        .zip(proof)
        .map(|(a, b)| a ^ b)
        .collect();
    let recovered: [u8; 32] = Sha256::digest(&client_key).into();
    if !bool::from(recovered.as_slice().ct_eq(&credential.stored_key)) {
        return None;
    }
    Some(hmac_sha256(&credential.server_key, auth_message.as_bytes()))
}

/// A static SCRAM principal database.
pub(crate) struct ScramDb {
    principals: BTreeMap<String, (Principal, Credential)>,
    default_role: Option<String>,
}

impl ScramDb {
    pub(crate) fn new(config: &ScramAuth) -> ScramDb {
        let principals = config
            .principals
            .iter()
            .map(|(authid, p)| {
                let principal = Principal {
                    realm: None,
                    role: p.role.clone(),
                };
                (authid.clone(), (principal, Credential::from(p)))
            })
            .collect();
        ScramDb {
            principals,
            default_role: config.default_role.clone(),
        }
    }

    /// Answers a HELLO for `scram`: a challenge, or Crossbar.io's denial.
    pub(crate) fn hello(&self, hello: &HelloInfo) -> AuthStep {
        let step = || -> Result<AuthStep, AuthDenied> {
            let nonce = client_nonce(hello)?;
            let authid = requested_authid(hello)?;
            let Some((principal, credential)) = self.principals.get(authid) else {
                return Err(AuthDenied::new(
                    reason::NOT_AUTHORIZED,
                    format!(
                        "no principal with authid \"{}\" exists",
                        authid_display(Some(authid))
                    ),
                ));
            };
            let (realm, authrole) = assign(hello, authid, principal, self.default_role.as_deref())?;
            let identity = Identity {
                realm,
                authid: authid.to_owned(),
                authrole,
                authmethod: "scram".into(),
                authprovider: "static".into(),
                authextra: Dict::new(),
            };
            Ok(challenge(identity, nonce, credential.clone()))
        };
        step().unwrap_or_else(AuthStep::Deny)
    }
}

/// A SCRAM CHALLENGE sent, waiting for `ClientProof`.
struct PendingScram {
    identity: Identity,
    client_nonce: Vec<u8>,
    server_nonce: Vec<u8>,
    credential: Credential,
}

#[async_trait]
impl PendingAuth for PendingScram {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        let failed = || AuthDenied::new(reason::NOT_AUTHORIZED, "SCRAM authentication failed");
        // autobahn prepares the name with SASLprep (RFC 4013) before it goes into the message.
        let authid = stringprep::saslprep(&self.identity.authid).map_err(|_| failed())?;
        let message = auth_message(
            &authid,
            &self.client_nonce,
            &self.server_nonce,
            &self.credential.salt,
            self.credential.iterations,
        );
        let proof = B64.decode(signature.trim()).map_err(|_| failed())?;
        let Some(server_signature) = verify(&self.credential, &message, &proof) else {
            tracing::warn!(authid = %self.identity.authid, "SCRAM authentication failed");
            return Err(failed());
        };
        let mut identity = self.identity;
        identity.authextra.insert(
            "scram_server_signature".into(),
            Value::from(B64.encode(server_signature)),
        );
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What autobahn's `AuthScram` computes from the password (the KDF output is the
    /// "salted password"), for a test credential.
    fn client_keys(salted_password: &[u8]) -> ([u8; 32], Vec<u8>, [u8; 32]) {
        let client_key = hmac_sha256(salted_password, b"Client Key");
        let stored_key = Sha256::digest(client_key).to_vec();
        let server_key = hmac_sha256(salted_password, b"Server Key");
        (client_key, stored_key, server_key)
    }

    fn credential(salted_password: &[u8]) -> (Credential, [u8; 32]) {
        let (client_key, stored_key, server_key) = client_keys(salted_password);
        let c = Credential {
            kdf: ScramKdf::Pbkdf2,
            iterations: 4096,
            memory: 512,
            salt: b"0123456789abcdef".to_vec(),
            stored_key,
            server_key: server_key.to_vec(),
        };
        (c, client_key)
    }

    #[test]
    fn auth_message_is_autobahns() {
        assert_eq!(
            auth_message("joe", b"ab", b"abcd", b"s", 10),
            "n=joe,r=YWI=,r=YWJjZA==,s=cw==,i=10,c=,r=YWJjZA=="
        );
    }

    #[test]
    fn a_right_proof_verifies_and_a_wrong_one_does_not() {
        let (c, client_key) = credential(b"salted-password-text");
        let message = "n=joe,r=x,r=xy,s=s,i=1,c=,r=xy";
        let client_signature = hmac_sha256(&c.stored_key, message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_signature = verify(&c, message, &proof).expect("the right proof");
        let (_, _, server_key) = client_keys(b"salted-password-text");
        assert_eq!(
            server_signature,
            hmac_sha256(&server_key, message.as_bytes())
        );

        let mut wrong = proof.clone();
        wrong[0] ^= 1;
        assert!(verify(&c, message, &wrong).is_none());
        assert!(verify(&c, message, &proof[..31]).is_none());
        assert!(verify(&c, "n=joe,r=x,r=xz,s=s,i=1,c=,r=xz", &proof).is_none());
    }

    #[test]
    fn answer_credentials_are_checked() {
        let mut d = Dict::new();
        d.insert("kdf".into(), Value::from("argon2id-13"));
        d.insert("iterations".into(), Value::from(4096u32));
        d.insert("memory".into(), Value::from(512u32));
        d.insert("salt".into(), Value::from("00ff"));
        d.insert("stored-key".into(), Value::from("ab".repeat(32)));
        d.insert("server-key".into(), Value::from("cd".repeat(32)));
        let c = Credential::from_answer(&d).unwrap();
        assert_eq!(c.salt, vec![0, 255]);
        d.insert("server-key".into(), Value::from("cd"));
        assert!(
            Credential::from_answer(&d)
                .err()
                .unwrap()
                .contains("server-key")
        );
        d.insert("kdf".into(), Value::from("md5"));
        assert!(Credential::from_answer(&d).err().unwrap().contains("md5"));
        d.shift_remove("kdf");
        assert!(Credential::from_answer(&d).err().unwrap().contains("kdf"));
    }
}
