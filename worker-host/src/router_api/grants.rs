//! Grants (permissions) of a role: `get_router_realm_role_grants(realm_id, role_id)`,
//! `get_router_realm_role_grant(realm_id, role_id, grant_id)`,
//! `start_router_realm_role_grant(realm_id, role_id, grant_id, grant_config)`,
//! `stop_router_realm_role_grant(realm_id, role_id, grant_id)`.
//!
//! Crossbar.io has no such procedures (its roles change only as a whole); the CDC's seed API
//! does. A grant config is one item of a role's `permissions`, as in a config file. A change
//! applies to the next action of every session with the role.

use router_core::authorization::{Permission, RoleConfig};
use serde_json::{Value as Json, json};

use super::object;
use super::realms::to_json;
use super::roles::role_error;
use super::{ApiError, ApiResult, Args, Entry, RouterApi, handler};
use crate::router_worker::RouterWorkerError;
use mgmt_api::procedures::router as p;
use mgmt_api::vocabulary::{Kind, Status, error};

pub(super) fn procedures() -> Vec<Entry> {
    vec![
        (
            p::GET_ROUTER_REALM_ROLE_GRANTS,
            handler!(get_router_realm_role_grants),
        ),
        (
            p::GET_ROUTER_REALM_ROLE_GRANT,
            handler!(get_router_realm_role_grant),
        ),
        (
            p::START_ROUTER_REALM_ROLE_GRANT,
            handler!(start_router_realm_role_grant),
        ),
        (
            p::STOP_ROUTER_REALM_ROLE_GRANT,
            handler!(stop_router_realm_role_grant),
        ),
    ]
}

fn no_grant(realm_id: &str, role_id: &str, grant_id: &str) -> ApiError {
    ApiError::new(
        error::NO_SUCH_OBJECT,
        format!("No grant with ID '{grant_id}' on role '{role_id}' in realm with ID '{realm_id}'"),
    )
}

fn grant_error(realm_id: &str, role_id: &str, grant_id: &str, e: RouterWorkerError) -> ApiError {
    match e {
        RouterWorkerError::NoSuchGrant { .. } => no_grant(realm_id, role_id, grant_id),
        other => role_error(realm_id, role_id, other),
    }
}

/// The ids of a request for one grant.
struct GrantIds {
    realm_id: String,
    role_id: String,
    grant_id: String,
}

impl GrantIds {
    fn read(a: &Args) -> Result<GrantIds, ApiError> {
        Ok(GrantIds {
            realm_id: a.string(0, "realm_id")?,
            role_id: a.string(1, "role_id")?,
            grant_id: a.string(2, "grant_id")?,
        })
    }

    fn as_array(&self) -> [&str; 3] {
        [&self.realm_id, &self.role_id, &self.grant_id]
    }
}

impl RouterApi {
    async fn get_router_realm_role_grants(&self, a: &Args) -> ApiResult {
        let realm_id = a.string(0, "realm_id")?;
        let role_id = a.string(1, "role_id")?;
        let grants = self
            .worker
            .grants(&realm_id, &role_id)
            .await
            .map_err(|e| role_error(&realm_id, &role_id, e))?;
        let ids: Vec<String> = grants.into_iter().map(|(id, _)| id).collect();
        Ok(json!(ids))
    }

    async fn get_router_realm_role_grant(&self, a: &Args) -> ApiResult {
        let g = GrantIds::read(a)?;
        let grants = self
            .worker
            .grants(&g.realm_id, &g.role_id)
            .await
            .map_err(|e| role_error(&g.realm_id, &g.role_id, e))?;
        let (_, permission) = grants
            .iter()
            .find(|(id, _)| *id == g.grant_id)
            .ok_or_else(|| no_grant(&g.realm_id, &g.role_id, &g.grant_id))?;
        Ok(self.grant_marshal(&g, permission))
    }

