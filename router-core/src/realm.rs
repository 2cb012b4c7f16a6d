//! A realm: an isolated routing domain with its sessions, roles, broker and dealer.

use crate::util::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::authorization::{Action, Authorization, Role, RoleConfig};
use crate::broker::Broker;
use crate::dealer::Dealer;
use crate::message::Id;
use crate::router::RouterError;
use crate::session::SessionHandle;
use crate::uri::UriCheck;

/// Realm options as Crossbar.io reads them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmOptions {
    #[serde(default)]
    pub uri_check: UriCheck,
    #[serde(default = "default_true")]
    pub enable_meta_api: bool,
    /// Crossbar.io: expose the meta API to the management realm. Accepted, not used.
    #[serde(default)]
    pub bridge_meta_api: bool,
    /// Crossbar.io: fan-out chunking. Accepted; our fan-out does not block the loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_dispatching_chunk_size: Option<u64>,
}

fn default_true() -> bool {
    true
}

impl Default for RealmOptions {
    fn default() -> Self {
        RealmOptions {
            uri_check: UriCheck::Loose,
            enable_meta_api: true,
            bridge_meta_api: false,
            event_dispatching_chunk_size: None,
        }
    }
}

/// A realm as written in a Crossbar.io router worker config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    #[serde(default)]
    pub options: RealmOptions,
    /// Router-to-router links (Crossbar.io); accepted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlinks: Vec<serde_json::Value>,
    /// Event/call store (Crossbar.io); accepted, not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<serde_json::Value>,
}

impl RealmConfig {
    pub fn new(name: &str) -> Self {
        RealmConfig {
            id: None,
            name: name.to_owned(),
            roles: Vec::new(),
            options: RealmOptions::default(),
            rlinks: Vec::new(),
            store: None,
        }
    }
}

/// A running realm.
pub struct Realm {
    name: String,
    options: RealmOptions,
    roles: RwLock<HashMap<String, Arc<Role>>>,
    sessions: RwLock<HashMap<Id, Arc<SessionHandle>>>,
    pub(crate) broker: RwLock<Broker>,
    pub(crate) dealer: RwLock<Dealer>,
    closed: AtomicBool,
    created: String,
}

impl Realm {
    pub(crate) fn new(config: RealmConfig) -> Result<Arc<Realm>, RouterError> {
        if !crate::uri::is_valid(
            &config.name,
            UriCheck::Loose,
            crate::uri::MatchPolicy::Exact,
        ) && !config
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-@.".contains(c))
        {
            return Err(RouterError::InvalidConfig(format!(
                "invalid realm name \"{}\"",
                config.name
            )));
        }
        if !config.rlinks.is_empty() {
            return Err(RouterError::InvalidConfig(
                "realm links (rlinks) are not supported".into(),
            ));
        }
        let mut roles = HashMap::default();
        for rc in &config.roles {
            if rc.authorizer.is_some() {
                return Err(RouterError::InvalidConfig(format!(
                    "role \"{}\": dynamic authorizers are not supported",
                    rc.name
                )));
            }
            if roles
                .insert(rc.name.clone(), Arc::new(Role::from_config(rc)))
                .is_some()
            {
                return Err(RouterError::InvalidConfig(format!(
                    "duplicate role \"{}\"",
                    rc.name
                )));
            }
        }
        // Crossbar.io's built-in role for router-internal sessions.
        roles
            .entry("trusted".to_owned())
            .or_insert_with(|| Arc::new(Role::trusted("trusted")));
        Ok(Arc::new(Realm {
            name: config.name,
            options: config.options,
            roles: RwLock::new(roles),
            sessions: RwLock::new(HashMap::default()),
            broker: RwLock::new(Broker::default()),
            dealer: RwLock::new(Dealer::default()),
            closed: AtomicBool::new(false),
            created: crate::util::utcnow(),
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn options(&self) -> &RealmOptions {
        &self.options
    }

    pub fn created(&self) -> &str {
        &self.created
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    // ---- roles ----

    pub fn role(&self, name: &str) -> Option<Arc<Role>> {
        self.roles.read().get(name).cloned()
    }

    pub fn has_role(&self, name: &str) -> bool {
        self.roles.read().contains_key(name)
    }

    /// Names of the configured roles (the built-in `trusted` is left out unless configured).
    pub fn role_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .roles
            .read()
            .iter()
            .filter(|(_, r)| !r.is_allow_all() || r.name != "trusted")
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// Adds a role; an existing role of the same name is an error.
    pub fn add_role(&self, config: &RoleConfig) -> Result<(), RouterError> {
        if config.authorizer.is_some() {
            return Err(RouterError::InvalidConfig(
                "dynamic authorizers are not supported".into(),
            ));
        }
        let mut roles = self.roles.write();
        match roles.get(&config.name) {
            Some(r) if !(r.is_allow_all() && r.name == "trusted") => Err(
                RouterError::InvalidConfig(format!("role \"{}\" already exists", config.name)),
            ),
            _ => {
                roles.insert(config.name.clone(), Arc::new(Role::from_config(config)));
                Ok(())
            }
        }
    }

    /// Adds a role that may do everything (for router-internal sessions such as the
    /// management realm's controller).
    pub fn add_trusted_role(&self, name: &str) {
        self.roles
            .write()
            .insert(name.to_owned(), Arc::new(Role::trusted(name)));
    }

    pub fn remove_role(&self, name: &str) -> Option<Arc<Role>> {
        self.roles.write().remove(name)
    }

    /// Changes a role in place (copy on write: checks in flight keep the old version).
    pub fn update_role<T>(&self, name: &str, f: impl FnOnce(&mut Role) -> T) -> Option<T> {
        let mut roles = self.roles.write();
        let role = roles.get_mut(name)?;
        let mut copy = (**role).clone();
        let out = f(&mut copy);
        *role = Arc::new(copy);
        Some(out)
    }

    /// May a session with role `authrole` take `action` on `uri`?
    pub fn authorize(&self, authrole: &str, uri: &str, action: Action) -> Authorization {
        match self.roles.read().get(authrole) {
            Some(r) => r.authorize(uri, action),
            None => Authorization::default(),
        }
    }

    // ---- sessions ----

    pub(crate) fn attach(&self, session: Arc<SessionHandle>) -> bool {
        if self.is_closed() {
            return false;
        }
        self.sessions.write().insert(session.id, session);
        true
    }

    pub(crate) fn detach(&self, id: Id) -> Option<Arc<SessionHandle>> {
        self.sessions.write().remove(&id)
    }

    pub fn session(&self, id: Id) -> Option<Arc<SessionHandle>> {
        self.sessions.read().get(&id).cloned()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.read().len()
    }

    /// All sessions, optionally only those whose authrole is in `roles`.
    pub fn sessions(&self, roles: Option<&[String]>) -> Vec<Arc<SessionHandle>> {
        self.sessions
            .read()
            .values()
            .filter(|s| roles.is_none_or(|r| r.iter().any(|x| *x == s.identity.authrole)))
            .cloned()
            .collect()
    }

    /// Closes every session with GOODBYE(`reason`); the realm accepts no new sessions.
    pub(crate) fn shutdown(&self, reason: &str, message: &str) -> Vec<Id> {
        self.closed.store(true, Ordering::Release);
        let sessions: Vec<Arc<SessionHandle>> = self.sessions.read().values().cloned().collect();
        for s in &sessions {
            s.close(reason, message);
        }
        sessions.iter().map(|s| s.id).collect()
    }
}
