//! Booting a router worker item through the API's own operations (so every start is
//! announced), and the reverse: the worker's live configuration as a worker item.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json, json};

use super::object;
use super::realms::to_json;
use super::{ApiError, RouterApi};
use mgmt_api::vocabulary::error;

/// Crossbar.io's order (`node.py:boot_from_config`): realms, their roles, transports with
/// their root service, then each other Web path in sorted order.
pub(super) async fn boot(api: &RouterApi, item: &Json) -> Result<(), ApiError> {
    let item = object(item, "the worker item")?;
    if let Some(kind) = item.get("type")
        && kind != "router"
    {
        return Err(ApiError::new(
            error::INVALID_CONFIGURATION,
            format!("type: a router worker cannot boot a worker of type {kind}"),
        ));
    }
    let mut realm_ids: BTreeSet<String> = api
        .worker
        .realms()
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    realm_ids.extend(explicit_ids(list(item, "realms")?));
    for (i, realm) in list(item, "realms")?.iter().enumerate() {
        let at = format!("realms[{i}]");
        let mut realm = object(realm, &at)?.clone();
        let realm_id = take_id(&realm, "realm", i, &mut realm_ids).map_err(|e| e.at(&at))?;
        let roles = match realm.remove("roles") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(roles)) => roles,
            Some(other) => {
                return Err(invalid(&format!("{at}.roles"), "a list", &other));
            }
        };
        api.start_realm(&realm_id, Json::Object(realm), None)
            .await
            .map_err(|e| e.at(&at))?;
        let mut role_ids = explicit_ids(&roles);
        for (j, role) in roles.iter().enumerate() {
            let at = format!("{at}.roles[{j}]");
            let role_id =
                take_id(object(role, &at)?, "role", j, &mut role_ids).map_err(|e| e.at(&at))?;
            api.start_role(&realm_id, &role_id, role.clone(), None)
                .await
                .map_err(|e| e.at(&at))?;
        }
    }
    // Crossbar.io starts router components after realms and roles, before transports.
    let components = list(item, "components")?;
    if !components.is_empty() {
        let Some(host) = api.components.get() else {
            return Err(ApiError::new(
                error::INVALID_CONFIGURATION,
                "components: this router worker cannot host components",
            ));
        };
        host.boot(components, true).await?;
    }
    let mut transport_ids: BTreeSet<String> = api
        .worker
        .transports()
        .await
        .into_iter()
        .map(|t| t.id)
        .collect();
    transport_ids.extend(explicit_ids(list(item, "transports")?));
    for (i, transport) in list(item, "transports")?.iter().enumerate() {
        let at = format!("transports[{i}]");
        let transport_id = take_id(object(transport, &at)?, "transport", i, &mut transport_ids)
            .map_err(|e| e.at(&at))?;
        api.start_transport(&transport_id, transport.clone(), false, None)
            .await
            .map_err(|e| e.at(&at))?;
        let (paths, paths_at) = match transport.get("type").and_then(Json::as_str) {
            Some("web") => (transport.get("paths"), format!("{at}.paths")),
            Some("universal") => (
                transport.get("web").and_then(|w| w.get("paths")),
                format!("{at}.web.paths"),
            ),
            _ => (None, String::new()),
        };
        // Validated with the transport; a BTreeMap walk is Crossbar.io's sorted order.
        let paths: Map<String, Json> = paths.and_then(Json::as_object).cloned().unwrap_or_default();
        for (path, service) in paths.iter().filter(|(p, _)| *p != "/") {
            api.start_web_service(&transport_id, path, service.clone(), None)
                .await
                .map_err(|e| e.at(&format!("{paths_at}.{path}")))?;
        }
    }
    Ok(())
}

/// The worker item as it runs now: realms (with roles and grants, each with its id) and
/// transports (with the Web services running on them). Worker `options` belong to the
/// controller, which adds them.
pub(super) async fn live_config(api: &RouterApi) -> Json {
    let mut realms = Vec::new();
    for realm in api.worker.realms().await {
        if let Ok(config) = api.worker.realm_config(&realm.id).await {
            realms.push(to_json(&config));
        }
    }
    let transports: Vec<Json> = api
        .worker
        .transports()
        .await
        .into_iter()
        .map(|t| t.config)
        .collect();
    let mut item = json!({
        "id": api.worker_id,
        "type": "router",
        "realms": realms,
        "transports": transports,
    });
    if let Some(components) = api.components.get() {
        item["components"] = Json::Array(components.live_config().await);
    }
    item
}

fn list<'j>(item: &'j Map<String, Json>, key: &str) -> Result<&'j [Json], ApiError> {
    match item.get(key) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(v)) => Ok(v),
        Some(other) => Err(invalid(key, "a list", other)),
    }
}

fn invalid(at: &str, expected: &str, got: &Json) -> ApiError {
    ApiError::new(
        error::INVALID_CONFIGURATION,
        format!("{at}: expected {expected}, got {got}"),
    )
}

fn explicit_ids(items: &[Json]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| i.get("id").and_then(Json::as_str).map(str::to_owned))
        .collect()
}

/// The item's `id`, else Crossbar.io's `<kind><NNN>` (1-based), skipping ids taken by other
/// items; the result is marked taken.
fn take_id(
    item: &Map<String, Json>,
    kind: &str,
    index: usize,
    taken: &mut BTreeSet<String>,
) -> Result<String, ApiError> {
    let id = match item.get("id") {
        Some(Json::String(id)) if !id.is_empty() => id.clone(),
        Some(other) if !other.is_null() => {
            return Err(invalid("id", "a non-empty string", other));
        }
        _ => {
            let mut n = index + 1;
            loop {
                let id = format!("{kind}{n:03}");
                if !taken.contains(&id) {
                    break id;
                }
                n += 1;
            }
        }
    };
    taken.insert(id.clone());
    Ok(id)
}
