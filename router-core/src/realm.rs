//! A realm: an isolated routing domain with its sessions, roles, broker and dealer.

use crate::util::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::auth::{TransportInfo, TrustedAuthenticator};
use crate::authorization::{Action, Authorization, Role, RoleConfig};
use crate::broker::Broker;
use crate::client::{JoinOptions, Session};
use crate::config::ConfigError;
use crate::dealer::Dealer;
use crate::message::Id;
use crate::router::{ConnectionInfo, Router, RouterError};
use crate::session::SessionHandle;
use crate::session_stats::SessionStatsConfig;
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
    /// The realm store (Crossbar.io's `memory` store): event history, call queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<RealmStoreConfig>,
    /// Session statistics published on `wamp.session.on_stats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<SessionStatsConfig>,
    /// crossbar-edge: the realm shared with other routers over a message bus
    /// (`{"type": "nats", …}`). Read by whoever runs the bus (the router worker); router-core
    /// only checks its shape, and a realm that has it routes to the other members once a
    /// [`ClusterBus`](crate::cluster::ClusterBus) is attached ([`Realm::attach_cluster`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<serde_json::Value>,
}

/// A realm's `store`: `{type: "memory", limit?, event-history: [{uri, match?, limit?}],
/// call-queue: [{uri, match?, limit?}]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmStoreConfig {
    #[serde(rename = "type")]
    pub kind: String,
    /// The history length of subscriptions that name none (Crossbar.io's default: 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(
        default,
        rename = "event-history",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub event_history: Vec<EventHistoryConfig>,
    #[serde(default, rename = "call-queue", skip_serializing_if = "Vec::is_empty")]
    pub call_queue: Vec<CallQueueConfig>,
}

/// Procedures whose calls wait in a queue when every callee is at its REGISTER `concurrency`
/// (Crossbar.io's `call-queue`), instead of failing with `max_concurrency_reached`. The entry
/// applies to the registrations whose URI its `uri` and `match` select.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallQueueConfig {
    pub uri: String,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// How many calls may wait (default: the store's `limit`, else
    /// [`RealmStoreConfig::DEFAULT_QUEUE_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One subscription whose events the store keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventHistoryConfig {
    pub uri: String,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl RealmStoreConfig {
    /// Crossbar.io's `GLOBAL_HISTORY_LIMIT`.
    pub const DEFAULT_LIMIT: usize = 100;
    /// How many calls a call queue holds when neither it nor the store names a limit
    /// (Crossbar.io's queues have no bound; ours have one, as every queue here does).
    pub const DEFAULT_QUEUE_LIMIT: usize = 1000;

    /// The call queues, as (URI pattern, match policy, limit), for the dealer.
    pub(crate) fn call_queues(&self) -> Vec<(String, crate::uri::MatchPolicy, usize)> {
        self.call_queue
            .iter()
            .map(|q| {
                let policy = q
                    .policy
                    .as_deref()
                    .and_then(crate::uri::MatchPolicy::parse)
                    .unwrap_or(crate::uri::MatchPolicy::Exact);
                let limit = q.limit.or(self.limit).unwrap_or(Self::DEFAULT_QUEUE_LIMIT);
                (q.uri.clone(), policy, limit)
            })
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.kind != "memory" {
            return Err(ConfigError::new(
                "type",
                format!(
                    "realm store type \"{}\" is not supported (only \"memory\")",
                    self.kind
                ),
            ));
        }
        for (i, h) in self.event_history.iter().enumerate() {
            check_store_entry("topic", &h.uri, h.policy.as_deref(), h.limit)
                .map_err(|e| e.within(&format!("event-history[{i}]")))?;
        }
        for (i, q) in self.call_queue.iter().enumerate() {
            check_store_entry("procedure", &q.uri, q.policy.as_deref(), q.limit)
                .map_err(|e| e.within(&format!("call-queue[{i}]")))?;
        }
        Ok(())
    }
}

