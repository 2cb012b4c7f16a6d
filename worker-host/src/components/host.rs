//! [`ComponentHost`]: the components of one router or container worker, started and stopped by
//! id, with their statuses (`starting → started → stopping → stopped | failed`) reported to an
//! event sink the API layer publishes from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use router_core::{Id, Router};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::ComponentError;
use super::child::{self, BootstrapSignal, ChildProcess, ExitInfo, LogSink};
use super::class::{self, ClassLink, PythonSettings};
use super::config::{ComponentConfig, ComponentKind, ExecLink, Placement};
use super::exec;
use super::policy::{ContainerPolicy, PolicyDecision};
use super::session_link::{self, ComponentAuthenticator, PrivateSocket};
use mgmt_api::vocabulary::Status;

/// A status change of a component, or the container's shutdown policy firing.
#[derive(Clone, Debug, PartialEq)]
pub enum HostEvent {
    Status {
        component_id: String,
        /// `None` for the first status (`starting`).
        old: Option<Status>,
        new: Status,
        /// Why it failed (with its last output), when it did.
        message: Option<String>,
    },
    /// `options.shutdown` says the container should stop now.
    ShutdownRequested { reason: String },
}

/// Receives every [`HostEvent`], in order per component. Called while no lock is held; it must
/// not block (forward into a channel for publishing).
pub type EventSink = Arc<dyn Fn(HostEvent) + Send + Sync>;

/// How a [`ComponentHost`] runs its components.
#[derive(Clone)]
pub struct HostOptions {
    pub placement: Placement,
    /// The router worker's router (router placement only).
    pub router: Option<Arc<Router>>,
    /// The node directory: relative paths resolve against it; the working directory of children.
    pub base_dir: PathBuf,
    pub python: PythonSettings,
    pub log_sink: LogSink,
    pub events: EventSink,
    /// How long a component may take to join.
    pub start_timeout: Duration,
    /// After GOODBYE, how long it may take to exit (then SIGTERM, the same again, SIGKILL).
    pub stop_grace: Duration,
    /// Container restart/shutdown policies (`None`: never restart, never shut down).
    pub policy: Option<ContainerPolicy>,
    /// Delay before a restart, so a component that crashes at once does not spin.
    pub restart_delay: Duration,
}

impl HostOptions {
    fn base(placement: Placement, router: Option<Arc<Router>>, base_dir: PathBuf) -> Self {
        HostOptions {
            placement,
            router,
            base_dir,
            python: PythonSettings::default(),
            log_sink: Arc::new(
                |l| info!(component_id = %l.component_id, pid = l.pid, "{}", l.line),
            ),
            events: Arc::new(|_| {}),
            start_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(5),
            policy: None,
            restart_delay: Duration::from_secs(1),
        }
    }

    /// Components attached to the realms of `router`.
    pub fn router(router: Arc<Router>, base_dir: impl Into<PathBuf>) -> Self {
        Self::base(Placement::Router, Some(router), base_dir.into())
    }

    /// Components that connect through their own transports.
    pub fn container(base_dir: impl Into<PathBuf>) -> Self {
        Self::base(Placement::Container, None, base_dir.into())
    }
}

/// A component as the management API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentInfo {
    pub id: String,
    pub status: Status,
    /// The config item it was started with, as given.
    pub config: Value,
    /// ISO 8601 UTC, when `start` was called.
    pub created: String,
    /// ISO 8601 UTC, when it joined.
    pub started: Option<String>,
    pub uptime: Option<Duration>,
    pub pid: Option<u32>,
    /// The session ID, when the router or the bootstrap told it.
    pub session: Option<Id>,
}

impl ComponentInfo {
    /// `{id, type, status, created, started, uptime, pid, session, config}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.config.get("type").cloned().unwrap_or(Value::Null),
            "status": self.status.as_str(),
            "created": self.created,
            "started": self.started,
            "uptime": self.uptime.map(|u| u.as_secs_f64()),
            "pid": self.pid,
            "session": self.session,
            "config": self.config,
        })
    }
}

