//! The CDC's configuration file (`<cbdir>/config.json`): typed, with defaults, validated once
//! at load.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The file name of the configuration in the CDC directory.
pub const CONFIG_FILE: &str = "config.json";
/// The file name of the registry database in the CDC directory.
pub const DATABASE_FILE: &str = "cdc.sqlite";
/// The directory of mail messages written when no SMTP server is configured.
pub const OUTBOX_DIR: &str = "outbox";
/// The only config version this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists (remove it to initialize anew)")]
    Exists { path: PathBuf },
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdcConfig {
    pub version: u32,
    #[serde(default)]
    pub listen: ListenConfig,
    #[serde(default)]
    pub verification: VerificationConfig,
    #[serde(default)]
    pub mail: MailConfig,
    #[serde(default)]
    pub nodes: NodesConfig,
    /// The CDC directory; not in the file: set from where the file was read.
    #[serde(skip)]
    pub cbdir: PathBuf,
}

/// Where management clients and nodes connect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// The WebSocket path (`/ws`); any path is accepted, as by Crossbar.io, this one is
    /// what `start` prints.
    #[serde(default = "default_path")]
    pub path: String,
    /// TLS server certificate and key (PEM files, relative to the CDC directory): `wss://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    9000
}
fn default_path() -> String {
    "/ws".into()
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            host: default_host(),
            port: default_port(),
            path: default_path(),
            tls: None,
        }
    }
}

impl ListenConfig {
    /// The URL clients and nodes use.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }
}

/// The rules of verification by PIN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    /// Wrong PINs accepted per verification ID before it is locked.
    #[serde(default = "default_tries")]
    pub max_tries_per_id: u32,
    /// Wrong uses of one PIN value (against any verification) before that value is refused.
    #[serde(default = "default_tries")]
    pub max_tries_per_token: u32,
    /// How long a pending verification stays valid, in seconds.
    #[serde(default = "default_expiry")]
    pub expiry_secs: u64,
    /// Characters in a PIN (grouped by four for reading), 8 to 32.
    #[serde(default = "default_pin_length")]
    pub pin_length: usize,
}

fn default_tries() -> u32 {
    5
}
fn default_expiry() -> u64 {
    15 * 60
}
fn default_pin_length() -> usize {
    12
}

impl Default for VerificationConfig {
    fn default() -> Self {
        VerificationConfig {
            max_tries_per_id: default_tries(),
            max_tries_per_token: default_tries(),
            expiry_secs: default_expiry(),
            pin_length: default_pin_length(),
        }
    }
}

/// How PINs are delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The sender (`Name <address>`).
    #[serde(default = "default_from")]
    pub from: String,
    /// An SMTP relay; without one, messages go to `<cbdir>/outbox/` as `.eml` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpConfig>,
}

fn default_from() -> String {
    "Crossbar CDC <cdc@localhost>".into()
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: default_from(),
            smtp: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `none` (plain, e.g. a local relay), `starttls` (default) or `tls` (implicit TLS).
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, or `${ENV_VAR}` to read it from the environment at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    None,
    #[default]
    Starttls,
    Tls,
}

/// How the CDC follows its nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesConfig {
    /// Every this many seconds each online node's `get_status` is called (the real master: 10).
    #[serde(default = "default_poll")]
    pub status_poll_secs: u64,
    /// A node with no heartbeat and no answer for this long is offline and disconnected.
    #[serde(default = "default_heartbeat_timeout")]
    pub heartbeat_timeout_secs: u64,
    /// Upper bound on a forwarded call (a worker start may take a while).
    #[serde(default = "default_call_timeout")]
    pub call_timeout_secs: u64,
}

fn default_poll() -> u64 {
    10
}
fn default_heartbeat_timeout() -> u64 {
    45
}
fn default_call_timeout() -> u64 {
    120
}

impl Default for NodesConfig {
    fn default() -> Self {
        NodesConfig {
            status_poll_secs: default_poll(),
            heartbeat_timeout_secs: default_heartbeat_timeout(),
            call_timeout_secs: default_call_timeout(),
        }
    }
}

