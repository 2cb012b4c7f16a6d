//! The registry's schema and its migrations, keyed by `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] upgrades version `i` to `i + 1` and runs in one transaction
//! with the version bump, so a crash mid-upgrade leaves the old version intact.

use rusqlite::Connection;

use crate::error::{CdcError, Result};

/// Migrations in order; never edit a released entry, append a new one.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
    r#"
    CREATE TABLE users (
        id      INTEGER PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        email   TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE user_keys (
        pubkey  TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created TEXT NOT NULL
    );
    CREATE INDEX user_keys_user ON user_keys(user_id);
    CREATE TABLE realms (
        id       INTEGER PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        owner_id INTEGER NOT NULL REFERENCES users(id),
        created  TEXT NOT NULL
    );
    CREATE TABLE memberships (
        realm_id INTEGER NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
        pubkey   TEXT NOT NULL,
        role     TEXT NOT NULL CHECK (role IN ('guest', 'devops', 'admin')),
        extra    TEXT,
        created  TEXT NOT NULL,
        PRIMARY KEY (realm_id, pubkey)
    );
    CREATE TABLE nodes (
        id             INTEGER PRIMARY KEY,
        realm_id       INTEGER NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
        node_id        TEXT NOT NULL,
        pubkey         TEXT NOT NULL UNIQUE,
        extra          TEXT,
        status         TEXT NOT NULL DEFAULT 'offline',
        last_heartbeat TEXT,
        created        TEXT NOT NULL,
        UNIQUE (realm_id, node_id)
    );
    CREATE TABLE verifications (
        id           TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        payload      TEXT NOT NULL,
        token_hash   TEXT NOT NULL UNIQUE,
        tries        INTEGER NOT NULL DEFAULT 0,
        created      INTEGER NOT NULL,
        expires      INTEGER NOT NULL,
        consumed     INTEGER,
        requested_by TEXT
    );
    CREATE TABLE token_failures (
        token_hash TEXT PRIMARY KEY,
        count      INTEGER NOT NULL,
        last       INTEGER NOT NULL
    );
    CREATE TABLE profiles (
        realm_id   INTEGER NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
        profile_id TEXT NOT NULL,
        node_id    TEXT NOT NULL,
        worker_id  TEXT NOT NULL,
        created    TEXT NOT NULL,
        PRIMARY KEY (realm_id, profile_id)
    );
    CREATE TABLE audit (
        id     INTEGER PRIMARY KEY,
        ts     TEXT NOT NULL,
        realm  TEXT NOT NULL,
        who    TEXT NOT NULL,
        role   TEXT NOT NULL,
        what   TEXT NOT NULL,
        args   TEXT NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX audit_realm ON audit(realm, id);
    "#,
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`VERSION`]; a newer file is refused rather than misread.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > VERSION {
        return Err(CdcError::Internal(format!(
            "the registry database has schema version {current}, newer than this build's {VERSION}: upgrade crossbar-cdc"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
