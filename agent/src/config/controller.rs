//! The `controller` section: node id, controller options, the uplink (`fabric`), manhole and
//! keyring.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use router_core::config::{ConfigError, deserialize_tagged, from_value, unknown_variant};

/// `controller`: everything about the node controller process itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// The local node id (the uplink's WELCOME authid overrides it while connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "ControllerOptions::is_empty")]
    pub options: ControllerOptions,
    /// The management uplink (Crossbar.io edge extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric: Option<FabricConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manhole: Option<ManholeConfig>,
    /// Outgoing database/other connections (Crossbar.io: accepted, passed through).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<KeyringConfig>,
    /// Crossbar.io edge extension: enable the Docker management procedures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_docker: Option<bool>,
    /// Crossbar.io edge extension (XBR): accepted and passed through, not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blockchain: Option<Value>,
}

/// `controller.options`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerOptions {
    /// Process title of the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When the node shuts itself down; a single mode or a list (Crossbar.io accepts both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<ShutdownModes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_parallel_worker_start: Option<bool>,
}

impl ControllerOptions {
    fn is_empty(&self) -> bool {
        *self == ControllerOptions::default()
    }

    /// The configured shutdown triggers, or the edge node's default
    /// (`shutdown_on_shutdown_requested`): a worker exiting never stops the node by itself,
    /// its restart policy decides what happens.
    pub fn shutdown_modes(&self) -> Vec<ShutdownMode> {
        match &self.shutdown {
            Some(m) => m.0.clone(),
            None => vec![ShutdownMode::ShutdownOnShutdownRequested],
        }
    }
}

/// One node shutdown trigger (`controller.options.shutdown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutdownMode {
    ShutdownOnShutdownRequested,
    ShutdownOnWorkerExit,
    ShutdownOnWorkerExitWithError,
    ShutdownOnLastWorkerExit,
}

/// `controller.options.shutdown`: a string or a list of strings in the file, always a list here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownModes(pub Vec<ShutdownMode>);

impl Serialize for ShutdownModes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ShutdownModes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ShutdownModes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a shutdown mode or a list of shutdown modes")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ShutdownModes, E> {
                let mode = ShutdownMode::deserialize(de::value::StrDeserializer::<E>::new(s))?;
                Ok(ShutdownModes(vec![mode]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ShutdownModes, A::Error> {
                let mut modes = Vec::new();
                while let Some(m) = seq.next_element::<ShutdownMode>()? {
                    modes.push(m);
                }
                Ok(ShutdownModes(modes))
            }
        }
        d.deserialize_any(V)
    }
}

/// `controller.fabric`: the management uplink (Crossbar.io edge).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FabricConfig {
    /// A connecting transport (`{type: websocket, url, endpoint: {type: tcp, host, port}}`);
    /// `null` (or absent) disables the uplink unless `key.activate` or `$CROSSBAR_FABRIC_URL`
    /// provide one. Checked by [`super::validate_connecting_transport`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatConfig>,
}

/// `controller.fabric.heartbeat`. Absent values take Crossbar.io's defaults through the
/// accessor methods, so a config round-trips without gaining keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Seconds after joining before the first heartbeat (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_delay: Option<f64>,
    /// Seconds between heartbeats (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_period: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_system_stats: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_workers_heartbeats: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_workers_heartbeats: Option<bool>,
}

impl HeartbeatConfig {
    pub fn startup_delay(&self) -> f64 {
        self.startup_delay.unwrap_or(5.0)
    }
    pub fn heartbeat_period(&self) -> f64 {
        self.heartbeat_period.unwrap_or(10.0)
    }
    pub fn include_system_stats(&self) -> bool {
        self.include_system_stats.unwrap_or(true)
    }
    pub fn send_workers_heartbeats(&self) -> bool {
        self.send_workers_heartbeats.unwrap_or(true)
    }
    pub fn aggregate_workers_heartbeats(&self) -> bool {
        self.aggregate_workers_heartbeats.unwrap_or(true)
    }
}

/// `manhole` (controller or native worker): an SSH debug shell in Crossbar.io. Accepted and
/// checked; not served by crossbar-edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManholeConfig {
    /// A listening endpoint (`{type: tcp, port, …}`), checked by
    /// [`super::validate_listening_endpoint`].
    pub endpoint: Value,
    pub users: Vec<ManholeUser>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManholeUser {
    pub user: String,
    pub password: String,
}

/// `controller.keyring`: where the node key lives.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KeyringConfig {
    /// Key files in the node directory (the default) or at `path`.
    File(KeyringFile),
    /// A hardware security module (Crossbar.io); accepted, not supported at start.
    Hsm(KeyringHsm),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringHsm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Value>,
}

impl<'de> Deserialize<'de> for KeyringConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d, "type", |kind, v| match kind {
            "file" => from_value(strip_tag(v)).map(KeyringConfig::File),
            "hsm" => from_value(strip_tag(v)).map(KeyringConfig::Hsm),
            other => Err(unknown_variant("type", other, &["file", "hsm"])),
        })
    }
}

/// Removes the `type` key so the variant struct can deny unknown fields.
pub(crate) fn strip_tag(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("type");
    }
    v
}

/// Checks a string against an allowed set, with the same message as an unknown tag.
pub(crate) fn expect_one_of(path: &str, got: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if allowed.contains(&got) {
        Ok(())
    } else {
        Err(unknown_variant("", got, allowed).within(path))
    }
}
