//! Typed configuration with errors that name the offending key path.
//!
//! Config arrives as JSON-like trees (a config file, or a management call's argument). It is
//! deserialized into typed structs with `serde_path_to_error`, so an error reads
//! `workers[0].transports[1].endpoint.port: invalid type: string "x", expected u16`.
//! Internally tagged enums (`{"type": "websocket", …}`) lose serde's path tracking, so they are
//! deserialized with [`deserialize_tagged`], which carries the inner path through a marker and
//! [`from_value`] joins it with the outer one.

use std::fmt;

use serde::Deserializer;
use serde::de::DeserializeOwned;

/// A configuration error: where (a key path like `realms[0].roles[1].name`) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Prefixes this error's path with `outer` (e.g. `workers[0]`).
    pub fn within(mut self, outer: &str) -> Self {
        self.path = join_path(outer, &self.path);
        self
    }
}

const MARK: char = '\u{1f}';

fn join_path(outer: &str, inner: &str) -> String {
    match (outer, inner) {
        ("" | ".", i) => i.to_string(),
        (o, "" | ".") => o.to_string(),
        (o, i) if i.starts_with('[') => format!("{o}{i}"),
        (o, i) => format!("{o}.{i}"),
    }
}

/// Splits a message produced by [`deserialize_tagged`] into (inner path, message).
fn split_marked(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix(MARK)?;
    let (path, message) = rest.split_once(MARK)?;
    Some((path, message))
}

/// Deserializes a typed config value, reporting the full key path on error.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let outer = e.path().to_string();
        let msg = e.inner().to_string();
        match split_marked(&msg) {
            Some((inner, message)) => ConfigError::new(join_path(&outer, inner), message),
            None => ConfigError::new(outer, msg),
        }
    })
}

/// Implements `Deserialize` for an internally tagged enum without losing key paths: reads the
/// object, takes the string at `tag`, and hands the whole object to `build`, which typically
/// calls [`from_value`] for the variant's struct.
pub fn deserialize_tagged<'de, D, T>(
    d: D,
    tag: &str,
    build: impl FnOnce(&str, serde_json::Value) -> Result<T, ConfigError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    use serde::de::Error;
    let value: serde_json::Value = serde::Deserialize::deserialize(d)?;
    let kind = match value.get(tag) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err(D::Error::custom(marked(tag, "must be a string"))),
        None if value.is_object() => {
            return Err(D::Error::custom(marked(tag, "missing required key")));
        }
        None => return Err(D::Error::custom("expected an object")),
    };
    build(&kind, value).map_err(|e| D::Error::custom(marked(&e.path, &e.message)))
}

fn marked(path: &str, message: &str) -> String {
    format!("{MARK}{path}{MARK}{message}")
}

/// The error for an unknown value of a tag (`type: "foo"`), listing what is accepted.
pub fn unknown_variant(tag: &str, got: &str, expected: &[&str]) -> ConfigError {
    ConfigError::new(
        tag,
        format!(
            "unknown value \"{got}\", expected one of: {}",
            expected.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Endpoint {
        #[allow(dead_code)]
        port: u16,
    }

    #[derive(Debug)]
    enum Transport {
        Ws {
            #[allow(dead_code)]
            endpoint: Endpoint,
        },
    }

    impl<'de> Deserialize<'de> for Transport {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            #[derive(Deserialize)]
            struct Ws {
                #[allow(dead_code)]
                r#type: String,
                endpoint: Endpoint,
            }
            deserialize_tagged(d, "type", |kind, v| match kind {
                "websocket" => from_value::<Ws>(v).map(|w| Transport::Ws {
                    endpoint: w.endpoint,
                }),
                other => Err(unknown_variant("type", other, &["websocket"])),
            })
        }
    }

    #[derive(Debug, Deserialize)]
    struct Worker {
        #[allow(dead_code)]
        transports: Vec<Transport>,
    }

    #[derive(Debug, Deserialize)]
    struct Node {
        #[allow(dead_code)]
        workers: Vec<Worker>,
    }

    #[test]
    fn nested_tagged_paths() {
        let v = serde_json::json!({"workers": [{"transports": [
            {"type": "websocket", "endpoint": {"port": 1}},
            {"type": "websocket", "endpoint": {"port": "x"}}]}]});
        let e = from_value::<Node>(v).unwrap_err();
        assert_eq!(e.path, "workers[0].transports[1].endpoint.port");
        assert!(e.message.contains("invalid type"), "{e}");

        let v = serde_json::json!({"workers": [{"transports": [{"type": "nope"}]}]});
        let e = from_value::<Node>(v).unwrap_err();
        assert_eq!(e.path, "workers[0].transports[0].type");

        let v = serde_json::json!({"workers": [{"transports": [{"type": "websocket", "endpoint": {"port": 1, "x": 2}}]}]});
        let e = from_value::<Node>(v).unwrap_err();
        assert_eq!(e.path, "workers[0].transports[0].endpoint.x");
        assert!(e.message.contains("unknown field"), "{e}");
    }
}
