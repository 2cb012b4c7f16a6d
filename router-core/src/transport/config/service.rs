//! Web path services in a transport config: `websocket`, `static`, `nodeinfo`, `redirect`,
//! `json`, nested `path`, `none`, and the types Crossbar.io knows that we only recognize.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::{WebSocketConfig, validate_paths};
use crate::config::{ConfigError, deserialize_tagged, from_value, unknown_variant};

/// A service on a Web transport path.
#[allow(clippy::large_enum_variant)] // see TransportConfig
#[derive(Debug, Clone, PartialEq)]
pub enum WebService {
    WebSocket(WebSocketConfig),
    Static(StaticConfig),
    NodeInfo(NodeInfoConfig),
    Redirect(RedirectConfig),
    Json(JsonConfig),
    /// Nested paths (`{"type": "path", "paths": {…}}`).
    Path(PathConfig),
    /// `{"type": "none"}`: answers 404.
    None,
    /// A type Crossbar.io knows that we do not implement; starting it fails.
    Unsupported {
        kind: String,
        config: serde_json::Value,
    },
}

/// Web service types Crossbar.io accepts that this router does not implement.
pub const UNSUPPORTED_WEB_SERVICES: &[&str] = &[
    "resource",
    "reverseproxy",
    "cgi",
    "wsgi",
    "websocket-reverseproxy",
    "longpoll",
    "caller",
    "publisher",
    "webhook",
    "archive",
    "wap",
    "catalog",
];

impl WebService {
    pub fn kind(&self) -> &str {
        match self {
            WebService::WebSocket(_) => "websocket",
            WebService::Static(_) => "static",
            WebService::NodeInfo(_) => "nodeinfo",
            WebService::Redirect(_) => "redirect",
            WebService::Json(_) => "json",
            WebService::Path(_) => "path",
            WebService::None => "none",
            WebService::Unsupported { kind, .. } => kind,
        }
    }

    /// Parses one path service (for `start_web_transport_service`).
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        from_value(value)
    }
}

impl<'de> Deserialize<'de> for WebService {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d, "type", |kind, v| match kind {
            "websocket" => {
                let c: WebSocketConfig = from_value(v)?;
                c.validate()?;
                Ok(WebService::WebSocket(c))
            }
            "static" => {
                let c: StaticConfig = from_value(v)?;
                match (&c.directory, &c.package, &c.resource) {
                    (Some(_), None, None) | (None, Some(_), Some(_)) => Ok(WebService::Static(c)),
                    _ => Err(ConfigError::new(
                        "directory",
                        "either 'directory' OR 'package' + 'resource' must be given",
                    )),
                }
            }
            "nodeinfo" => from_value(v).map(WebService::NodeInfo),
            "redirect" => from_value(v).map(WebService::Redirect),
            "json" => from_value(v).map(WebService::Json),
            "path" => {
                let c: PathConfig = from_value(v)?;
                validate_paths(&c.paths, "paths")?;
                Ok(WebService::Path(c))
            }
            "none" => {
                from_value::<IdOnly>(v)?;
                Ok(WebService::None)
            }
            k if UNSUPPORTED_WEB_SERVICES.contains(&k) => Ok(WebService::Unsupported {
                kind: k.to_owned(),
                config: v,
            }),
            other => {
                let mut all = vec![
                    "websocket",
                    "static",
                    "nodeinfo",
                    "redirect",
                    "json",
                    "path",
                    "none",
                ];
                all.extend_from_slice(UNSUPPORTED_WEB_SERVICES);
                Err(unknown_variant("type", other, &all))
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdOnly {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    #[allow(dead_code)]
    _type: IgnoredAny,
}

/// `{"type": "static", "directory": "..", "options": {…}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    /// Relative to the node directory.
    #[serde(default)]
    pub directory: Option<String>,
    /// A Python package's resource directory; accepted, not supported when starting.
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub options: StaticOptions,
}

impl StaticConfig {
    pub fn directory(dir: &str) -> Self {
        StaticConfig {
            id: None,
            _type: IgnoredAny,
            directory: Some(dir.to_owned()),
            package: None,
            resource: None,
            options: StaticOptions::default(),
        }
    }
}

/// Static service `options`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticOptions {
    #[serde(default)]
    pub enable_directory_listing: bool,
    /// Extra MIME types by extension (`{".wasm": "application/wasm"}`).
    #[serde(default)]
    pub mime_types: BTreeMap<String, String>,
    /// Seconds for `Cache-Control: max-age`; absent: 12 hours; `null`: no caching headers.
    #[serde(default, deserialize_with = "explicit_option")]
    pub cache_timeout: Option<Option<u64>>,
    /// Served instead of a 404 (single-page applications).
    #[serde(default)]
    pub default_file: Option<String>,
    /// Send CORS headers (default true).
    #[serde(default)]
    pub allow_cross_origin: Option<bool>,
}

/// Distinguishes an absent key (`None`) from an explicit `null` (`Some(None)`).
fn explicit_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `{"type": "nodeinfo"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfoConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
}

/// `{"type": "redirect", "url": "…"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub url: String,
}

/// `{"type": "json", "value": …, "options": {…}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub value: serde_json::Value,
    #[serde(default)]
    pub options: JsonOptions,
}

/// JSON service `options`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {
    #[serde(default)]
    pub prettify: bool,
    /// Default true.
    #[serde(default)]
    pub allow_cross_origin: Option<bool>,
    #[serde(default)]
    pub discourage_caching: bool,
}

/// `{"type": "path", "paths": {…}}`: a sub-tree of services.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub paths: BTreeMap<String, WebService>,
}
