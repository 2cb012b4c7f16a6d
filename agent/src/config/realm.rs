//! `workers[].realms[]`: a router realm, its roles (router-core's [`RoleConfig`]) and options.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use router_core::authorization::RoleConfig;
use router_core::config::ConfigError;
use router_core::uri::UriCheck;

use super::path;

/// One realm of a router worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The WAMP realm name clients join.
    pub name: String,
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    #[serde(default, skip_serializing_if = "RealmOptions::is_empty")]
    pub options: RealmOptions,
    /// Router-to-router links (Crossbar.io). Accepted and passed through; not started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlinks: Vec<Value>,
    /// Event history / session store (Crossbar.io). Accepted and passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<Value>,
}

/// `realms[].options`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmOptions {
    /// Receivers served per reactor turn when dispatching one event (positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_dispatching_chunk_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_check: Option<UriCheck>,
    /// WAMP meta API on this realm (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_meta_api: Option<bool>,
    /// Expose the meta API on the management realm as `crossbar.worker.<w>.realm.<r>.root.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_meta_api: Option<bool>,
}

impl RealmOptions {
    fn is_empty(&self) -> bool {
        *self == RealmOptions::default()
    }
}

impl RealmConfig {
    /// The realm id; always set on a config returned by [`super::NodeConfig::from_value`].
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }

    pub(crate) fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if !is_realm_name(&self.name) {
            return Err(ConfigError::new(
                path::key(at, "name"),
                format!(
                    "invalid realm name \"{}\": must match ^[A-Za-z][A-Za-z0-9_\\-@.]{{2,254}}$ or be an Ethereum address (0x + 40 hex digits)",
                    self.name
                ),
            ));
        }
        if self.options.event_dispatching_chunk_size == Some(0) {
            let p = path::key(&path::key(at, "options"), "event_dispatching_chunk_size");
            return Err(ConfigError::new(p, "must be a positive integer"));
        }
        for (i, role) in self.roles.iter().enumerate() {
            validate_role(role, &path::index(&path::key(at, "roles"), i))?;
        }
        for (i, l) in self.rlinks.iter().enumerate() {
            if !l.is_object() {
                return Err(ConfigError::new(
                    path::index(&path::key(at, "rlinks"), i),
                    "an rlink must be an object",
                ));
            }
        }
        Ok(())
    }
}

/// A role as Crossbar.io's checkconfig sees it: static permissions or a dynamic authorizer,
/// never both; permission URIs are loose URIs that may have empty components.
fn validate_role(role: &RoleConfig, at: &str) -> Result<(), ConfigError> {
    if role.name.is_empty() {
        return Err(ConfigError::new(path::key(at, "name"), "must not be empty"));
    }
    if let Some(a) = &role.authorizer {
        if !role.permissions.is_empty() {
            return Err(ConfigError::new(
                at,
                "can't specify both 'authorizer' and 'permissions'",
            ));
        }
        if a.is_empty() || !is_loose_uri(a) {
            return Err(ConfigError::new(
                path::key(at, "authorizer"),
                format!("invalid authorizer URI \"{a}\""),
            ));
        }
    }
    for (i, p) in role.permissions.iter().enumerate() {
        if !is_loose_uri(&p.uri) {
            let at = path::key(&path::index(&path::key(at, "permissions"), i), "uri");
            return Err(ConfigError::new(
                at,
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
pub(crate) fn is_realm_name(name: &str) -> bool {
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

#[cfg(test)]
mod tests {
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
}
