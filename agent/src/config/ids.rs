//! Item ids: Crossbar.io's id rule, its automatic ids for items without one, and uniqueness.
//!
//! Automatic ids are numbered as Crossbar.io's `node.py` boots a config: node-wide counters
//! `worker%03d`, `realm%03d`, `role%03d`, `component%03d` (shared by router and container
//! components) and `transport%03d`, advanced only when an id is assigned, walking workers in
//! order and, inside a router, realms with their roles, then components, then transports.
//! Router links get `rlink%03d` from their 0-based index in the realm. Unlike Crossbar.io, a
//! number already taken by an explicit id of the same kind is skipped instead of clashing.

use std::collections::HashSet;

use serde_json::Value;

use router_core::config::ConfigError;

use super::NodeConfig;
use super::path;
use super::worker::WorkerConfig;

/// Crossbar.io's `^[a-z][a-z0-9_]{2,63}$`, used for the controller, worker and transport
/// ids (they name management URIs and process titles).
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    (3..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// Realm, role, component and rlink ids are not checked by Crossbar.io; they must at least be
/// usable as one URI component (`…realm.<id>.root…`).
fn is_valid_loose_id(id: &str) -> bool {
    !id.is_empty()
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c == '.' || c == '#')
}

fn check_strict(id: &str, at: &str) -> Result<(), ConfigError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ConfigError::new(
            at,
            format!("invalid id \"{id}\": must match ^[a-z][a-z0-9_]{{2,63}}$"),
        ))
    }
}

fn check_loose(id: &str, at: &str) -> Result<(), ConfigError> {
    if is_valid_loose_id(id) {
        Ok(())
    } else {
        Err(ConfigError::new(
            at,
            format!("invalid id \"{id}\": must be non-empty, without whitespace, '.' or '#'"),
        ))
    }
}

/// A node-wide automatic id generator for one kind of item.
struct Counter {
    prefix: &'static str,
    next: usize,
    /// Explicit ids of this kind anywhere in the config, never handed out.
    taken: HashSet<String>,
}

impl Counter {
    fn new(prefix: &'static str) -> Self {
        Counter {
            prefix,
            next: 1,
            taken: HashSet::new(),
        }
    }

    fn next_id(&mut self) -> String {
        loop {
            let id = format!("{}{:03}", self.prefix, self.next);
            self.next += 1;
            if !self.taken.contains(&id) {
                return id;
            }
        }
    }
}

/// Ids already used within one scope (one worker's transports, one realm's roles, …).
#[derive(Default)]
struct Scope(HashSet<String>);

impl Scope {
    fn claim(&mut self, id: &str, at: &str, what: &str) -> Result<(), ConfigError> {
        if self.0.insert(id.to_owned()) {
            Ok(())
        } else {
            Err(ConfigError::new(
                at,
                format!("duplicate {what} id \"{id}\""),
            ))
        }
    }
}

