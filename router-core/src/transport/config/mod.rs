//! Listening transport configuration as Crossbar.io writes it: `websocket`, `rawsocket`, `web`
//! and `universal` transports, their endpoints (`tcp`, `unix`, TLS) and Web path services.
//!
//! Every struct denies unknown keys, so a typo is reported with its key path
//! (`paths.ws.options.bogus`). Keys that Crossbar.io accepts but this router does not act on
//! (`debug`, `cookie`, WebSocket `compression`, …) are accepted and documented as such. Types
//! that Crossbar.io knows but we do not implement (`websocket.testee`, `wsgi` paths, …) load
//! fine; starting a transport that uses one fails with an error naming it.

mod endpoint;
mod mqtt;
mod service;

pub use mqtt::{MqttConfig, MqttOptions, PayloadFormat};

pub use endpoint::{Endpoint, TcpEndpoint, TlsConfig, UnixEndpoint};
pub use service::{
    ArchiveConfig, ArchiveOptions, BackendEndpoint, BridgeConfig, CgiConfig, ForwardedProto,
    JsonConfig, JsonOptions, LongPollConfig, LongPollOptions, NodeInfoConfig, PathConfig,
    RedirectConfig, RestOptions, ReverseProxyConfig, StaticConfig, StaticOptions,
    UNSUPPORTED_WEB_SERVICES, WapConfig, WapMethod, WapRoute, WebService, WebSocketBackend,
    WebSocketReverseProxyConfig, WebhookOptions,
};

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::codec::Codec;
use crate::config::{ConfigError, deserialize_tagged, from_value, unknown_variant};

/// One item of a router worker's `transports` list.
// Config values are parsed once and few exist; boxing variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum TransportConfig {
    WebSocket(WebSocketConfig),
    RawSocket(RawSocketConfig),
    Web(WebConfig),
    Universal(UniversalConfig),
    /// MQTT 3.1.1 clients publishing and subscribing in a realm.
    Mqtt(MqttConfig),
    /// Answers Flash's `<policy-file-request/>` with a cross-domain policy.
    FlashPolicy(FlashPolicyConfig),
    /// A type Crossbar.io knows (`websocket.testee`, `stream.testee`) that this
    /// router does not implement.
    Unsupported {
        kind: String,
        id: Option<String>,
    },
}

/// The transport types this router implements (the `type` of a `transports` item).
pub const TRANSPORT_TYPES: &[&str] = &[
    "websocket",
    "rawsocket",
    "web",
    "universal",
    "mqtt",
    "flashpolicy",
];

/// Transport types Crossbar.io accepts that we only recognize.
pub const UNSUPPORTED_TRANSPORTS: &[&str] = &["websocket.testee", "stream.testee"];

impl TransportConfig {
    /// Parses one transport item; errors name the key path inside it.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        from_value(value)
    }

    /// The `type` as written in the config.
    pub fn kind(&self) -> &str {
        match self {
            TransportConfig::WebSocket(_) => "websocket",
            TransportConfig::RawSocket(_) => "rawsocket",
            TransportConfig::Web(_) => "web",
            TransportConfig::Universal(_) => "universal",
            TransportConfig::Mqtt(_) => "mqtt",
            TransportConfig::FlashPolicy(_) => "flashpolicy",
            TransportConfig::Unsupported { kind, .. } => kind,
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            TransportConfig::WebSocket(c) => c.id.as_deref(),
            TransportConfig::RawSocket(c) => c.id.as_deref(),
            TransportConfig::Web(c) => c.id.as_deref(),
            TransportConfig::Universal(c) => c.id.as_deref(),
            TransportConfig::Mqtt(c) => c.id.as_deref(),
            TransportConfig::FlashPolicy(c) => c.id.as_deref(),
            TransportConfig::Unsupported { id, .. } => id.as_deref(),
        }
    }

    /// The listening endpoint (`None` only for unsupported types).
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            TransportConfig::WebSocket(c) => c.endpoint.as_ref(),
            TransportConfig::RawSocket(c) => c.endpoint.as_ref(),
            TransportConfig::Web(c) => c.endpoint.as_ref(),
            TransportConfig::Universal(c) => Some(&c.endpoint),
            TransportConfig::Mqtt(c) => c.endpoint.as_ref(),
            TransportConfig::FlashPolicy(c) => Some(&c.endpoint),
            TransportConfig::Unsupported { .. } => None,
        }
    }
}

