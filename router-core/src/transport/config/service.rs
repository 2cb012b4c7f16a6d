//! Web path services in a transport config: `websocket`, `static`, `nodeinfo`, `redirect`,
//! `json`, nested `path`, `none`, the HTTP bridge (`publisher`, `caller`, `webhook`), and the
//! types Crossbar.io knows that we only recognize.

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
    /// HTTP POST → WAMP publish.
    Publisher(BridgeConfig<RestOptions>),
    /// HTTP POST → WAMP call.
    Caller(BridgeConfig<RestOptions>),
    /// Any HTTP POST → an event with its headers and body.
    Webhook(BridgeConfig<WebhookOptions>),
    /// WAMP-over-Long-Poll (autobahn-js's fallback transport).
    LongPoll(LongPollConfig),
    /// Forwards HTTP requests to an upstream server.
    ReverseProxy(ReverseProxyConfig),
    /// Relays WebSocket connections to a backend WebSocket server.
    WebSocketReverseProxy(WebSocketReverseProxyConfig),
    /// Serves the members of a ZIP file.
    Archive(ArchiveConfig),
    /// CGI scripts of a directory, run through a processor.
    Cgi(CgiConfig),
    /// WAMP Application Pages: a template rendered with a WAMP call's result.
    Wap(WapConfig),
    /// `{"type": "none"}`: answers 404.
    None,
    /// A type Crossbar.io knows that we do not implement; starting it fails.
    Unsupported {
        kind: String,
        config: serde_json::Value,
    },
}

/// Web service types Crossbar.io accepts that router-core does not serve itself: `wsgi` and
/// `resource` are Python code, which the worker hosts (worker-host replaces them with reverse
/// proxies to Python children before the router sees them); `catalog` fails to start.
pub const UNSUPPORTED_WEB_SERVICES: &[&str] = &["resource", "wsgi", "catalog"];

impl WebService {
    pub fn kind(&self) -> &str {
        match self {
            WebService::WebSocket(_) => "websocket",
            WebService::Static(_) => "static",
            WebService::NodeInfo(_) => "nodeinfo",
            WebService::Redirect(_) => "redirect",
            WebService::Json(_) => "json",
            WebService::Path(_) => "path",
            WebService::Publisher(_) => "publisher",
            WebService::Caller(_) => "caller",
            WebService::Webhook(_) => "webhook",
            WebService::LongPoll(_) => "longpoll",
            WebService::ReverseProxy(_) => "reverseproxy",
            WebService::WebSocketReverseProxy(_) => "websocket-reverseproxy",
            WebService::Archive(_) => "archive",
            WebService::Cgi(_) => "cgi",
            WebService::Wap(_) => "wap",
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
            "longpoll" => from_value(v).map(WebService::LongPoll),
            "reverseproxy" => from_value(v).map(WebService::ReverseProxy),
            "websocket-reverseproxy" => from_value(v).map(WebService::WebSocketReverseProxy),
            "archive" => from_value(v).map(WebService::Archive),
            "cgi" => from_value(v).map(WebService::Cgi),
            "wap" => from_value(v).map(WebService::Wap),
            "publisher" => from_value(v).map(WebService::Publisher),
            "caller" => from_value(v).map(WebService::Caller),
            "webhook" => {
                let c: BridgeConfig<WebhookOptions> = from_value(v)?;
                if c.options.topic.is_empty() {
                    return Err(ConfigError::new(
                        "options.topic",
                        "a webhook needs the topic its requests are published to",
                    ));
                }
                Ok(WebService::Webhook(c))
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
                    "publisher",
                    "caller",
                    "webhook",
                    "longpoll",
                    "reverseproxy",
                    "websocket-reverseproxy",
                    "archive",
                    "wap",
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

/// An HTTP bridge service (`publisher`, `caller`, `webhook`): the realm and role of the
/// router session it acts through, and its options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig<O> {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub realm: String,
    /// The role of the bridge's session (Crossbar.io: `anonymous` when absent).
    #[serde(default = "anonymous")]
    pub role: String,
    #[serde(default)]
    pub options: O,
}

fn anonymous() -> String {
    "anonymous".into()
}

/// Options of `publisher` and `caller` (Crossbar.io's `check_rest_bridge_*`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestOptions {
    #[serde(default)]
    pub debug: bool,
    /// With `secret`: requests must be signed (query `key`, `timestamp`, `seq`, `nonce`,
    /// `signature`).
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub require_tls: bool,
    /// Client networks allowed (`127.0.0.1/32`, `10.0.0.0/8`, …).
    #[serde(default)]
    pub require_ip: Vec<ipnet::IpNet>,
    /// Bytes; 0 (the default) is no limit but the transport's own.
    #[serde(default, deserialize_with = "body_limit")]
    pub post_body_limit: u32,
    /// Seconds a signed request's timestamp may be off (default 300; 0: not checked).
    #[serde(default, deserialize_with = "delta_limit")]
    pub timestamp_delta_limit: Option<u32>,
}

/// Options of `webhook`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookOptions {
    #[serde(default)]
    pub debug: bool,
    /// The topic each request is published to (required: Crossbar.io fails every request
    /// without it).
    pub topic: String,
    #[serde(default, deserialize_with = "body_limit")]
    pub post_body_limit: u32,
    /// Response body on success (default `OK`) and on failure (default `NOT OK`).
    #[serde(default)]
    pub success_response: Option<String>,
    #[serde(default)]
    pub error_response: Option<String>,
    /// Checks GitHub's `X-Hub-Signature` (HMAC-SHA1 of the body).
    #[serde(default)]
    pub github_secret: Option<String>,
}

fn body_limit<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v > 1 << 20 {
        return Err(serde::de::Error::custom("must be from [0, 1048576]"));
    }
    Ok(v)
}

