//! Services on the paths of a Web (or Universal) transport:
//! `get_web_transport_services(transport_id)`, `get_web_transport_service(transport_id, path)`,
//! `start_web_transport_service(transport_id, path, config)`,
//! `stop_web_transport_service(transport_id, path)`.
//!
//! Requests are routed to a started service at once; a stopped one answers 404 from the next
//! request on.

use router_core::Id;
use router_core::transport::config::{WebService, valid_path_key};
use serde_json::{Value as Json, json};

use super::{ApiError, ApiResult, Args, Entry, RouterApi, handler};
use mgmt_api::procedures::router as p;
use mgmt_api::vocabulary::{Kind, Status, error};

pub(super) fn procedures() -> Vec<Entry> {
    vec![
        (
            p::GET_WEB_TRANSPORT_SERVICES,
            handler!(get_web_transport_services),
        ),
        (
            p::GET_WEB_TRANSPORT_SERVICE,
            handler!(get_web_transport_service),
        ),
        (
            p::START_WEB_TRANSPORT_SERVICE,
            handler!(start_web_transport_service),
        ),
        (
            p::STOP_WEB_TRANSPORT_SERVICE,
            handler!(stop_web_transport_service),
        ),
    ]
}

fn not_web(transport_id: &str) -> ApiError {
    ApiError::new(
        error::NOT_RUNNING,
        format!("No transport with ID '{transport_id}' or transport is not a Web transport"),
    )
}

fn no_service(transport_id: &str, path: &str) -> ApiError {
    ApiError::new(
        error::NOT_RUNNING,
        format!("Web transport {transport_id}: no service running on path '{path}'"),
    )
}

impl RouterApi {
    async fn get_web_transport_services(&self, a: &Args) -> ApiResult {
        let transport_id = a.string(0, "transport_id")?;
        Ok(json!(self.service_paths(&transport_id).await?))
    }

    async fn get_web_transport_service(&self, a: &Args) -> ApiResult {
        let transport_id = a.string(0, "transport_id")?;
        let path = a.string(1, "path")?;
        self.service_paths(&transport_id).await?;
        let config = self
            .worker
            .web_service(&transport_id, &path)
            .await
            .map_err(|_| no_service(&transport_id, &path))?;
        let status = self.status_of(Kind::WebService, &[&transport_id, &path]);
        Ok(json!({
            "transport_id": transport_id,
            "path": path,
            "config": config,
            "status": status.as_str(),
        }))
    }

    async fn start_web_transport_service(&self, a: &Args) -> ApiResult {
        let transport_id = a.string(0, "transport_id")?;
        let path = a.string(1, "path")?;
        let config = a.json(2, &["config", "resource_config"])?;
        self.start_web_service(&transport_id, &path, config, a.caller)
            .await
    }

    async fn stop_web_transport_service(&self, a: &Args) -> ApiResult {
        let transport_id = a.string(0, "transport_id")?;
        let path = a.string(1, "path")?;
        self.stop_web_service(&transport_id, &path, a.caller).await
    }

    async fn service_paths(&self, transport_id: &str) -> Result<Vec<String>, ApiError> {
        self.worker
            .web_services(transport_id)
            .await
            .map_err(|_| not_web(transport_id))
    }

    pub(super) async fn start_web_service(
        &self,
        transport_id: &str,
        path: &str,
        config: Json,
        caller: Option<Id>,
    ) -> ApiResult {
        if !config.get("type").is_some_and(Json::is_string) {
            return Err(ApiError::new(
                error::INVALID_ARGUMENT,
                "config parameter must be dict with type attribute",
            ));
        }
        if !valid_path_key(path) {
            return Err(ApiError::new(
                error::INVALID_ARGUMENT,
                format!("invalid path \"{path}\": must be \"/\" or match [a-z0-9A-Z_-]+"),
            ));
        }
        let _op = self.ops.lock().await;
        if self
            .service_paths(transport_id)
            .await?
            .iter()
            .any(|p| p == path)
        {
            return Err(ApiError::new(
                error::ALREADY_RUNNING,
                format!(
                    "Cannot start service on Web transport \"{transport_id}\": a service is already running on path \"{path}\""
                ),
            ));
        }
        WebService::from_json(config.clone()).map_err(|e| {
            ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("Invalid Web service configuration: {e}"),
            )
        })?;
        let ids = [transport_id, path];
        self.set_status(Kind::WebService, &ids, Status::Starting)
            .await;
        self.publish_crossbar(
            Kind::WebService,
            Status::Starting,
            vec![json!(transport_id), json!(path)],
            caller,
        )
        .await;
        let served = match self.components.get() {
            Some(c) => {
                let host = c.host();
                self.python_web
                    .host_service(transport_id, path, &config, host.python(), host.base_dir())
                    .await
            }
            None => Ok(config.clone()),
        };
        let started = match served {
            Ok(served) => self
                .worker
                .start_web_service_serving(transport_id, path, config.clone(), served)
                .await
                .map_err(ApiError::from),
            Err(message) => Err(ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("Invalid Web service configuration: {message}"),
            )),
        };
        if let Err(e) = started {
            self.python_web.stop_service(transport_id, path).await;
            self.set_status(Kind::WebService, &ids, Status::Failed)
                .await;
            return Err(e);
        }
        self.set_status(Kind::WebService, &ids, Status::Started)
            .await;
        let started = json!({"transport_id": transport_id, "path": path, "config": config});
        self.publish_crossbar(
            Kind::WebService,
            Status::Started,
            vec![json!(transport_id), json!(path), started.clone()],
            caller,
        )
        .await;
        Ok(started)
    }

    async fn stop_web_service(
        &self,
        transport_id: &str,
        path: &str,
        caller: Option<Id>,
    ) -> ApiResult {
        let _op = self.ops.lock().await;
        let paths = self.service_paths(transport_id).await?;
        if !paths.iter().any(|p| p == path) {
            return Err(no_service(transport_id, path));
        }
        let ids = [transport_id, path];
        self.set_status(Kind::WebService, &ids, Status::Stopping)
            .await;
        self.publish_crossbar(
            Kind::WebService,
            Status::Stopping,
            vec![json!(transport_id), json!(path)],
            caller,
        )
        .await;
        self.python_web.stop_service(transport_id, path).await;
        if let Err(e) = self.worker.stop_web_service(transport_id, path).await {
            self.set_status(Kind::WebService, &ids, Status::Failed)
                .await;
            return Err(e.into());
        }
        self.set_status(Kind::WebService, &ids, Status::Stopped)
            .await;
        let stopped = json!({"transport_id": transport_id, "path": path});
        self.publish_crossbar(
            Kind::WebService,
            Status::Stopped,
            vec![json!(transport_id), json!(path), stopped.clone()],
            caller,
        )
        .await;
        Ok(stopped)
    }
}