/// The `id` of a JSON item, if it has a string one.
fn value_id(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

fn set_value_id(v: &mut Value, id: String) {
    if let Value::Object(m) = v {
        m.insert("id".into(), Value::String(id));
    }
}

/// Checks explicit ids and fills in missing ones.
pub(crate) fn assign(cfg: &mut NodeConfig) -> Result<(), ConfigError> {
    if let Some(id) = &cfg.controller.id {
        check_strict(id, "controller.id")?;
    }

    let mut workers = Counter::new("worker");
    let mut realms = Counter::new("realm");
    let mut roles = Counter::new("role");
    let mut components = Counter::new("component");
    let mut transports = Counter::new("transport");
    for w in &cfg.workers {
        workers.taken.extend(w.id_slot().clone());
        match w {
            WorkerConfig::Router(r) => {
                for realm in &r.realms {
                    realms.taken.extend(realm.id.clone());
                    roles
                        .taken
                        .extend(realm.roles.iter().filter_map(|r| r.id.clone()));
                }
                components.taken.extend(
                    r.components
                        .iter()
                        .filter_map(|c| value_id(c).map(str::to_owned)),
                );
                transports.taken.extend(
                    r.transports
                        .iter()
                        .filter_map(|t| value_id(t).map(str::to_owned)),
                );
            }
            WorkerConfig::Container(c) => {
                components.taken.extend(
                    c.components
                        .iter()
                        .filter_map(|c| value_id(c).map(str::to_owned)),
                );
            }
            WorkerConfig::Guest(_) => {}
        }
    }

    let mut worker_ids = Scope::default();
    for (i, w) in cfg.workers.iter_mut().enumerate() {
        let at = path::index("workers", i);
        let id = w
            .id_slot_mut()
            .get_or_insert_with(|| workers.next_id())
            .clone();
        check_strict(&id, &path::key(&at, "id"))?;
        if id == "controller" {
            return Err(ConfigError::new(
                path::key(&at, "id"),
                "the id \"controller\" is reserved",
            ));
        }
        worker_ids.claim(&id, &path::key(&at, "id"), "worker")?;

        match w {
            WorkerConfig::Router(r) => {
                let mut realm_ids = Scope::default();
                let mut realm_names = Scope::default();
                for (j, realm) in r.realms.iter_mut().enumerate() {
                    let rat = path::index(&path::key(&at, "realms"), j);
                    let rid = realm.id.get_or_insert_with(|| realms.next_id()).clone();
                    check_loose(&rid, &path::key(&rat, "id"))?;
                    realm_ids.claim(&rid, &path::key(&rat, "id"), "realm")?;
                    realm_names.claim(&realm.name, &path::key(&rat, "name"), "realm name")?;

                    let mut role_ids = Scope::default();
                    let mut role_names = Scope::default();
                    for (k, role) in realm.roles.iter_mut().enumerate() {
                        let oat = path::index(&path::key(&rat, "roles"), k);
                        let oid = role.id.get_or_insert_with(|| roles.next_id()).clone();
                        check_loose(&oid, &path::key(&oat, "id"))?;
                        role_ids.claim(&oid, &path::key(&oat, "id"), "role")?;
                        role_names.claim(&role.name, &path::key(&oat, "name"), "role name")?;
                    }

                    let mut rlink_ids = Scope::default();
                    for (k, link) in realm.rlinks.iter_mut().enumerate() {
                        let lat = path::key(&path::index(&path::key(&rat, "rlinks"), k), "id");
                        let lid = match value_id(link) {
                            Some(id) => id.to_owned(),
                            None => {
                                let id = format!("rlink{k:03}");
                                set_value_id(link, id.clone());
                                id
                            }
                        };
                        check_loose(&lid, &lat)?;
                        rlink_ids.claim(&lid, &lat, "rlink")?;
                    }
                }
                assign_items(
                    &mut r.components,
                    &mut components,
                    &path::key(&at, "components"),
                    "component",
                    false,
                )?;
                assign_items(
                    &mut r.transports,
                    &mut transports,
                    &path::key(&at, "transports"),
                    "transport",
                    true,
                )?;
            }
            WorkerConfig::Container(c) => {
                assign_items(
                    &mut c.components,
                    &mut components,
                    &path::key(&at, "components"),
                    "component",
                    false,
                )?;
            }
            WorkerConfig::Guest(_) => {}
        }
    }
    Ok(())
}

fn assign_items(
    items: &mut [Value],
    counter: &mut Counter,
    at: &str,
    what: &str,
    strict: bool,
) -> Result<(), ConfigError> {
    let mut scope = Scope::default();
    for (i, item) in items.iter_mut().enumerate() {
        let iat = path::key(&path::index(at, i), "id");
        let id = match value_id(item) {
            Some(id) => id.to_owned(),
            None => {
                let id = counter.next_id();
                set_value_id(item, id.clone());
                id
            }
        };
        if strict {
            check_strict(&id, &iat)?;
        } else {
            check_loose(&id, &iat)?;
        }
        scope.claim(&id, &iat, what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rule() {
        assert!(is_valid_id("router1"));
        assert!(is_valid_id("abc"));
        assert!(is_valid_id(&"a".repeat(64)));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id("ab"));
        assert!(!is_valid_id("Router1"));
        assert!(!is_valid_id("1router"));
        assert!(!is_valid_id("my-router"));
    }
}
