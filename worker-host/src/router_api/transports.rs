//! Listening transports: `get_router_transports`, `get_router_transport(transport_id)`,
//! `start_router_transport(transport_id, config, create_paths=False)`,
//! `stop_router_transport(transport_id)`.

use router_core::Id;
use router_core::transport::TransportConfig;
use serde_json::{Value as Json, json};

use super::object;
use super::{ApiError, ApiResult, Args, Entry, RouterApi, handler};
use crate::router_worker::{RouterWorkerError, TransportInfo};
use mgmt_api::procedures::router as p;
use mgmt_api::vocabulary::{Kind, Status, error};

pub(super) fn procedures() -> Vec<Entry> {
    vec![
        (p::GET_ROUTER_TRANSPORTS, handler!(get_router_transports)),
        (p::GET_ROUTER_TRANSPORT, handler!(get_router_transport)),
        (p::START_ROUTER_TRANSPORT, handler!(start_router_transport)),
        (p::STOP_ROUTER_TRANSPORT, handler!(stop_router_transport)),
    ]
}

impl RouterApi {
    async fn get_router_transports(&self, _a: &Args) -> ApiResult {
        let list: Vec<Json> = self
            .worker
            .transports()
            .await
            .iter()
            .map(|t| self.transport_marshal(t))
            .collect();
        Ok(Json::Array(list))
    }

    async fn get_router_transport(&self, a: &Args) -> ApiResult {
        let transport_id = a.string(0, "transport_id")?;
        let info = self.worker.transport(&transport_id).await.map_err(|_| {
            ApiError::new(
                error::NO_SUCH_OBJECT,
                format!("No transport {transport_id}"),
            )
        })?;
        Ok(self.transport_marshal(&info))
    }

    async fn start_router_transport(&self, a: &Args) -> ApiResult {
        let transport_id = a.string(0, "transport_id")?;
        let config = a.json(1, &["config", "transport_config"])?;
        let create_paths = a.bool_or(2, "create_paths", false)?;
        self.start_transport(&transport_id, config, create_paths, a.caller)
            .await
    }

    async fn stop_router_transport(&self, a: &Args) -> ApiResult {
        let transport_id = a.string(0, "transport_id")?;
        self.stop_transport(&transport_id, a.caller).await
    }

    /// Crossbar.io's transport marshal; `state` is the status string (not Crossbar.io's
    /// integer), and `listen` is the bound address (the real port when the config said 0).
    fn transport_marshal(&self, t: &TransportInfo) -> Json {
        let status = self.status_of(Kind::Transport, &[&t.id]).as_str();
        json!({
            "id": t.id,
            "type": t.kind,
            "config": t.config,
            "created_at": t.created_at,
            "listening_since": t.listening_since,
            "state": status,
            "status": status,
            "listen": t.addr.to_string(),
        })
    }