/// An `event-history` or `call-queue` entry: a URI pattern `what` names, its match policy,
/// its limit.
fn check_store_entry(
    what: &str,
    uri: &str,
    policy: Option<&str>,
    limit: Option<usize>,
) -> Result<(), ConfigError> {
    let policy = match policy {
        None => crate::uri::MatchPolicy::Exact,
        Some(m) => crate::uri::MatchPolicy::parse(m)
            .ok_or_else(|| ConfigError::new("match", format!("invalid match policy \"{m}\"")))?,
    };
    if !crate::uri::is_valid(uri, UriCheck::Loose, policy) {
        return Err(ConfigError::new("uri", format!("invalid {what} \"{uri}\"")));
    }
    if limit == Some(0) {
        return Err(ConfigError::new("limit", "must be at least 1"));
    }
    Ok(())
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
            stats: None,
            cluster: None,
        }
    }

    /// Checks what typing alone cannot, as Crossbar.io's checkconfig does (the realm name rule,
    /// each role), with key paths relative to the realm item. The node checks a config's
    /// realms with it at load, and a router worker each realm it starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_realm_name(&self.name) {
            return Err(ConfigError::new(
                "name",
                format!(
                    "invalid realm name \"{}\": must match ^[A-Za-z][A-Za-z0-9_\\-@.]{{2,254}}$ or be an Ethereum address (0x + 40 hex digits)",
                    self.name
                ),
            ));
        }
        if self.options.event_dispatching_chunk_size == Some(0) {
            return Err(ConfigError::new(
                "options.event_dispatching_chunk_size",
                "must be a positive integer",
            ));
        }
        for (i, role) in self.roles.iter().enumerate() {
            validate_role(role).map_err(|e| e.within(&format!("roles[{i}]")))?;
        }
        if let Some(store) = &self.store {
            store.validate().map_err(|e| e.within("store"))?;
        }
        if let Some(stats) = &self.stats {
            stats.validate().map_err(|e| e.within("stats"))?;
        }
        if let Some(c) = &self.cluster
            && !c.get("type").is_some_and(serde_json::Value::is_string)
        {
            return Err(ConfigError::new(
                "cluster.type",
                "a cluster must be an object with a string \"type\" (\"nats\")",
            ));
        }
        for (i, l) in self.rlinks.iter().enumerate() {
            if !l.is_object() {
                return Err(ConfigError::new(
                    format!("rlinks[{i}]"),
                    "an rlink must be an object",
                ));
            }
        }
        Ok(())
    }
}

/// A role as Crossbar.io's checkconfig sees it: static permissions or a dynamic authorizer,
/// never both; permission URIs are loose URIs that may have empty components.
fn validate_role(role: &RoleConfig) -> Result<(), ConfigError> {
    if role.name.is_empty() {
        return Err(ConfigError::new("name", "must not be empty"));
    }
    if let Some(a) = &role.authorizer {
        if !role.permissions.is_empty() {
            return Err(ConfigError::new(
                "",
                "can't specify both 'authorizer' and 'permissions'",
            ));
        }
        if a.is_empty() || !is_loose_uri(a) {
            return Err(ConfigError::new(
                "authorizer",
                format!("invalid authorizer URI \"{a}\""),
            ));
        }
    }
    for (i, p) in role.permissions.iter().enumerate() {
        if !is_loose_uri(&p.uri) {
            return Err(ConfigError::new(
                format!("permissions[{i}].uri"),
                format!("invalid URI \"{}\": no whitespace or '#' allowed", p.uri),
            ));
        }
    }
    Ok(())
}

/// Crossbar.io's `_URI_PAT_LOOSE_EMPTY`: components separated by dots, possibly empty, without
/// whitespace or `#`.
fn is_loose_uri(uri: &str) -> bool {
    !uri.chars().any(|c| c.is_whitespace() || c == '#')
}

/// Autobahn's realm name rule (`_URI_PAT_REALM_NAME` or an Ethereum address).
pub fn is_realm_name(name: &str) -> bool {
    let b = name.as_bytes();
    let standalone = b.len() >= 3
        && b.len() <= 255
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'@' | b'.'));
    let eth = b.len() == 42 && name.starts_with("0x") && b[2..].iter().all(u8::is_ascii_hexdigit);
    standalone || eth
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
    /// Set once a role with a dynamic authorizer is added: only then does a session look
    /// up its role's authorizer before routing (a relaxed load on the hot path otherwise).
    has_authorizers: AtomicBool,
    /// The store keeps event history (fixed at start): publications skip it otherwise
    /// without touching the broker's lock.
    pub(crate) keeps_history: bool,
    /// The store's call queues: (URI pattern, match policy, limit), fixed at start.
    call_queues: Vec<(String, crate::uri::MatchPolicy, usize)>,
    /// Session statistics, if the realm keeps them.
    stats: Option<SessionStatsConfig>,
    /// The realm's side of its cluster, once a bus is attached.
    cluster: std::sync::OnceLock<Arc<crate::cluster::ClusterLink>>,
    /// Router-internal sessions by authrole (see [`Realm::service_session`]).
    services: tokio::sync::Mutex<HashMap<String, Session>>,
    /// For joining service sessions; the router owns the realm, so the link is weak.
    router: Weak<Router>,
}

