//! Nodes paired with management realms (a node ID, a public key, extra data handed to the node
//! at authentication), their last known status, and where profiles were started.

use rusqlite::{Connection, params};

use super::{ensure_key_unused, optional, realms};
use crate::error::{CdcError, Result};

/// A node's status as the CDC sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    Online,
    Offline,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Online => "online",
            NodeStatus::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<NodeStatus> {
        match s {
            "online" => Some(NodeStatus::Online),
            "offline" => Some(NodeStatus::Offline),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    pub realm: String,
    pub node_id: String,
    pub pubkey: String,
    pub extra: Option<serde_json::Value>,
    pub status: NodeStatus,
    pub last_heartbeat: Option<String>,
    pub created: String,
}

const SELECT: &str =
    "SELECT r.name, n.node_id, n.pubkey, n.extra, n.status, n.last_heartbeat, n.created
     FROM nodes n JOIN realms r ON r.id = n.realm_id";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<NodeRecord> {
    let extra: Option<String> = r.get(3)?;
    let status: String = r.get(4)?;
    Ok(NodeRecord {
        realm: r.get(0)?,
        node_id: r.get(1)?,
        pubkey: r.get(2)?,
        extra: extra.and_then(|e| serde_json::from_str(&e).ok()),
        status: NodeStatus::parse(&status).unwrap_or(NodeStatus::Offline),
        last_heartbeat: r.get(5)?,
        created: r.get(6)?,
    })
}

pub fn get(c: &Connection, realm: &str, node_id: &str) -> Result<Option<NodeRecord>> {
    optional(c.query_row(
        &format!("{SELECT} WHERE r.name = ?1 AND n.node_id = ?2"),
        params![realm, node_id],
        record,
    ))
}

pub fn by_pubkey(c: &Connection, pubkey: &str) -> Result<Option<NodeRecord>> {
    optional(c.query_row(&format!("{SELECT} WHERE n.pubkey = ?1"), [pubkey], record))
}

pub fn in_realm(c: &Connection, realm: &str) -> Result<Vec<NodeRecord>> {
    let mut stmt = c.prepare_cached(&format!("{SELECT} WHERE r.name = ?1 ORDER BY n.node_id"))?;
    Ok(stmt
        .query_map([realm], record)?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Checks that a node with `pubkey` can be registered as `node_id` on `realm`.
pub fn check_register(c: &Connection, realm: &str, pubkey: &str, node_id: &str) -> Result<i64> {
    let r = realms::require(c, realm)?;
    ensure_key_unused(c, pubkey)?;
    if get(c, realm, node_id)?.is_some() {
        return Err(CdcError::AlreadyExists(format!(
            "node \"{node_id}\" already exists on realm \"{realm}\""
        )));
    }
    Ok(r.id)
}

pub fn register(
    c: &Connection,
    realm: &str,
    pubkey: &str,
    node_id: &str,
    extra: Option<&serde_json::Value>,
) -> Result<NodeRecord> {
    let realm_id = check_register(c, realm, pubkey, node_id)?;
    c.execute(
        "INSERT INTO nodes (realm_id, node_id, pubkey, extra, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            realm_id,
            node_id,
            pubkey,
            extra.map(|e| e.to_string()),
            router_core::util::utcnow()
        ],
    )?;
    get(c, realm, node_id)?.ok_or_else(|| CdcError::Internal("node vanished after insert".into()))
}

pub fn set_status(
    c: &Connection,
    realm: &str,
    node_id: &str,
    status: NodeStatus,
    heartbeat: Option<&str>,
) -> Result<()> {
    c.execute(
        "UPDATE nodes SET status = ?3, last_heartbeat = COALESCE(?4, last_heartbeat)
         WHERE node_id = ?2 AND realm_id = (SELECT id FROM realms WHERE name = ?1)",
        params![realm, node_id, status.as_str(), heartbeat],
    )?;
    Ok(())
}

pub fn remember_profile(
    c: &Connection,
    realm: &str,
    profile_id: &str,
    node_id: &str,
    worker_id: &str,
) -> Result<()> {
    let r = realms::require(c, realm)?;
    c.execute(
        "INSERT OR REPLACE INTO profiles (realm_id, profile_id, node_id, worker_id, created)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            r.id,
            profile_id,
            node_id,
            worker_id,
            router_core::util::utcnow()
        ],
    )?;
    Ok(())
}

pub fn profile_location(
    c: &Connection,
    realm: &str,
    profile_id: &str,
) -> Result<Option<(String, String)>> {
    optional(c.query_row(
        "SELECT p.node_id, p.worker_id FROM profiles p JOIN realms r ON r.id = p.realm_id
         WHERE r.name = ?1 AND p.profile_id = ?2",
        params![realm, profile_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))
}