impl<'de> Deserialize<'de> for TransportConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d, "type", |kind, v| match kind {
            "websocket" => {
                let c: WebSocketConfig = from_value(v)?;
                require_endpoint(&c.endpoint)?;
                c.validate()?;
                Ok(TransportConfig::WebSocket(c))
            }
            "rawsocket" => {
                let c: RawSocketConfig = from_value(v)?;
                require_endpoint(&c.endpoint)?;
                c.validate()?;
                Ok(TransportConfig::RawSocket(c))
            }
            "web" => {
                let c: WebConfig = from_value(v)?;
                require_endpoint(&c.endpoint)?;
                c.validate()?;
                Ok(TransportConfig::Web(c))
            }
            "universal" => {
                let c: UniversalConfig = from_value(v)?;
                c.validate()?;
                Ok(TransportConfig::Universal(c))
            }
            "mqtt" => {
                let c: MqttConfig = from_value(v)?;
                require_endpoint(&c.endpoint)?;
                c.validate()?;
                Ok(TransportConfig::Mqtt(c))
            }
            "flashpolicy" => from_value(v).map(TransportConfig::FlashPolicy),
            k if UNSUPPORTED_TRANSPORTS.contains(&k) => Ok(TransportConfig::Unsupported {
                kind: k.to_owned(),
                id: v.get("id").and_then(|i| i.as_str()).map(str::to_owned),
            }),
            other => {
                let mut all = TRANSPORT_TYPES.to_vec();
                all.extend_from_slice(UNSUPPORTED_TRANSPORTS);
                Err(unknown_variant("type", other, &all))
            }
        })
    }
}

/// `{"type": "flashpolicy", "endpoint": …, "allowed_domain": …, "allowed_ports": […]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashPolicyConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub endpoint: Endpoint,
    /// The domain allowed to connect (default `*`).
    #[serde(default)]
    pub allowed_domain: Option<String>,
    /// The ports allowed (default `*`: all).
    #[serde(default)]
    pub allowed_ports: Option<Vec<std::num::NonZeroU16>>,
    #[serde(default)]
    pub debug: bool,
}

impl FlashPolicyConfig {
    /// The policy document Crossbar.io means to send.
    pub fn policy(&self) -> String {
        let domain = self.allowed_domain.as_deref().unwrap_or("*");
        let ports = match &self.allowed_ports {
            Some(p) => p
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
            None => "*".into(),
        };
        format!(
            "<?xml version=\"1.0\"?><cross-domain-policy><allow-access-from domain=\"{domain}\" to-ports=\"{ports}\" /></cross-domain-policy>"
        )
    }
}

fn require_endpoint(e: &Option<Endpoint>) -> Result<(), ConfigError> {
    match e {
        Some(_) => Ok(()),
        None => Err(ConfigError::new("endpoint", "missing required key")),
    }
}

fn forbid_endpoint(e: &Option<Endpoint>, path: &str) -> Result<(), ConfigError> {
    match e {
        Some(_) => Err(ConfigError::new(
            format!("{path}.endpoint"),
            "not allowed here: the enclosing transport owns the endpoint",
        )),
        None => Ok(()),
    }
}

/// A WAMP serializer name in a config (`serializers: ["cbor", "json"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SerializerName {
    Json,
    Msgpack,
    Cbor,
    Ubjson,
    /// Known to Crossbar.io; not spoken here (skipped with a warning).
    Flatbuffers,
}

impl SerializerName {
    pub fn codec(self) -> Option<Codec> {
        match self {
            SerializerName::Json => Some(Codec::Json),
            SerializerName::Msgpack => Some(Codec::MsgPack),
            SerializerName::Cbor => Some(Codec::Cbor),
            SerializerName::Ubjson => Some(Codec::Ubjson),
            SerializerName::Flatbuffers => None,
        }
    }
}

