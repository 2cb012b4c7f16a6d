//! `workers[]`: router, container and guest workers, their process options and the checks
//! that span more than one key of a worker.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use router_core::config::{ConfigError, deserialize_tagged, from_value, unknown_variant};

use super::controller::{ManholeConfig, strip_tag};
use super::path;
use super::transport::{validate_component, validate_listening_endpoint, validate_transport};
use router_core::RealmConfig;
use worker_host::components::{ContainerPolicy, Placement, RestartPolicy, ShutdownPolicy};

/// The worker types crossbar-edge runs.
pub const WORKER_TYPES: &[&str] = &["router", "container", "guest"];

/// One item of `workers`, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WorkerConfig {
    Router(RouterWorkerConfig),
    Container(ContainerWorkerConfig),
    Guest(GuestWorkerConfig),
}

impl<'de> Deserialize<'de> for WorkerConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d, "type", |kind, v| match kind {
            "router" => from_value(strip_tag(v)).map(WorkerConfig::Router),
            "container" => from_value(strip_tag(v)).map(WorkerConfig::Container),
            "guest" => from_value(strip_tag(v)).map(WorkerConfig::Guest),
            other => Err(unknown_variant("type", other, WORKER_TYPES)),
        })
    }
}

/// A worker's type, for management API results and process arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkerKind {
    Router,
    Container,
    Guest,
}

impl WorkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Router => "router",
            WorkerKind::Container => "container",
            WorkerKind::Guest => "guest",
        }
    }
}

impl WorkerConfig {
    /// The worker id; always set on a config returned by [`super::NodeConfig::from_value`].
    pub fn id(&self) -> &str {
        self.id_slot().as_deref().unwrap_or("")
    }

    pub fn kind(&self) -> WorkerKind {
        match self {
            WorkerConfig::Router(_) => WorkerKind::Router,
            WorkerConfig::Container(_) => WorkerKind::Container,
            WorkerConfig::Guest(_) => WorkerKind::Guest,
        }
    }

    /// What the supervisor does when this worker's process exits. Without `options.restart`,
    /// router and container workers are restarted when they fail: a node whose router died
    /// would otherwise serve nothing while its controller (and so its systemd unit) stays up.
    /// Guests run arbitrary programs, some of which are meant to end, and are not restarted.
    pub fn restart(&self) -> RestartPolicy {
        match self {
            WorkerConfig::Router(w) => w.options.restart.unwrap_or(RestartPolicy::OnFailure),
            WorkerConfig::Container(w) => w.options.restart.unwrap_or(RestartPolicy::OnFailure),
            WorkerConfig::Guest(w) => w.options.restart.unwrap_or(RestartPolicy::Never),
        }
    }

    /// A disabled worker is kept in the config but not started.
    pub fn is_disabled(&self) -> bool {
        match self {
            WorkerConfig::Router(w) => w.options.disabled,
            WorkerConfig::Container(w) => w.options.disabled,
            WorkerConfig::Guest(_) => false,
        }
    }

    pub(crate) fn id_slot(&self) -> &Option<String> {
        match self {
            WorkerConfig::Router(w) => &w.id,
            WorkerConfig::Container(w) => &w.id,
            WorkerConfig::Guest(w) => &w.id,
        }
    }

    pub(crate) fn id_slot_mut(&mut self) -> &mut Option<String> {
        match self {
            WorkerConfig::Router(w) => &mut w.id,
            WorkerConfig::Container(w) => &mut w.id,
            WorkerConfig::Guest(w) => &mut w.id,
        }
    }

