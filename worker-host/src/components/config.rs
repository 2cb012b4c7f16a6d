//! A component config item, typed: `class` (autobahn-python `ApplicationSession`) or `exec`
//! (any executable), for a router worker (attached to one of its realms) or a container worker
//! (connecting through a `transport`).
//!
//! Checked once when the component is started; errors name the key path inside the item
//! (`transport.endpoint.port`), like router-core's config errors, so the API layer can prefix
//! them with `components[2]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use router_core::config::{ConfigError, from_value, unknown_variant};
use serde::Deserialize;
use serde_json::Value;

/// Where a component runs, which decides the keys it may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Beside a router, attached to one of its realms (`role` allowed, no `transport`).
    Router,
    /// In a container, connecting to a router through `transport` (the role comes from auth).
    Container,
}

/// A component, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentConfig {
    pub id: Option<String>,
    pub realm: String,
    /// The authrole of a router component (Crossbar.io's default: `anonymous`).
    pub role: String,
    /// Handed to the component as `config.extra` (always an object).
    pub extra: serde_json::Map<String, Value>,
    pub kind: ComponentKind,
    /// How a container component reaches its router.
    pub transport: Option<ConnectingTransport>,
    /// How a container component authenticates (anonymous when absent).
    pub auth: Option<ClientAuth>,
}

/// What runs.
#[derive(Clone, Debug, PartialEq)]
pub enum ComponentKind {
    /// `classname`: `package.module.Class`, an autobahn-python `ApplicationSession` subclass.
    Class {
        classname: String,
    },
    /// Crossbar.io's `function` component: a session (a router component joins with its
    /// `role`) whose `join`, `leave`, `connect` and `disconnect` events call these Python
    /// callables (`package.module.function`), each as `fn(session, details)`.
    Function {
        callbacks: BTreeMap<String, String>,
    },
    Exec(ExecSpec),
}

/// The events a `function` component may have callbacks for (Crossbar.io's list).
pub const FUNCTION_CALLBACKS: &[&str] = &["join", "leave", "connect", "disconnect"];

/// A native executable and how it is started.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecSpec {
    pub executable: String,
    pub arguments: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Relative paths resolve against the worker's base directory.
    pub workdir: Option<PathBuf>,
    /// How a router component's process reaches the realm.
    pub link: ExecLink,
}

/// How an `exec` router component speaks WAMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecLink {
    /// RawSocket on its stdin/stdout (the default); stderr is its log.
    Stdio,
    /// It connects to `CROSSBAR_ROUTER_URL` (a private Unix socket) with `CROSSBAR_TICKET`.
    Url,
}

/// A connecting transport: Crossbar.io's container component `transport` and the node's
/// management uplink (`controller.fabric.transport`), parsed by one reading.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectingTransport {
    pub kind: TransportKind,
    pub endpoint: ConnectingEndpoint,
    /// WebSocket: the URL of the upgrade request (see [`UrlRule`]).
    pub url: Option<String>,
    /// Serializers in order of preference (RawSocket: exactly one).
    pub serializers: Vec<String>,
    /// `endpoint.tls`: connect with TLS.
    pub tls: Option<ClientTls>,
}

/// A connecting endpoint's `tls` (Crossbar.io's keys).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientTls {
    /// PEM files of CA certificates trusted besides the public roots (relative to the node
    /// directory).
    pub ca_certificates: Vec<PathBuf>,
    /// The server name to verify, when not the endpoint's host.
    pub hostname: Option<String>,
    /// A client certificate (PEM, relative to the node directory) and its key, for routers
    /// that ask for one (`ca_certificates` on their endpoint).
    pub client_certificate: Option<(PathBuf, PathBuf)>,
}

/// Whether a WebSocket transport must name its `url`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlRule {
    /// Required, as Crossbar.io's checkconfig requires it (components).
    Required,
    /// Derived from a TCP endpoint when absent: `ws://host:port/ws`, `wss://` with `tls`
    /// (the uplink, as Crossbar.io's node derives its management URL).
    FromEndpoint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    WebSocket,
    RawSocket,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConnectingEndpoint {
    Tcp {
        host: String,
        port: u16,
        /// Connect timeout in seconds.
        timeout: Option<u64>,
    },
    Unix {
        path: PathBuf,
        timeout: Option<u64>,
    },
}