    async fn start_router_realm_role_grant(&self, a: &Args) -> ApiResult {
        let g = GrantIds::read(a)?;
        let config = a.json(3, &["grant_config", "config"])?;
        self.start_grant(&g, config).await
    }

    async fn stop_router_realm_role_grant(&self, a: &Args) -> ApiResult {
        let g = GrantIds::read(a)?;
        self.stop_grant(&g).await
    }

    /// `{id, realm_id, role_id, config, status}`.
    fn grant_marshal(&self, g: &GrantIds, permission: &Permission) -> Json {
        json!({
            "id": g.grant_id,
            "realm_id": g.realm_id,
            "role_id": g.role_id,
            "config": to_json(permission),
            "status": self.status_of(Kind::Grant, &g.as_array()).as_str(),
        })
    }

    async fn start_grant(&self, g: &GrantIds, config: Json) -> ApiResult {
        let _op = self.ops.lock().await;
        object(&config, "the grant configuration")?;
        let mut permission: Permission = router_core::config::from_value(config).map_err(|e| {
            ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("Invalid grant configuration: {e}"),
            )
        })?;
        permission.id = Some(g.grant_id.clone());
        let existing = self
            .worker
            .grants(&g.realm_id, &g.role_id)
            .await
            .map_err(|e| role_error(&g.realm_id, &g.role_id, e))?;
        if existing.iter().any(|(id, _)| *id == g.grant_id) {
            return Err(ApiError::new(
                error::ALREADY_EXISTS,
                format!(
                    "A grant with ID '{}' already exists on role '{}' in realm with ID '{}'",
                    g.grant_id, g.role_id, g.realm_id
                ),
            ));
        }
        let ids = g.as_array();
        self.set_status(Kind::Grant, &ids, Status::Starting).await;
        let permission = match self
            .worker
            .start_grant(&g.realm_id, &g.role_id, &g.grant_id, permission)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                self.set_status(Kind::Grant, &ids, Status::Failed).await;
                return Err(grant_error(&g.realm_id, &g.role_id, &g.grant_id, e));
            }
        };
        self.set_status(Kind::Grant, &ids, Status::Started).await;
        Ok(self.grant_marshal(g, &permission))
    }

    async fn stop_grant(&self, g: &GrantIds) -> ApiResult {
        let _op = self.ops.lock().await;
        let existing = self
            .worker
            .grants(&g.realm_id, &g.role_id)
            .await
            .map_err(|e| role_error(&g.realm_id, &g.role_id, e))?;
        if !existing.iter().any(|(id, _)| *id == g.grant_id) {
            return Err(no_grant(&g.realm_id, &g.role_id, &g.grant_id));
        }
        let ids = g.as_array();
        self.set_status(Kind::Grant, &ids, Status::Stopping).await;
        let permission = match self
            .worker
            .stop_grant(&g.realm_id, &g.role_id, &g.grant_id)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                self.set_status(Kind::Grant, &ids, Status::Failed).await;
                return Err(grant_error(&g.realm_id, &g.role_id, &g.grant_id, e));
            }
        };
        self.set_status(Kind::Grant, &ids, Status::Stopped).await;
        let mut marshal = self.grant_marshal(g, &permission);
        marshal["status"] = json!(Status::Stopped.as_str());
        Ok(marshal)
    }

    /// Publishes the status changes of the grants of a role that started or stopped.
    pub(super) async fn announce_grants(&self, realm_id: &str, role: &RoleConfig, started: bool) {
        let role_id = role.id.as_deref().unwrap_or_default();
        let (first, then) = if started {
            (Status::Starting, Status::Started)
        } else {
            (Status::Stopping, Status::Stopped)
        };
        for grant in &role.permissions {
            let ids = [realm_id, role_id, grant.id.as_deref().unwrap_or_default()];
            self.set_status(Kind::Grant, &ids, first).await;
            self.set_status(Kind::Grant, &ids, then).await;
        }
    }
}