/// The serializers a transport speaks: all of them when the list is absent.
pub fn codecs_of(names: &Option<Vec<SerializerName>>) -> Vec<Codec> {
    match names {
        None => Codec::ALL.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for c in list.iter().filter_map(|n| n.codec()) {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// A `websocket` transport, a `websocket` Web path service, or a Universal `websocket` item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// The public URL (informational).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub serializers: Option<Vec<SerializerName>>,
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub options: WebSocketOptions,
    /// The transport's authentication config (`router_core::auth` interprets it).
    #[serde(default)]
    pub auth: Option<serde_json::Value>,
    /// Cookie tracking (Crossbar.io's `cbtid`), and with `auth.cookie` cookie authentication.
    #[serde(default)]
    pub cookie: Option<crate::auth::cookie::CookieConfig>,
    #[serde(default)]
    pub max_connections: Option<u32>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            id: None,
            _type: IgnoredAny,
            endpoint: None,
            url: None,
            serializers: None,
            debug: false,
            options: WebSocketOptions::default(),
            auth: None,
            cookie: None,
            max_connections: None,
        }
    }
}

impl WebSocketConfig {
    pub fn codecs(&self) -> Vec<Codec> {
        codecs_of(&self.serializers)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.options.validate().map_err(|e| e.within("options"))?;
        if let Some(c) = &self.cookie {
            c.validate().map_err(|e| e.within("cookie"))?;
        }
        let cookie_auth = self
            .auth
            .as_ref()
            .and_then(|a| a.as_object())
            .is_some_and(|a| a.contains_key("cookie"));
        if cookie_auth && self.cookie.is_none() {
            return Err(ConfigError::new(
                "auth.cookie",
                "cookie authentication needs cookie tracking: add a \"cookie\" item to the transport",
            ));
        }
        validate_auth(&self.auth)
    }
}

/// Checks an endpoint's `auth` block as the authenticator will read it, so a config check
/// reports a bad one with its key path.
fn validate_auth(auth: &Option<serde_json::Value>) -> Result<(), ConfigError> {
    match auth {
        Some(a) => crate::auth::AuthConfig::from_value(a.clone())
            .map(|_| ())
            .map_err(|e| e.within("auth")),
        None => Ok(()),
    }
}

/// WebSocket `options` (Crossbar.io's names; see `check_websocket_options`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketOptions {
    /// Origins allowed to connect (`*` wildcards); default `["*"]`.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// Allow `Origin: null` (default true).
    #[serde(default)]
    pub allow_null_origin: Option<bool>,
    #[serde(default)]
    pub external_port: Option<u16>,
    #[serde(default)]
    pub enable_hybi10: Option<bool>,
    #[serde(default)]
    pub enable_rfc6455: Option<bool>,
    /// Milliseconds from connect to a completed upgrade.
    #[serde(default)]
    pub open_handshake_timeout: Option<u64>,
    #[serde(default)]
    pub close_handshake_timeout: Option<u64>,
    /// Serve a status page to plain HTTP GETs (default true).
    #[serde(default)]
    pub enable_webstatus: Option<bool>,
    #[serde(default)]
    pub validate_utf8: Option<bool>,
    #[serde(default)]
    pub mask_server_frames: Option<bool>,
    #[serde(default)]
    pub require_masked_client_frames: Option<bool>,
    #[serde(default)]
    pub apply_mask: Option<bool>,
    /// Largest incoming frame in bytes; 0 = unlimited.
    #[serde(default)]
    pub max_frame_size: Option<usize>,
    /// Largest incoming message in bytes; 0 = unlimited (default 16 MiB).
    #[serde(default)]
    pub max_message_size: Option<usize>,
    #[serde(default)]
    pub auto_fragment_size: Option<usize>,
    #[serde(default)]
    pub fail_by_drop: Option<bool>,
    #[serde(default)]
    pub echo_close_codereason: Option<bool>,
    #[serde(default)]
    pub tcp_nodelay: Option<bool>,
    /// Milliseconds between the router's pings; absent or 0: no pings.
    #[serde(default)]
    pub auto_ping_interval: Option<u64>,
    /// Milliseconds to wait for a pong before dropping the peer.
    #[serde(default)]
    pub auto_ping_timeout: Option<u64>,
    /// Ping payload size, 12..=125 bytes.
    #[serde(default)]
    pub auto_ping_size: Option<usize>,
    #[serde(default)]
    pub auto_ping_restart_on_any_traffic: Option<bool>,
    #[serde(default)]
    pub enable_flash_policy: Option<bool>,
    #[serde(default)]
    pub flash_policy: Option<serde_json::Value>,
    /// permessage-deflate, negotiated as Crossbar.io does (see `ws_deflate`).
    #[serde(default)]
    pub compression: Option<CompressionConfig>,
    /// Refuse clients that offer no WAMP subprotocol (default: assume `wamp.2.json`).
    #[serde(default)]
    pub require_websocket_subprotocol: Option<bool>,
    #[serde(default)]
    pub show_server_version: Option<bool>,
}