    /// Checks what typing alone cannot (`at` is this worker's key path, e.g. `workers[0]`).
    pub(crate) fn validate(&self, at: &str) -> Result<(), ConfigError> {
        match self {
            WorkerConfig::Router(w) => {
                w.options.validate(&path::key(at, "options"), false)?;
                validate_manhole(&w.manhole, at)?;
                for (i, realm) in w.realms.iter().enumerate() {
                    let at = path::index(&path::key(at, "realms"), i);
                    realm.validate().map_err(|e| e.within(&at))?;
                    if let Some(c) = &realm.cluster {
                        cluster_nats::NatsClusterConfig::parse(c)
                            .map_err(|e| e.within(&path::key(&at, "cluster")))?;
                    }
                }
                for (i, t) in w.transports.iter().enumerate() {
                    validate_transport(t, &path::index(&path::key(at, "transports"), i))?;
                }
                for (i, c) in w.components.iter().enumerate() {
                    let at = path::index(&path::key(at, "components"), i);
                    validate_component(c, &at, Placement::Router)?;
                }
                validate_connections(&w.connections, at)
            }
            WorkerConfig::Container(w) => {
                w.options.validate(&path::key(at, "options"), true)?;
                validate_manhole(&w.manhole, at)?;
                for (i, c) in w.components.iter().enumerate() {
                    let at = path::index(&path::key(at, "components"), i);
                    validate_component(c, &at, Placement::Container)?;
                }
                validate_connections(&w.connections, at)
            }
            WorkerConfig::Guest(w) => {
                if w.executable.trim().is_empty() {
                    return Err(ConfigError::new(
                        path::key(at, "executable"),
                        "must not be empty",
                    ));
                }
                if let Some(watch) = &w.options.watch
                    && watch.timeout.is_some_and(|t| !(t.is_finite() && t >= 0.0))
                {
                    let p = path::key(&path::key(&path::key(at, "options"), "watch"), "timeout");
                    return Err(ConfigError::new(
                        p,
                        "must be a non-negative number of seconds",
                    ));
                }
                Ok(())
            }
        }
    }
}

fn validate_manhole(manhole: &Option<ManholeConfig>, at: &str) -> Result<(), ConfigError> {
    match manhole {
        Some(m) => validate_listening_endpoint(
            &m.endpoint,
            &path::key(&path::key(at, "manhole"), "endpoint"),
        ),
        None => Ok(()),
    }
}

pub(crate) fn validate_connections(connections: &[Value], at: &str) -> Result<(), ConfigError> {
    for (i, c) in connections.iter().enumerate() {
        if !c.is_object() {
            let p = path::index(&path::key(at, "connections"), i);
            return Err(ConfigError::new(p, "a connection must be an object"));
        }
    }
    Ok(())
}

/// `{type: "router", …}`: realms, listening transports and embedded components.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterWorkerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "WorkerOptions::is_empty")]
    pub options: WorkerOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manhole: Option<ManholeConfig>,
    #[serde(default)]
    pub realms: Vec<RealmConfig>,
    /// Listening transports, each checked by [`super::validate_transport`].
    #[serde(default)]
    pub transports: Vec<Value>,
    /// Components embedded in the router, each checked by [`super::validate_component`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Value>,
}

/// `{type: "container", …}`: WAMP client components.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerWorkerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "WorkerOptions::is_empty")]
    pub options: WorkerOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manhole: Option<ManholeConfig>,
    #[serde(default)]
    pub components: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Value>,
}

/// `{type: "guest", …}`: any executable, supervised by the controller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestWorkerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub executable: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "GuestOptions::is_empty")]
    pub options: GuestOptions,
}

/// `options` of a native (router or container) worker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerOptions {
    /// Free-form data handed to the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
    /// Process title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The Python interpreter of `class` components (default: `python3` on PATH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// Extra Python paths of `class` components (relative to the node directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pythonpath: Option<Vec<String>>,
    /// CPU indexes (relative to the CPUs the node may use) to pin the worker to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_affinity: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<ProcessEnv>,
    /// Let the worker call/subscribe `crossbar.*` on the controller (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_controller: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_shared: Option<bool>,
    /// A bool, or a string (usually `${VAR}`): null or empty means enabled. Unlike
    /// Crossbar.io, where any non-empty string disables, `false`/`0`/`no`/`off` also enable.
    #[serde(
        default,
        deserialize_with = "deserialize_disabled",
        skip_serializing_if = "is_false"
    )]
    pub disabled: bool,
    /// crossbar-edge: what to do when the worker process exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Container workers only (Crossbar.io): when the container stops itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<ShutdownPolicy>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl WorkerOptions {
    fn is_empty(&self) -> bool {
        *self == WorkerOptions::default()
    }

    pub fn expose_controller(&self) -> bool {
        self.expose_controller.unwrap_or(true)
    }

    fn validate(&self, at: &str, container: bool) -> Result<(), ConfigError> {
        if !container && self.shutdown.is_some() {
            return Err(ConfigError::new(
                path::key(at, "shutdown"),
                "only container workers have this option",
            ));
        }
        if container {
            ContainerPolicy::new(
                self.restart.unwrap_or_default(),
                self.shutdown.unwrap_or_default(),
            )
            .map_err(|e| e.within(at))?;
        }
        if let Some(env) = &self.env {
            env.validate(&path::key(at, "env"))?;
        }
        Ok(())
    }
}

