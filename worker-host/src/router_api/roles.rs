//! Roles of a realm: `get_router_realm_roles(realm_id)`,
//! `get_router_realm_role(realm_id, role_id)`,
//! `start_router_realm_role(realm_id, role_id, role_config)`,
//! `stop_router_realm_role(realm_id, role_id)`.
//!
//! A role change applies to the next action of every session with that role name.

use router_core::Id;
use router_core::authorization::RoleConfig;
use serde_json::{Value as Json, json};

use super::object;
use super::realms::{no_realm, realm_error, to_json};
use super::{ApiError, ApiResult, Args, Entry, RouterApi, handler};
use crate::router_worker::RouterWorkerError;
use mgmt_api::procedures::router as p;
use mgmt_api::vocabulary::{Kind, Status, error};

pub(super) fn procedures() -> Vec<Entry> {
    vec![
        (p::GET_ROUTER_REALM_ROLES, handler!(get_router_realm_roles)),
        (p::GET_ROUTER_REALM_ROLE, handler!(get_router_realm_role)),
        (
            p::START_ROUTER_REALM_ROLE,
            handler!(start_router_realm_role),
        ),
        (p::STOP_ROUTER_REALM_ROLE, handler!(stop_router_realm_role)),
    ]
}

/// Crossbar.io's messages for an unknown realm or role.
pub(super) fn role_error(realm_id: &str, role_id: &str, e: RouterWorkerError) -> ApiError {
    match e {
        RouterWorkerError::NoSuchRole { .. } => ApiError::new(
            error::NO_SUCH_OBJECT,
            format!("No role with ID '{role_id}' in realm with ID '{realm_id}'"),
        ),
        other => realm_error(realm_id, other),
    }
}

impl RouterApi {
    async fn get_router_realm_roles(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        let config = self
            .worker
            .realm_config(&realm_id)
            .await
            .map_err(|e| realm_error(&realm_id, e))?;
        let mut roles: Vec<Json> = config
            .roles
            .iter()
            .map(|r| self.role_marshal(&realm_id, r))
            .collect();
        roles.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        Ok(Json::Array(roles))
    }

    async fn get_router_realm_role(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        let role_id = a.string(1, "role_id")?;
        let role = self
            .worker
            .role(&realm_id, &role_id)
            .await
            .map_err(|e| role_error(&realm_id, &role_id, e))?;
        Ok(self.role_marshal(&realm_id, &role))
    }

    async fn start_router_realm_role(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        let role_id = a.string(1, "role_id")?;
        let config = a.json(2, &["role_config", "config"])?;
        self.start_role(&realm_id, &role_id, config, a.caller).await
    }

    async fn stop_router_realm_role(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        let role_id = a.string(1, "role_id")?;
        self.stop_role(&realm_id, &role_id, a.caller).await
    }

    /// `{id, name, config, status}` (Crossbar.io's `{id, config}` plus ours).
    pub(super) fn role_marshal(&self, realm_id: &str, role: &RoleConfig) -> Json {
        let id = role.id.as_deref().unwrap_or_default();
        json!({
            "id": id,
            "name": role.name,
            "config": to_json(role),
            "status": self.status_of(Kind::Role, &[realm_id, id]).as_str(),
        })
    }

    pub(super) async fn start_role(
        &self,
        realm_id: &str,
        role_id: &str,
        config: Json,
        caller: Option<Id>,
    ) -> ApiResult {
        let _op = self.ops.lock().await;
        object(&config, "the role configuration")?;
        let parsed: RoleConfig = router_core::config::from_value(config).map_err(|e| {
            ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("Invalid role configuration: {e}"),
            )
        })?;
        let realm = self
            .worker
            .realm(realm_id)
            .await
            .map_err(|_| no_realm(realm_id))?;
        if realm.roles.contains_key(role_id) {
            return Err(ApiError::new(
                error::ALREADY_EXISTS,
                format!("A role with ID '{role_id}' already exists in realm with ID '{realm_id}'"),
            ));
        }
        if realm.roles.values().any(|n| *n == parsed.name) {
            return Err(ApiError::new(
                error::ALREADY_EXISTS,
                format!(
                    "A role with name '{}' already exists in realm with ID '{realm_id}'",
                    parsed.name
                ),
            ));
        }
        let ids = [realm_id, role_id];
        self.set_status(Kind::Role, &ids, Status::Starting).await;
        let role = match self.worker.start_role(realm_id, role_id, parsed).await {
            Ok(r) => r,
            Err(e) => {
                self.set_status(Kind::Role, &ids, Status::Failed).await;
                return Err(role_error(realm_id, role_id, e));
            }
        };
        self.announce_grants(realm_id, &role, true).await;
        self.set_status(Kind::Role, &ids, Status::Started).await;
        let marshal = self.role_marshal(realm_id, &role);
        self.publish_crossbar(Kind::Role, Status::Started, vec![marshal.clone()], caller)
            .await;
        Ok(marshal)
    }

    pub(super) async fn stop_role(
        &self,
        realm_id: &str,
        role_id: &str,
        caller: Option<Id>,
    ) -> ApiResult {
        let _op = self.ops.lock().await;
        let role = self
            .worker
            .role(realm_id, role_id)
            .await
            .map_err(|e| role_error(realm_id, role_id, e))?;
        let ids = [realm_id, role_id];
        self.set_status(Kind::Role, &ids, Status::Stopping).await;
        if let Err(e) = self.worker.stop_role(realm_id, role_id).await {
            self.set_status(Kind::Role, &ids, Status::Failed).await;
            return Err(role_error(realm_id, role_id, e));
        }
        self.announce_grants(realm_id, &role, false).await;
        self.set_status(Kind::Role, &ids, Status::Stopped).await;
        let mut marshal = self.role_marshal(realm_id, &role);
        marshal["status"] = json!(Status::Stopped.as_str());
        self.publish_crossbar(Kind::Role, Status::Stopped, vec![marshal.clone()], caller)
            .await;
        Ok(marshal)
    }
}