impl WebSocketOptions {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(s) = self.auto_ping_size
            && !(12..=125).contains(&s)
        {
            return Err(ConfigError::new(
                "auto_ping_size",
                "must be between 12 and 125",
            ));
        }
        for (k, v) in [
            ("open_handshake_timeout", self.open_handshake_timeout),
            ("close_handshake_timeout", self.close_handshake_timeout),
            ("auto_ping_interval", self.auto_ping_interval),
            ("auto_ping_timeout", self.auto_ping_timeout),
        ] {
            if let Some(ms) = v
                && ms != 0
                && ms < 1000
            {
                return Err(ConfigError::new(
                    k,
                    format!("is in milliseconds; {ms} is too small"),
                ));
            }
        }
        for (k, v) in [
            ("max_frame_size", self.max_frame_size),
            ("max_message_size", self.max_message_size),
        ] {
            if let Some(n) = v
                && n > 64 * 1024 * 1024
            {
                return Err(ConfigError::new(k, "must be from [0, 64MB], 0 = unlimited"));
            }
        }
        Ok(())
    }
}

/// `options.compression`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionConfig {
    #[serde(default)]
    pub deflate: Option<DeflateConfig>,
}

/// `options.compression.deflate` (permessage-deflate parameters).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeflateConfig {
    #[serde(default)]
    pub request_no_context_takeover: Option<bool>,
    #[serde(default)]
    pub request_max_window_bits: Option<u8>,
    #[serde(default)]
    pub no_context_takeover: Option<bool>,
    #[serde(default)]
    pub max_window_bits: Option<u8>,
    /// zlib's memory level: accepted; flate2 does not expose it, so compression uses its default.
    #[serde(default)]
    pub memory_level: Option<u8>,
}

/// A `rawsocket` transport (or a Universal transport's `rawsocket` item).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSocketConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    #[serde(default)]
    pub serializers: Option<Vec<SerializerName>>,
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub options: RawSocketOptions,
    #[serde(default)]
    pub auth: Option<serde_json::Value>,
    #[serde(default)]
    pub max_connections: Option<u32>,
}

impl RawSocketConfig {
    pub fn codecs(&self) -> Vec<Codec> {
        codecs_of(&self.serializers)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        validate_auth(&self.auth)?;
        if let Some(m) = self.options.max_message_size
            && !(crate::transport::rawsocket::MIN_LENGTH..=crate::transport::rawsocket::MAX_LENGTH)
                .contains(&m)
        {
            return Err(ConfigError::new(
                "options.max_message_size",
                format!("invalid value {m}: must be from [512, 16MB]"),
            ));
        }
        Ok(())
    }
}

/// RawSocket `options`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSocketOptions {
    /// Largest incoming message (512 B..16 MiB, default 16 MiB).
    #[serde(default)]
    pub max_message_size: Option<usize>,
}

/// A `web` transport (or a Universal transport's `web` item).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    pub paths: BTreeMap<String, WebService>,
    #[serde(default)]
    pub options: WebOptions,
    #[serde(default)]
    pub max_connections: Option<u32>,
}

impl WebConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        validate_paths(&self.paths, "paths")
    }
}