impl ConnectingTransport {
    /// The URL a client library connects to: the WebSocket URL, `rs://host:port` or
    /// `unix:/path` (router-core's client URL forms).
    pub fn router_url(&self) -> String {
        match (&self.kind, &self.endpoint) {
            (TransportKind::WebSocket, _) => self.url.clone().unwrap_or_default(),
            (TransportKind::RawSocket, ConnectingEndpoint::Tcp { host, port, .. }) => {
                if host.contains(':') {
                    format!("rs://[{host}]:{port}")
                } else {
                    format!("rs://{host}:{port}")
                }
            }
            (TransportKind::RawSocket, ConnectingEndpoint::Unix { path, .. }) => {
                format!("unix:{}", path.display())
            }
        }
    }
}

/// Credentials of a container component: exactly one method.
#[derive(Clone, PartialEq)]
pub struct ClientAuth {
    pub authid: Option<String>,
    pub authrole: Option<String>,
    pub secret: ClientSecret,
}

#[derive(Clone, PartialEq)]
pub enum ClientSecret {
    Ticket(String),
    WampCra(String),
    /// The Ed25519 seed, 64 hex digits.
    Cryptosign(String),
}

impl ClientAuth {
    pub fn method(&self) -> &'static str {
        match self.secret {
            ClientSecret::Ticket(_) => "ticket",
            ClientSecret::WampCra(_) => "wampcra",
            ClientSecret::Cryptosign(_) => "cryptosign",
        }
    }

    /// The secret in clear (for the child process only).
    pub fn secret_str(&self) -> &str {
        match &self.secret {
            ClientSecret::Ticket(s) | ClientSecret::WampCra(s) | ClientSecret::Cryptosign(s) => s,
        }
    }
}

// Secrets stay out of logs and error messages.
impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("method", &self.method())
            .field("authid", &self.authid)
            .field("authrole", &self.authrole)
            .finish_non_exhaustive()
    }
}

/// Every key a component item may have; which ones apply depends on type and placement.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    #[serde(default)]
    id: Option<String>,
    r#type: String,
    realm: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    classname: Option<String>,
    #[serde(default)]
    callbacks: Option<BTreeMap<String, String>>,
    #[serde(default)]
    extra: Option<Value>,
    /// Crossbar.io accepts it (router links); nothing reads it.
    #[serde(default)]
    #[allow(dead_code)]
    references: Option<Vec<Value>>,
    #[serde(default)]
    executable: Option<String>,
    #[serde(default)]
    arguments: Option<Vec<String>>,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    workdir: Option<PathBuf>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    transport: Option<Value>,
    #[serde(default)]
    auth: Option<Value>,
}

const CLASS_ONLY: &[&str] = &["classname"];
const FUNCTION_ONLY: &[&str] = &["callbacks"];
const EXEC_ONLY: &[&str] = &["executable", "arguments", "env", "workdir", "link"];