/// One running component's process and link.
struct Running {
    child: ChildProcess,
    session: Option<Id>,
    /// The realm its session is on, when it is on the worker's own router.
    local_realm: Option<String>,
    /// Keeps the private socket (and its directory) alive while the component runs.
    socket: Option<PrivateSocket>,
    /// Ends the stdio link.
    link_stop: CancellationToken,
    /// Set by `stop`: the end is expected, the monitor stands aside.
    stopping: AtomicBool,
    generation: u64,
}

impl Running {
    fn close_link(&self) {
        self.link_stop.cancel();
        if let Some(s) = &self.socket {
            s.close();
        }
    }
}

struct Entry {
    config_json: Value,
    status: Status,
    created: String,
    started: Option<(String, Instant)>,
    run: Option<Arc<Running>>,
}

impl Entry {
    fn info(&self, id: &str) -> ComponentInfo {
        ComponentInfo {
            id: id.to_owned(),
            status: self.status,
            config: self.config_json.clone(),
            created: self.created.clone(),
            started: self.started.as_ref().map(|(s, _)| s.clone()),
            uptime: self.started.as_ref().map(|(_, t)| t.elapsed()),
            pid: self.run.as_ref().map(|r| r.child.pid),
            session: self.run.as_ref().and_then(|r| r.session),
        }
    }
}

/// Components whose id starts with it are the worker's own (function authenticator hosts):
/// not listed, not in the live config.
pub const INTERNAL_ID_PREFIX: char = '@';

