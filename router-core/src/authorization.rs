//! Authorization from static roles: which actions a role may take on which URIs.
//!
//! Permissions are read and matched exactly as Crossbar.io's `RouterRoleStaticAuth` does:
//! among exact and prefix permissions the one with the longest URI that is a prefix of the
//! requested URI is taken; if it is an exact permission for another URI, the default (deny all)
//! applies. Unless the result is an exact match, the wildcard permission whose literal head
//! (the part before the first `..`) is longest and which matches the URI overrides it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::uri::{self, MatchPolicy};

/// The four actions a permission can allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Call,
    Register,
    Publish,
    Subscribe,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    #[serde(default)]
    pub call: bool,
    #[serde(default)]
    pub register: bool,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub subscribe: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclose {
    #[serde(default)]
    pub caller: bool,
    #[serde(default)]
    pub publisher: bool,
}

/// One permission (a "grant") of a role, as written in a Crossbar.io config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// Grant id for the management API; configs written by Crossbar.io have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub uri: String,
    /// When absent, a starred URI (`com.example.*`) decides the policy.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<MatchPolicy>,
    #[serde(default)]
    pub allow: Allow,
    #[serde(default)]
    pub disclose: Disclose,
    #[serde(default)]
    pub cache: bool,
    /// Payload validation (Crossbar.io's `validate`): accepted, not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<serde_json::Value>,
}

impl Permission {
    /// The URI and match policy after Crossbar.io's starred-URI conversion.
    pub fn effective(&self) -> (String, MatchPolicy) {
        match self.match_ {
            Some(m) => (self.uri.clone(), m),
            None => uri::convert_starred(&self.uri),
        }
    }

    pub fn allows(&self, action: Action) -> bool {
        match action {
            Action::Call => self.allow.call,
            Action::Register => self.allow.register,
            Action::Publish => self.allow.publish,
            Action::Subscribe => self.allow.subscribe,
        }
    }
}

/// A role as written in a Crossbar.io realm config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// A dynamic authorizer: the procedure asked `(session, uri, action, options)` for every
    /// action of a session with this role (see `session::authorizer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<String>,
    /// Crossbar.io's `allow-by-default`: for a role with neither permissions nor an
    /// authorizer, allow (or deny) every action on every URI.
    #[serde(
        default,
        rename = "allow-by-default",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub allow_by_default: bool,
}

/// The outcome of an authorization check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Authorization {
    pub allow: bool,
    /// Disclose the caller (call) or publisher (publish) to the receiver.
    pub disclose: bool,
}

/// A compiled role: its grants keyed by grant id, and lookup structures for matching.
#[derive(Clone, Debug, Default)]
pub struct Role {
    pub name: String,
    /// Grants in insertion order, keyed by id.
    grants: Vec<(String, Permission)>,
    /// Everything allowed (the built-in `trusted` role).
    allow_all: bool,
    /// Allow everything when there are no grants (`allow-by-default`).
    allow_by_default: bool,
    /// The dynamic authorizer's procedure; the static check denies everything then.
    authorizer: Option<String>,
    plain: BTreeMap<String, (MatchPolicy, usize)>,
    wild: BTreeMap<String, Vec<(String, usize)>>,
    /// The grant that governs every URI, when the role has one prefix grant for `""` and
    /// nothing else (`crossbar init`'s `anonymous`): checked on every CALL and PUBLISH.
    governs_all: Option<usize>,
}

impl Role {
    /// Builds a role from its config; grants without an id get `grant001`, `grant002`, …
    pub fn from_config(cfg: &RoleConfig) -> Role {
        let mut role = Role {
            name: cfg.name.clone(),
            allow_by_default: cfg.allow_by_default,
            authorizer: cfg.authorizer.clone(),
            ..Default::default()
        };
        for p in &cfg.permissions {
            let id = p.id.clone().unwrap_or_else(|| role.next_grant_id());
            role.grants.push((id, p.clone()));
        }
        role.rebuild();
        role
    }

    /// A role that may do everything (Crossbar.io's built-in `trusted`).
    pub fn trusted(name: &str) -> Role {
        Role {
            name: name.to_owned(),
            allow_all: true,
            ..Default::default()
        }
    }

    pub fn is_allow_all(&self) -> bool {
        self.allow_all
    }