impl ComponentConfig {
    /// Checks a component item (as in a config file or a `start_*component` call).
    pub fn from_json(value: &Value, placement: Placement) -> Result<ComponentConfig, ConfigError> {
        if !value.is_object() {
            return Err(ConfigError::new("", "a component must be an object"));
        }
        let raw: RawComponent = from_value(value.clone())?;
        if raw.realm.is_empty() {
            return Err(ConfigError::new("realm", "must not be empty"));
        }
        if let Some(id) = &raw.id
            && id.is_empty()
        {
            return Err(ConfigError::new("id", "must not be empty"));
        }
        let present = |key: &str| value.get(key).is_some_and(|v| !v.is_null());
        let kind = match raw.r#type.as_str() {
            "class" => {
                if let Some(k) = EXEC_ONLY.iter().find(|k| present(k)) {
                    return Err(ConfigError::new(*k, "only for components of type \"exec\""));
                }
                if let Some(k) = FUNCTION_ONLY.iter().find(|k| present(k)) {
                    return Err(ConfigError::new(
                        *k,
                        "only for components of type \"function\"",
                    ));
                }
                let classname = raw
                    .classname
                    .ok_or_else(|| ConfigError::new("classname", "missing required key"))?;
                check_classname(&classname)?;
                ComponentKind::Class { classname }
            }
            "function" => {
                if let Some(k) = EXEC_ONLY.iter().chain(CLASS_ONLY).find(|k| present(k)) {
                    return Err(ConfigError::new(
                        *k,
                        "not for components of type \"function\"",
                    ));
                }
                let callbacks = raw.callbacks.unwrap_or_default();
                for (event, callable) in &callbacks {
                    if !FUNCTION_CALLBACKS.contains(&event.as_str()) {
                        return Err(unknown_variant(
                            &format!("callbacks.{event}"),
                            event,
                            FUNCTION_CALLBACKS,
                        ));
                    }
                    check_classname(callable).map_err(|_| {
                        ConfigError::new(
                            format!("callbacks.{event}"),
                            format!(
                                "\"{callable}\" is not a Python function path like \"package.module.function\""
                            ),
                        )
                    })?;
                }
                ComponentKind::Function { callbacks }
            }
            "exec" => {
                if let Some(k) = CLASS_ONLY.iter().chain(FUNCTION_ONLY).find(|k| present(k)) {
                    return Err(ConfigError::new(*k, "not for components of type \"exec\""));
                }
                let executable = raw
                    .executable
                    .ok_or_else(|| ConfigError::new("executable", "missing required key"))?;
                if executable.is_empty() {
                    return Err(ConfigError::new("executable", "must not be empty"));
                }
                let link = match raw.link.as_deref() {
                    None | Some("stdio") => ExecLink::Stdio,
                    Some("url") => ExecLink::Url,
                    Some(other) => return Err(unknown_variant("link", other, &["stdio", "url"])),
                };
                if placement == Placement::Container && raw.link.is_some() {
                    return Err(ConfigError::new(
                        "link",
                        "only for router components (a container component connects through its transport)",
                    ));
                }
                ComponentKind::Exec(ExecSpec {
                    executable,
                    arguments: raw.arguments.unwrap_or_default(),
                    env: raw.env.unwrap_or_default(),
                    workdir: raw.workdir,
                    link,
                })
            }
            other => {
                return Err(unknown_variant(
                    "type",
                    other,
                    &["class", "function", "exec"],
                ));
            }
        };
        let extra = match raw.extra {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(ConfigError::new("extra", "must be an object")),
        };
        let (transport, auth) = match placement {
            Placement::Router => {
                for key in ["transport", "auth"] {
                    if present(key) {
                        return Err(ConfigError::new(
                            key,
                            "a router component attaches to the router's realm directly; `transport` and `auth` are for container components",
                        ));
                    }
                }
                (None, None)
            }
            Placement::Container => {
                if present("role") {
                    return Err(ConfigError::new(
                        "role",
                        "a container component gets its role from authentication (use `auth`)",
                    ));
                }
                let t = raw
                    .transport
                    .ok_or_else(|| ConfigError::new("transport", "missing required key"))?;
                let transport =
                    ConnectingTransport::from_json(&t).map_err(|e| e.within("transport"))?;
                if transport.tls.is_some() && matches!(kind, ComponentKind::Exec(_)) {
                    return Err(ConfigError::new(
                        "transport.endpoint.tls",
                        "an exec component connects by itself to the URL it is given; configure \
                         its TLS (CA, client certificate) in its own settings (env or arguments)",
                    ));
                }
                let auth = match raw.auth {
                    None | Some(Value::Null) => None,
                    Some(a) => Some(ClientAuth::from_json(&a).map_err(|e| e.within("auth"))?),
                };
                (Some(transport), auth)
            }
        };
        Ok(ComponentConfig {
            id: raw.id,
            realm: raw.realm,
            role: raw.role.unwrap_or_else(|| "anonymous".into()),
            extra,
            kind,
            transport,
            auth,
        })
    }

    /// `class`, `function` or `exec`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ComponentKind::Class { .. } => "class",
            ComponentKind::Function { .. } => "function",
            ComponentKind::Exec(_) => "exec",
        }
    }
}

