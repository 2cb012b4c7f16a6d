//! Users: a name, an e-mail address (where PINs go) and one or more public keys.

use rusqlite::{Connection, params};

use super::{ensure_key_unused, optional};
use crate::error::{CdcError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub created: String,
    pub pubkeys: Vec<String>,
}

fn load(c: &Connection, row: Option<(i64, String, String, String)>) -> Result<Option<User>> {
    let Some((id, name, email, created)) = row else {
        return Ok(None);
    };
    let mut stmt =
        c.prepare_cached("SELECT pubkey FROM user_keys WHERE user_id = ?1 ORDER BY rowid")?;
    let pubkeys = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(User {
        id,
        name,
        email,
        created,
        pubkeys,
    }))
}

pub fn by_name(c: &Connection, name: &str) -> Result<Option<User>> {
    let row = optional(c.query_row(
        "SELECT id, name, email, created FROM users WHERE name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    ))?;
    load(c, row)
}

pub fn by_id(c: &Connection, id: i64) -> Result<Option<User>> {
    let row = optional(c.query_row(
        "SELECT id, name, email, created FROM users WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    ))?;
    load(c, row)
}

pub fn by_pubkey(c: &Connection, pubkey: &str) -> Result<Option<User>> {
    let row = optional(c.query_row(
        "SELECT u.id, u.name, u.email, u.created FROM users u
         JOIN user_keys k ON k.user_id = u.id WHERE k.pubkey = ?1",
        [pubkey],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    ))?;
    load(c, row)
}

/// Checks that `create_user(name, email, pubkey)` can be carried out: a new name, or an
/// existing user with the same e-mail adding a key; the key must be unused. Returns the
/// existing user when a key is being added.
pub fn check_create(c: &Connection, name: &str, email: &str, pubkey: &str) -> Result<Option<User>> {
    ensure_key_unused(c, pubkey)?;
    match by_name(c, name)? {
        None => Ok(None),
        Some(u) if u.email.eq_ignore_ascii_case(email) => Ok(Some(u)),
        Some(_) => Err(CdcError::AlreadyExists(format!(
            "user name \"{name}\" is taken"
        ))),
    }
}

/// Creates the user, or adds the key to the existing user of that name (same e-mail).
pub fn create_or_add_key(c: &Connection, name: &str, email: &str, pubkey: &str) -> Result<User> {
    let now = router_core::util::utcnow();
    let id = match check_create(c, name, email, pubkey)? {
        Some(u) => u.id,
        None => {
            c.execute(
                "INSERT INTO users (name, email, created) VALUES (?1, ?2, ?3)",
                params![name, email, now],
            )?;
            c.last_insert_rowid()
        }
    };
    c.execute(
        "INSERT INTO user_keys (pubkey, user_id, created) VALUES (?1, ?2, ?3)",
        params![pubkey, id, now],
    )?;
    by_id(c, id)?.ok_or_else(|| CdcError::Internal("user vanished after insert".into()))
}