fn delta_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = u32::deserialize(d)?;
    if v > 86_400 {
        return Err(serde::de::Error::custom("must be from [0, 86400]"));
    }
    Ok(Some(v))
}

/// `{"type": "longpoll", "options": {…}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongPollConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    #[serde(default)]
    pub options: LongPollOptions,
}

/// Long-poll `options` (Crossbar.io's names and defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongPollOptions {
    #[serde(default)]
    pub debug: bool,
    /// A fixed transport id instead of a random one (for debugging, as in Crossbar.io).
    #[serde(default)]
    pub debug_transport_id: Option<String>,
    /// Seconds a receive request is held when there is nothing to send (default 10).
    #[serde(default = "ten")]
    pub request_timeout: u32,
    /// Seconds without a request after which a transport is closed (default 30; 0: never).
    #[serde(default = "thirty")]
    pub session_timeout: u32,
    /// Accepted as Crossbar.io accepts them; the outgoing queue holds at most
    /// `queue_limit_messages` messages (default 100), then the session waits.
    #[serde(default = "queue_bytes")]
    pub queue_limit_bytes: u32,
    #[serde(default = "queue_messages")]
    pub queue_limit_messages: u32,
}

impl Default for LongPollOptions {
    fn default() -> Self {
        LongPollOptions {
            debug: false,
            debug_transport_id: None,
            request_timeout: ten(),
            session_timeout: thirty(),
            queue_limit_bytes: queue_bytes(),
            queue_limit_messages: queue_messages(),
        }
    }
}

fn ten() -> u32 {
    10
}
fn thirty() -> u32 {
    30
}
fn queue_bytes() -> u32 {
    128 * 1024
}
fn queue_messages() -> u32 {
    100
}

/// `{"type": "reverseproxy", "host": …, "port": …, "path": …}` (Crossbar.io's
/// `ExtReverseProxyResource`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReverseProxyConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    pub host: String,
    #[serde(default = "http_port")]
    pub port: u16,
    /// The upstream path the mount point maps to (default: the root).
    #[serde(default)]
    pub path: String,
    /// `X-Forwarded-Port` and `X-Forwarded-Proto` as sent upstream (default 80, `http`).
    #[serde(default = "http_port")]
    pub forwarded_port: u16,
    #[serde(default = "http_proto")]
    pub forwarded_proto: ForwardedProto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardedProto {
    Http,
    Https,
}

