//! Running a listening transport: bind the endpoint, accept connections (each on its own
//! task, under a connection cap), and stop — closing the port at once and ending every
//! connection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openssl::ssl::{Ssl, SslAcceptor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::auth::Authenticator;
use crate::auth::cookie::CookieStore;
use crate::router::Router;
use crate::transport::config::{
    Endpoint, MqttConfig, RawSocketConfig, TransportConfig, WebService, WebSocketConfig,
};
use crate::transport::conn::{self, RawSocketEndpoint, Shared, TlsFacts, WsEndpoint};
use crate::transport::endpoint::{self, ListenAddr, Listener};
use crate::transport::io::BoxedIo;
use crate::transport::mqtt::{self, MqttEndpoint};
use crate::transport::tls::{self, TlsError};
use crate::transport::web::{self, ConnMeta, NodeInfoSource, Resource, WebState};
use crate::transport::websocket::WsSettings;
use crate::transport::{rawsocket, universal};

/// Crossbar.io's default `max_connections` per listening port.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 50_000;
/// How long `stop` waits for connections to wind down after telling them to end.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Time a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a transport could not start (or a web service could not be changed).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot listen on {addr}: {source}")]
    CannotListen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(#[from] TlsError),
    #[error("transport type \"{0}\" is not supported by this router")]
    UnsupportedTransport(String),
    #[error("web path \"{path}\": service type \"{kind}\" is not supported by this router")]
    UnsupportedService { path: String, kind: String },
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    #[error("authentication config at {location}: {message}")]
    Auth { location: String, message: String },
    #[error("transport \"{0}\" is not a web transport")]
    NotWeb(String),
    #[error("a web service is already running on path \"{0}\"")]
    ServiceExists(String),
    #[error("no web service on path \"{0}\"")]
    NoSuchService(String),
}

/// Builds the authenticator of an endpoint that has its own `auth` block (a Web transport may
/// have several WebSocket paths, each with different authentication).
pub trait AuthenticatorFactory: Send + Sync + 'static {
    /// `location` names the endpoint in errors (`paths.ws`, `rawsocket`, …).
    fn authenticator(
        &self,
        auth: &serde_json::Value,
        location: &str,
    ) -> Result<Arc<dyn Authenticator>, String>;
}

/// What a transport needs from its surroundings besides the router and its config.
#[derive(Clone)]
pub struct TransportContext {
    /// Relative paths (static directories, TLS files, Unix sockets) are resolved against it;
    /// Crossbar.io uses the node directory.
    pub base_dir: PathBuf,
    /// The transport's ID in sessions' transport details and the management API.
    pub transport_id: String,
    /// Builds authenticators for endpoints with an `auth` block; without it (or for endpoints
    /// without `auth`), every endpoint uses the authenticator passed to [`start_transport`].
    pub auth_factory: Option<Arc<dyn AuthenticatorFactory>>,
    /// Facts for `nodeinfo` pages.
    pub node_info: Option<Arc<dyn NodeInfoSource>>,
}

impl TransportContext {
    pub fn new(base_dir: impl Into<PathBuf>, transport_id: impl Into<String>) -> Self {
        TransportContext {
            base_dir: base_dir.into(),
            transport_id: transport_id.into(),
            auth_factory: None,
            node_info: None,
        }
    }
}

/// Everything building endpoints and web resources needs (kept for web services started later).
pub(crate) struct Env {
    pub base_dir: PathBuf,
    /// For web services that act on the router's realms (the HTTP bridge).
    pub router: std::sync::Weak<Router>,
    pub default_auth: Arc<dyn Authenticator>,
    pub auth_factory: Option<Arc<dyn AuthenticatorFactory>>,
    pub node_info: Option<Arc<dyn NodeInfoSource>>,
}

impl Env {
    pub fn authenticator(
        &self,
        auth: &Option<serde_json::Value>,
        location: &str,
    ) -> Result<Arc<dyn Authenticator>, TransportError> {
        match (auth, &self.auth_factory) {
            (Some(a), Some(f)) => {
                f.authenticator(a, location)
                    .map_err(|message| TransportError::Auth {
                        location: location.to_owned(),
                        message,
                    })
            }
            _ => Ok(self.default_auth.clone()),
        }
    }

