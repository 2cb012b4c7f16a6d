//! The node configuration: Crossbar.io config version 2 as typed structs, validated once at
//! load with errors that name the key path (`workers[0].realms[1].name: …`).
//!
//! A config tree goes through [`NodeConfig::from_value`]: version check, `${VAR}`
//! substitution ([`env`]), typing (router-core's [`from_value`]), checks that typing cannot
//! express (per module `validate`), then automatic ids ([`ids`]). Realms are router-core's
//! [`RealmConfig`]; transport and component items stay JSON values (they travel to the worker
//! as written) checked by the parsers the workers boot them with: router-core's transport
//! config ([`validate_transport`]) and worker-host's component config
//! ([`validate_component`]).
//!
//! Code map: [`controller`] (`controller`), [`worker`] (`workers[]` and their options),
//! [`transport`] (transport/component/endpoint items), [`load`] (files, formats, the default
//! config), [`write`] (atomic writes, `convert`).

pub mod controller;
pub mod env;
pub mod ids;
pub mod load;
pub mod transport;
pub mod worker;
pub mod write;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use router_core::config::ConfigError;
use router_core::config::from_value;

pub use controller::{
    ControllerConfig, ControllerOptions, FabricConfig, HeartbeatConfig, KeyringConfig,
    ManholeConfig, ShutdownMode, ShutdownModes,
};
pub use load::{
    ConfigFormat, ConfigSource, LoadError, LoadedConfig, default_config_value, find_config_file,
};
pub use router_core::RealmConfig;
pub use transport::{
    TRANSPORT_TYPES, validate_component, validate_connecting_transport,
    validate_listening_endpoint, validate_transport,
};
pub use worker::{
    ContainerWorkerConfig, EnvInherit, GuestOptions, GuestOutput, GuestStdin, GuestWatch,
    GuestWorkerConfig, ProcessEnv, RouterWorkerConfig, WorkerConfig, WorkerKind, WorkerOptions,
};

/// The config version this node reads.
pub const CONFIG_VERSION: u64 = 2;

/// A whole node configuration (`config.json` / `config.yaml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Always [`CONFIG_VERSION`].
    pub version: u64,
    #[serde(default)]
    pub controller: ControllerConfig,
    #[serde(default)]
    pub workers: Vec<WorkerConfig>,
}

impl NodeConfig {
    /// Validates a config tree (from a file, or from the management API) against the process
    /// environment and returns it typed, with every item id filled in.
    pub fn from_value(value: Value) -> Result<NodeConfig, ConfigError> {
        Self::from_value_with_env(value, &|name| std::env::var(name).ok())
    }

    /// [`NodeConfig::from_value`] with an explicit environment (for tests and for configs
    /// uploaded to a running node).
    pub fn from_value_with_env(
        mut value: Value,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<NodeConfig, ConfigError> {
        check_version(&value)?;
        let unset = env::substitute(&mut value, lookup)?;
        let mut cfg: NodeConfig = from_value(value).map_err(|e| env::explain(e, &unset))?;
        cfg.validate().map_err(|e| env::explain(e, &unset))?;
        ids::assign(&mut cfg)?;
        Ok(cfg)
    }

    /// The config as a JSON tree (with the ids filled in).
    pub fn to_value(&self) -> Value {
        // Every type here serializes to JSON without fallible parts (string keys, finite or
        // user-provided numbers), so the fallback is unreachable in practice.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn worker(&self, id: &str) -> Option<&WorkerConfig> {
        self.workers.iter().find(|w| w.id() == id)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.controller;
        if let Some(f) = &c.fabric {
            if let Some(t) = f.transport.as_ref().filter(|t| !t.is_null()) {
                validate_connecting_transport(t, "controller.fabric.transport")?;
            }
            if let Some(h) = &f.heartbeat {
                let at = "controller.fabric.heartbeat";
                if h.heartbeat_period
                    .is_some_and(|p| !(p.is_finite() && p > 0.0))
                {
                    return Err(ConfigError::new(
                        path::key(at, "heartbeat_period"),
                        "must be a positive number of seconds",
                    ));
                }
                if h.startup_delay
                    .is_some_and(|p| !(p.is_finite() && p >= 0.0))
                {
                    return Err(ConfigError::new(
                        path::key(at, "startup_delay"),
                        "must be a non-negative number of seconds",
                    ));
                }
            }
        }
        if let Some(m) = &c.manhole {
            validate_listening_endpoint(&m.endpoint, "controller.manhole.endpoint")?;
        }
        worker::validate_connections(&c.connections, "controller")?;
        for (i, w) in self.workers.iter().enumerate() {
            w.validate(&path::index("workers", i))?;
        }
        Ok(())
    }
}

/// Crossbar.io's version rule: absent means 1; 1 must be upgraded; only 2 is read.
fn check_version(value: &Value) -> Result<(), ConfigError> {
    let Value::Object(map) = value else {
        return Err(ConfigError::new(
            "",
            format!(
                "the top-level configuration item must be an object, found {}",
                transport::kind_of(value)
            ),
        ));
    };
    let upgrade = |v: u64| {
        ConfigError::new(
            "version",
            format!(
                "configuration too old: version {v}, while current is {CONFIG_VERSION} - please upgrade it \
                 (`crossbar upgrade` of Crossbar.io does this) and set \"version\": {CONFIG_VERSION}"
            ),
        )
    };
    match map.get("version") {
        None => Err(upgrade(1)),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(CONFIG_VERSION) => Ok(()),
            Some(1) => Err(upgrade(1)),
            _ => Err(ConfigError::new(
                "version",
                format!(
                    "invalid configuration version {n}: this node reads version {CONFIG_VERSION}"
                ),
            )),
        },
        Some(other) => Err(ConfigError::new(
            "version",
            format!(
                "invalid type: {}, expected an integer",
                transport::kind_of(other)
            ),
        )),
    }
}

/// Key paths in the format of router-core's errors (`a.b[0].c`).
pub(crate) mod path {
    pub fn key(parent: &str, key: &str) -> String {
        if parent.is_empty() {
            key.to_owned()
        } else {
            format!("{parent}.{key}")
        }
    }

    pub fn index(parent: &str, i: usize) -> String {
        format!("{parent}[{i}]")
    }
}