/// Checks path keys (`^([a-z0-9A-Z_\-]+|/)$`) and the services under them.
pub(super) fn validate_paths(
    paths: &BTreeMap<String, WebService>,
    at: &str,
) -> Result<(), ConfigError> {
    for (key, service) in paths {
        let here = format!("{at}.{key}");
        if !valid_path_key(key) {
            return Err(ConfigError::new(
                here,
                "invalid path: must be \"/\" or match [a-z0-9A-Z_-]+",
            ));
        }
        match service {
            WebService::WebSocket(ws) => forbid_endpoint(&ws.endpoint, &here)?,
            WebService::Path(p) => validate_paths(&p.paths, &format!("{here}.paths"))?,
            _ => {}
        }
    }
    Ok(())
}

/// Crossbar.io's `_WEB_PATH_PAT_STR`.
pub fn valid_path_key(key: &str) -> bool {
    key == "/"
        || (!key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

/// Web transport `options`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebOptions {
    /// Log each request.
    #[serde(default)]
    pub access_log: bool,
    #[serde(default)]
    pub display_tracebacks: bool,
    /// Send `Strict-Transport-Security`.
    #[serde(default)]
    pub hsts: bool,
    #[serde(default)]
    pub hsts_max_age: Option<u64>,
    /// Seconds an idle HTTP connection may wait for its request headers.
    #[serde(default)]
    pub client_timeout: Option<u64>,
}

/// A `universal` transport: RawSocket, WebSocket paths and Web paths on one port.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniversalConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub endpoint: Endpoint,
    #[serde(default)]
    pub rawsocket: Option<RawSocketConfig>,
    /// WebSocket endpoints by first path segment (checked before `web` paths).
    #[serde(default)]
    pub websocket: Option<BTreeMap<String, WebSocketConfig>>,
    /// MQTT clients (recognized by their first byte, CONNECT).
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    #[serde(default)]
    pub web: Option<WebConfig>,
    #[serde(default)]
    pub max_connections: Option<u32>,
}