    pub fn rawsocket_endpoint(
        &self,
        c: &RawSocketConfig,
        location: &str,
    ) -> Result<RawSocketEndpoint, TransportError> {
        let codecs = c.codecs();
        if codecs.is_empty() {
            return Err(TransportError::Invalid {
                location: format!("{location}serializers"),
                message: "no serializer this router speaks (json, msgpack, cbor)".into(),
            });
        }
        Ok(RawSocketEndpoint {
            codecs,
            max_message_size: c.options.max_message_size.unwrap_or(rawsocket::MAX_LENGTH),
            authenticator: self.authenticator(&c.auth, location.trim_end_matches('.'))?,
        })
    }

    pub fn mqtt_endpoint(
        &self,
        c: &MqttConfig,
        location: &str,
    ) -> Result<MqttEndpoint, TransportError> {
        let authenticator = self.authenticator(&c.options.auth, location)?;
        Ok(MqttEndpoint::new(c, authenticator))
    }

    pub fn ws_endpoint(
        &self,
        c: &WebSocketConfig,
        location: &str,
    ) -> Result<WsEndpoint, TransportError> {
        let settings = WsSettings::from_config(c);
        if settings.codecs.is_empty() {
            return Err(TransportError::Invalid {
                location: format!("{location}serializers"),
                message: "no serializer this router speaks (json, msgpack, cbor)".into(),
            });
        }
        if c.options.compression.is_some() {
            debug!(
                location,
                "websocket compression is not supported; serving uncompressed"
            );
        }
        let cookies = match &c.cookie {
            None => None,
            Some(cookie) => Some(Arc::new(
                CookieStore::open(cookie, &self.base_dir).map_err(|message| {
                    TransportError::Invalid {
                        location: format!("{location}cookie"),
                        message,
                    }
                })?,
            )),
        };
        Ok(WsEndpoint {
            settings,
            authenticator: self.authenticator(&c.auth, location.trim_end_matches('.'))?,
            cookies,
        })
    }
}

/// What a listening port serves.
pub(crate) enum Service {
    RawSocket(Arc<RawSocketEndpoint>),
    WebSocket(Arc<WsEndpoint>),
    Web(Arc<WebState>),
    Mqtt(Arc<MqttEndpoint>),
    Universal {
        rawsocket: Option<Arc<RawSocketEndpoint>>,
        mqtt: Option<Arc<MqttEndpoint>>,
        web: Arc<WebState>,
    },
    /// A Flash cross-domain policy document.
    FlashPolicy(Arc<String>),
}

/// A transport that is listening.
pub struct RunningTransport {
    id: String,
    kind: String,
    addr: ListenAddr,
    shared: Arc<Shared>,
    accept_task: Option<JoinHandle<()>>,
    web: Option<Arc<WebState>>,
    /// What the port serves, kept for [`RunningTransport::fuzz_serve_connection`].
    service: Arc<Service>,
    limit: Arc<Semaphore>,
    max_connections: usize,
}

impl std::fmt::Debug for RunningTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTransport")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("addr", &self.addr)
            .finish()
    }
}

impl RunningTransport {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The config `type` (`websocket`, `rawsocket`, `web`, `universal`).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The bound address (with the port the OS picked for port 0).
    pub fn local_addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// Connections handed to the router since start (transport handshake completed).
    pub fn sessions_accepted(&self) -> u64 {
        self.shared.sessions.load(Ordering::Relaxed)
    }

    /// Connections open now (including ones still in their handshake).
    pub fn open_connections(&self) -> usize {
        self.max_connections
            .saturating_sub(self.limit.available_permits())
    }

    /// Stops listening — the port is closed when this returns, so it can be bound again — and
    /// ends every connection, waiting a short grace period for them to close.
    pub async fn stop(mut self) {
        self.shared.shutdown.cancel();
        if let Some(t) = self.accept_task.take() {
            let _ = t.await;
        }
        if let ListenAddr::Unix(p) = &self.addr {
            let _ = std::fs::remove_file(p);
        }
        self.shared.tracker.close();
        if tokio::time::timeout(STOP_GRACE, self.shared.tracker.wait())
            .await
            .is_err()
        {
            warn!(transport = %self.id, "connections still closing after the stop grace period");
        }
        info!(transport = %self.id, addr = %self.addr, "transport stopped");
    }