impl NodesConfig {
    pub fn status_poll(&self) -> Duration {
        Duration::from_secs(self.status_poll_secs)
    }
    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_secs(self.heartbeat_timeout_secs)
    }
    pub fn call_timeout(&self) -> Duration {
        Duration::from_secs(self.call_timeout_secs)
    }
}

impl CdcConfig {
    /// The default configuration for `cbdir`.
    pub fn new(cbdir: &Path) -> Self {
        CdcConfig {
            version: CONFIG_VERSION,
            listen: ListenConfig::default(),
            verification: VerificationConfig::default(),
            mail: MailConfig::default(),
            nodes: NodesConfig::default(),
            cbdir: cbdir.to_path_buf(),
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.cbdir.join(DATABASE_FILE)
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.cbdir.join(OUTBOX_DIR)
    }

    /// A path from the config, relative to the CDC directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cbdir.join(p)
        }
    }

    /// Reads and validates `<cbdir>/config.json`.
    pub fn load(cbdir: &Path) -> Result<Self, ConfigError> {
        let path = cbdir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.clone(),
            message,
        })?;
        config.cbdir = cbdir.to_path_buf();
        Ok(config)
    }

    /// Parses and validates a configuration text.
    pub fn parse(text: &str) -> Result<Self, String> {
        // serde_json's messages carry the line, column and (for unknown fields) the name.
        let config: CdcConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != CONFIG_VERSION {
            return Err(format!(
                "version must be {CONFIG_VERSION} (found {})",
                self.version
            ));
        }
        let v = &self.verification;
        if v.max_tries_per_id == 0 || v.max_tries_per_token == 0 {
            return Err(
                "verification: max_tries_per_id and max_tries_per_token must be at least 1".into(),
            );
        }
        if v.expiry_secs == 0 {
            return Err("verification.expiry_secs must be at least 1".into());
        }
        if !(8..=32).contains(&v.pin_length) {
            return Err("verification.pin_length must be between 8 and 32".into());
        }
        if !self.listen.path.starts_with('/') {
            return Err("listen.path must start with \"/\"".into());
        }
        let n = &self.nodes;
        if n.status_poll_secs == 0 || n.heartbeat_timeout_secs == 0 || n.call_timeout_secs == 0 {
            return Err("nodes: every period and timeout must be at least 1 s".into());
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(format!("mail.from \"{}\" is not a mailbox", self.mail.from));
        }
        Ok(())
    }

    /// Writes the configuration as pretty JSON (atomically: temp file, fsync, rename).
    pub fn save(&self) -> Result<(), ConfigError> {
        let path = self.cbdir.join(CONFIG_FILE);
        let mut text = serde_json::to_string_pretty(self).expect("config serializes");
        text.push('\n');
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|source| ConfigError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let c = CdcConfig::new(Path::new("/tmp/x"));
        let text = serde_json::to_string(&c).unwrap();
        let back = CdcConfig::parse(&text).unwrap();
        assert_eq!(back.listen.url(), "ws://127.0.0.1:9000/ws");
        assert_eq!(back.verification.max_tries_per_id, 5);
        assert_eq!(back.verification.expiry_secs, 900);
        assert!(back.mail.smtp.is_none());
    }

    #[test]
    fn minimal_and_invalid() {
        let c = CdcConfig::parse(r#"{"version": 1}"#).unwrap();
        assert_eq!(c.listen.port, 9000);
        assert!(CdcConfig::parse(r#"{"version": 2}"#).is_err());
        assert!(CdcConfig::parse(r#"{"version": 1, "bogus": 1}"#).is_err());
        assert!(
            CdcConfig::parse(r#"{"version": 1, "verification": {"max_tries_per_id": 0}}"#).is_err()
        );
        assert!(CdcConfig::parse(r#"{"version": 1, "mail": {"from": "nope"}}"#).is_err());
        let tls = CdcConfig::parse(
            r#"{"version": 1, "listen": {"port": 443, "tls": {"certificate": "c.pem", "key": "k.pem"}}}"#,
        )
        .unwrap();
        assert_eq!(tls.listen.url(), "wss://127.0.0.1:443/ws");
    }
}