    /// Starts a transport. Without `create_paths`, a Web transport starts with its root
    /// service only (as in Crossbar.io; its other paths are started one by one after it).
    pub(super) async fn start_transport(
        &self,
        transport_id: &str,
        config: Json,
        create_paths: bool,
        caller: Option<Id>,
    ) -> ApiResult {
        let _op = self.ops.lock().await;
        if self.worker.transport(transport_id).await.is_ok() {
            return Err(ApiError::new(
                error::ALREADY_RUNNING,
                format!(
                    "Could not start transport: a transport with ID \"{transport_id}\" is already running (or starting)"
                ),
            ));
        }
        object(&config, "the transport configuration")?;
        TransportConfig::from_json(config.clone()).map_err(|e| {
            ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("Invalid router transport configuration: {e}"),
            )
        })?;
        let ids = [transport_id];
        let event = json!({"id": transport_id});
        self.set_status(Kind::Transport, &ids, Status::Starting)
            .await;
        self.publish_crossbar(
            Kind::Transport,
            Status::Starting,
            vec![event.clone()],
            caller,
        )
        .await;
        // What the worker hosts itself for this transport: function authenticators, WSGI apps.
        let prepared = async {
            super::function_auth::ensure_hosts(
                self.components.get(),
                self.worker.router(),
                &config,
            )
            .await?;
            match self.components.get() {
                Some(c) => {
                    let host = c.host();
                    self.python_web
                        .host_transport(transport_id, &config, host.python(), host.base_dir())
                        .await
                }
                None => Ok(config.clone()),
            }
        };
        let served = match prepared.await {
            Ok(s) => s,
            Err(message) => {
                self.python_web.stop(transport_id).await;
                self.set_status(Kind::Transport, &ids, Status::Failed).await;
                self.publish_crossbar(Kind::Transport, Status::Stopped, vec![event], caller)
                    .await;
                return Err(ApiError::new(
                    error::INVALID_CONFIGURATION,
                    format!("Invalid router transport configuration: {message}"),
                ));
            }
        };
        let info = match self
            .worker
            .start_transport_serving(transport_id, config, served, create_paths)
            .await
        {
            Ok(info) => info,
            Err(e) => {
                self.python_web.stop(transport_id).await;
                self.set_status(Kind::Transport, &ids, Status::Failed).await;
                // Crossbar.io announces a failed start as stopped.
                self.publish_crossbar(Kind::Transport, Status::Stopped, vec![event], caller)
                    .await;
                return Err(match e {
                    e @ RouterWorkerError::Transport { .. } => {
                        let e = ApiError::from(e);
                        let message = if e.uri == error::CANNOT_LISTEN {
                            format!("Cannot listen on transport endpoint: {}", e.message)
                        } else {
                            e.message
                        };
                        ApiError::new(e.uri, message)
                    }
                    other => other.into(),
                });
            }
        };
        self.set_status(Kind::Transport, &ids, Status::Started)
            .await;
        for path in self
            .worker
            .web_services(transport_id)
            .await
            .unwrap_or_default()
        {
            let ids = [transport_id, path.as_str()];
            self.set_status(Kind::WebService, &ids, Status::Starting)
                .await;
            self.set_status(Kind::WebService, &ids, Status::Started)
                .await;
        }
        self.publish_crossbar(Kind::Transport, Status::Started, vec![event], caller)
            .await;
        Ok(self.transport_marshal(&info))
    }

    /// Stops a transport: its port is closed when this returns, its connections end.
    pub(super) async fn stop_transport(&self, transport_id: &str, caller: Option<Id>) -> ApiResult {
        let _op = self.ops.lock().await;
        let not_running = || {
            ApiError::new(
                error::NOT_RUNNING,
                format!(
                    "Cannot stop transport: no transport with ID '{transport_id}' or transport is already stopping"
                ),
            )
        };
        let info = self
            .worker
            .transport(transport_id)
            .await
            .map_err(|_| not_running())?;
        let paths = self
            .worker
            .web_services(transport_id)
            .await
            .unwrap_or_default();
        let ids = [transport_id];
        self.set_status(Kind::Transport, &ids, Status::Stopping)
            .await;
        let marshal = self.transport_marshal(&info);
        self.publish_crossbar(
            Kind::Transport,
            Status::Stopping,
            vec![marshal.clone()],
            caller,
        )
        .await;
        self.python_web.stop(transport_id).await;
        if self.worker.stop_transport(transport_id).await.is_err() {
            self.set_status(Kind::Transport, &ids, Status::Failed).await;
            return Err(not_running());
        }
        for path in &paths {
            self.set_status(Kind::WebService, &[transport_id, path], Status::Stopped)
                .await;
        }
        self.set_status(Kind::Transport, &ids, Status::Stopped)
            .await;
        let mut marshal = marshal;
        marshal["state"] = json!(Status::Stopped.as_str());
        marshal["status"] = json!(Status::Stopped.as_str());
        self.publish_crossbar(
            Kind::Transport,
            Status::Stopped,
            vec![marshal.clone()],
            caller,
        )
        .await;
        Ok(marshal)
    }
}
