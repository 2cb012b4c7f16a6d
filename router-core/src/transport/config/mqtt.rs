//! The `mqtt` transport (and a Universal transport's `mqtt` item) as Crossbar.io writes it:
//! `options.realm` (required), `options.auth` (the transport's `auth` block), and
//! `options.payload_mapping`, WAMP URI prefix → how MQTT payloads become WAMP arguments.

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Endpoint, SerializerName};
use crate::codec::Codec;
use crate::config::ConfigError;

/// `{"type": "mqtt", "endpoint": …, "options": {…}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    _type: IgnoredAny,
    /// Required for a `mqtt` transport; absent inside a Universal transport.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    pub options: MqttOptions,
    #[serde(default)]
    pub max_connections: Option<u32>,
}

/// `options` of an MQTT transport.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttOptions {
    /// The realm every MQTT client joins.
    pub realm: String,
    /// Accepted as Crossbar.io does (which does not use it either): the role comes from `auth`.
    #[serde(default)]
    pub role: Option<String>,
    /// By WAMP URI prefix, longest match wins (`""` is the default).
    #[serde(default)]
    pub payload_mapping: IndexMap<String, PayloadFormat>,
    /// The transport's authentication (`anonymous`, `ticket`), as on other transports.
    #[serde(default)]
    pub auth: Option<serde_json::Value>,
}

/// How the payload of an MQTT message relates to a WAMP event's arguments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PayloadFormat {
    /// The MQTT payload is carried unchanged (a WAMP peer sees it as the event's one binary
    /// argument).
    Passthrough,
    /// The MQTT payload is a serialized dict `{"args": […], "kwargs": {…}}` (plus the PUBLISH
    /// options `exclude`, `eligible`, … on the way in).
    Native { serializer: SerializerName },
    /// Procedures convert: `decoder(wamp_uri, mqtt_topic, payload)` → `{"args", "kwargs", …}`
    /// and `encoder(mqtt_topic, wamp_uri, args, kwargs)` → payload, called on `realm`
    /// (default: the transport's realm).
    Dynamic {
        encoder: String,
        decoder: String,
        #[serde(default)]
        realm: Option<String>,
    },
}

impl PayloadFormat {
    /// The codec of a `native` format.
    pub fn native_codec(&self) -> Option<Codec> {
        match self {
            PayloadFormat::Native { serializer } => serializer.codec(),
            _ => None,
        }
    }
}

impl MqttConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.options.validate().map_err(|e| e.within("options"))
    }
}

impl MqttOptions {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.realm.is_empty() {
            return Err(ConfigError::new("realm", "must not be empty"));
        }
        for (prefix, format) in &self.payload_mapping {
            if let PayloadFormat::Native { serializer } = format
                && serializer.codec().is_none()
            {
                return Err(ConfigError::new(
                    format!("payload_mapping.{prefix}.serializer"),
                    format!(
                        "serializer \"{}\" is not supported by crossbar-edge (json, msgpack, cbor)",
                        format!("{serializer:?}").to_lowercase()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<MqttConfig, ConfigError> {
        let c: MqttConfig = crate::config::from_value(v)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn crossbar_example_config_parses() {
        let c = parse(json!({
            "type": "mqtt",
            "endpoint": {"type": "tcp", "port": 1883},
            "options": {
                "realm": "realm1",
                "role": "anonymous",
                "payload_mapping": {
                    "": {"type": "native", "serializer": "json"},
                    "com.example.raw": {"type": "passthrough"},
                    "com.example.dyn": {"type": "dynamic", "encoder": "com.enc", "decoder": "com.dec"}
                }
            }
        }))
        .unwrap();
        assert_eq!(c.options.realm, "realm1");
        assert_eq!(c.options.payload_mapping.len(), 3);
        assert_eq!(
            c.options.payload_mapping[""].native_codec(),
            Some(Codec::Json)
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse(
            json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": {}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("realm"), "{e}");
        let e = parse(json!({"type": "mqtt", "options": {"realm": "r", "payload_mapping": {"": {"type": "native", "serializer": "flatbuffers"}}}}))
            .unwrap_err();
        assert_eq!(e.path, "options.payload_mapping..serializer");
        let e = parse(json!({"type": "mqtt", "options": {"realm": "r", "bogus": 1}})).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }
}
