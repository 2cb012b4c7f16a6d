//! `crossbar.save_config`, `upload_config(config)`, `download_config`: the node's config
//! file, written atomically (temp file, fsync, rename, fsync dir).

use std::sync::Arc;
use std::time::Duration;

use mgmt_api::vocabulary::error;
use router_core::Dict;
use router_core::client::CallOptions;
use serde_json::{Value, json};

use super::Controller;
use super::api::{ApiError, Args};
use crate::config::write::{save_json, to_json_text, write_atomic};
use crate::config::{ConfigFormat, NodeConfig, WorkerKind};
use mgmt_api::handler;
use mgmt_api::procedures::controller as p;

const LIVE_CONFIG_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn procedures() -> Vec<mgmt_api::Entry<Controller>> {
    vec![
        (p::SAVE_CONFIG, handler!(|c, _a| save_config(&c).await)),
        (p::UPLOAD_CONFIG, handler!(|c, a| upload_config(c, a).await)),
        (p::DOWNLOAD_CONFIG, handler!(|c, _a| download_config(&c))),
    ]
}

/// Writes the live configuration: the config as written, with `workers` replaced by the
/// workers the node runs now (disabled ones from the config kept in place).
pub async fn save_config(c: &Arc<Controller>) -> Result<Value, ApiError> {
    let mut tree = c.raw_config_snapshot();
    let written: Vec<Value> = tree
        .get("workers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut items: Vec<(u64, Value)> = Vec::new();
    for (i, w) in c.config.workers.iter().enumerate() {
        if w.is_disabled()
            && let Some(raw) = written.get(i)
        {
            items.push((i as u64, raw.clone()));
        }
    }
    for w in c.workers.all() {
        let mut item = w.spec.raw.clone();
        if matches!(w.spec.kind, WorkerKind::Router | WorkerKind::Container)
            && let Some(live) = live_item(c, w.id()).await
            && live != w.spec.item
        {
            // Changed at runtime: the live item wins (`${VAR}`s in the changed parts are
            // resolved; unchanged workers keep their references, see `spec.raw`).
            item = live;
            item["id"] = json!(w.id());
        }
        items.push((w.seq, item));
    }
    items.sort_by_key(|(seq, _)| *seq);
    let ids: Vec<Value> = items
        .iter()
        .map(|(_, i)| i.get("id").cloned().unwrap_or(Value::Null))
        .collect();
    let obj = tree
        .as_object_mut()
        .ok_or_else(|| ApiError::new(error::RUNTIME_ERROR, "the node's config is not a dict"))?;
    obj.insert(
        "workers".into(),
        Value::Array(items.into_iter().map(|(_, i)| i).collect()),
    );
    write_config(c, &tree)?;
    *super::lock(&c.raw_config) = tree;
    tracing::info!(file = %c.config_path.display(), workers = ids.len(), "config saved");
    Ok(json!({"file": c.config_path.display().to_string(), "workers": ids}))
}

/// A router or container worker's live item, if it answers `get_live_config` with a dict.
async fn live_item(c: &Controller, worker_id: &str) -> Option<Value> {
    let uri = mgmt_api::procedures::router::GET_LIVE_CONFIG.uri(Some(worker_id));
    let opts = CallOptions {
        timeout: Some(LIVE_CONFIG_TIMEOUT),
        ..Default::default()
    };
    match c.session().call(&uri, vec![], Dict::new(), opts).await {
        Ok(r) => Some(Value::from(r.value())).filter(Value::is_object),
        Err(e) => {
            tracing::debug!(worker = worker_id, error = %e, "no live config; saving the start item");
            None
        }
    }
}

async fn upload_config(c: Arc<Controller>, a: Args) -> Result<Value, ApiError> {
    let config = a.json(0, &["config"])?;
    // The file's text as download_config returns it (JSON or YAML), or the tree itself:
    // download, edit, upload.
    let config = match config {
        Value::String(text) => {
            let format = if text.trim_start().starts_with('{') {
                ConfigFormat::Json
            } else {
                ConfigFormat::Yaml
            };
            format.parse(&text).map_err(|e| {
                ApiError::new(
                    error::INVALID_CONFIGURATION,
                    format!(
                        "the config is not valid {}: {e}",
                        format.extension().to_uppercase()
                    ),
                )
            })?
        }
        other => other,
    };
    if !config.is_object() {
        return Err(ApiError::new(
            error::INVALID_CONFIGURATION,
            "the config must be a dict, or the text of a JSON or YAML config file",
        ));
    }
    NodeConfig::from_value(config.clone()).map_err(|e| {
        ApiError::new(
            error::INVALID_CONFIGURATION,
            format!("invalid configuration: {e}"),
        )
    })?;
    write_config(&c, &config)?;
    *super::lock(&c.raw_config) = config;
    tracing::info!(file = %c.config_path.display(), who = a.caller, "config uploaded");
    Ok(json!({"file": c.config_path.display().to_string()}))
}

/// The config file's text (what is on disk; the built-in default if there is no file).
fn download_config(c: &Controller) -> Result<Value, ApiError> {
    match std::fs::read_to_string(&c.config_path) {
        Ok(text) => Ok(Value::String(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            to_json_text(&c.raw_config_snapshot())
                .map(Value::String)
                .map_err(|e| ApiError::new(error::RUNTIME_ERROR, e.to_string()))
        }
        Err(e) => Err(ApiError::new(
            error::RUNTIME_ERROR,
            format!("cannot read {}: {e}", c.config_path.display()),
        )),
    }
}

fn write_config(c: &Controller, tree: &Value) -> Result<(), ApiError> {
    let fail = |e: &dyn std::fmt::Display| {
        ApiError::new(
            error::RUNTIME_ERROR,
            format!("cannot write {}: {e}", c.config_path.display()),
        )
    };
    match c.config_format {
        ConfigFormat::Json => save_json(&c.config_path, tree).map_err(|e| fail(&e)),
        ConfigFormat::Yaml => {
            let text = serde_yaml::to_string(tree).map_err(|e| fail(&e))?;
            write_atomic(&c.config_path, text.as_bytes()).map_err(|e| fail(&e))
        }
    }
}
