//! Management realms (a name and an owner) and the users registered on them with a role.

use rusqlite::{Connection, params};

use super::{optional, users};
use crate::error::{CdcError, Result};

/// The name of the global realm, where users are created and realms registered.
pub const GLOBAL_REALM: &str = "com.crossbario.cdc";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmRecord {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub created: String,
}

/// The role a user is registered with on a management realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    Guest,
    Devops,
    Admin,
}

impl UserRole {
    pub const ALL: [UserRole; 3] = [UserRole::Guest, UserRole::Devops, UserRole::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Guest => "guest",
            UserRole::Devops => "devops",
            UserRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<UserRole> {
        UserRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                CdcError::invalid(format!(
                    "invalid user_role \"{s}\": must be one of \"guest\", \"devops\", \"admin\""
                ))
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub realm: String,
    pub pubkey: String,
    pub user: String,
    pub role: UserRole,
    pub extra: Option<serde_json::Value>,
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RealmRecord> {
    Ok(RealmRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        owner: r.get(2)?,
        created: r.get(3)?,
    })
}

const SELECT: &str =
    "SELECT r.id, r.name, u.name, r.created FROM realms r JOIN users u ON u.id = r.owner_id";

pub fn by_name(c: &Connection, name: &str) -> Result<Option<RealmRecord>> {
    optional(c.query_row(&format!("{SELECT} WHERE r.name = ?1"), [name], record))
}

pub fn all(c: &Connection) -> Result<Vec<RealmRecord>> {
    let mut stmt = c.prepare_cached(&format!("{SELECT} ORDER BY r.name"))?;
    Ok(stmt
        .query_map([], record)?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The realm, or `no_such_realm`.
pub fn require(c: &Connection, name: &str) -> Result<RealmRecord> {
    by_name(c, name)?
        .ok_or_else(|| CdcError::NoSuchRealm(format!("no management realm \"{name}\"")))
}

/// Checks that a realm `name` may be created: a free name that is not the global realm's.
pub fn check_create(c: &Connection, name: &str) -> Result<()> {
    if name == GLOBAL_REALM {
        return Err(CdcError::AlreadyExists(format!(
            "\"{name}\" is the CDC's global realm"
        )));
    }
    if by_name(c, name)?.is_some() {
        return Err(CdcError::AlreadyExists(format!(
            "management realm \"{name}\" already exists"
        )));
    }
    Ok(())
}

/// Creates a realm owned by the user holding `owner_pubkey`.
pub fn create(c: &Connection, name: &str, owner_pubkey: &str) -> Result<RealmRecord> {
    check_create(c, name)?;
    let owner = users::by_pubkey(c, owner_pubkey)?.ok_or_else(|| {
        CdcError::NoSuchUser(format!("no user has the public key {owner_pubkey}"))
    })?;
    c.execute(
        "INSERT INTO realms (name, owner_id, created) VALUES (?1, ?2, ?3)",
        params![name, owner.id, router_core::util::utcnow()],
    )?;
    require(c, name)
}

pub fn membership(c: &Connection, realm: &str, pubkey: &str) -> Result<Option<Membership>> {
    let row = optional(c.query_row(
        "SELECT m.role, m.extra, u.name FROM memberships m
         JOIN realms r ON r.id = m.realm_id
         JOIN user_keys k ON k.pubkey = m.pubkey
         JOIN users u ON u.id = k.user_id
         WHERE r.name = ?1 AND m.pubkey = ?2",
        params![realm, pubkey],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
            ))
        },
    ))?;
    let Some((role, extra, user)) = row else {
        return Ok(None);
    };
    Ok(Some(Membership {
        realm: realm.to_owned(),
        pubkey: pubkey.to_owned(),
        user,
        role: UserRole::parse(&role)?,
        extra: extra.and_then(|e| serde_json::from_str(&e).ok()),
    }))
}

/// Checks that the user with `pubkey` can be registered on `realm`.
pub fn check_register_user(c: &Connection, realm: &str, pubkey: &str) -> Result<RealmRecord> {
    let r = require(c, realm)?;
    let user = users::by_pubkey(c, pubkey)?
        .ok_or_else(|| CdcError::NoSuchUser(format!("no user has the public key {pubkey}")))?;
    if user.name == r.owner {
        return Err(CdcError::AlreadyExists(format!(
            "user \"{}\" owns realm \"{realm}\" already",
            user.name
        )));
    }
    if membership(c, realm, pubkey)?.is_some() {
        return Err(CdcError::AlreadyExists(format!(
            "public key {pubkey} is already registered on realm \"{realm}\""
        )));
    }
    Ok(r)
}

pub fn add_member(
    c: &Connection,
    realm: &str,
    pubkey: &str,
    role: UserRole,
    extra: Option<&serde_json::Value>,
) -> Result<Membership> {
    let r = check_register_user(c, realm, pubkey)?;
    c.execute(
        "INSERT INTO memberships (realm_id, pubkey, role, extra, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            r.id,
            pubkey,
            role.as_str(),
            extra.map(|e| e.to_string()),
            router_core::util::utcnow()
        ],
    )?;
    membership(c, realm, pubkey)?
        .ok_or_else(|| CdcError::Internal("membership vanished after insert".into()))
}