/// The components of one worker.
pub struct ComponentHost {
    opts: HostOptions,
    components: Mutex<BTreeMap<String, Entry>>,
    generation: AtomicU64,
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl ComponentHost {
    pub fn new(opts: HostOptions) -> Arc<ComponentHost> {
        Arc::new(ComponentHost {
            opts,
            components: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
        })
    }

    pub fn placement(&self) -> Placement {
        self.opts.placement
    }

    /// The worker's Python (`options.python`, `options.pythonpath`), for other Python
    /// children of the worker (WSGI apps).
    pub fn python(&self) -> &PythonSettings {
        &self.opts.python
    }

    pub fn base_dir(&self) -> &std::path::Path {
        &self.opts.base_dir
    }

    fn emit(&self, id: &str, old: Option<Status>, new: Status, message: Option<String>) {
        info!(component_id = id, ?old, %new, message = message.as_deref().unwrap_or(""), "component status");
        (self.opts.events)(HostEvent::Status {
            component_id: id.to_owned(),
            old,
            new,
            message,
        });
    }

    /// Starts a component from its config item; returns once its session has joined (or the
    /// start failed, in which case it is gone again and a `failed` status was reported).
    pub async fn start(
        self: &Arc<Self>,
        component_id: &str,
        config: &Value,
    ) -> Result<ComponentInfo, ComponentError> {
        let parsed = ComponentConfig::from_json(config, self.opts.placement)?;
        {
            let mut map = self.components.lock().await;
            if let Some(e) = map.get(component_id) {
                return Err(ComponentError::AlreadyRunning {
                    id: component_id.to_owned(),
                    status: e.status,
                });
            }
            map.insert(
                component_id.to_owned(),
                Entry {
                    config_json: config.clone(),
                    status: Status::Starting,
                    created: now(),
                    started: None,
                    run: None,
                },
            );
        }
        self.emit(component_id, None, Status::Starting, None);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        match self.launch(component_id, &parsed, generation).await {
            Ok(run) => {
                let info = {
                    let mut map = self.components.lock().await;
                    let Some(entry) = map.get_mut(component_id) else {
                        // Only `shutdown` removes a starting entry; end what was started.
                        drop(map);
                        run.close_link();
                        run.child.terminate(self.opts.stop_grace).await;
                        return Err(ComponentError::CannotStart {
                            id: component_id.to_owned(),
                            message: "the worker is shutting down".into(),
                        });
                    };
                    entry.status = Status::Started;
                    entry.started = Some((now(), Instant::now()));
                    entry.run = Some(run.clone());
                    entry.info(component_id)
                };
                self.emit(component_id, Some(Status::Starting), Status::Started, None);
                tokio::spawn(self.clone().monitor(component_id.to_owned(), run));
                Ok(info)
            }
            Err(e) => {
                self.components.lock().await.remove(component_id);
                self.emit(
                    component_id,
                    Some(Status::Starting),
                    Status::Failed,
                    Some(e.to_string()),
                );
                Err(e)
            }
        }
    }

    fn router(&self) -> Result<&Arc<Router>, ComponentError> {
        self.opts
            .router
            .as_ref()
            .ok_or_else(|| ComponentError::InvalidConfiguration("this worker has no router".into()))
    }

    async fn launch(
        &self,
        id: &str,
        cfg: &ComponentConfig,
        generation: u64,
    ) -> Result<Arc<Running>, ComponentError> {
        let base_dir = &self.opts.base_dir;
        let cannot = |message: String| ComponentError::CannotStart {
            id: id.to_owned(),
            message,
        };
        let mut local_realm = None;
        if self.opts.placement == Placement::Router {
            let router = self.router()?;
            let realm = router.realm(&cfg.realm).ok_or_else(|| {
                ComponentError::InvalidConfiguration(format!(
                    "realm: no realm \"{}\" is running on this router",
                    cfg.realm
                ))
            })?;
            if !realm.has_role(&cfg.role) {
                return Err(ComponentError::InvalidConfiguration(format!(
                    "role: no role \"{}\" on realm \"{}\"",
                    cfg.role, cfg.realm
                )));
            }
            local_realm = Some(cfg.realm.clone());
        }
        let link_stop = CancellationToken::new();
        let sink = self.opts.log_sink.clone();
        let (child, socket, auth, wait_marker) = match &cfg.kind {
            ComponentKind::Class { .. } | ComponentKind::Function { .. } => {
                class::check_python(&self.opts.python, base_dir)
                    .await
                    .map_err(ComponentError::InvalidConfiguration)?;
                let (socket, auth, ticket) = match self.opts.placement {
                    Placement::Router => {
                        let (s, a, t) = self.private_socket(id, cfg)?;
                        (Some(s), Some(a), Some(t))
                    }
                    Placement::Container => (None, None, None),
                };
                let link = match (&socket, &ticket) {
                    (Some(s), Some(t)) => ClassLink::Private {
                        socket: s.path(),
                        authid: id,
                        ticket: t,
                    },
                    _ => ClassLink::Transport {
                        transport: cfg.transport.as_ref().ok_or_else(|| {
                            ComponentError::InvalidConfiguration("transport: missing".into())
                        })?,
                        auth: cfg.auth.as_ref(),
                    },
                };
                let boot = class::bootstrap_config(id, cfg, &self.opts.python, base_dir, link);
                let cmd = class::command(&self.opts.python, base_dir);
                let (child, pipes) = child::spawn(cmd, id, sink, true, false)
                    .map_err(|e| cannot(format!("cannot run Python: {e}")))?;
                if let Some(stdin) = pipes.stdin
                    && let Err(e) = class::send_config(stdin, &boot).await
                {
                    warn!(component_id = id, error = %e, "cannot hand the bootstrap its config");
                }
                (child, socket, auth, true)
            }
            ComponentKind::Exec(spec) => {
                let mut cmd = exec::command(spec, id, base_dir);
                match (self.opts.placement, spec.link) {
                    (Placement::Router, ExecLink::Stdio) => {
                        cmd.env(exec::env::LINK, "stdio");
                        let auth = ComponentAuthenticator::new(&cfg.realm, id, &cfg.role, None);
                        let (child, pipes) = child::spawn(cmd, id, sink, true, true)
                            .map_err(|e| spawn_error(&spec.executable, e))?;
                        if let (Some(stdin), Some(stdout)) = (pipes.stdin, pipes.stdout) {
                            tokio::spawn({
                                let router = self.router()?.clone();
                                let auth = auth.clone();
                                let id = id.to_owned();
                                let stop = link_stop.clone();
                                async move {
                                    session_link::serve_stdio(
                                        router, stdout, stdin, auth, &id, stop,
                                    )
                                    .await
                                }
                            });
                        }
                        (child, None, Some(auth), false)
                    }
                    (Placement::Router, ExecLink::Url) => {
                        let (socket, auth, ticket) = self.private_socket(id, cfg)?;
                        cmd.envs(exec::url_env(&socket.url(), cfg, Some(id), Some(&ticket)));
                        let (child, _) = child::spawn(cmd, id, sink, false, false)
                            .map_err(|e| spawn_error(&spec.executable, e))?;
                        (child, Some(socket), Some(auth), false)
                    }
                    (Placement::Container, _) => {
                        let transport = cfg.transport.as_ref().ok_or_else(|| {
                            ComponentError::InvalidConfiguration("transport: missing".into())
                        })?;
                        let authid = cfg.auth.as_ref().and_then(|a| a.authid.as_deref());
                        cmd.envs(exec::url_env(&transport.router_url(), cfg, authid, None));
                        let (child, _) = child::spawn(cmd, id, sink, false, false)
                            .map_err(|e| spawn_error(&spec.executable, e))?;
                        (child, None, None, false)
                    }
                }
            }
        };
        let ready = self
            .wait_ready(&child, auth.as_deref(), local_realm.as_deref(), wait_marker)
            .await;
        match ready {
            Ok(session) => Ok(Arc::new(Running {
                child,
                session,
                local_realm,
                socket,
                link_stop,
                stopping: AtomicBool::new(false),
                generation,
            })),
            Err(e) => {
                link_stop.cancel();
                if let Some(s) = &socket {
                    s.close();
                }
                child.terminate(self.opts.stop_grace).await;
                Err(match e {
                    ReadyError::Bootstrap { uri, message } => {
                        ComponentError::from_bootstrap(id, &uri, message)
                    }
                    ReadyError::Other(m) => {
                        let tail = child.tail.text();
                        cannot(match tail {
                            Some(t) => format!("{m}; last output:\n{t}"),
                            None => m,
                        })
                    }
                })
            }
        }
    }

    fn private_socket(
        &self,
        id: &str,
        cfg: &ComponentConfig,
    ) -> Result<(PrivateSocket, Arc<ComponentAuthenticator>, String), ComponentError> {
        let cannot = |e: std::io::Error| ComponentError::CannotStart {
            id: id.to_owned(),
            message: format!("cannot create the component's private socket: {e}"),
        };
        let ticket = session_link::new_ticket().map_err(cannot)?;
        let auth = ComponentAuthenticator::new(&cfg.realm, id, &cfg.role, Some(ticket.clone()));
        let socket =
            PrivateSocket::bind(self.router()?.clone(), auth.clone(), id).map_err(cannot)?;
        Ok((socket, auth, ticket))
    }

    /// Waits until the component is up: the bootstrap's `ready` line (class), or its session
    /// attached to the local realm (exec router components). Container exec components are up
    /// once running (their router is elsewhere).
    async fn wait_ready(
        &self,
        child: &ChildProcess,
        auth: Option<&ComponentAuthenticator>,
        local_realm: Option<&str>,
        wait_marker: bool,
    ) -> Result<Option<Id>, ReadyError> {
        let mut signal = child.signal.clone();
        let mut joined = auth.map(|a| a.joined());
        let deadline = tokio::time::Instant::now() + self.opts.start_timeout;
        loop {
            if let Some(info) = child.has_exited() {
                // Let the reader tasks deliver a final marker line first.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let BootstrapSignal::Error { uri, message } = signal.borrow().clone() {
                    return Err(ReadyError::Bootstrap { uri, message });
                }
                return Err(ReadyError::Other(format!(
                    "the component ended before it was ready ({info})"
                )));
            }
            match signal.borrow_and_update().clone() {
                BootstrapSignal::Ready { session } if wait_marker => {
                    let local = joined.as_ref().and_then(|j| *j.borrow());
                    return Ok(session.or(local));
                }
                BootstrapSignal::Error { uri, message } => {
                    return Err(ReadyError::Bootstrap { uri, message });
                }
                _ => {}
            }
            if !wait_marker {
                match (&joined, local_realm) {
                    (Some(j), Some(realm)) => {
                        if let Some(session) = *j.borrow()
                            && self
                                .opts
                                .router
                                .as_ref()
                                .and_then(|r| r.realm(realm))
                                .is_some_and(|r| r.session(session).is_some())
                        {
                            return Ok(Some(session));
                        }
                    }
                    _ => return Ok(None),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ReadyError::Other(format!(
                    "the component did not join within {}s",
                    self.opts.start_timeout.as_secs()
                )));
            }
            // Signals and exits wake us; the realm check is polled (it has no notification).
            let tick = tokio::time::sleep(Duration::from_millis(20));
            tokio::select! {
                _ = signal.changed() => {}
                _ = async { match joined.as_mut() { Some(j) => { let _ = j.changed().await; } None => std::future::pending().await } } => {}
                _ = tick => {}
            }
        }
    }

