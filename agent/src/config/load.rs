//! Finding and reading the config file (JSON or YAML), and the built-in default config.
//!
//! As Crossbar.io's `node/main.py`: `--config F` (relative to the node directory), else
//! `config.yaml`, else `config.json` in the node directory. With none, `start` runs the
//! default config, the one `init` writes.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{ConfigError, NodeConfig};

/// The config `crossbar init` writes (Crossbar.io 26.x default template, byte for byte): a
/// router worker with realm `realm1`, role `anonymous` allowed everything, RawSocket on
/// 8081, and a Web transport on 8080 serving `../web` at `/`, WAMP-over-WebSocket at `/ws`
/// and node info at `/info`.
pub const DEFAULT_CONFIG_JSON: &str = include_str!("default_config.json");

/// The default config as a tree.
pub fn default_config_value() -> Value {
    // The embedded text is checked by a unit test; the fallback is never taken.
    serde_json::from_str(DEFAULT_CONFIG_JSON).unwrap_or(Value::Null)
}

/// A config file's syntax, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigFormat {
    Json,
    Yaml,
}

impl ConfigFormat {
    /// `.json` or `.yaml` (also `.yml`); anything else is not a config file.
    pub fn from_path(path: &Path) -> Option<ConfigFormat> {
        match path.extension()?.to_str()? {
            "json" => Some(ConfigFormat::Json),
            "yaml" | "yml" => Some(ConfigFormat::Yaml),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ConfigFormat::Json => "json",
            ConfigFormat::Yaml => "yaml",
        }
    }

    /// Parses config text into a tree (no validation).
    pub fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            ConfigFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
            ConfigFormat::Yaml => serde_yaml::from_str(text).map_err(|e| e.to_string()),
        }
    }
}

/// Where a running config came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// No config file in the node directory: the built-in default.
    Default,
}

/// A loaded, validated config and the tree it was read from (as written, before `${VAR}`
/// substitution and automatic ids — what `convert` and `download_config` hand back).
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub source: ConfigSource,
    pub raw: Value,
    pub config: NodeConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: unsupported config file extension (use .json or .yaml)", path.display())]
    Extension { path: PathBuf },
    #[error("{}: not valid {}: {message}", path.display(), if *format == ConfigFormat::Json { "JSON" } else { "YAML" })]
    Syntax {
        path: PathBuf,
        format: ConfigFormat,
        message: String,
    },
    #[error("{}: {error}", path.display())]
    Invalid { path: PathBuf, error: ConfigError },
}

impl LoadError {
    /// The key-path error, for a config that parsed but did not validate.
    pub fn config_error(&self) -> Option<&ConfigError> {
        match self {
            LoadError::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The config file to use: `explicit` (relative to `cbdir` unless absolute), else
/// `config.yaml`, else `config.json` in `cbdir`; `None` when there is none.
pub fn find_config_file(cbdir: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(cbdir.join(p));
    }
    ["config.yaml", "config.json"]
        .iter()
        .map(|f| cbdir.join(f))
        .find(|p| p.is_file())
}

/// Reads and parses a config file without validating it.
pub fn read_file(path: &Path) -> Result<(ConfigFormat, Value), LoadError> {
    let format = ConfigFormat::from_path(path).ok_or_else(|| LoadError::Extension {
        path: path.to_owned(),
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value = format.parse(&text).map_err(|message| LoadError::Syntax {
        path: path.to_owned(),
        format,
        message,
    })?;
    Ok((format, value))
}

/// Reads, parses and validates a config file.
pub fn load_file(path: &Path) -> Result<LoadedConfig, LoadError> {
    let (_, raw) = read_file(path)?;
    let config = NodeConfig::from_value(raw.clone()).map_err(|error| LoadError::Invalid {
        path: path.to_owned(),
        error,
    })?;
    Ok(LoadedConfig {
        source: ConfigSource::File(path.to_owned()),
        raw,
        config,
    })
}

/// The node's config: the file [`find_config_file`] names, or the default config.
pub fn load(cbdir: &Path, explicit: Option<&Path>) -> Result<LoadedConfig, LoadError> {
    match find_config_file(cbdir, explicit) {
        Some(path) => load_file(&path),
        None => {
            let raw = default_config_value();
            let config =
                NodeConfig::from_value(raw.clone()).map_err(|error| LoadError::Invalid {
                    path: PathBuf::from("<default config>"),
                    error,
                })?;
            Ok(LoadedConfig {
                source: ConfigSource::Default,
                raw,
                config,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let v: Value =
            serde_json::from_str(DEFAULT_CONFIG_JSON).expect("embedded default config parses");
        let cfg = NodeConfig::from_value(v).expect("embedded default config validates");
        assert_eq!(cfg.workers.len(), 1);
        assert_eq!(cfg.workers[0].id(), "worker001");
    }

    #[test]
    fn lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_config_file(dir.path(), None), None);
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        assert_eq!(
            find_config_file(dir.path(), None),
            Some(dir.path().join("config.json"))
        );
        std::fs::write(dir.path().join("config.yaml"), "{}").unwrap();
        assert_eq!(
            find_config_file(dir.path(), None),
            Some(dir.path().join("config.yaml"))
        );
        assert_eq!(
            find_config_file(dir.path(), Some(Path::new("x.json"))),
            Some(dir.path().join("x.json"))
        );
        assert_eq!(
            find_config_file(dir.path(), Some(Path::new("/abs/x.json"))),
            Some(PathBuf::from("/abs/x.json"))
        );
    }
}