    /// Starts a service on a path of a running Web (or Universal) transport (downloading
    /// what it needs first, an archive's ZIP file).
    pub async fn start_web_service(
        &self,
        path: &str,
        service: &WebService,
    ) -> Result<(), TransportError> {
        self.web_state()?.start_service(path, service).await
    }

    /// Stops the service on a path of a running Web transport.
    pub fn stop_web_service(&self, path: &str) -> Result<(), TransportError> {
        self.web_state()?.stop_service(path)
    }

    /// The top-level paths with a service (`/` for the root).
    pub fn web_service_paths(&self) -> Vec<String> {
        self.web.as_ref().map(|w| w.paths()).unwrap_or_default()
    }

    /// Serves `io` as a connection accepted on this transport's endpoint (plain, no TLS) and
    /// returns when its handshake is done; a WAMP session it starts runs on as its own task.
    ///
    /// Only for the fuzz targets (`fuzz-harness`, `fuzz/`): they feed in-memory streams to
    /// the code that serves accepted connections, which is private to this module. Not an API.
    #[doc(hidden)]
    pub async fn fuzz_serve_connection(&self, io: BoxedIo) {
        let Ok(permit) = self.limit.clone().try_acquire_owned() else {
            return;
        };
        let peer = "tcp4:127.0.0.1:40000".to_owned();
        let (service, shared) = (self.service.clone(), self.shared.clone());
        handle_connection(io, peer, service, None, shared, permit).await;
    }

    fn web_state(&self) -> Result<&Arc<WebState>, TransportError> {
        self.web
            .as_ref()
            .ok_or_else(|| TransportError::NotWeb(self.id.clone()))
    }
}

impl Drop for RunningTransport {
    fn drop(&mut self) {
        // Dropped without `stop`: still stop accepting and end the connections.
        self.shared.shutdown.cancel();
    }
}

