//! `config_json` and `config_yaml`: node config text through what `crossbar-edge check` runs
//! (`agent::config::load::load_file`: parse by format, then `NodeConfig` validation), with a
//! fixed environment so `${VAR}` substitution is part of it and reproducible. A config that
//! validates must serialize (`to_value`) to a tree that validates again to the same config.

use agent::config::NodeConfig;
use agent::config::load::ConfigFormat;

use crate::support::text;

pub fn config_json(data: &[u8]) {
    config(ConfigFormat::Json, data);
}

pub fn config_yaml(data: &[u8]) {
    config(ConfigFormat::Yaml, data);
}

/// The environment `${VAR}`s see: two set variables, every other unset.
fn env(name: &str) -> Option<String> {
    match name {
        "FUZZ_SECRET" => Some("s3cret".into()),
        "FUZZ_PORT" => Some("8080".into()),
        _ => None,
    }
}

fn config(format: ConfigFormat, data: &[u8]) {
    // `read_file` reads the file as UTF-8 first; text that is not is refused there.
    let Ok(text_in) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tree) = format.parse(text_in) else {
        return;
    };
    let Ok(cfg) = NodeConfig::from_value_with_env(tree, &env) else {
        return;
    };
    let again = NodeConfig::from_value_with_env(cfg.to_value(), &env).unwrap_or_else(|e| {
        panic!("a valid config does not validate once written back: {e}\n{cfg:?}")
    });
    assert_eq!(
        text(&cfg),
        text(&again),
        "a valid config changes once written back"
    );
}
