//! Verification by PIN: every pending management action (create a user, create a realm,
//! register a user or a node) waits under a random `verification_id` until the PIN that was
//! mailed out comes back through `cdc.manage.verify@1`.
//!
//! Rules (all enforced in one database transaction per attempt):
//! - a successful verification consumes the verification and its PIN: neither works again;
//! - wrong PINs are counted per verification (`max_tries_per_id`) and per PIN value
//!   (`max_tries_per_token`, across all verifications, which stops one guess from being sprayed
//!   over many pending verifications); at the limit the attempt is refused before comparing;
//! - a verification expires `expiry_secs` after it was created.
//!
//! Only a hash of the PIN is stored. The action is checked when it is requested (so the
//! requester learns about a taken name at once) and again when it is carried out.

use rand::RngExt as _;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::VerificationConfig;
use crate::error::{CdcError, Result};
use crate::registry::{Registry, nodes, realms, users};

/// Characters of a PIN: upper-case letters and digits that cannot be mistaken for one another
/// when read off an image (no 0/O, 1/I/L, 2/Z, 5/S, 8/B, 6/G).
pub const PIN_ALPHABET: &[u8] = b"ACDEFHJKMNPQRTUVWXY3479";

/// How long consumed and expired verifications are kept (to tell "already used" from
/// "unknown"), and how long a PIN value's failure count is remembered.
pub const RETENTION_SECS: i64 = 7 * 24 * 3600;

/// An action that waits for verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    CreateUser {
        user_name: String,
        user_email: String,
        user_pubkey: String,
    },
    CreateRealm {
        realm: String,
        owner_pubkey: String,
    },
    RegisterUser {
        realm: String,
        user_pubkey: String,
        user_role: String,
        user_extra: Option<serde_json::Value>,
    },
    RegisterNode {
        realm: String,
        node_pubkey: String,
        node_id: String,
        node_extra: Option<serde_json::Value>,
    },
}

/// What a successful verification did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    UserCreated {
        user: String,
        pubkey: String,
    },
    RealmCreated {
        realm: String,
        owner: String,
    },
    UserRegistered {
        realm: String,
        pubkey: String,
        role: String,
    },
    NodeRegistered {
        realm: String,
        node_id: String,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateUser { .. } => "create_user",
            Action::CreateRealm { .. } => "create_realm",
            Action::RegisterUser { .. } => "register_user",
            Action::RegisterNode { .. } => "register_node",
        }
    }

    /// One line for the mail that carries the PIN.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateUser {
                user_name,
                user_pubkey,
                ..
            } => format!("registration of user \"{user_name}\" with public key {user_pubkey}"),
            Action::CreateRealm { realm, .. } => {
                format!("creation of the management realm \"{realm}\"")
            }
            Action::RegisterUser {
                realm,
                user_pubkey,
                user_role,
                ..
            } => format!(
                "registration of the user with public key {user_pubkey} as \"{user_role}\" on realm \"{realm}\""
            ),
            Action::RegisterNode {
                realm,
                node_pubkey,
                node_id,
                ..
            } => format!(
                "pairing of node \"{node_id}\" (public key {node_pubkey}) with realm \"{realm}\""
            ),
        }
    }

    /// Checks that the action could be carried out now, without changing anything.
    pub fn check(&self, c: &Connection) -> Result<()> {
        match self {
            Action::CreateUser {
                user_name,
                user_email,
                user_pubkey,
            } => users::check_create(c, user_name, user_email, user_pubkey).map(drop),
            Action::CreateRealm {
                realm,
                owner_pubkey,
            } => {
                realms::check_create(c, realm)?;
                users::by_pubkey(c, owner_pubkey)?.ok_or_else(|| {
                    CdcError::NoSuchUser(format!("no user has the public key {owner_pubkey}"))
                })?;
                Ok(())
            }
            Action::RegisterUser {
                realm, user_pubkey, ..
            } => realms::check_register_user(c, realm, user_pubkey).map(drop),
            Action::RegisterNode {
                realm,
                node_pubkey,
                node_id,
                ..
            } => nodes::check_register(c, realm, node_pubkey, node_id).map(drop),
        }
    }

    /// Carries the action out.
    pub fn apply(&self, c: &Connection) -> Result<Outcome> {
        match self {
            Action::CreateUser {
                user_name,
                user_email,
                user_pubkey,
            } => {
                let u = users::create_or_add_key(c, user_name, user_email, user_pubkey)?;
                Ok(Outcome::UserCreated {
                    user: u.name,
                    pubkey: user_pubkey.clone(),
                })
            }
            Action::CreateRealm {
                realm,
                owner_pubkey,
            } => {
                let r = realms::create(c, realm, owner_pubkey)?;
                Ok(Outcome::RealmCreated {
                    realm: r.name,
                    owner: r.owner,
                })
            }
            Action::RegisterUser {
                realm,
                user_pubkey,
                user_role,
                user_extra,
            } => {
                let role = realms::UserRole::parse(user_role)?;
                let m = realms::add_member(c, realm, user_pubkey, role, user_extra.as_ref())?;
                Ok(Outcome::UserRegistered {
                    realm: m.realm,
                    pubkey: m.pubkey,
                    role: role.as_str().to_owned(),
                })
            }
            Action::RegisterNode {
                realm,
                node_pubkey,
                node_id,
                node_extra,
            } => {
                let n = nodes::register(c, realm, node_pubkey, node_id, node_extra.as_ref())?;
                Ok(Outcome::NodeRegistered {
                    realm: n.realm,
                    node_id: n.node_id,
                })
            }
        }
    }
}