/// Starts a listening transport. Connections run sessions on `router`; endpoints without
/// their own `auth` (see [`TransportContext::auth_factory`]) use `authenticator`.
pub async fn start_transport(
    router: Arc<Router>,
    config: TransportConfig,
    authenticator: Arc<dyn Authenticator>,
    ctx: TransportContext,
) -> Result<RunningTransport, TransportError> {
    let env = Arc::new(Env {
        base_dir: ctx.base_dir.clone(),
        router: Arc::downgrade(&router),
        default_auth: authenticator,
        auth_factory: ctx.auth_factory.clone(),
        node_info: ctx.node_info.clone(),
    });
    let shared = Arc::new(Shared {
        router,
        transport_id: ctx.transport_id.as_str().into(),
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        sessions: AtomicU64::new(0),
    });
    let kind = config.kind().to_owned();
    let (service, endpoint, max_connections) = match &config {
        TransportConfig::RawSocket(c) => (
            Service::RawSocket(Arc::new(env.rawsocket_endpoint(c, "")?)),
            c.endpoint.as_ref(),
            c.max_connections,
        ),
        TransportConfig::WebSocket(c) => (
            Service::WebSocket(Arc::new(env.ws_endpoint(c, "")?)),
            c.endpoint.as_ref(),
            c.max_connections,
        ),
        TransportConfig::Web(c) => {
            web::prepare_routes(&c.paths, &env.base_dir, "").await?;
            let routes = web::build_routes(&c.paths, &env, "")?;
            let state = WebState::new(routes, c.options.clone(), env.clone(), shared.clone());
            (Service::Web(state), c.endpoint.as_ref(), c.max_connections)
        }
        TransportConfig::Mqtt(c) => (
            Service::Mqtt(Arc::new(env.mqtt_endpoint(c, "options.auth")?)),
            c.endpoint.as_ref(),
            c.max_connections,
        ),
        TransportConfig::Universal(c) => {
            let mqtt = match &c.mqtt {
                Some(m) => Some(Arc::new(env.mqtt_endpoint(m, "mqtt.options.auth")?)),
                None => None,
            };
            let rawsocket = match &c.rawsocket {
                Some(rs) => Some(Arc::new(env.rawsocket_endpoint(rs, "rawsocket.")?)),
                None => None,
            };
            let mut routes = match &c.web {
                Some(w) => {
                    web::prepare_routes(&w.paths, &env.base_dir, "").await?;
                    web::build_routes(&w.paths, &env, "")?
                }
                None => web::Routes::not_found(),
            };
            // Crossbar.io looks up the WebSocket paths before the Web paths.
            let websockets = c.websocket.clone().unwrap_or_else(BTreeMap::new);
            for (path, ws) in &websockets {
                let ep = env.ws_endpoint(ws, &format!("websocket.{path}."))?;
                routes.insert(path, Resource::WebSocket(Arc::new(ep)));
            }
            let options = c
                .web
                .as_ref()
                .map(|w| w.options.clone())
                .unwrap_or_default();
            let state = WebState::new(routes, options, env.clone(), shared.clone());
            (
                Service::Universal {
                    rawsocket,
                    mqtt,
                    web: state,
                },
                Some(&c.endpoint),
                c.max_connections,
            )
        }
        TransportConfig::FlashPolicy(c) => (
            Service::FlashPolicy(Arc::new(c.policy())),
            Some(&c.endpoint),
            None,
        ),
        TransportConfig::Unsupported { kind, .. } => {
            return Err(TransportError::UnsupportedTransport(kind.clone()));
        }
    };
    let endpoint = endpoint.ok_or_else(|| TransportError::Invalid {
        location: "endpoint".into(),
        message: "missing required key".into(),
    })?;
    let tls = match endpoint {
        Endpoint::Tcp(t) => match &t.tls {
            Some(cfg) => Some(Arc::new(tls::server_acceptor(cfg, &ctx.base_dir)?)),
            None => None,
        },
        Endpoint::Unix(_) => None,
    };
    let (listener, addr) = endpoint::bind(endpoint, &ctx.base_dir).await.map_err(|e| {
        TransportError::CannotListen {
            addr: e.addr,
            source: e.source,
        }
    })?;
    let web = match &service {
        Service::Web(w) | Service::Universal { web: w, .. } => Some(w.clone()),
        _ => None,
    };
    let max_connections = max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS) as usize;
    let limit = Arc::new(Semaphore::new(max_connections));
    info!(transport = %ctx.transport_id, %kind, %addr, tls = tls.is_some(), "transport listening");
    let service = Arc::new(service);
    let accept_task = tokio::spawn(accept_loop(
        listener,
        service.clone(),
        tls,
        shared.clone(),
        limit.clone(),
    ));
    Ok(RunningTransport {
        id: ctx.transport_id,
        kind,
        addr,
        shared,
        accept_task: Some(accept_task),
        web,
        service,
        limit,
        max_connections,
    })
}

async fn accept_loop(
    listener: Listener,
    service: Arc<Service>,
    tls: Option<Arc<SslAcceptor>>,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
) {
    let mut refused = 0u64;
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((io, peer)) => {
                // Over the cap the connection is closed right away, before any handshake
                // (Crossbar.io's MaxConnectionsFactory).
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    drop(io);
                    refused += 1;
                    if last_refusal_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        warn!(transport = %shared.transport_id, refused, "max_connections reached, refusing connections");
                        refused = 0;
                        last_refusal_log = Some(Instant::now());
                    }
                    continue;
                };
                let (service, tls, sh) = (service.clone(), tls.clone(), shared.clone());
                shared
                    .tracker
                    .spawn(handle_connection(io, peer, service, tls, sh, permit));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on an error that persists.
                warn!(transport = %shared.transport_id, error = %e, "accept failed");
                tokio::select! {
                    _ = shared.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
    // Dropping the listener here closes the port before `stop` returns.
    drop(listener);
}

