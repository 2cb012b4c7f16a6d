//! Where the uplink connects, first match wins (as Crossbar.io's `compute_mgmt_uplink_config`):
//! `<cbdir>/key.activate` (written by a master that paired the node), `$CROSSBAR_FABRIC_URL`,
//! then `controller.fabric.transport` in the config. No match: no uplink.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use worker_host::components::config::{
    ConnectingEndpoint, ConnectingTransport, TransportKind, UrlRule,
};

use crate::config::{FabricConfig, HeartbeatConfig, NodeConfig};
use crate::keys::tagfile;

/// The pairing file a master drops next to the node key.
pub const ACTIVATION_FILE: &str = "key.activate";
/// The environment variable naming the management URL.
pub const FABRIC_URL_ENV: &str = "CROSSBAR_FABRIC_URL";

/// Tags of `key.activate` (Crossbar.io `edge/node/node.py:_ALLOWED_ACTIVATION_TAGS`).
const ACTIVATION_TAGS: &[&str] = &[
    "created-at",
    "management-url",
    "management-realm",
    "management-realm-oid",
    "node-oid",
    "node-authid",
    "node-cluster-ip",
    "activation-code",
    "public-key-ed25519",
];

/// Which source the target came from (logged, and shown by `status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSource {
    ActivationFile(PathBuf),
    Env,
    Config,
}

impl std::fmt::Display for TargetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSource::ActivationFile(p) => write!(f, "{}", p.display()),
            TargetSource::Env => write!(f, "${FABRIC_URL_ENV}"),
            TargetSource::Config => f.write_str("controller.fabric.transport"),
        }
    }
}

/// What `key.activate` says besides the URL (informational: the WELCOME is authoritative).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Activation {
    pub management_realm: Option<String>,
    pub node_authid: Option<String>,
    pub node_oid: Option<String>,
    pub public_key: Option<String>,
}

/// Heartbeat timing (`controller.fabric.heartbeat`).
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatSettings {
    pub startup_delay: Duration,
    pub period: Duration,
    pub include_system_stats: bool,
    pub send_workers_heartbeats: bool,
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        HeartbeatSettings::from_config(&HeartbeatConfig::default())
    }
}

impl HeartbeatSettings {
    pub fn from_config(c: &HeartbeatConfig) -> Self {
        let secs = |s: f64, default: f64| {
            Duration::from_secs_f64(if s.is_finite() && s >= 0.0 {
                s
            } else {
                default
            })
        };
        HeartbeatSettings {
            startup_delay: secs(c.startup_delay(), 5.0),
            period: secs(c.heartbeat_period(), 10.0).max(Duration::from_millis(100)),
            include_system_stats: c.include_system_stats(),
            send_workers_heartbeats: c.send_workers_heartbeats(),
        }
    }
}

/// Where and how the uplink connects.
#[derive(Clone, Debug, PartialEq)]
pub struct UplinkTarget {
    /// `ws://…` or `wss://…`.
    pub url: String,
    pub source: TargetSource,
    /// Extra trusted CA certificates (PEM) for `wss://`, besides the public roots.
    pub ca_file: Option<PathBuf>,
    /// TCP connect + TLS + WebSocket upgrade.
    pub connect_timeout: Duration,
    pub heartbeat: HeartbeatSettings,
    /// How long to wait between attempts while the master says the node is not paired.
    pub unpaired_retry: Duration,
    pub activation: Option<Activation>,
}

impl UplinkTarget {
    /// A target for `url` with the defaults (used by tests and the env source).
    pub fn new(url: impl Into<String>, source: TargetSource) -> Self {
        UplinkTarget {
            url: url.into(),
            source,
            ca_file: None,
            connect_timeout: Duration::from_secs(5),
            heartbeat: HeartbeatSettings::default(),
            unpaired_retry: Duration::from_secs(30),
            activation: None,
        }
    }
}

/// Why the uplink target cannot be determined.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Activation { path: PathBuf, message: String },
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