fn deserialize_disabled<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean or a string")
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<bool, E> {
            Ok(b)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<bool, E> {
            let s = s.trim().to_ascii_lowercase();
            Ok(!matches!(s.as_str(), "" | "false" | "0" | "no" | "off"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_none<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

/// `options.env`: the worker's environment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessEnv {
    /// Which variables of the node's environment the worker inherits (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<EnvInherit>,
    /// Variables set explicitly (they win over inherited ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vars: Option<BTreeMap<String, String>>,
}

impl ProcessEnv {
    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        for k in self.vars.iter().flat_map(|v| v.keys()) {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(ConfigError::new(
                    path::key(&path::key(at, "vars"), k),
                    "invalid environment variable name",
                ));
            }
        }
        Ok(())
    }

    /// The environment for the worker process, built from the node's environment as
    /// Crossbar.io does (including `PYTHONUNBUFFERED=1` unless set otherwise).
    pub fn resolve(
        env: Option<&ProcessEnv>,
        parent: impl IntoIterator<Item = (String, String)>,
    ) -> BTreeMap<String, String> {
        let inherit = env
            .and_then(|e| e.inherit.as_ref())
            .unwrap_or(&EnvInherit::All);
        let mut out: BTreeMap<String, String> = match inherit {
            EnvInherit::All => parent.into_iter().collect(),
            EnvInherit::Nothing => BTreeMap::new(),
            EnvInherit::Only(names) => parent
                .into_iter()
                .filter(|(k, _)| names.contains(k))
                .collect(),
        };
        if let Some(vars) = env.and_then(|e| e.vars.as_ref()) {
            out.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out.entry("PYTHONUNBUFFERED".into())
            .or_insert_with(|| "1".into());
        out
    }
}

/// `options.env.inherit`: `true`, `false` or a list of variable names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvInherit {
    All,
    Nothing,
    Only(Vec<String>),
}

impl Serialize for EnvInherit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EnvInherit::All => s.serialize_bool(true),
            EnvInherit::Nothing => s.serialize_bool(false),
            EnvInherit::Only(names) => names.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EnvInherit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvInherit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or a list of variable names")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<EnvInherit, E> {
                Ok(if b {
                    EnvInherit::All
                } else {
                    EnvInherit::Nothing
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EnvInherit, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<String>()? {
                    names.push(n);
                }
                Ok(EnvInherit::Only(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// `options` of a guest worker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestOptions {
    /// Working directory, relative to the node directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<ProcessEnv>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<GuestStdin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<GuestOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<GuestOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<GuestWatch>,
    /// crossbar-edge: what to do when the guest exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
}

impl GuestOptions {
    fn is_empty(&self) -> bool {
        *self == GuestOptions::default()
    }
}

/// What happens to a guest's stdout/stderr. Crossbar.io acts only on `close`; output that is
/// not closed is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestOutput {
    Close,
    Log,
    Drop,
}

/// A guest's stdin: closed at start, or a JSON value written to it (then closed unless
/// `close: false`).
#[derive(Clone, Debug, PartialEq)]
pub enum GuestStdin {
    Close,
    Json { value: Value, close: bool },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestStdinJson {
    #[serde(rename = "type")]
    kind: StdinType,
    value: Value,
    #[serde(default = "yes")]
    close: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StdinType {
    Json,
}

fn yes() -> bool {
    true
}

impl Serialize for GuestStdin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GuestStdin::Close => s.serialize_str("close"),
            GuestStdin::Json { value, close } => GuestStdinJson {
                kind: StdinType::Json,
                value: value.clone(),
                close: *close,
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for GuestStdin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GuestStdin;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"close\" or {\"type\": \"json\", \"value\": …, \"close\": bool}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<GuestStdin, E> {
                match s {
                    "close" => Ok(GuestStdin::Close),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<GuestStdin, A::Error> {
                let j = GuestStdinJson::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(GuestStdin::Json {
                    value: j.value,
                    close: j.close,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `options.watch` of a guest: restart it when files in these directories change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestWatch {
    /// Directories, relative to the node directory.
    #[serde(default)]
    pub directories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<WatchAction>,
    /// Seconds to wait before acting (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchAction {
    Restart,
}