    /// The dynamic authorizer procedure, if the role has one.
    pub fn authorizer(&self) -> Option<&str> {
        self.authorizer.as_deref()
    }

    fn next_grant_id(&self) -> String {
        let mut n = self.grants.len() + 1;
        loop {
            let id = format!("grant{n:03}");
            if !self.grants.iter().any(|(g, _)| *g == id) {
                return id;
            }
            n += 1;
        }
    }

    pub fn grants(&self) -> &[(String, Permission)] {
        &self.grants
    }

    pub fn grant(&self, id: &str) -> Option<&Permission> {
        self.grants.iter().find(|(g, _)| g == id).map(|(_, p)| p)
    }

    /// Adds a grant; `false` if the id is taken.
    pub fn add_grant(&mut self, id: String, p: Permission) -> bool {
        if self.grant(&id).is_some() {
            return false;
        }
        let mut p = p;
        p.id = Some(id.clone());
        self.grants.push((id, p));
        self.rebuild();
        true
    }

    pub fn remove_grant(&mut self, id: &str) -> Option<Permission> {
        let pos = self.grants.iter().position(|(g, _)| g == id)?;
        let (_, p) = self.grants.remove(pos);
        self.rebuild();
        Some(p)
    }

    /// The role's config, with grant ids filled in.
    pub fn to_config(&self) -> RoleConfig {
        RoleConfig {
            id: None,
            name: self.name.clone(),
            permissions: self
                .grants
                .iter()
                .map(|(id, p)| Permission {
                    id: Some(id.clone()),
                    ..p.clone()
                })
                .collect(),
            authorizer: self.authorizer.clone(),
            allow_by_default: self.allow_by_default,
        }
    }

    fn rebuild(&mut self) {
        self.plain.clear();
        self.wild.clear();
        self.governs_all = None;
        for (i, (_, p)) in self.grants.iter().enumerate() {
            let (u, m) = p.effective();
            if let Some(at) = u.find("..") {
                self.wild
                    .entry(u[..at].to_owned())
                    .or_default()
                    .push((u.clone(), i));
            } else if m == MatchPolicy::Wildcard && u.split('.').any(|c| c.is_empty()) {
                let head = u
                    .split('.')
                    .take_while(|c| !c.is_empty())
                    .collect::<Vec<_>>()
                    .join(".");
                self.wild.entry(head).or_default().push((u.clone(), i));
            } else {
                // A later permission with the same URI replaces an earlier one, as in a trie.
                self.plain.insert(u, (m, i));
            }
        }
        if self.wild.is_empty()
            && self.plain.len() == 1
            && let Some((_, (MatchPolicy::Prefix, i))) = self.plain.get_key_value("")
        {
            self.governs_all = Some(*i);
        }
    }

    /// The permission that governs `uri`, Crossbar.io's way (see the module docs).
    fn lookup(&self, uri: &str) -> Option<&Permission> {
        if let Some(i) = self.governs_all {
            return Some(&self.grants[i].1);
        }
        // Longest key of `plain` that is a prefix of `uri` (roles hold few permissions; a linear
        // scan beats per-prefix lookups for them).
        let mut best: Option<(&str, MatchPolicy, usize)> = None;
        for (k, (m, i)) in &self.plain {
            if uri.starts_with(k.as_str()) && best.is_none_or(|(b, _, _)| k.len() > b.len()) {
                best = Some((k, *m, *i));
            }
        }
        let chosen = match best {
            Some((k, m, i)) if m == MatchPolicy::Prefix || k == uri => Some((m, i)),
            _ => None,
        };
        if let Some((MatchPolicy::Exact, i)) = chosen {
            return Some(&self.grants[i].1);
        }
        let mut wild_best: Option<(&str, usize)> = None;
        for (head, list) in &self.wild {
            if uri.starts_with(head.as_str())
                && wild_best.is_none_or(|(h, _)| head.len() > h.len())
                && let Some((_, i)) = list
                    .iter()
                    .rev()
                    .find(|(pat, _)| uri::wildcard_matches(pat, uri))
            {
                wild_best = Some((head, *i));
            }
        }
        if let Some((_, i)) = wild_best {
            return Some(&self.grants[i].1);
        }
        chosen.map(|(_, i)| &self.grants[i].1)
    }

