//! Realms: `get_router_realms`, `get_router_realm(realm_id)`,
//! `start_router_realm(realm_id, realm_config)`, `stop_router_realm(realm_id)`.

use router_core::authorization::RoleConfig;
use router_core::{Id, RealmConfig};
use serde_json::{Value as Json, json};

use super::object;
use super::{ApiError, ApiResult, Args, Entry, RouterApi, handler};
use crate::router_worker::RouterWorkerError;
use mgmt_api::procedures::router as p;
use mgmt_api::vocabulary::{Kind, Status, error};

pub(super) fn procedures() -> Vec<Entry> {
    vec![
        (p::GET_ROUTER_REALMS, handler!(get_router_realms)),
        (p::GET_ROUTER_REALM, handler!(get_router_realm)),
        (p::START_ROUTER_REALM, handler!(start_router_realm)),
        (p::STOP_ROUTER_REALM, handler!(stop_router_realm)),
    ]
}

/// Crossbar.io's message for an unknown realm id.
pub(super) fn no_realm(realm_id: &str) -> ApiError {
    ApiError::new(
        error::NO_SUCH_OBJECT,
        format!("No realm with ID '{realm_id}'"),
    )
}

/// Maps "no such realm" to Crossbar.io's message, anything else the default way.
pub(super) fn realm_error(realm_id: &str, e: RouterWorkerError) -> ApiError {
    match e {
        RouterWorkerError::NoSuchRealm(_) => no_realm(realm_id),
        other => other.into(),
    }
}

impl RouterApi {
    async fn get_router_realms(&self, _a: &Args) -> ApiResult {
        let ids: Vec<String> = self
            .worker
            .realms()
            .await
            .into_iter()
            .map(|r| r.id)
            .collect();
        Ok(json!(ids))
    }

    async fn get_router_realm(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        self.realm_marshal(&realm_id).await
    }

    async fn start_router_realm(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        let config = a.json(1, &["realm_config", "config"])?;
        self.start_realm(&realm_id, config, a.caller).await
    }

    async fn stop_router_realm(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        self.stop_realm(&realm_id, a.caller).await
    }

    /// Crossbar.io's realm marshal, with the live roles and a status.
    pub(super) async fn realm_marshal(&self, realm_id: &str) -> ApiResult {
        let realm = self
            .worker
            .realm(realm_id)
            .await
            .map_err(|e| realm_error(realm_id, e))?;
        let config = self
            .worker
            .realm_config(realm_id)
            .await
            .map_err(|e| realm_error(realm_id, e))?;
        let roles: Vec<Json> = config
            .roles
            .iter()
            .map(|r| self.role_marshal(realm_id, r))
            .collect();
        let mut config_json = to_json(&config);
        // The cluster's credentials stay on the node.
        if let Some(auth) = config_json
            .pointer_mut("/cluster/auth")
            .and_then(Json::as_object_mut)
        {
            for (k, v) in auth.iter_mut() {
                if k != "type" && k != "file" && k != "user" {
                    *v = json!("***");
                }
            }
        }
        Ok(json!({
            "id": realm_id,
            "name": config.name,
            "config": config_json,
            "category": "standalone",
            "created": realm.created,
            "roles": roles,
            "has_router": true,
            "has_service_session": false,
            "rlinks": [],
            "cluster": realm.cluster.as_ref().map(|c| c.status()),
            "status": self.status_of(Kind::Realm, &[realm_id]).as_str(),
        }))
    }

    /// Starts a realm (with the roles in its config) and announces it and its roles.
    pub(super) async fn start_realm(
        &self,
        realm_id: &str,
        config: Json,
        caller: Option<Id>,
    ) -> ApiResult {
        let _op = self.ops.lock().await;
        if self.worker.realm(realm_id).await.is_ok() {
            return Err(ApiError::new(
                error::ALREADY_RUNNING,
                format!(
                    "Could not start realm: a realm with ID '{realm_id}' is already running (or starting)"
                ),
            ));
        }
        object(&config, "the realm configuration")?;
        let parsed: RealmConfig = router_core::config::from_value(config)
            .and_then(|c: RealmConfig| c.validate().map(|()| c))
            .map_err(|e| {
                ApiError::new(
                    error::INVALID_CONFIGURATION,
                    format!("Invalid router realm configuration: {e}"),
                )
            })?;
        self.set_status(Kind::Realm, &[realm_id], Status::Starting)
            .await;
        if let Err(e) = self.worker.start_realm(realm_id, parsed).await {
            self.set_status(Kind::Realm, &[realm_id], Status::Failed)
                .await;
            return Err(e.into());
        }
        self.set_status(Kind::Realm, &[realm_id], Status::Started)
            .await;
        let live = self
            .worker
            .realm_config(realm_id)
            .await
            .map_err(|e| realm_error(realm_id, e))?;
        for role in &live.roles {
            self.announce_role(realm_id, role, true).await;
        }
        let marshal = self.realm_marshal(realm_id).await?;
        // Crossbar.io publishes `on_realm_started` twice: the id to all, the marshal to all
        // but the caller.
        self.publish_crossbar(Kind::Realm, Status::Started, vec![json!(realm_id)], None)
            .await;
        self.publish_crossbar(Kind::Realm, Status::Started, vec![marshal.clone()], caller)
            .await;
        Ok(marshal)
    }

    /// Stops a realm: its sessions are closed with `wamp.close.close_realm`.
    pub(super) async fn stop_realm(&self, realm_id: &str, _caller: Option<Id>) -> ApiResult {
        let _op = self.ops.lock().await;
        let config = self
            .worker
            .realm_config(realm_id)
            .await
            .map_err(|e| realm_error(realm_id, e))?;
        self.set_status(Kind::Realm, &[realm_id], Status::Stopping)
            .await;
        let (realm, mut closed) = match self.worker.stop_realm(realm_id).await {
            Ok(r) => r,
            Err(e) => {
                self.set_status(Kind::Realm, &[realm_id], Status::Failed)
                    .await;
                return Err(realm_error(realm_id, e));
            }
        };
        for role in &config.roles {
            self.announce_role(realm_id, role, false).await;
        }
        self.set_status(Kind::Realm, &[realm_id], Status::Stopped)
            .await;
        self.publish_crossbar(Kind::Realm, Status::Stopped, vec![json!(realm_id)], None)
            .await;
        closed.sort_unstable();
        Ok(json!({
            "id": realm_id,
            "name": realm.config.name,
            "detached_sessions": closed,
        }))
    }

    /// Publishes the status changes of a role (and its grants) that started or stopped with
    /// its realm: the role's transition brackets its grants'.
    pub(super) async fn announce_role(&self, realm_id: &str, role: &RoleConfig, started: bool) {
        let role_id = role.id.as_deref().unwrap_or_default();
        let (first, then) = if started {
            (Status::Starting, Status::Started)
        } else {
            (Status::Stopping, Status::Stopped)
        };
        self.set_status(Kind::Role, &[realm_id, role_id], first)
            .await;
        self.announce_grants(realm_id, role, started).await;
        self.set_status(Kind::Role, &[realm_id, role_id], then)
            .await;
    }
}

/// A config value as JSON (config types serialize infallibly; null if one ever did not).
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}