/// Resolves the uplink target of a node: `env_url` is `$CROSSBAR_FABRIC_URL` (passed in so
/// tests need not touch the process environment). `Ok(None)`: no uplink configured.
pub fn resolve(
    cbdir: &Path,
    config: &NodeConfig,
    env_url: Option<&str>,
) -> Result<Option<UplinkTarget>, TargetError> {
    let fabric: Option<&FabricConfig> = config.controller.fabric.as_ref();
    let heartbeat = fabric
        .and_then(|f| f.heartbeat.as_ref())
        .map(HeartbeatSettings::from_config)
        .unwrap_or_default();
    let path = cbdir.join(ACTIVATION_FILE);
    let mut target = if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|source| TargetError::Read {
            path: path.clone(),
            source,
        })?;
        let (url, activation) =
            parse_activation(&text).map_err(|message| TargetError::Activation {
                path: path.clone(),
                message,
            })?;
        check_url(&url, &path.display().to_string())?;
        let mut t = UplinkTarget::new(url, TargetSource::ActivationFile(path));
        t.activation = Some(activation);
        t
    } else if let Some(url) = env_url.map(str::trim).filter(|u| !u.is_empty()) {
        check_url(url, FABRIC_URL_ENV)?;
        UplinkTarget::new(url, TargetSource::Env)
    } else if let Some(t) = fabric.and_then(|f| f.transport.as_ref()) {
        from_transport(t, cbdir)?
    } else {
        return Ok(None);
    };
    // The CA file of the config applies whatever the source of the URL.
    if target.ca_file.is_none()
        && let Some(t) = fabric.and_then(|f| f.transport.as_ref())
    {
        target.ca_file = ca_file_of(&parse_fabric_transport(t)?, cbdir)?;
    }
    target.heartbeat = heartbeat;
    Ok(Some(target))
}

/// Parses Crossbar.io's activation file: `(management-url, the other tags)`.
pub fn parse_activation(text: &str) -> Result<(String, Activation), String> {
    let tags = tagfile::parse(text, ACTIVATION_TAGS).map_err(|e| e.to_string())?;
    let get = |t: &str| {
        tagfile::get(&tags, t)
            .filter(|v| !v.is_empty() && *v != "unknown")
            .map(str::to_owned)
    };
    let url = get("management-url").ok_or("no management-url")?;
    Ok((
        url,
        Activation {
            management_realm: get("management-realm"),
            node_authid: get("node-authid"),
            node_oid: get("node-oid"),
            public_key: get("public-key-ed25519"),
        },
    ))
}

fn check_url(url: &str, at: &str) -> Result<(), TargetError> {
    let bad = |message: String| TargetError::Invalid {
        at: at.to_owned(),
        message,
    };
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| bad(format!("\"{url}\" is not a ws:// or wss:// URL")))?;
    if rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(bad(format!("\"{url}\" has no host")));
    }
    Ok(())
}

const FABRIC_TRANSPORT: &str = "controller.fabric.transport";

/// The config's `controller.fabric.transport`, read as every connecting transport is
/// ([`ConnectingTransport`]; the URL derived from the endpoint when absent).
fn parse_fabric_transport(t: &Value) -> Result<ConnectingTransport, TargetError> {
    let parsed = ConnectingTransport::from_json_with(t, UrlRule::FromEndpoint).map_err(|e| {
        let e = e.within(FABRIC_TRANSPORT);
        TargetError::Invalid {
            at: e.path.clone(),
            message: e.message,
        }
    })?;
    if parsed
        .tls
        .as_ref()
        .is_some_and(|t| t.client_certificate.is_some())
    {
        return Err(TargetError::Invalid {
            at: format!("{FABRIC_TRANSPORT}.endpoint.tls.certificate"),
            message: "the uplink authenticates the node by its key (cryptosign); a TLS client \
                      certificate is not supported on it"
                .into(),
        });
    }
    if parsed.kind != TransportKind::WebSocket {
        return Err(TargetError::Invalid {
            at: format!("{FABRIC_TRANSPORT}.type"),
            message: "the uplink needs a websocket transport, not \"rawsocket\"".into(),
        });
    }
    Ok(parsed)
}

/// A target from the config's connecting transport: `{type: websocket, url, endpoint: {type:
/// tcp, host, port, timeout, tls: {hostname, ca_certificates}}}`.
fn from_transport(t: &Value, cbdir: &Path) -> Result<UplinkTarget, TargetError> {
    let parsed = parse_fabric_transport(t)?;
    let url = parsed.url.clone().unwrap_or_default();
    check_url(&url, &format!("{FABRIC_TRANSPORT}.url"))?;
    let mut target = UplinkTarget::new(url, TargetSource::Config);
    if let ConnectingEndpoint::Tcp {
        timeout: Some(secs),
        ..
    } = parsed.endpoint
        && secs > 0
    {
        target.connect_timeout = Duration::from_secs(secs);
    }
    target.ca_file = ca_file_of(&parsed, cbdir)?;
    Ok(target)
}