    /// May a session with this role take `action` on `uri`?
    pub fn authorize(&self, uri: &str, action: Action) -> Authorization {
        if self.allow_all || (self.allow_by_default && self.grants.is_empty()) {
            return Authorization {
                allow: true,
                disclose: false,
            };
        }
        if self.authorizer.is_some() {
            // Asked per action by the session before it routes; never allowed statically.
            return Authorization::default();
        }
        match self.lookup(uri) {
            Some(p) => Authorization {
                allow: p.allows(action),
                disclose: match action {
                    Action::Call => p.disclose.caller,
                    Action::Publish => p.disclose.publisher,
                    _ => false,
                },
            },
            None => Authorization::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(uri: &str, m: Option<&str>, call: bool) -> Permission {
        Permission {
            id: None,
            uri: uri.into(),
            match_: m.and_then(MatchPolicy::parse),
            allow: Allow {
                call,
                register: call,
                publish: call,
                subscribe: call,
            },
            disclose: Disclose::default(),
            cache: true,
            validate: None,
        }
    }

    fn role(perms: Vec<Permission>) -> Role {
        Role::from_config(&RoleConfig {
            id: None,
            name: "r".into(),
            permissions: perms,
            authorizer: None,
            allow_by_default: false,
        })
    }

    #[test]
    fn crossbar_init_role_allows_everything() {
        let r = role(vec![perm("", Some("prefix"), true)]);
        assert!(r.authorize("com.example.add2", Action::Call).allow);
        assert!(r.authorize("x", Action::Publish).allow);
    }

    #[test]
    fn a_prefix_grant_for_everything_governs_every_uri() {
        let mut r = Role::from_config(&RoleConfig {
            id: None,
            name: "anonymous".into(),
            permissions: vec![perm("", Some("prefix"), true)],
            authorizer: None,
            allow_by_default: false,
        });
        assert!(r.governs_all.is_some());
        for uri in ["com.example.add", "x", "wamp.session.count"] {
            assert!(r.authorize(uri, Action::Call).allow);
        }
        // Another grant: the general lookup decides again.
        r.add_grant("deny".into(), perm("com.secret", None, false));
        assert!(r.governs_all.is_none());
        assert!(!r.authorize("com.secret", Action::Call).allow);
        assert!(r.authorize("org.other", Action::Call).allow);
        r.remove_grant("deny");
        assert!(r.governs_all.is_some());
        assert!(r.authorize("com.secret", Action::Call).allow);
    }

    #[test]
    fn exact_prefix_wildcard() {
        let r = role(vec![
            perm("com.example.", Some("prefix"), true),
            perm("com.example.secret", Some("exact"), false),
            perm("com..public", Some("wildcard"), true),
        ]);
        assert!(r.authorize("com.example.add", Action::Call).allow);
        assert!(!r.authorize("com.example.secret", Action::Call).allow);
        assert!(r.authorize("com.other.public", Action::Call).allow);
        assert!(!r.authorize("org.example", Action::Call).allow);
        // Crossbar.io quirk: the longest plain key is an exact permission for another URI.
        assert!(!r.authorize("com.example.secretx", Action::Call).allow);
    }

    #[test]
    fn starred_uris_and_grants() {
        let mut r = role(vec![perm("com.example.*", None, true)]);
        assert!(r.authorize("com.example.x", Action::Subscribe).allow);
        assert_eq!(r.grants()[0].0, "grant001");
        r.remove_grant("grant001").unwrap();
        assert!(!r.authorize("com.example.x", Action::Subscribe).allow);
        assert!(r.add_grant("g1".into(), perm("com.", Some("prefix"), true)));
        assert!(r.authorize("com.example.x", Action::Subscribe).allow);
        assert!(!r.add_grant("g1".into(), perm("x", None, true)));
    }

    #[test]
    fn allow_by_default_applies_to_a_role_without_grants() {
        let cfg: RoleConfig =
            serde_json::from_value(serde_json::json!({"name": "open", "allow-by-default": true}))
                .unwrap();
        let mut r = Role::from_config(&cfg);
        assert!(r.authorize("any.thing", Action::Register).allow);
        assert_eq!(
            serde_json::to_value(r.to_config()).unwrap()["allow-by-default"],
            true
        );
        r.add_grant("g".into(), perm("com.", Some("prefix"), true));
        assert!(!r.authorize("any.thing", Action::Register).allow);
        let closed = role(vec![]);
        assert!(!closed.authorize("any.thing", Action::Call).allow);
    }
}