impl ForwardedProto {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedProto::Http => "http",
            ForwardedProto::Https => "https",
        }
    }
}

fn http_port() -> u16 {
    80
}
fn http_proto() -> ForwardedProto {
    ForwardedProto::Http
}

/// `{"type": "websocket-reverseproxy", "backend": {"type": "websocket", "endpoint": …,
/// "url": …}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketReverseProxyConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    /// The public URL (informational).
    #[serde(default)]
    pub url: Option<String>,
    /// Frontend WebSocket options; accepted as Crossbar.io accepts them.
    #[serde(default)]
    pub options: Option<serde_json::Value>,
    pub backend: WebSocketBackend,
}

/// The backend a `websocket-reverseproxy` connects to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketBackend {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: WebSocketBackendType,
    pub endpoint: BackendEndpoint,
    /// The URL of the WebSocket handshake (`ws://127.0.0.1:9000/ws`).
    pub url: String,
    /// Ignored, as by Crossbar.io: the client's subprotocols are offered to the backend.
    #[serde(default)]
    pub serializers: Option<serde_json::Value>,
    #[serde(default)]
    pub options: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebSocketBackendType {
    Websocket,
}

/// A connecting TCP endpoint (`{"type": "tcp", "host": …, "port": …}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendEndpoint {
    #[serde(rename = "type")]
    pub kind: WebSocketBackendEndpointType,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub version: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebSocketBackendEndpointType {
    Tcp,
}

/// `{"type": "cgi", "directory": "cgi", "processor": "/usr/bin/python3"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgiConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    /// The directory of the scripts, relative to the node directory.
    pub directory: String,
    /// The program each script is run with (`processor script`).
    pub processor: String,
}

/// `{"type": "archive", "archive": "site.zip", …}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    /// The ZIP file, relative to the node directory.
    pub archive: String,
    /// Where the archive can be downloaded from (http or https).
    #[serde(default)]
    pub origin: Option<String>,
    /// Download a missing archive from `origin` when the service starts.
    #[serde(default)]
    pub download: bool,
    /// Keep served members in memory.
    #[serde(default)]
    pub cache: bool,
    /// Served for a path that names a directory (`index.html`).
    #[serde(default)]
    pub default_object: Option<String>,
    /// Prefix of the members served (a directory inside the archive).
    #[serde(default)]
    pub object_prefix: Option<String>,
    /// Extra MIME types by extension (`{".wasm": "application/wasm"}`).
    #[serde(default)]
    pub mime_types: BTreeMap<String, String>,
    /// SHA-256 hashes the archive must have (any one of them).
    #[serde(default)]
    pub hashes: Vec<String>,
    #[serde(default)]
    pub options: ArchiveOptions,
}

/// Archive `options`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveOptions {
    /// Served instead of a 404 (single-page applications).
    #[serde(default)]
    pub default_file: Option<String>,
}

/// `{"type": "wap", "templates": "dir", "routes": [...], "wamp": {"realm", "authrole"}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WapConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    /// Accepted, unused (as in Crossbar.io).
    #[serde(default)]
    pub path: Option<String>,
    /// The template directory, relative to the node directory.
    pub templates: String,
    /// Crossbar.io's Jinja2 sandbox; minijinja templates cannot reach outside their data.
    #[serde(default = "yes")]
    pub sandbox: bool,
    pub routes: Vec<WapRoute>,
    pub wamp: WapSession,
}

fn yes() -> bool {
    true
}

/// One route of a `wap` service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WapRoute {
    /// A Werkzeug-style rule below the service's path: `/`, `/user/<name>`, `/n/<int:id>`.
    pub path: String,
    #[serde(default)]
    pub method: WapMethod,
    /// The procedure whose result (a dict) the template renders; none: an empty dict.
    #[serde(default)]
    pub call: Option<String>,
    /// The template file.
    pub render: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum WapMethod {
    #[default]
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

/// The realm and role of a `wap` service's session.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WapSession {
    pub realm: String,
    #[serde(default = "anonymous")]
    pub authrole: String,
}