impl Realm {
    pub(crate) fn new(
        config: RealmConfig,
        router: Weak<Router>,
    ) -> Result<Arc<Realm>, RouterError> {
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
        let mut has_authorizers = false;
        for rc in &config.roles {
            has_authorizers |= rc.authorizer.is_some();
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
            keeps_history: config
                .store
                .as_ref()
                .is_some_and(|s| !s.event_history.is_empty()),
            call_queues: config
                .store
                .as_ref()
                .map(RealmStoreConfig::call_queues)
                .unwrap_or_default(),
            stats: config.stats,
            cluster: std::sync::OnceLock::new(),
            broker: RwLock::new(Broker::with_history(config.store.as_ref())),
            dealer: RwLock::new(Dealer::default()),
            closed: AtomicBool::new(false),
            created: crate::util::utcnow(),
            has_authorizers: AtomicBool::new(has_authorizers),
            services: tokio::sync::Mutex::new(HashMap::default()),
            router,
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

    /// The realm's cluster link, if it is shared with other routers.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::ClusterLink>> {
        self.cluster.get()
    }

    /// Shares this realm with the other members reached through `bus`, as `member`: from
    /// now on its publications go to them and theirs are delivered here. Once per realm.
    pub fn attach_cluster(
        self: &Arc<Self>,
        member: String,
        bus: Arc<dyn crate::cluster::ClusterBus>,
    ) -> Result<Arc<crate::cluster::ClusterLink>, RouterError> {
        let link = Arc::new(crate::cluster::ClusterLink::new(self, member, bus));
        self.cluster.set(link.clone()).map_err(|_| {
            RouterError::InvalidConfig(format!("realm \"{}\" already has a cluster", self.name))
        })?;
        Ok(link)
    }

    pub fn stats_config(&self) -> Option<&SessionStatsConfig> {
        self.stats.as_ref()
    }

    /// The limit of the call queue for a registration of `procedure`, if the store has one
    /// that selects it (the first that does).
    pub(crate) fn call_queue_limit(&self, procedure: &str) -> Option<usize> {
        use crate::uri::MatchPolicy;
        self.call_queues
            .iter()
            .find(|(uri, policy, _)| match policy {
                MatchPolicy::Exact => procedure == uri,
                MatchPolicy::Prefix => procedure.starts_with(uri.as_str()),
                MatchPolicy::Wildcard => crate::uri::wildcard_matches(uri, procedure),
            })
            .map(|(_, _, limit)| *limit)
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
        let mut roles = self.roles.write();
        match roles.get(&config.name) {
            Some(r) if !(r.is_allow_all() && r.name == "trusted") => Err(
                RouterError::InvalidConfig(format!("role \"{}\" already exists", config.name)),
            ),
            _ => {
                if config.authorizer.is_some() {
                    self.has_authorizers.store(true, Ordering::Release);
                }
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

    /// Does any role of this realm (now or before) have a dynamic authorizer?
    pub(crate) fn has_authorizers(&self) -> bool {
        self.has_authorizers.load(Ordering::Acquire)
    }

    /// The router-internal session on this realm with role `authrole`, joined on first use
    /// and again after it ended: Crossbar.io's realm service agent (role `trusted`), through
    /// which dynamic authenticators and authorizers are called. It is an ordinary session
    /// of the realm, so the call is routed, timed out and canceled like any other.
    pub async fn service_session(&self, authrole: &str) -> Result<Session, String> {
        let mut services = self.services.lock().await;
        if let Some(s) = services.get(authrole)
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        let router = self
            .router
            .upgrade()
            .ok_or_else(|| "the router is shutting down".to_owned())?;
        let conn = ConnectionInfo {
            transport: Arc::new(TransportInfo::new("routerservice", "function", "function")),
            authenticator: Arc::new(TrustedAuthenticator {
                realm: self.name.clone(),
                authid: Some(format!("routerservice-realm-{}-{authrole}", self.name)),
                authrole: authrole.to_owned(),
            }),
        };
        let session = Session::join_local(&router, conn, JoinOptions::realm(self.name.clone()))
            .await
            .map_err(|e| format!("cannot join the router's service session: {e}"))?;
        services.insert(authrole.to_owned(), session.clone());
        Ok(session)
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

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn realm_names() {
        assert!(is_realm_name("realm1"));
        assert!(is_realm_name("com.example.app-1@x"));
        assert!(is_realm_name("0x66392a9F0A4420eFc9ca23464626559cDeFEEfA5"));
        assert!(!is_realm_name("r1"));
        assert!(!is_realm_name("1realm"));
        assert!(!is_realm_name("realm 1"));
    }

    #[test]
    fn validation_names_the_key() {
        let c: RealmConfig = crate::config::from_value(serde_json::json!({
            "name": "realm1",
            "roles": [{"name": "r", "permissions": [{"uri": "a b", "allow": {"call": true}}]}],
        }))
        .unwrap();
        let e = c.validate().unwrap_err();
        assert_eq!(e.path, "roles[0].permissions[0].uri");
        assert!(RealmConfig::new("r1").validate().unwrap_err().path == "name");
    }
}
