//! A realm's `cluster` block, validated with key paths relative to it:
//!
//! ```json
//! {"type": "nats",
//!  "servers": ["nats://10.0.0.1:4222", "tls://10.0.0.2:4222"],
//!  "subject_prefix": "crossbar",
//!  "member": "node1",
//!  "auth": {"type": "token", "token": "${NATS_TOKEN}"},
//!  "tls": {"ca_certificates": ["nats-ca.pem"], "certificate": "client.pem", "key": "client.key"},
//!  "max_pending": 65536}
//! ```
//!
//! `auth` is one of `{"type": "token", "token"}`, `{"type": "userpass", "user", "password"}`,
//! `{"type": "credentials", "file"}` (a NATS `.creds` file) or `{"type": "nkey", "seed"}`.
//! Files are relative to the node directory.

use router_core::config::ConfigError;
use serde::Deserialize;

/// The default queue of frames waiting for NATS (while it is unreachable, say).
pub const DEFAULT_MAX_PENDING: usize = 65_536;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsClusterConfig {
    #[serde(rename = "type")]
    pub kind: String,
    pub servers: Vec<String>,
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// This router's name in the cluster (default: a random one per start).
    #[serde(default)]
    pub member: Option<String>,
    #[serde(default)]
    pub auth: Option<NatsAuth>,
    #[serde(default)]
    pub tls: Option<NatsTls>,
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum NatsAuth {
    Token { token: String },
    Userpass { user: String, password: String },
    Credentials { file: String },
    Nkey { seed: String },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTls {
    #[serde(default)]
    pub ca_certificates: Vec<String>,
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

fn default_prefix() -> String {
    "crossbar".into()
}

fn default_max_pending() -> usize {
    DEFAULT_MAX_PENDING
}

/// `[A-Za-z0-9_-]`, the bytes a subject token or a member name keeps as they are.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl NatsClusterConfig {
    /// Reads and checks a realm's `cluster` block; errors name the key below it.
    pub fn parse(value: &serde_json::Value) -> Result<NatsClusterConfig, ConfigError> {
        let kind = value.get("type").and_then(serde_json::Value::as_str);
        if kind != Some("nats") {
            return Err(ConfigError::new(
                "type",
                format!(
                    "unknown cluster type {}: only \"nats\" is supported",
                    value
                        .get("type")
                        .map_or("(missing)".into(), |v| v.to_string())
                ),
            ));
        }
        let c: NatsClusterConfig = serde_json::from_value(value.clone())
            .map_err(|e| ConfigError::new("", e.to_string()))?;
        if c.servers.is_empty() {
            return Err(ConfigError::new("servers", "name at least one NATS server"));
        }
        for (i, s) in c.servers.iter().enumerate() {
            let rest = s
                .strip_prefix("nats://")
                .or_else(|| s.strip_prefix("tls://"))
                .ok_or_else(|| {
                    ConfigError::new(
                        format!("servers[{i}]"),
                        format!("\"{s}\" is not a nats:// or tls:// URL"),
                    )
                })?;
            let host_port = rest.rsplit('@').next().unwrap_or(rest);
            let port_ok = host_port
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !port_ok {
                return Err(ConfigError::new(
                    format!("servers[{i}]"),
                    format!("\"{s}\" has no host:port"),
                ));
            }
        }
        let prefix_ok = !c.subject_prefix.is_empty()
            && c.subject_prefix.len() <= 128
            && !c.subject_prefix.starts_with('$')
            && !c.subject_prefix.starts_with("_INBOX")
            && c.subject_prefix
                .split('.')
                .all(|t| !t.is_empty() && t.bytes().all(plain));
        if !prefix_ok {
            return Err(ConfigError::new(
                "subject_prefix",
                format!(
                    "\"{}\" must be dot-separated tokens of letters, digits, '_' and '-' (at most 128 bytes, not starting with $ or _INBOX)",
                    c.subject_prefix
                ),
            ));
        }
        if let Some(m) = &c.member
            && (m.is_empty() || m.len() > 64 || !m.bytes().all(plain))
        {
            return Err(ConfigError::new(
                "member",
                format!("\"{m}\" must be 1 to 64 letters, digits, '_' or '-'"),
            ));
        }
        if let Some(tls) = &c.tls
            && tls.certificate.is_some() != tls.key.is_some()
        {
            return Err(ConfigError::new(
                "tls",
                "give both certificate and key, or neither",
            ));
        }
        if c.max_pending < 1024 {
            return Err(ConfigError::new("max_pending", "must be at least 1024"));
        }
        Ok(c)
    }

    /// The subject every member of `realm` publishes to and subscribes to.
    pub fn subject(&self, realm: &str) -> String {
        format!("{}.{}.all", self.subject_prefix, token(realm))
    }
}

/// `s` as one NATS subject token: `[A-Za-z0-9_-]` kept, every other byte (`~` too) written
/// `~HH`; one-to-one, never empty, never a wildcard.
pub fn token(s: &str) -> String {
    if s.is_empty() {
        return "~".into();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if plain(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("~{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: serde_json::Value) -> String {
        NatsClusterConfig::parse(&v).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_block_and_its_defaults() {
        let c = NatsClusterConfig::parse(&json!({
            "type": "nats", "servers": ["nats://127.0.0.1:4222", "tls://u:p@nats.example.com:4443"],
            "auth": {"type": "token", "token": "t"}}))
        .unwrap();
        assert_eq!(c.subject_prefix, "crossbar");
        assert_eq!(c.max_pending, DEFAULT_MAX_PENDING);
        assert_eq!(c.auth, Some(NatsAuth::Token { token: "t".into() }));
        assert_eq!(c.subject("realm1"), "crossbar.realm1.all");
        assert_eq!(
            c.subject("com.example.realm"),
            "crossbar.com~2eexample~2erealm.all"
        );
    }

    #[test]
    fn bad_blocks_name_their_key() {
        assert!(err(json!({"type": "rlink", "servers": []})).contains("type"));
        assert!(err(json!({"type": "nats", "servers": []})).contains("servers"));
        assert!(err(json!({"type": "nats", "servers": ["http://x:1"]})).contains("servers[0]"));
        assert!(err(json!({"type": "nats", "servers": ["nats://x"]})).contains("servers[0]"));
        let e = err(json!({"type": "nats", "servers": ["nats://x:1"], "subject_prefix": "a.*"}));
        assert!(e.contains("subject_prefix"), "{e}");
        let e = err(json!({"type": "nats", "servers": ["nats://x:1"], "member": "a b"}));
        assert!(e.contains("member"), "{e}");
        let e = err(json!({"type": "nats", "servers": ["nats://x:1"], "tls": {"key": "k"}}));
        assert!(e.contains("tls"), "{e}");
        let e =
            err(json!({"type": "nats", "servers": ["nats://x:1"], "auth": {"type": "kerberos"}}));
        assert!(e.contains("kerberos"), "{e}");
        let e = err(json!({"type": "nats", "servers": ["nats://x:1"], "colour": "red"}));
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn tokens_are_one_to_one() {
        assert_eq!(token("realm1"), "realm1");
        assert_eq!(token("a~b"), "a~7eb");
        assert_eq!(token("a.b*>"), "a~2eb~2a~3e");
        assert_ne!(token("a.b"), token("a~2eb"));
        assert_eq!(token(""), "~");
    }
}