impl UniversalConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(m) = &self.mqtt {
            forbid_endpoint(&m.endpoint, "mqtt")?;
            m.validate().map_err(|e| e.within("mqtt"))?;
        }
        if let Some(rs) = &self.rawsocket {
            forbid_endpoint(&rs.endpoint, "rawsocket")?;
            rs.validate().map_err(|e| e.within("rawsocket"))?;
        }
        if let Some(map) = &self.websocket {
            for (key, ws) in map {
                let here = format!("websocket.{key}");
                if !valid_path_key(key) {
                    return Err(ConfigError::new(
                        here,
                        "invalid path: must be \"/\" or match [a-z0-9A-Z_-]+",
                    ));
                }
                forbid_endpoint(&ws.endpoint, &here)?;
                ws.validate().map_err(|e| e.within(&here))?;
            }
        }
        if let Some(web) = &self.web {
            forbid_endpoint(&web.endpoint, "web")?;
            web.validate().map_err(|e| e.within("web"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<TransportConfig, ConfigError> {
        TransportConfig::from_json(v)
    }

    #[test]
    fn crossbar_init_transports_load() {
        let text = include_str!("../../../tests/data/cbinit_config.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let transports = v["workers"][0]["transports"].as_array().unwrap();
        let rs = parse(transports[0].clone()).unwrap();
        let TransportConfig::RawSocket(rs) = rs else {
            panic!()
        };
        assert_eq!(rs.options.max_message_size, Some(1048576));
        assert_eq!(rs.codecs(), vec![Codec::Cbor, Codec::MsgPack, Codec::Json]);
        let web = parse(transports[1].clone()).unwrap();
        let TransportConfig::Web(web) = web else {
            panic!()
        };
        assert_eq!(web.paths.len(), 3);
        let WebService::WebSocket(ws) = &web.paths["ws"] else {
            panic!()
        };
        assert_eq!(ws.options.auto_ping_interval, Some(10000));
        assert!(ws.options.compression.is_some());
        let WebService::Static(st) = &web.paths["/"] else {
            panic!()
        };
        assert!(st.options.enable_directory_listing);
        assert_eq!(st.options.cache_timeout, None);
        assert!(matches!(web.paths["info"], WebService::NodeInfo(_)));
    }

    #[test]
    fn unknown_keys_have_paths() {
        let e = parse(
            json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080},
            "paths": {"ws": {"type": "websocket", "options": {"bogus": 1}}}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "paths.ws.options.bogus");
        let e = parse(json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 1, "tls": {"key": "k"}}}))
            .unwrap_err();
        assert_eq!(e.path, "endpoint.tls", "{e}");
        assert!(e.message.contains("certificate"), "{e}");
        let e = parse(json!({"type": "websocket"})).unwrap_err();
        assert_eq!(e.path, "endpoint");
        let e = parse(json!({"type": "websocket", "endpoint": {"type": "tcp", "port": "x"}}))
            .unwrap_err();
        assert_eq!(e.path, "endpoint.port");
        let e = parse(
            json!({"type": "universal", "endpoint": {"type": "tcp", "port": 1},
            "websocket": {"ws": {"options": {"auto_ping_size": 3}}}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "websocket.ws.options.auto_ping_size");
        let e = parse(
            json!({"type": "web", "endpoint": {"type": "tcp", "port": 1},
            "paths": {"a/b": {"type": "none"}}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "paths.a/b");
        let e = parse(
            json!({"type": "web", "endpoint": {"type": "tcp", "port": 1},
            "paths": {"x": {"type": "path", "paths": {"y": {"type": "nope"}}}}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "paths.x.paths.y.type");
        let e = parse(
            json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 1},
            "options": {"max_message_size": 100}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "options.max_message_size");
        let e = parse(
            json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 1},
            "serializers": ["json", "xml"]}),
        )
        .unwrap_err();
        assert_eq!(e.path, "serializers[1]");
    }

    #[test]
    fn unsupported_types_load() {
        let t = parse(
            json!({"type": "websocket.testee", "id": "m1", "endpoint": {"type": "tcp", "port": 1}}),
        )
        .unwrap();
        assert_eq!(t.kind(), "websocket.testee");
        assert_eq!(t.id(), Some("m1"));
        let t = parse(
            json!({"type": "web", "endpoint": {"type": "tcp", "port": 1},
            "paths": {"app": {"type": "wsgi", "module": "m", "object": "o"}}}),
        )
        .unwrap();
        let TransportConfig::Web(w) = t else { panic!() };
        assert_eq!(w.paths["app"].kind(), "wsgi");
    }

    #[test]
    fn endpoints() {
        let t = parse(
            json!({"type": "universal", "endpoint": {"type": "unix", "path": "x.sock"},
            "rawsocket": {}, "websocket": {"ws": {"type": "websocket"}},
            "web": {"paths": {"/": {"type": "json", "value": [1]}}}}),
        )
        .unwrap();
        let TransportConfig::Universal(u) = t else {
            panic!()
        };
        assert_eq!(u.endpoint, Endpoint::Unix(UnixEndpoint::new("x.sock")));
        let t = parse(
            json!({"type": "websocket", "endpoint": {"type": "tcp", "port": "8080",
            "version": 6, "shared": true, "tls": {"key": "k.pem", "certificate": "c.pem"}}}),
        )
        .unwrap();
        let Some(Endpoint::Tcp(tcp)) = t.endpoint() else {
            panic!()
        };
        assert_eq!(tcp.port, Some(8080));
        assert!(tcp.tls.is_some());
        let e = parse(
            json!({"type": "universal", "endpoint": {"type": "tcp", "port": 1},
            "rawsocket": {"endpoint": {"type": "tcp", "port": 2}}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "rawsocket.endpoint");
        let e = parse(
            json!({"type": "websocket", "endpoint": {"type": "tcp", "port": 1, "version": 5}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "endpoint.version");
    }

    #[test]
    fn static_cache_timeout() {
        let s = WebService::from_json(json!({"type": "static", "directory": "x",
            "options": {"cache_timeout": null}}))
        .unwrap();
        let WebService::Static(s) = s else { panic!() };
        assert_eq!(s.options.cache_timeout, Some(None));
        let e = WebService::from_json(json!({"type": "static"})).unwrap_err();
        assert_eq!(e.path, "directory");
    }
}
