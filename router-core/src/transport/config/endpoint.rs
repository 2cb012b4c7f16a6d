//! Listening endpoints in a transport config: `tcp` (port, interface, IPv4/IPv6, backlog,
//! SO_REUSEPORT, TLS files) and `unix` (a socket path).

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::config::{ConfigError, deserialize_tagged, from_value, unknown_variant};

/// A listening endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    Tcp(TcpEndpoint),
    Unix(UnixEndpoint),
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d, "type", |kind, v| match kind {
            "tcp" => {
                let e: TcpEndpoint = from_value(v)?;
                e.validate()?;
                Ok(Endpoint::Tcp(e))
            }
            "unix" => from_value(v).map(Endpoint::Unix),
            other => Err(unknown_variant("type", other, &["tcp", "unix"])),
        })
    }
}

/// `{"type": "tcp", "port": 8080, …}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpEndpoint {
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    /// The port; absent or 0: one the OS picks.
    #[serde(default, deserialize_with = "port_number")]
    pub port: Option<u16>,
    /// `[first, last]`: the first free port in the range.
    #[serde(default)]
    pub portrange: Option<[u16; 2]>,
    /// 4 (default) or 6.
    #[serde(default)]
    pub version: Option<u8>,
    /// The address to listen on (all interfaces when absent).
    #[serde(default)]
    pub interface: Option<String>,
    #[serde(default)]
    pub backlog: Option<u32>,
    /// SO_REUSEPORT: several processes may listen on the same port.
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// TCP_USER_TIMEOUT in milliseconds.
    #[serde(default)]
    pub user_timeout: Option<u32>,
}

impl TcpEndpoint {
    /// A plain TCP endpoint (used by tests and programmatic callers).
    pub fn new(interface: &str, port: u16) -> Self {
        TcpEndpoint {
            _type: IgnoredAny,
            port: Some(port),
            portrange: None,
            version: None,
            interface: Some(interface.to_owned()),
            backlog: None,
            shared: false,
            tls: None,
            user_timeout: None,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(v) = self.version
            && v != 4
            && v != 6
        {
            return Err(ConfigError::new(
                "version",
                format!("must be 4 or 6, not {v}"),
            ));
        }
        if let Some(b) = self.backlog
            && !(1..=65535).contains(&b)
        {
            return Err(ConfigError::new("backlog", "must be from [1, 65535]"));
        }
        if let Some([a, b]) = self.portrange
            && (a == 0 || b < a)
        {
            return Err(ConfigError::new(
                "portrange",
                "must be [first, last] with 1 <= first <= last",
            ));
        }
        Ok(())
    }
}

/// Ports may be written as numbers or (after `${VAR}` substitution) as numeric strings.
fn port_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("invalid port {n}: must be from [0, 65535]"))),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse::<u16>()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("invalid port \"{s}\""))),
        Some(other) => Err(D::Error::custom(format!(
            "invalid type: {other}, expected a port number"
        ))),
    }
}

/// `{"type": "unix", "path": "…"}`; a relative path is resolved against the node directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnixEndpoint {
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub path: String,
    #[serde(default)]
    pub backlog: Option<u32>,
}

impl UnixEndpoint {
    pub fn new(path: &str) -> Self {
        UnixEndpoint {
            _type: IgnoredAny,
            path: path.to_owned(),
            backlog: None,
        }
    }
}

/// `endpoint.tls`: PEM files, relative to the node directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub key: String,
    pub certificate: String,
    #[serde(default)]
    pub chain_certificates: Vec<String>,
    /// CA certificates that client certificates must chain to (clients must present one).
    #[serde(default)]
    pub ca_certificates: Option<Vec<String>>,
    /// TLS 1.2 settings; accepted and ignored like Crossbar.io's TLS 1.3-only listeners.
    #[serde(default)]
    pub dhparam: Option<String>,
    #[serde(default)]
    pub ciphers: Option<String>,
}