/// `endpoint.tls.ca_certificates` (a list of PEM paths, relative to the node directory). One
/// file is supported: put several certificates into one PEM file.
fn ca_file_of(t: &ConnectingTransport, cbdir: &Path) -> Result<Option<PathBuf>, TargetError> {
    match t.tls.as_ref().map(|tls| tls.ca_certificates.as_slice()) {
        None | Some([]) => Ok(None),
        Some([one]) => Ok(Some(cbdir.join(one))),
        Some(_) => Err(TargetError::Invalid {
            at: format!("{FABRIC_TRANSPORT}.endpoint.tls.ca_certificates"),
            message: "give one PEM file path (it may hold several certificates)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> NodeConfig {
        NodeConfig::from_value(v).unwrap()
    }

    const ACTIVATE: &str = "Crossbar.io node activation\n\ncreated-at: 2020-07-05T11:49:59.125Z\n\
management-url: ws://localhost:9000/ws\nmanagement-realm: default\n\
management-realm-oid: 6e8117fb-5bd8-4e83-860c-decefa1e95ac\n\
node-oid: 664e99a6-6a65-4f64-a95e-46ac9c28c80e\nnode-authid: node-664e99\n\
activation-code: P33W-GS4H-5L4Q\n\
public-key-ed25519: 22c6e16005dfb0824466e35ae4b4f71746230628c2dec233f3b8cba22c4acce8\n";

    #[test]
    fn activation_file_format() {
        let (url, a) = parse_activation(ACTIVATE).unwrap();
        assert_eq!(url, "ws://localhost:9000/ws");
        assert_eq!(a.management_realm.as_deref(), Some("default"));
        assert_eq!(a.node_authid.as_deref(), Some("node-664e99"));
        assert!(parse_activation("h\n\nbogus-tag: 1\n").is_err());
        assert!(parse_activation("h\n\nnode-authid: x\n").is_err());
        assert!(parse_activation("h\n\nmanagement-url: a\nmanagement-url: b\n").is_err());
    }

    #[test]
    fn precedence_activation_env_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(serde_json::json!({"version": 2, "controller": {"fabric": {
            "transport": {"type": "websocket", "url": "ws://cfg:1/ws",
                "endpoint": {"type": "tcp", "host": "cfg", "port": 1, "timeout": 3,
                    "tls": {"ca_certificates": ["ca.pem"]}}},
            "heartbeat": {"heartbeat_period": 2}}}}));
        let t = resolve(dir.path(), &cfg, None).unwrap().unwrap();
        assert_eq!(
            (t.url.as_str(), &t.source),
            ("ws://cfg:1/ws", &TargetSource::Config)
        );
        assert_eq!(t.connect_timeout, Duration::from_secs(3));
        assert_eq!(t.ca_file, Some(dir.path().join("ca.pem")));
        assert_eq!(t.heartbeat.period, Duration::from_secs(2));
        let t = resolve(dir.path(), &cfg, Some("wss://env:2/ws"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.url.as_str(), &t.source),
            ("wss://env:2/ws", &TargetSource::Env)
        );
        std::fs::write(dir.path().join(ACTIVATION_FILE), ACTIVATE).unwrap();
        let t = resolve(dir.path(), &cfg, Some("wss://env:2/ws"))
            .unwrap()
            .unwrap();
        assert_eq!(t.url, "ws://localhost:9000/ws");
        assert!(matches!(t.source, TargetSource::ActivationFile(_)));
        assert_eq!(t.heartbeat.period, Duration::from_secs(2));
    }

    #[test]
    fn nothing_configured_and_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let none = config(serde_json::json!({"version": 2}));
        assert!(resolve(dir.path(), &none, None).unwrap().is_none());
        assert!(resolve(dir.path(), &none, Some("  ")).unwrap().is_none());
        assert!(resolve(dir.path(), &none, Some("http://x")).is_err());
        let derived = config(serde_json::json!({"version": 2, "controller": {"fabric": {
            "transport": {"type": "websocket",
                "endpoint": {"type": "tcp", "host": "m", "port": 9000, "tls": {}}}}}}));
        let t = resolve(dir.path(), &derived, None).unwrap().unwrap();
        assert_eq!(t.url, "wss://m:9000/ws");
        std::fs::write(dir.path().join(ACTIVATION_FILE), "x\n\nnode-oid: 1\n").unwrap();
        let e = resolve(dir.path(), &none, None).unwrap_err().to_string();
        assert!(e.contains("no management-url"), "{e}");
    }
}