impl Outcome {
    /// The result of `verify@1`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Outcome::UserCreated { user, pubkey } => {
                json!({"kind": "create_user", "user_name": user, "user_pubkey": pubkey})
            }
            Outcome::RealmCreated { realm, owner } => {
                json!({"kind": "create_realm", "management_realm": realm, "owner": owner})
            }
            Outcome::UserRegistered {
                realm,
                pubkey,
                role,
            } => {
                json!({"kind": "register_user", "management_realm": realm, "user_pubkey": pubkey, "user_role": role})
            }
            Outcome::NodeRegistered { realm, node_id } => {
                json!({"kind": "register_node", "management_realm": realm, "node_id": node_id})
            }
        }
    }
}

/// A verification just created: its ID goes back to the caller, its PIN into the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub verification_id: String,
    pub token: String,
    /// Unix time (s) after which the verification is void.
    pub expires: i64,
}

/// Applies the verification rules of the configuration.
#[derive(Debug, Clone)]
pub struct Verifier {
    config: VerificationConfig,
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A new random PIN of `len` characters, grouped by four with dashes (`7KQ3-9XWM-4HPT`).
pub fn generate_token(len: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(len + len / 4);
    for i in 0..len {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(PIN_ALPHABET[rng.random_range(0..PIN_ALPHABET.len())] as char);
    }
    s
}

/// The canonical form of a PIN as typed: upper case, without dashes and spaces.
pub fn normalize_token(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// What is stored of a PIN (never the PIN itself).
fn token_hash(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"crossbar-cdc pin v1\0");
    h.update(normalize_token(token).as_bytes());
    hex::encode(h.finalize())
}

/// A random verification ID in UUID form.
fn new_verification_id() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The row of a verification.
struct Row {
    payload: String,
    token_hash: String,
    tries: i64,
    expires: i64,
    consumed: Option<i64>,
}

impl Verifier {
    pub fn new(config: VerificationConfig) -> Self {
        Verifier { config }
    }

    pub fn config(&self) -> &VerificationConfig {
        &self.config
    }