/// The TLS handshake of an accepted connection, and what it tells (the client certificate);
/// `None` if it failed, timed out or the transport stopped.
async fn accept_tls(
    io: BoxedIo,
    acceptor: Arc<SslAcceptor>,
    peer: &str,
    shared: &Shared,
) -> Option<(BoxedIo, TlsFacts)> {
    let mut stream =
        match Ssl::new(acceptor.context()).and_then(|ssl| tokio_openssl::SslStream::new(ssl, io)) {
            Ok(s) => s,
            Err(e) => {
                warn!(%peer, error = %e, "cannot start a TLS handshake");
                return None;
            }
        };
    let handshake = tokio::time::timeout(
        TLS_HANDSHAKE_TIMEOUT,
        std::pin::Pin::new(&mut stream).accept(),
    );
    let r = tokio::select! {
        _ = shared.shutdown.cancelled() => return None,
        r = handshake => r,
    };
    match r {
        Ok(Ok(())) => {
            let ssl = stream.ssl();
            let peer_cert = ssl
                .peer_certificate()
                .and_then(|c| c.to_der().ok())
                .map(|der| Arc::new(crate::auth::tls::certificate_details(&der)));
            let facts = TlsFacts {
                secure: true,
                peer_cert,
                channel_id: tls::channel_id(ssl),
            };
            Some((Box::new(stream), facts))
        }
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            // The alert is sent; close gently: end our side and read what the client still
            // sends (briefly), so the kernel does not answer it with a reset that can destroy
            // the alert before the client reads why it was refused.
            let io = stream.get_mut();
            let _ = tokio::io::AsyncWriteExt::shutdown(io).await;
            let mut sink = [0u8; 1024];
            let drain = async {
                while let Ok(n) = tokio::io::AsyncReadExt::read(io, &mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
            None
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

async fn handle_connection(
    io: BoxedIo,
    peer: String,
    service: Arc<Service>,
    tls: Option<Arc<SslAcceptor>>,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    let (io, tls): (BoxedIo, TlsFacts) = match tls {
        None => (io, TlsFacts::default()),
        // Boxed and freed once done, like the other handshakes.
        Some(acceptor) => match Box::pin(accept_tls(io, acceptor, &peer, &shared)).await {
            Some(accepted) => accepted,
            None => return,
        },
    };
    // Each kind of connection keeps its large state in its own heap allocation, sized for
    // that kind: this task's future would otherwise be as large as the largest for every
    // connection (and an HTTP connection can live long). RawSocket and WebSocket sessions
    // then run as tasks of their own, once the handshake is done.
    match &*service {
        Service::RawSocket(ep) => {
            Box::pin(conn::serve_rawsocket(
                io,
                peer,
                tls,
                ep.clone(),
                shared,
                permit,
            ))
            .await;
        }
        Service::WebSocket(ep) => {
            Box::pin(conn::serve_websocket(
                io,
                peer,
                tls,
                ep.clone(),
                shared,
                permit,
            ))
            .await;
        }
        Service::Web(state) => {
            let meta = ConnMeta::new(peer, tls, permit);
            Box::pin(web::serve_http(io, meta, state.clone())).await;
        }
        Service::FlashPolicy(policy) => {
            Box::pin(serve_flash_policy(io, policy.clone(), shared)).await;
        }
        Service::Mqtt(ep) => {
            Box::pin(mqtt::serve(io, peer, ep.clone(), shared, permit)).await;
        }
        Service::Universal {
            rawsocket,
            mqtt,
            web,
        } => {
            let endpoints = universal::Endpoints {
                rawsocket: rawsocket.clone(),
                mqtt: mqtt.clone(),
                web: web.clone(),
            };
            Box::pin(universal::serve(io, peer, tls, permit, endpoints, shared)).await;
        }
    }
}

/// Flash's policy request: read at most 200 bytes for 5 s until `<policy-file-request/>`,
/// then write the policy and close (Crossbar.io's `FlashPolicyProtocol`).
async fn serve_flash_policy(mut io: BoxedIo, policy: Arc<String>, shared: Arc<Shared>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let read_request = async {
        let mut buf = Vec::with_capacity(200);
        let mut chunk = [0u8; 200];
        while buf.len() < 200 {
            let n = io.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            let t = text.trim_start();
            if let Some(rest) = t.strip_prefix("<policy-file-request")
                && rest.trim_start().starts_with("/>")
            {
                return Some(());
            }
        }
        None
    };
    let asked = tokio::select! {
        _ = shared.shutdown.cancelled() => None,
        r = tokio::time::timeout(Duration::from_secs(5), read_request) => r.ok().flatten(),
    };
    if asked.is_some() {
        let _ = io.write_all(policy.as_bytes()).await;
        let _ = io.shutdown().await;
    }
}
