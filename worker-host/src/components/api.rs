//! The component procedures of a router or container worker (`crossbar.worker.<id>.*`), named
//! and shaped as Crossbar.io's (`worker/router.py`, `worker/container.py`), and the events
//! announcing each component's status changes.
//!
//! The [`ComponentHost`] reports status changes through a synchronous sink; [`event_channel`]
//! turns them into a bounded queue that one task drains and publishes, so the host never waits
//! on the management session. The same task notices the container's shutdown policy firing.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Instant;

use mgmt_api::handler;
use mgmt_api::procedures::{container, router_components};
use router_core::client::{ClientError, PublishOptions, Session};
use router_core::{Dict, List, Value};
use serde_json::{Value as Json, json};
use tokio::sync::{mpsc, watch};
use tracing::warn;

use super::host::{ComponentHost, ComponentInfo, EventSink, HostEvent};
use super::{ComponentError, Placement};
use crate::router_api::{ApiError, Args};
use mgmt_api::vocabulary::{Kind, NEW_OBJECT_STATUS, Status, error, worker_prefix};

/// Crossbar.io's container-only events.
pub mod container_event {
    /// `{id, config}` once a container component has joined.
    pub const ON_COMPONENT_STARTED: &str = "on_component_started";
    /// `{id, started, uptime, config}` after a container component ended.
    pub const CONTAINER_ON_COMPONENT_STOP: &str = "container.on_component_stop";
}

/// How many host events may wait for publishing; beyond, events are dropped (logged).
const EVENT_QUEUE: usize = 1024;

/// The receiving half of [`event_channel`], handed to [`ComponentApi::serve`].
pub struct ComponentEvents(mpsc::Receiver<HostEvent>);

/// An [`EventSink`] for [`super::HostOptions::events`] and the queue the API publishes from.
pub fn event_channel() -> (EventSink, ComponentEvents) {
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let sink: EventSink = Arc::new(move |e: HostEvent| {
        if let Err(e) = tx.try_send(e) {
            warn!(error = %e, "component event queue full: event dropped");
        }
    });
    (sink, ComponentEvents(rx))
}

type ApiResult = Result<Json, ApiError>;
type Entry = mgmt_api::Entry<ComponentApi>;

/// The component API of one worker, served on a session of the management realm.
pub struct ComponentApi {
    host: Arc<ComponentHost>,
    registrations: mgmt_api::serve::Registrations,
    shutdown: watch::Receiver<Option<String>>,
    shutdown_tx: watch::Sender<Option<String>>,
}

fn component_error(e: ComponentError) -> ApiError {
    ApiError::new(e.error_uri(), e.to_string())
}

impl ComponentApi {
    /// Registers the component procedures of the host's placement (router: `*_router_component*`;
    /// container: `*_component*` and `shutdown`) under `crossbar.worker.<worker_id>.` and starts
    /// publishing the host's events from `events`.
    pub async fn serve(
        session: Session,
        worker_id: &str,
        host: Arc<ComponentHost>,
        events: ComponentEvents,
    ) -> Result<Arc<ComponentApi>, ClientError> {
        let (shutdown_tx, shutdown) = watch::channel(None);
        let api = Arc::new(ComponentApi {
            host: host.clone(),
            registrations: Default::default(),
            shutdown,
            shutdown_tx: shutdown_tx.clone(),
        });
        tokio::spawn(publish_events(
            session.clone(),
            worker_prefix(worker_id),
            host.placement(),
            Arc::downgrade(&host),
            events.0,
            shutdown_tx,
        ));
        let registrations = mgmt_api::serve(
            &session,
            &worker_prefix(worker_id),
            &api,
            &procedures(host.placement()),
            error::NOT_RUNNING,
        )
        .await?;
        api.registrations.set(registrations);
        Ok(api)
    }

    pub fn host(&self) -> &Arc<ComponentHost> {
        &self.host
    }

    /// The procedures this API registered (full URIs).
    pub fn procedures(&self) -> Vec<String> {
        self.registrations.uris()
    }

