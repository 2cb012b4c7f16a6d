//! The router worker's management API: `crossbar.worker.<id>.*` procedures that start, stop
//! and show realms, roles, grants, transports and Web services of a running [`RouterWorker`],
//! with a status for every object and an event for every change.
//!
//! Procedures take their arguments positionally (or by Crossbar.io's keyword names) and answer
//! JSON-like values shaped as Crossbar.io's (see `crossbar-node-api.md`); failures answer
//! `crossbar.error.*` with a readable message. Changes are serialized by one lock: management
//! calls are rare, and one order of events per worker is worth more than parallel starts.
//! Booting a config item goes through the same operations, so a booted worker and one built
//! call by call look (and announce themselves) the same.

mod boot;
mod function_auth;
mod grants;
mod python_web;
mod realms;
mod roles;
mod status;
mod transports;
mod web_services;

use std::sync::Arc;

use router_core::Dict;
use router_core::client::{ClientError, Session};
use router_core::transport::TransportError;
use serde_json::{Map, Value as Json};
use tokio::sync::Mutex as AsyncMutex;

use crate::components::ComponentApi;
use crate::router_worker::{RouterWorker, RouterWorkerError};
use mgmt_api::vocabulary::{error, worker_prefix};

pub use mgmt_api::{ApiError, Args};

/// The default reading of a runtime error; procedures whose Crossbar.io counterpart answers
/// differently (`not_running` for stopping an unknown transport, …) map it themselves.
impl From<RouterWorkerError> for ApiError {
    fn from(e: RouterWorkerError) -> ApiError {
        use RouterWorkerError as E;
        let uri = match &e {
            E::Config(_) | E::Realm { .. } => error::INVALID_CONFIGURATION,
            E::RealmExists(_) | E::TransportExists(_) => error::ALREADY_RUNNING,
            E::RoleExists { .. } | E::GrantExists { .. } => error::ALREADY_EXISTS,
            E::NoSuchRealm(_) | E::NoSuchTransport(_) | E::NoSuchRole { .. } => {
                error::NO_SUCH_OBJECT
            }
            E::NoSuchGrant { .. } => error::NO_SUCH_OBJECT,
            E::Transport { source, .. } => match source {
                TransportError::CannotListen { .. } => error::CANNOT_LISTEN,
                _ => error::INVALID_CONFIGURATION,
            },
            E::WebService { source, .. } => match source {
                TransportError::NotWeb(_) | TransportError::NoSuchService(_) => error::NOT_RUNNING,
                TransportError::ServiceExists(_) => error::ALREADY_RUNNING,
                _ => error::INVALID_CONFIGURATION,
            },
        };
        ApiError::new(uri, e.to_string())
    }
}

type ApiResult = Result<Json, ApiError>;
/// One procedure of this API and its handler.
type Entry = mgmt_api::Entry<RouterApi>;

/// The management API of one router worker, served on a session of the management realm.
pub struct RouterApi {
    session: Session,
    worker_id: String,
    /// `crossbar.worker.<id>`
    prefix: String,
    worker: Arc<RouterWorker>,
    statuses: status::Statuses,
    /// Serializes changes (see the module docs).
    ops: AsyncMutex<()>,
    registrations: mgmt_api::serve::Registrations,
    /// The worker's components, once attached (booted between roles and transports).
    components: std::sync::OnceLock<Arc<ComponentApi>>,
    /// The Python children of `wsgi` and `resource` services, by transport.
    python_web: python_web::PythonWebHosts,
}

impl RouterApi {
    /// Registers every `crossbar.worker.<id>.*` router-worker procedure on `session`.
    ///
    /// The handlers hold the API weakly: dropping the returned `Arc` (and every clone) makes
    /// them answer `crossbar.error.not_running`.
    pub async fn serve(
        session: Session,
        worker_id: &str,
        worker: Arc<RouterWorker>,
    ) -> Result<Arc<RouterApi>, ClientError> {
        let api = Arc::new(RouterApi {
            session: session.clone(),
            worker_id: worker_id.to_owned(),
            prefix: worker_prefix(worker_id),
            worker,
            statuses: status::Statuses::default(),
            ops: AsyncMutex::new(()),
            registrations: Default::default(),
            components: std::sync::OnceLock::new(),
            python_web: python_web::PythonWebHosts::default(),
        });
        let registrations = mgmt_api::serve(
            &session,
            &api.prefix,
            &api,
            &procedures(),
            error::NOT_RUNNING,
        )
        .await?;
        api.registrations.set(registrations);
        Ok(api)
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn worker(&self) -> &Arc<RouterWorker> {
        &self.worker
    }

    /// Lets this worker host components: [`RouterApi::boot`] starts the item's `components`
    /// through `components`, and [`RouterApi::live_config`] lists them. Only the first call
    /// counts (a worker has one component host); returns whether this one did.
    pub fn attach_components(&self, components: Arc<ComponentApi>) -> bool {
        self.components.set(components).is_ok()
    }

    /// The attached component API, if any.
    pub fn components(&self) -> Option<&Arc<ComponentApi>> {
        self.components.get()
    }

    /// The procedures this API registered (full URIs).
    pub fn procedures(&self) -> Vec<String> {
        self.registrations.uris()
    }

    /// Boots a router worker item (JSON, as in the config file) in Crossbar.io's order:
    /// realms, their roles, transports (root service only), then each other Web path. Ids
    /// missing in the item are generated as Crossbar.io does (`realm001`, `role001`,
    /// `transport001`). Stops at the first failure, leaving what started running (the caller
    /// decides whether the worker lives on); the error names the key path.
    pub async fn boot(&self, item: &Json) -> Result<(), ApiError> {
        boot::boot(self, item).await
    }

    /// The live configuration of the worker (everything started at runtime included, every
    /// object with its id) as a config-file worker item.
    pub async fn live_config(&self) -> Json {
        boot::live_config(self).await
    }
}

/// Every procedure of a router worker (its components' aside) with its handler.
fn procedures() -> Vec<Entry> {
    let mut procedures = Vec::new();
    procedures.extend(realms::procedures());
    procedures.extend(roles::procedures());
    procedures.extend(grants::procedures());
    procedures.extend(transports::procedures());
    procedures.extend(web_services::procedures());
    procedures
}

/// A handler that calls the API method of that name with the call's arguments.
macro_rules! handler {
    ($method:ident) => {
        mgmt_api::handler!(|api, args| api.$method(&args).await)
    };
}
pub(crate) use handler;

/// Requires a JSON object (a config), else `invalid_configuration` naming `what`.
fn object<'j>(value: &'j Json, what: &str) -> Result<&'j Map<String, Json>, ApiError> {
    value.as_object().ok_or_else(|| {
        ApiError::new(
            error::INVALID_CONFIGURATION,
            format!("{what} must be an object, got {value}"),
        )
    })
}

/// An empty keyword dict (publishing helpers).
fn no_kwargs() -> Dict {
    Dict::new()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_router_procedure_has_a_handler() {
        let (extra, missing) = mgmt_api::serve::table_mismatch(
            &super::procedures(),
            // The live config is served by the worker process beside this API.
            &mgmt_api::procedures::router::ALL
                .iter()
                .copied()
                .filter(|p| *p != mgmt_api::procedures::router::GET_LIVE_CONFIG)
                .collect::<Vec<_>>(),
        );
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{extra:?} {missing:?}"
        );
    }
}