    /// Follows a started component until its process ends; an end nobody asked for is
    /// `stopped` (exit code 0) or `failed`, and the container policy decides what follows.
    async fn monitor(self: Arc<Self>, id: String, run: Arc<Running>) {
        let exit = run.child.wait().await;
        // Let the reader tasks deliver the last output lines.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if run.stopping.load(Ordering::Acquire) {
            return;
        }
        let (config, remaining) = {
            let mut map = self.components.lock().await;
            let current = map
                .get(&id)
                .and_then(|e| e.run.as_ref())
                .is_some_and(|r| r.generation == run.generation);
            if !current || run.stopping.load(Ordering::Acquire) {
                return;
            }
            let entry = map.remove(&id);
            (entry.map(|e| e.config_json), map.len())
        };
        run.close_link();
        let failed = !exit.success();
        let message = describe_end(exit, &run);
        let new = if failed {
            Status::Failed
        } else {
            Status::Stopped
        };
        if failed {
            warn!(component_id = %id, %exit, "component failed");
        }
        self.emit(&id, Some(Status::Started), new, Some(message));
        self.apply_policy(&id, config, failed, remaining, false);
    }

    fn apply_policy(
        self: &Arc<Self>,
        id: &str,
        config: Option<Value>,
        failed: bool,
        remaining: usize,
        requested: bool,
    ) {
        let Some(policy) = self.opts.policy else {
            return;
        };
        match policy.on_component_ended(failed, remaining, requested) {
            PolicyDecision::Nothing => {}
            PolicyDecision::ShutdownContainer => {
                (self.opts.events)(HostEvent::ShutdownRequested {
                    reason: format!(
                        "component \"{id}\" {} (shutdown policy {:?})",
                        if failed { "failed" } else { "stopped" },
                        policy.shutdown
                    ),
                });
            }
            PolicyDecision::Restart => {
                let Some(config) = config else { return };
                let host = self.clone();
                let id = id.to_owned();
                tokio::spawn(async move {
                    tokio::time::sleep(host.opts.restart_delay).await;
                    info!(component_id = %id, "restarting component (restart policy)");
                    if let Err(e) = host.start(&id, &config).await {
                        warn!(component_id = %id, error = %e, "restarting the component failed");
                    }
                });
            }
        }
    }

    /// Stops a started component: GOODBYE to its session, then SIGTERM → grace → SIGKILL.
    pub async fn stop(
        self: &Arc<Self>,
        component_id: &str,
    ) -> Result<ComponentInfo, ComponentError> {
        let run = {
            let mut map = self.components.lock().await;
            let entry = map
                .get_mut(component_id)
                .ok_or_else(|| ComponentError::NoSuchComponent(component_id.to_owned()))?;
            let Some(run) = entry
                .run
                .clone()
                .filter(|_| entry.status == Status::Started)
            else {
                return Err(ComponentError::NotStarted {
                    id: component_id.to_owned(),
                    status: entry.status,
                });
            };
            entry.status = Status::Stopping;
            run.stopping.store(true, Ordering::Release);
            run
        };
        self.emit(component_id, Some(Status::Started), Status::Stopping, None);
        self.goodbye(&run);
        let grace = self.opts.stop_grace;
        let exit = match run.child.wait_for(grace).await {
            Some(e) => e,
            None => run.child.terminate(grace).await,
        };
        run.close_link();
        self.session_left(&run, grace).await;
        let (mut info, remaining) = {
            let mut map = self.components.lock().await;
            let entry = map.remove(component_id);
            let info = entry.map(|e| e.info(component_id));
            (info, map.len())
        };
        info!(component_id, %exit, "component stopped");
        self.emit(component_id, Some(Status::Stopping), Status::Stopped, None);
        let config = info.as_ref().map(|i| i.config.clone());
        self.apply_policy(component_id, config, false, remaining, true);
        if let Some(i) = info.as_mut() {
            i.status = Status::Stopped;
        }
        info.ok_or_else(|| ComponentError::NoSuchComponent(component_id.to_owned()))
    }

    /// Waits (at most `limit`) until the component's session has left its realm in this
    /// router, so that once a stop returns its registrations and subscriptions are gone (the
    /// process can end before the router's session task has detached it).
    async fn session_left(&self, run: &Running, limit: Duration) {
        let (Some(realm), Some(session), Some(router)) =
            (&run.local_realm, run.session, &self.opts.router)
        else {
            return;
        };
        let deadline = tokio::time::Instant::now() + limit;
        while router
            .realm(realm)
            .and_then(|r| r.session(session))
            .is_some()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asks the component's session to end: the router sends GOODBYE to a local session; a
    /// process connected elsewhere gets SIGTERM (the bootstrap leaves with GOODBYE on it).
    fn goodbye(&self, run: &Running) {
        if let (Some(realm), Some(session), Some(router)) =
            (&run.local_realm, run.session, &self.opts.router)
            && let Some(handle) = router.realm(realm).and_then(|r| r.session(session))
        {
            handle.close("wamp.close.normal", "component stopped");
            return;
        }
        if run.child.has_exited().is_none()
            && let Ok(pid) = i32::try_from(run.child.pid)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }

    /// The components, by id (the worker's own, [`INTERNAL_ID_PREFIX`], left out).
    pub async fn list(&self) -> Vec<ComponentInfo> {
        self.components
            .lock()
            .await
            .iter()
            .filter(|(id, _)| !id.starts_with(INTERNAL_ID_PREFIX))
            .map(|(id, e)| e.info(id))
            .collect()
    }

    pub async fn get(&self, component_id: &str) -> Option<ComponentInfo> {
        if component_id.starts_with(INTERNAL_ID_PREFIX) {
            return None;
        }
        self.components
            .lock()
            .await
            .get(component_id)
            .map(|e| e.info(component_id))
    }

    /// Is a component with this id starting or started (internal ones included)?
    pub async fn is_running(&self, component_id: &str) -> bool {
        self.components
            .lock()
            .await
            .get(component_id)
            .is_some_and(|e| matches!(e.status, Status::Starting | Status::Started))
    }

    /// Stops every started component; returns their ids.
    pub async fn shutdown(self: &Arc<Self>) -> Vec<String> {
        let ids: Vec<String> = self.components.lock().await.keys().cloned().collect();
        let mut stopped = Vec::new();
        for id in ids {
            if self.stop(&id).await.is_ok() {
                stopped.push(id);
            }
        }
        stopped
    }
}

enum ReadyError {
    Bootstrap { uri: String, message: String },
    Other(String),
}

fn spawn_error(executable: &str, e: std::io::Error) -> ComponentError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ComponentError::InvalidConfiguration(format!("executable: \"{executable}\" not found"))
    } else {
        ComponentError::InvalidConfiguration(format!(
            "executable: cannot run \"{executable}\": {e}"
        ))
    }
}

fn describe_end(exit: ExitInfo, run: &Running) -> String {
    match run.child.tail.text() {
        Some(t) => format!("component process ended ({exit}); last output:\n{t}"),
        None => format!("component process ended ({exit})"),
    }
}