    /// Starts the `components` of a worker item in order (ids missing in the items become
    /// Crossbar.io's `component001`, …). A component that is misconfigured or whose class
    /// cannot be imported stops the boot, and the error names the item (`components[1]: …`),
    /// as in Crossbar.io. One that fails at run time (its `onJoin` raises, it never gets
    /// ready, its process dies) stops the boot only without `keep_going`: a router worker
    /// goes on to open its transports, as Crossbar.io's does, with the component reported
    /// `failed`.
    pub async fn boot(&self, components: &[Json], keep_going: bool) -> Result<(), ApiError> {
        let mut taken: BTreeSet<String> =
            self.host.list().await.into_iter().map(|c| c.id).collect();
        taken.extend(
            components
                .iter()
                .filter_map(|c| c.get("id").and_then(Json::as_str).map(str::to_owned)),
        );
        for (i, item) in components.iter().enumerate() {
            let at = format!("components[{i}]");
            let id = match item.get("id") {
                Some(Json::String(id)) if !id.is_empty() => id.clone(),
                None | Some(Json::Null) => {
                    let mut n = i + 1;
                    loop {
                        let id = format!("component{n:03}");
                        if taken.insert(id.clone()) {
                            break id;
                        }
                        n += 1;
                    }
                }
                Some(other) => {
                    return Err(ApiError::new(
                        error::INVALID_CONFIGURATION,
                        format!("{at}.id: expected a non-empty string, got {other}"),
                    ));
                }
            };
            match self.host.start(&id, item).await {
                Ok(_) => {}
                Err(e @ ComponentError::CannotStart { .. }) if keep_going => {
                    tracing::error!(
                        component_id = %id,
                        error = %e,
                        "component failed to start; the worker goes on without it"
                    );
                }
                Err(e) => return Err(component_error(e).at(&at)),
            }
        }
        Ok(())
    }

    /// The running components as config items (each with its `id`), for `save_config`.
    pub async fn live_config(&self) -> Vec<Json> {
        self.host
            .list()
            .await
            .into_iter()
            .map(|c| {
                let mut item = c.config;
                if let Some(map) = item.as_object_mut() {
                    map.insert("id".into(), Json::from(c.id));
                }
                item
            })
            .collect()
    }

