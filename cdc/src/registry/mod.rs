//! The registry: users, management realms, memberships, nodes, pending verifications and the
//! audit log, kept in SQLite (`<cbdir>/cdc.sqlite`).
//!
//! One connection behind a mutex: every operation is a handful of indexed statements (well
//! under a millisecond), so contention is not worth a pool, and SQLite serializes writers
//! anyway. Reads and writes that must agree run in one transaction ([`Registry::transaction`]).
//! The schema is versioned with `PRAGMA user_version`; [`schema`] upgrades old files in place.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::error::{CdcError, Result};

pub mod audit;
pub mod nodes;
pub mod realms;
mod schema;
pub mod users;

pub use audit::AuditEntry;
pub use nodes::{NodeRecord, NodeStatus};
pub use realms::{Membership, RealmRecord, UserRole};
pub use users::User;

/// Who a public key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    User(String),
    Node { realm: String, node_id: String },
}

/// The CDC's persistent state.
pub struct Registry {
    conn: Mutex<Connection>,
}

impl Registry {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Registry> {
        let conn = Connection::open(path)?;
        // WAL: readers never wait for the writer; NORMAL sync is durable across process
        // crashes (the OS has the data) and loses at most the last commits on power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::setup(conn)
    }

    /// A registry in memory, for tests.
    pub fn open_in_memory() -> Result<Registry> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Registry> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        Ok(Registry {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` in one immediate (write-locked) transaction; an error rolls everything back.
    pub fn transaction<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on the connection without a transaction (single reads).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&self.conn.lock())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        self.read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
    }

    // ---- convenience reads ----

    pub fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.read(|c| users::by_name(c, name))
    }

    pub fn user_by_pubkey(&self, pubkey: &str) -> Result<Option<User>> {
        self.read(|c| users::by_pubkey(c, pubkey))
    }

    pub fn realm(&self, name: &str) -> Result<Option<RealmRecord>> {
        self.read(|c| realms::by_name(c, name))
    }

    pub fn realms(&self) -> Result<Vec<RealmRecord>> {
        self.read(realms::all)
    }

    pub fn membership(&self, realm: &str, pubkey: &str) -> Result<Option<Membership>> {
        self.read(|c| realms::membership(c, realm, pubkey))
    }

    pub fn node(&self, realm: &str, node_id: &str) -> Result<Option<NodeRecord>> {
        self.read(|c| nodes::get(c, realm, node_id))
    }

    pub fn node_by_pubkey(&self, pubkey: &str) -> Result<Option<NodeRecord>> {
        self.read(|c| nodes::by_pubkey(c, pubkey))
    }

    pub fn nodes(&self, realm: &str) -> Result<Vec<NodeRecord>> {
        self.read(|c| nodes::in_realm(c, realm))
    }

    /// Records a node's status (and its last heartbeat time, if given).
    pub fn set_node_status(
        &self,
        realm: &str,
        node_id: &str,
        status: NodeStatus,
        heartbeat: Option<&str>,
    ) -> Result<()> {
        self.read(|c| nodes::set_status(c, realm, node_id, status, heartbeat))
    }

    /// Every node is offline when the CDC starts: none is connected yet.
    pub fn reset_node_statuses(&self) -> Result<()> {
        self.read(|c| {
            c.execute("UPDATE nodes SET status = 'offline'", [])?;
            Ok(())
        })
    }

    pub fn remember_profile(
        &self,
        realm: &str,
        profile_id: &str,
        node_id: &str,
        worker_id: &str,
    ) -> Result<()> {
        self.read(|c| nodes::remember_profile(c, realm, profile_id, node_id, worker_id))
    }

    pub fn profile_location(
        &self,
        realm: &str,
        profile_id: &str,
    ) -> Result<Option<(String, String)>> {
        self.read(|c| nodes::profile_location(c, realm, profile_id))
    }

    pub fn audit(&self, entry: &AuditEntry) -> Result<()> {
        self.read(|c| audit::insert(c, entry))
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|c| audit::recent(c, limit))
    }

    pub fn key_owner(&self, pubkey: &str) -> Result<Option<KeyOwner>> {
        self.read(|c| key_owner(c, pubkey))
    }
}

/// Who holds `pubkey`: a user or a node. A key identifies exactly one principal, so the
/// authenticator can tell from the key alone what is connecting.
pub fn key_owner(c: &Connection, pubkey: &str) -> Result<Option<KeyOwner>> {
    if let Some(u) = users::by_pubkey(c, pubkey)? {
        return Ok(Some(KeyOwner::User(u.name)));
    }
    Ok(nodes::by_pubkey(c, pubkey)?.map(|n| KeyOwner::Node {
        realm: n.realm,
        node_id: n.node_id,
    }))
}

/// Fails with `already_exists` if `pubkey` is registered for anyone.
pub fn ensure_key_unused(c: &Connection, pubkey: &str) -> Result<()> {
    match key_owner(c, pubkey)? {
        None => Ok(()),
        Some(KeyOwner::User(u)) => Err(CdcError::AlreadyExists(format!(
            "public key {pubkey} is already registered for user \"{u}\""
        ))),
        Some(KeyOwner::Node { realm, node_id }) => Err(CdcError::AlreadyExists(format!(
            "public key {pubkey} is already registered for node \"{node_id}\" on realm \"{realm}\""
        ))),
    }
}

/// A single optional row.
pub(crate) fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>> {
    Ok(r.optional()?)
}

#[cfg(test)]
mod tests;
