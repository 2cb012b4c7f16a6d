//! The audit log: who changed what, when, with which arguments, and how it ended.

use rusqlite::{Connection, params};

use crate::error::Result;

/// Longest argument summary kept: configs can be large, the log needs only what was meant.
pub const ARGS_SUMMARY_MAX: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub ts: String,
    /// The realm the call was made on.
    pub realm: String,
    /// The caller's authid (user name, `anonymous-…`).
    pub who: String,
    pub role: String,
    /// The procedure URI.
    pub what: String,
    pub args: String,
    /// `ok`, or the error URI and message.
    pub result: String,
}

impl AuditEntry {
    /// An entry stamped now, with the arguments summarized (JSON, cut to a bounded length).
    pub fn new(
        realm: &str,
        who: &str,
        role: &str,
        what: &str,
        args: &serde_json::Value,
        result: String,
    ) -> AuditEntry {
        AuditEntry {
            ts: router_core::util::utcnow(),
            realm: realm.to_owned(),
            who: who.to_owned(),
            role: role.to_owned(),
            what: what.to_owned(),
            args: summarize(args),
            result,
        }
    }
}

/// JSON text of `args`, cut at a character boundary to [`ARGS_SUMMARY_MAX`] bytes.
pub fn summarize(args: &serde_json::Value) -> String {
    let mut s = args.to_string();
    if s.len() > ARGS_SUMMARY_MAX {
        let mut cut = ARGS_SUMMARY_MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

pub fn insert(c: &Connection, e: &AuditEntry) -> Result<()> {
    c.execute(
        "INSERT INTO audit (ts, realm, who, role, what, args, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.ts, e.realm, e.who, e.role, e.what, e.args, e.result],
    )?;
    Ok(())
}

/// The newest `limit` entries, newest first.
pub fn recent(c: &Connection, limit: usize) -> Result<Vec<AuditEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT ts, realm, who, role, what, args, result FROM audit ORDER BY id DESC LIMIT ?1",
    )?;
    Ok(stmt
        .query_map([limit as i64], |r| {
            Ok(AuditEntry {
                ts: r.get(0)?,
                realm: r.get(1)?,
                who: r.get(2)?,
                role: r.get(3)?,
                what: r.get(4)?,
                args: r.get(5)?,
                result: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}