    /// Resolves once the container should end (its shutdown policy fired, or `shutdown` was
    /// called); the reason. Never resolves for a router worker.
    pub async fn shutdown_requested(&self) -> String {
        let mut rx = self.shutdown.clone();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    fn request_shutdown(&self, reason: String) {
        self.shutdown_tx.send_replace(Some(reason));
    }

    async fn list_json(&self) -> Json {
        let mut list = self.host.list().await;
        list.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        Json::Array(list.iter().map(ComponentInfo::to_json).collect())
    }

    async fn get_json(&self, args: &Args) -> ApiResult {
        let id = args.string(0, "component_id")?;
        match self.host.get(&id).await {
            Some(info) => Ok(info.to_json()),
            None => Err(component_error(ComponentError::NoSuchComponent(id))),
        }
    }

    async fn start_json(&self, args: &Args) -> ApiResult {
        let id = args.string(0, "component_id")?;
        let config = args.json(1, &["config"])?;
        if !config.is_object() {
            return Err(ApiError::new(
                error::INVALID_CONFIGURATION,
                format!("the component configuration must be a dict, got {config}"),
            ));
        }
        let info = self
            .host
            .start(&id, &config)
            .await
            .map_err(component_error)?;
        Ok(info.to_json())
    }

    async fn stop_router(&self, args: &Args) -> ApiResult {
        let id = args.string(0, "component_id")?;
        self.host.stop(&id).await.map_err(component_error)?;
        Ok(Json::Null)
    }

    async fn stop_container(&self, args: &Args) -> ApiResult {
        let id = args.string(0, "component_id")?;
        let info = self.host.stop(&id).await.map_err(component_error)?;
        Ok(json!({
            "component_id": id,
            "uptime": info.uptime.map(|u| u.as_secs_f64()),
            "caller": {
                "session": args.caller,
                "authid": args.caller_authid,
                "authrole": args.caller_authrole,
            },
        }))
    }

    async fn restart_container(&self, args: &Args) -> ApiResult {
        let id = args.string(0, "component_id")?;
        let config = self
            .host
            .get(&id)
            .await
            .ok_or_else(|| component_error(ComponentError::NoSuchComponent(id.clone())))?
            .config;
        let stopped = self.stop_container(args).await?;
        let started = self
            .host
            .start(&id, &config)
            .await
            .map_err(component_error)?;
        Ok(json!({"stopped": stopped, "started": started.to_json()}))
    }
}

/// The component procedures of a worker of `placement`, with their handlers.
fn procedures(placement: Placement) -> Vec<Entry> {
    match placement {
        Placement::Router => {
            use router_components::*;
            vec![
                (
                    GET_ROUTER_COMPONENTS,
                    handler!(|a, _args| Ok::<_, ApiError>(a.list_json().await)),
                ),
                (
                    GET_ROUTER_COMPONENT,
                    handler!(|a, args| a.get_json(&args).await),
                ),
                (
                    START_ROUTER_COMPONENT,
                    handler!(|a, args| a.start_json(&args).await),
                ),
                (
                    STOP_ROUTER_COMPONENT,
                    handler!(|a, args| a.stop_router(&args).await),
                ),
            ]
        }
        Placement::Container => {
            use container::*;
            vec![
                (
                    GET_COMPONENTS,
                    handler!(|a, _args| {
                        let ids: Vec<String> =
                            a.host.list().await.into_iter().map(|c| c.id).collect();
                        Ok::<_, ApiError>(json!(ids))
                    }),
                ),
                (GET_COMPONENT, handler!(|a, args| a.get_json(&args).await)),
                (
                    START_COMPONENT,
                    handler!(|a, args| a.start_json(&args).await),
                ),
                (
                    STOP_COMPONENT,
                    handler!(|a, args| a.stop_container(&args).await),
                ),
                (
                    RESTART_COMPONENT,
                    handler!(|a, args| a.restart_container(&args).await),
                ),
                (
                    SHUTDOWN,
                    handler!(|a, _args| {
                        let stopped = a.host.shutdown().await;
                        a.request_shutdown("shutdown was called".into());
                        Ok::<_, ApiError>(json!(stopped))
                    }),
                ),
            ]
        }
    }
}

/// Publishes every host event until the host is gone: `on_component_status(id, old, new)`
/// (with `message` as a keyword when it failed), Crossbar.io's `on_component_start|ready|stop
/// {id}`, and for containers `on_component_started {id, config}` and
/// `container.on_component_stop {id, started, uptime, config}`.
async fn publish_events(
    session: Session,
    prefix: String,
    placement: Placement,
    host: Weak<ComponentHost>,
    mut events: mpsc::Receiver<HostEvent>,
    shutdown: watch::Sender<Option<String>>,
) {
    // Container components as they were when started, for their stop event.
    let mut started: HashMap<String, (ComponentInfo, Instant)> = HashMap::new();
    let publish = |event: String, args: Vec<Json>, kwargs: Dict| {
        let session = session.clone();
        let topic = format!("{prefix}.{event}");
        async move {
            let args: List = args.into_iter().map(Value::from).collect();
            if let Err(e) = session
                .publish(&topic, args, kwargs, PublishOptions::default())
                .await
            {
                warn!(%topic, error = %e, "cannot publish a component event");
            }
        }
    };
    while let Some(event) = events.recv().await {
        let (id, old, new, message) = match event {
            HostEvent::ShutdownRequested { reason } => {
                shutdown.send_replace(Some(reason));
                continue;
            }
            HostEvent::Status {
                component_id,
                old,
                new,
                message,
            } => (component_id, old, new, message),
        };
        let mut kwargs = Dict::new();
        if let Some(m) = &message {
            kwargs.insert("message".into(), Value::from(m.as_str()));
        }
        let old = old.unwrap_or(NEW_OBJECT_STATUS);
        publish(
            Kind::Component.status_event(),
            vec![json!(id), json!(old.as_str()), json!(new.as_str())],
            kwargs,
        )
        .await;
        if let Some(event) = Kind::Component.crossbar_event(new, None) {
            publish(event, vec![json!({"id": id})], Dict::new()).await;
        }
        if placement != Placement::Container {
            continue;
        }
        match new {
            Status::Started => {
                let Some(info) = host.upgrade() else { break };
                if let Some(info) = info.get(&id).await {
                    let ev = json!({"id": id, "config": info.config});
                    started.insert(id.clone(), (info, Instant::now()));
                    publish(
                        container_event::ON_COMPONENT_STARTED.into(),
                        vec![ev],
                        Dict::new(),
                    )
                    .await;
                }
            }
            Status::Stopped | Status::Failed => {
                if let Some((info, since)) = started.remove(&id) {
                    let ev = json!({
                        "id": id,
                        "started": info.started,
                        "uptime": since.elapsed().as_secs_f64(),
                        "config": info.config,
                    });
                    publish(
                        container_event::CONTAINER_ON_COMPONENT_STOP.into(),
                        vec![ev],
                        Dict::new(),
                    )
                    .await;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_procedure_has_a_handler() {
        for (placement, all) in [
            (Placement::Router, router_components::ALL),
            (Placement::Container, container::ALL),
        ] {
            let (extra, missing) = mgmt_api::serve::table_mismatch(&procedures(placement), all);
            assert!(
                extra.is_empty() && missing.is_empty(),
                "{extra:?} {missing:?}"
            );
        }
    }
}