fn check_classname(classname: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = classname.split('.').collect();
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
    };
    if parts.len() < 2 || !parts.iter().all(|p| ident(p)) {
        return Err(ConfigError::new(
            "classname",
            format!("\"{classname}\" is not a Python class path like \"package.module.Class\""),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransport {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    r#type: String,
    endpoint: Value,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    serializers: Option<Vec<String>>,
    #[serde(default)]
    serializer: Option<String>,
    /// Transport tuning (Crossbar.io's WebSocket/RawSocket options); accepted, not applied.
    #[serde(default)]
    #[allow(dead_code)]
    options: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    #[allow(dead_code)]
    debug: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    r#type: String,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    version: Option<u8>,
    #[serde(default)]
    tls: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    ca_certificates: Vec<PathBuf>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    certificate: Option<PathBuf>,
    #[serde(default)]
    key: Option<PathBuf>,
}

const SERIALIZERS: &[&str] = router_core::codec::Codec::NAMES;

impl ConnectingTransport {
    /// Checks a connecting transport with Crossbar.io's rules ([`UrlRule::Required`]).
    pub fn from_json(value: &Value) -> Result<ConnectingTransport, ConfigError> {
        Self::from_json_with(value, UrlRule::Required)
    }

    pub fn from_json_with(
        value: &Value,
        url_rule: UrlRule,
    ) -> Result<ConnectingTransport, ConfigError> {
        let raw: RawTransport = from_value(value.clone())?;
        let kind = match raw.r#type.as_str() {
            "websocket" => TransportKind::WebSocket,
            "rawsocket" => TransportKind::RawSocket,
            other => return Err(unknown_variant("type", other, &["websocket", "rawsocket"])),
        };
        let ep: RawEndpoint = from_value(raw.endpoint).map_err(|e| e.within("endpoint"))?;
        let tls = match ep.tls {
            None | Some(Value::Null) => None,
            Some(t) => {
                let t: RawTls = from_value(t).map_err(|e| e.within("endpoint.tls"))?;
                let client_certificate = match (t.certificate, t.key) {
                    (Some(c), Some(k)) => Some((c, k)),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(ConfigError::new(
                            "endpoint.tls.key",
                            "a client certificate needs its key",
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(ConfigError::new(
                            "endpoint.tls.certificate",
                            "a key needs its client certificate",
                        ));
                    }
                };
                Some(ClientTls {
                    ca_certificates: t.ca_certificates,
                    hostname: t.hostname,
                    client_certificate,
                })
            }
        };
        let endpoint = match ep.r#type.as_str() {
            "tcp" => {
                if ep.path.is_some() {
                    return Err(ConfigError::new("endpoint.path", "only for unix endpoints"));
                }
                if let Some(v) = ep.version
                    && v != 4
                    && v != 6
                {
                    return Err(ConfigError::new("endpoint.version", "must be 4 or 6"));
                }
                let host = ep
                    .host
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| ConfigError::new("endpoint.host", "missing required key"))?;
                let port = ep
                    .port
                    .filter(|p| *p != 0)
                    .ok_or_else(|| ConfigError::new("endpoint.port", "missing required key"))?;
                ConnectingEndpoint::Tcp {
                    host,
                    port,
                    timeout: ep.timeout,
                }
            }
            "unix" => {
                if ep.host.is_some() || ep.port.is_some() {
                    return Err(ConfigError::new(
                        "endpoint",
                        "a unix endpoint has a `path`, no `host`/`port`",
                    ));
                }
                let path = ep
                    .path
                    .ok_or_else(|| ConfigError::new("endpoint.path", "missing required key"))?;
                ConnectingEndpoint::Unix {
                    path,
                    timeout: ep.timeout,
                }
            }
            other => return Err(unknown_variant("endpoint.type", other, &["tcp", "unix"])),
        };
        let (serializers, url) = match kind {
            TransportKind::WebSocket => {
                if raw.serializer.is_some() {
                    return Err(ConfigError::new(
                        "serializer",
                        "a WebSocket transport takes `serializers` (a list)",
                    ));
                }
                let derived = match (&raw.url, url_rule, &endpoint) {
                    (None, UrlRule::FromEndpoint, ConnectingEndpoint::Tcp { host, port, .. }) => {
                        let scheme = if tls.is_some() { "wss" } else { "ws" };
                        Some(format!("{scheme}://{host}:{port}/ws"))
                    }
                    _ => None,
                };
                let url = raw
                    .url
                    .or(derived)
                    .ok_or_else(|| ConfigError::new("url", "missing required key"))?;
                if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                    return Err(ConfigError::new(
                        "url",
                        format!("\"{url}\" is not a ws:// or wss:// URL"),
                    ));
                }
                (raw.serializers.unwrap_or_default(), Some(url))
            }
            TransportKind::RawSocket => {
                if raw.serializers.is_some() {
                    return Err(ConfigError::new(
                        "serializers",
                        "a RawSocket transport takes one `serializer`",
                    ));
                }
                let serializer = raw
                    .serializer
                    .ok_or_else(|| ConfigError::new("serializer", "missing required key"))?;
                (vec![serializer], raw.url)
            }
        };
        for (i, s) in serializers.iter().enumerate() {
            if !SERIALIZERS.contains(&s.as_str()) {
                let at = match kind {
                    TransportKind::WebSocket => format!("serializers[{i}]"),
                    TransportKind::RawSocket => "serializer".into(),
                };
                return Err(unknown_variant(&at, s, SERIALIZERS));
            }
        }
        Ok(ConnectingTransport {
            kind,
            endpoint,
            url,
            serializers,
            tls,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    authid: Option<String>,
    #[serde(default)]
    authrole: Option<String>,
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    privkey: Option<String>,
}

impl ClientAuth {
    /// `{"<method>": {authid, authrole?, ticket | secret | privkey}}`, one method.
    pub fn from_json(value: &Value) -> Result<ClientAuth, ConfigError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ConfigError::new("", "must be an object"))?;
        let mut entries = obj.iter();
        let (method, inner) = match (entries.next(), entries.next()) {
            (Some(e), None) => e,
            _ => {
                return Err(ConfigError::new(
                    "",
                    "must name exactly one method: ticket, wampcra or cryptosign",
                ));
            }
        };
        let raw: RawAuth = from_value(inner.clone()).map_err(|e| e.within(method))?;
        let need = |v: Option<String>, key: &str| {
            v.filter(|s| !s.is_empty())
                .ok_or_else(|| ConfigError::new(format!("{method}.{key}"), "missing required key"))
        };
        let wrong = |present: bool, key: &str| {
            if present {
                Err(ConfigError::new(
                    format!("{method}.{key}"),
                    format!("not a {method} credential"),
                ))
            } else {
                Ok(())
            }
        };
        let secret = match method.as_str() {
            "ticket" => {
                wrong(raw.secret.is_some(), "secret")?;
                wrong(raw.privkey.is_some(), "privkey")?;
                ClientSecret::Ticket(need(raw.ticket, "ticket")?)
            }
            "wampcra" => {
                wrong(raw.ticket.is_some(), "ticket")?;
                wrong(raw.privkey.is_some(), "privkey")?;
                ClientSecret::WampCra(need(raw.secret, "secret")?)
            }
            "cryptosign" => {
                wrong(raw.ticket.is_some(), "ticket")?;
                wrong(raw.secret.is_some(), "secret")?;
                let key = need(raw.privkey, "privkey")?;
                if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(ConfigError::new(
                        "cryptosign.privkey",
                        "must be a 32-byte Ed25519 seed as 64 hex digits",
                    ));
                }
                ClientSecret::Cryptosign(key.to_ascii_lowercase())
            }
            other => {
                return Err(unknown_variant(
                    other,
                    other,
                    &["ticket", "wampcra", "cryptosign"],
                ));
            }
        };
        if method != "cryptosign" && raw.authid.is_none() {
            return Err(ConfigError::new(
                format!("{method}.authid"),
                "missing required key",
            ));
        }
        Ok(ClientAuth {
            authid: raw.authid,
            authrole: raw.authrole,
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value, p: Placement) -> ConfigError {
        ComponentConfig::from_json(&v, p).unwrap_err()
    }

    #[test]
    fn router_class() {
        let c = ComponentConfig::from_json(
            &json!({"type": "class", "classname": "app.backend.Session", "realm": "realm1",
                    "role": "backend", "extra": {"x": 1}}),
            Placement::Router,
        )
        .unwrap();
        assert_eq!(c.role, "backend");
        assert_eq!(c.extra["x"], 1);
        assert!(matches!(c.kind, ComponentKind::Class { .. }));
        let c = ComponentConfig::from_json(
            &json!({"type": "class", "classname": "a.B", "realm": "r"}),
            Placement::Router,
        )
        .unwrap();
        assert_eq!(c.role, "anonymous");
    }

    #[test]
    fn errors_name_keys() {
        let r = Placement::Router;
        assert_eq!(
            err(json!({"type": "class", "realm": "r"}), r).path,
            "classname"
        );
        assert_eq!(
            err(
                json!({"type": "class", "realm": "r", "classname": "nodots"}),
                r
            )
            .path,
            "classname"
        );
        assert_eq!(err(json!({"type": "module", "realm": "r"}), r).path, "type");
        // `function` components: Crossbar.io's callback names, router workers only.
        let f = ComponentConfig::from_json(
            &json!({"type": "function", "realm": "r", "callbacks": {"join": "m.on_join"}}),
            r,
        )
        .unwrap();
        assert!(
            matches!(f.kind, ComponentKind::Function { ref callbacks } if callbacks["join"] == "m.on_join")
        );
        assert_eq!(
            err(
                json!({"type": "function", "realm": "r", "callbacks": {"ready": "m.f"}}),
                r
            )
            .path,
            "callbacks.ready"
        );
        assert_eq!(
            err(
                json!({"type": "function", "realm": "r", "callbacks": {"join": "nodots"}}),
                r
            )
            .path,
            "callbacks.join"
        );
        assert_eq!(
            err(
                json!({"type": "function", "realm": "r", "classname": "a.B"}),
                r
            )
            .path,
            "classname"
        );
        // In a container too, with its transport.
        let t = json!({"type": "rawsocket", "serializer": "json",
                       "endpoint": {"type": "tcp", "host": "h", "port": 1}});
        assert!(
            ComponentConfig::from_json(
                &json!({"type": "function", "realm": "r", "transport": t}),
                Placement::Container
            )
            .is_ok()
        );
        assert_eq!(
            err(
                json!({"type": "exec", "realm": "r", "executable": "x", "classname": "a.b"}),
                r
            )
            .path,
            "classname"
        );
        assert_eq!(
            err(
                json!({"type": "exec", "realm": "r", "executable": "x", "bogus": 1}),
                r
            )
            .path,
            "bogus"
        );
        assert_eq!(
            err(
                json!({"type": "exec", "realm": "r", "executable": "x", "arguments": [1]}),
                r
            )
            .path,
            "arguments[0]"
        );
        assert_eq!(
            err(
                json!({"type": "class", "realm": "r", "classname": "a.B", "extra": 3}),
                r
            )
            .path,
            "extra"
        );
        assert_eq!(
            err(
                json!({"type": "class", "realm": "r", "classname": "a.B",
                       "transport": {"type": "websocket"}}),
                r
            )
            .path,
            "transport"
        );
        assert_eq!(err(json!([1]), r).path, "");
    }

    #[test]
    fn container_transport_and_auth() {
        let c = Placement::Container;
        let ok = ComponentConfig::from_json(
            &json!({"type": "class", "classname": "a.B", "realm": "r",
                "transport": {"type": "rawsocket", "serializer": "msgpack",
                              "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": 8081}},
                "auth": {"ticket": {"authid": "joe", "ticket": "secret"}}}),
            c,
        )
        .unwrap();
        let t = ok.transport.unwrap();
        assert_eq!(t.router_url(), "rs://127.0.0.1:8081");
        assert_eq!(ok.auth.as_ref().unwrap().method(), "ticket");
        assert!(!format!("{:?}", ok.auth).contains("secret"));

        let e = err(
            json!({"type": "class", "classname": "a.B", "realm": "r",
                "transport": {"type": "websocket", "url": "ws://h:1/ws",
                              "endpoint": {"type": "tcp", "host": "h", "port": "x"}}}),
            c,
        );
        assert_eq!(e.path, "transport.endpoint.port");
        let e = err(
            json!({"type": "class", "classname": "a.B", "realm": "r",
                "transport": {"type": "websocket", "endpoint": {"type": "tcp", "host": "h", "port": 1}}}),
            c,
        );
        assert_eq!(e.path, "transport.url");
        let e = err(
            json!({"type": "class", "classname": "a.B", "realm": "r",
                "transport": {"type": "rawsocket", "serializer": "flatbuffers",
                              "endpoint": {"type": "unix", "path": "/tmp/s"}}}),
            c,
        );
        assert_eq!(e.path, "transport.serializer");
        let e = err(
            json!({"type": "class", "classname": "a.B", "realm": "r"}),
            c,
        );
        assert_eq!(e.path, "transport");
        let base = json!({"type": "rawsocket", "serializer": "json",
                          "endpoint": {"type": "unix", "path": "/tmp/s"}});
        for (auth, path) in [
            (json!({"ticket": {"ticket": "t"}}), "auth.ticket.authid"),
            (json!({"wampcra": {"authid": "a"}}), "auth.wampcra.secret"),
            (
                json!({"cryptosign": {"privkey": "zz"}}),
                "auth.cryptosign.privkey",
            ),
            (json!({"scram": {}}), "auth.scram"),
            (
                json!({"ticket": {"authid": "a", "ticket": "t"}, "wampcra": {}}),
                "auth",
            ),
            (
                json!({"ticket": {"authid": "a", "ticket": "t", "secret": "s"}}),
                "auth.ticket.secret",
            ),
        ] {
            let e = err(
                json!({"type": "class", "classname": "a.B", "realm": "r",
                       "transport": base, "auth": auth}),
                c,
            );
            assert_eq!(e.path, path, "{e}");
        }
        let e = err(
            json!({"type": "class", "classname": "a.B", "realm": "r", "role": "x", "transport": base}),
            c,
        );
        assert_eq!(e.path, "role");

        // TLS: a client certificate needs its key; exec components configure their own.
        let tls = |t: Value| {
            json!({"type": "websocket", "url": "wss://h:1/ws",
                   "endpoint": {"type": "tcp", "host": "h", "port": 1, "tls": t}})
        };
        let e = err(
            json!({"type": "class", "classname": "a.B", "realm": "r",
                   "transport": tls(json!({"certificate": "c.pem"}))}),
            c,
        );
        assert_eq!(e.path, "transport.endpoint.tls.key");
        let e = err(
            json!({"type": "exec", "executable": "x", "realm": "r",
                   "transport": tls(json!({"ca_certificates": ["ca.pem"]}))}),
            c,
        );
        assert_eq!(e.path, "transport.endpoint.tls");
        let ok = ComponentConfig::from_json(
            &json!({"type": "class", "classname": "a.B", "realm": "r",
                    "transport": tls(json!({"ca_certificates": ["ca.pem"], "hostname": "x",
                                            "certificate": "c.pem", "key": "c.key"}))}),
            c,
        )
        .unwrap();
        let t = ok.transport.unwrap().tls.unwrap();
        assert_eq!(t.client_certificate, Some(("c.pem".into(), "c.key".into())));
    }
}