    /// Checks `action` and stores it as pending with a fresh PIN.
    pub fn create(
        &self,
        reg: &Registry,
        action: &Action,
        requested_by: &str,
        now: i64,
    ) -> Result<Pending> {
        let payload = serde_json::to_string(action)
            .map_err(|e| CdcError::Internal(format!("cannot encode action: {e}")))?;
        reg.transaction(|tx| {
            action.check(tx)?;
            let expires = now.saturating_add(self.config.expiry_secs as i64);
            // A PIN is unique among stored verifications (the column is UNIQUE): draw again
            // on the astronomically rare collision.
            for _ in 0..8 {
                let token = generate_token(self.config.pin_length);
                let hash = token_hash(&token);
                let taken: bool = tx
                    .query_row(
                        "SELECT 1 FROM verifications WHERE token_hash = ?1",
                        [&hash],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if taken {
                    continue;
                }
                let verification_id = new_verification_id();
                tx.execute(
                    "INSERT INTO verifications (id, kind, payload, token_hash, tries, created, expires, requested_by)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
                    params![verification_id, action.kind(), payload, hash, now, expires, requested_by],
                )?;
                return Ok(Pending {
                    verification_id,
                    token,
                    expires,
                });
            }
            Err(CdcError::Internal("could not draw an unused PIN".into()))
        })
    }

    /// Removes a pending verification whose PIN could not be delivered.
    pub fn cancel(&self, reg: &Registry, verification_id: &str) -> Result<()> {
        reg.read(|c| {
            c.execute(
                "DELETE FROM verifications WHERE id = ?1 AND consumed IS NULL",
                [verification_id],
            )?;
            Ok(())
        })
    }

    /// Checks `token` for `verification_id`; on success consumes the verification and
    /// carries its action out, all in one transaction.
    pub fn verify(
        &self,
        reg: &Registry,
        verification_id: &str,
        token: &str,
        now: i64,
    ) -> Result<(Action, Outcome)> {
        let normalized = normalize_token(token);
        if normalized.is_empty() || normalized.len() > 64 {
            return Err(CdcError::invalid(
                "token must be the PIN from the verification mail",
            ));
        }
        let hash = token_hash(&normalized);
        // The outer result is the transaction's (committed unless it is an error); the inner
        // one is the caller's: a wrong PIN is an error for the caller, but its counting must
        // be committed.
        reg.transaction(|tx| -> Result<Result<(Action, Outcome)>> {
            let row = tx
                .query_row(
                    "SELECT payload, token_hash, tries, expires, consumed FROM verifications WHERE id = ?1",
                    [verification_id],
                    |r| {
                        Ok(Row {
                            payload: r.get(0)?,
                            token_hash: r.get(1)?,
                            tries: r.get(2)?,
                            expires: r.get(3)?,
                            consumed: r.get(4)?,
                        })
                    },
                )
                .optional()?;
            let Some(row) = row else {
                return Ok(Err(CdcError::NoSuchVerification(format!(
                    "no pending verification \"{verification_id}\""
                ))));
            };
            if row.consumed.is_some() {
                return Ok(Err(CdcError::VerificationFailed(format!(
                    "verification \"{verification_id}\" was already used: a PIN works only once"
                ))));
            }
            if now >= row.expires {
                return Ok(Err(CdcError::Expired(format!(
                    "verification \"{verification_id}\" expired; request the action again"
                ))));
            }
            let max_id = i64::from(self.config.max_tries_per_id);
            if row.tries >= max_id {
                return Ok(Err(CdcError::TooManyTries(format!(
                    "verification \"{verification_id}\" is locked after {max_id} wrong PINs; request the action again"
                ))));
            }
            let token_failures: i64 = tx
                .query_row(
                    "SELECT count FROM token_failures WHERE token_hash = ?1",
                    [&hash],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let max_token = i64::from(self.config.max_tries_per_token);
            if token_failures >= max_token {
                return Ok(Err(CdcError::TooManyTries(format!(
                    "this PIN was tried {token_failures} times without success and is refused"
                ))));
            }
            let matches: bool = row.token_hash.as_bytes().ct_eq(hash.as_bytes()).into();
            if !matches {
                tx.execute(
                    "UPDATE verifications SET tries = tries + 1 WHERE id = ?1",
                    [verification_id],
                )?;
                tx.execute(
                    "INSERT INTO token_failures (token_hash, count, last) VALUES (?1, 1, ?2)
                     ON CONFLICT(token_hash) DO UPDATE SET count = count + 1, last = ?2",
                    params![hash, now],
                )?;
                let left = max_id - row.tries - 1;
                return Ok(Err(CdcError::VerificationFailed(format!(
                    "wrong PIN for verification \"{verification_id}\" ({left} tries left)"
                ))));
            }
            tx.execute(
                "UPDATE verifications SET consumed = ?2 WHERE id = ?1",
                params![verification_id, now],
            )?;
            let action: Action = serde_json::from_str(&row.payload).map_err(|e| {
                CdcError::Internal(format!("stored verification cannot be read: {e}"))
            })?;
            // The world may have changed since the request (a name taken meanwhile). The
            // verification stays consumed either way: its PIN has been used.
            match action.apply(tx) {
                Ok(outcome) => Ok(Ok((action, outcome))),
                Err(e @ CdcError::Internal(_)) => Err(e),
                Err(e) => Ok(Err(e)),
            }
        })?
    }

    /// Forgets verifications and PIN failure counts older than [`RETENTION_SECS`].
    pub fn purge(&self, reg: &Registry, now: i64) -> Result<usize> {
        reg.transaction(|tx| {
            let cutoff = now - RETENTION_SECS;
            let n = tx.execute(
                "DELETE FROM verifications WHERE expires < ?1 OR consumed < ?1",
                [cutoff],
            )?;
            tx.execute("DELETE FROM token_failures WHERE last < ?1", [cutoff])?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests;
