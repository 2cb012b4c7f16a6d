//! Every procedure of the node's management API, one item each: which API offers it (and so
//! under which prefix it is registered), its name and its parameters in order.
//!
//! The node registers its handlers by these items ([`crate::serve`]), the CDC forwards to them
//! and the uplink mirrors them; a procedure is added here once, and the unit tests of the
//! node's APIs and of the CDC's forwarding table walk [`ALL`], so a procedure that one side
//! lacks fails a test instead of a user's call.

/// The API a procedure belongs to, which decides its URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// The node controller: `crossbar.<name>`.
    Controller,
    /// Every native worker's process: `crossbar.worker.<id>.<name>`.
    Process,
    /// A router worker: realms, roles, grants, transports, Web services.
    Router,
    /// A router worker's components.
    RouterComponents,
    /// A container worker.
    Container,
}

impl Api {
    /// Is the procedure registered under a worker's prefix?
    pub fn worker_level(self) -> bool {
        self != Api::Controller
    }
}

/// One management procedure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Procedure {
    pub api: Api,
    /// The name after the API's prefix (`start_router_realm`).
    pub name: &'static str,
    /// The parameters, positional order (each also accepted as a keyword).
    pub params: &'static [&'static str],
}

impl Procedure {
    /// The local URI: `crossbar.<name>` or `crossbar.worker.<worker_id>.<name>`.
    pub fn uri(&self, worker_id: Option<&str>) -> String {
        match worker_id {
            Some(w) if self.api.worker_level() => {
                format!("{}.{}", crate::vocabulary::worker_prefix(w), self.name)
            }
            _ => format!("{}.{}", crate::vocabulary::CONTROLLER_PREFIX, self.name),
        }
    }
}

macro_rules! procedures {
    ($api:ident { $($konst:ident = $name:literal ($($param:literal),*);)* }) => {
        $(pub const $konst: $crate::procedures::Procedure = $crate::procedures::Procedure {
            api: $crate::procedures::Api::$api,
            name: $name,
            params: &[$($param),*],
        };)*
        /// Every procedure of this API.
        pub const ALL: &[$crate::procedures::Procedure] = &[$($konst),*];
    };
}

/// `crossbar.*`: the node controller.
pub mod controller {
    procedures!(Controller {
        GET_STATUS = "get_status"();
        GET_SYSTEM_STATS = "get_system_stats"();
        SHUTDOWN = "shutdown"("restart", "mode");
        GET_PUBLIC_KEY = "get_public_key"();
        GET_WORKERS = "get_workers"("filter_types");
        GET_WORKER = "get_worker"("worker_id", "include_stats");
        START_WORKER = "start_worker"("worker_id", "worker_type", "worker_options");
        STOP_WORKER = "stop_worker"("worker_id", "kill");
        GET_WORKER_LOG = "get_worker_log"("worker_id", "limit");
        SAVE_CONFIG = "save_config"();
        UPLOAD_CONFIG = "upload_config"("config");
        DOWNLOAD_CONFIG = "download_config"();
    });
}

/// `crossbar.worker.<id>.*` of every native worker: limits, profiles, process information.
pub mod process {
    procedures!(Process {
        GET_CPU_AFFINITY = "get_cpu_affinity"();
        SET_CPU_AFFINITY = "set_cpu_affinity"("cpus", "relative");
        GET_LIMITS = "get_limits"();
        GET_LIMIT = "get_limit"("limit_id");
        SET_LIMIT = "set_limit"("limit_id", "setting");
        GET_PROFILERS = "get_profilers"();
        START_PROFILER = "start_profiler"("profiler", "runtime", "start_async");
        STOP_PROFILER = "stop_profiler"("profile_id");
        GET_PROFILES = "get_profiles"("filter_running");
        GET_PROFILE = "get_profile"("profile_id");
        GET_PROCESS_INFO = "get_process_info"();
    });
}

/// `crossbar.worker.<id>.*` of a router worker.
pub mod router {
    procedures!(Router {
        GET_ROUTER_REALMS = "get_router_realms"();
        GET_ROUTER_REALM = "get_router_realm"("realm_id");
        START_ROUTER_REALM = "start_router_realm"("realm_id", "config");
        STOP_ROUTER_REALM = "stop_router_realm"("realm_id");
        GET_ROUTER_REALM_ROLES = "get_router_realm_roles"("realm_id");
        GET_ROUTER_REALM_ROLE = "get_router_realm_role"("realm_id", "role_id");
        START_ROUTER_REALM_ROLE = "start_router_realm_role"("realm_id", "role_id", "config");
        STOP_ROUTER_REALM_ROLE = "stop_router_realm_role"("realm_id", "role_id");
        GET_ROUTER_REALM_ROLE_GRANTS = "get_router_realm_role_grants"("realm_id", "role_id");
        GET_ROUTER_REALM_ROLE_GRANT =
            "get_router_realm_role_grant"("realm_id", "role_id", "grant_id");
        START_ROUTER_REALM_ROLE_GRANT =
            "start_router_realm_role_grant"("realm_id", "role_id", "grant_id", "config");
        STOP_ROUTER_REALM_ROLE_GRANT =
            "stop_router_realm_role_grant"("realm_id", "role_id", "grant_id");
        GET_ROUTER_TRANSPORTS = "get_router_transports"();
        GET_ROUTER_TRANSPORT = "get_router_transport"("transport_id");
        START_ROUTER_TRANSPORT =
            "start_router_transport"("transport_id", "config", "create_paths");
        STOP_ROUTER_TRANSPORT = "stop_router_transport"("transport_id");
        GET_WEB_TRANSPORT_SERVICES = "get_web_transport_services"("transport_id");
        GET_WEB_TRANSPORT_SERVICE = "get_web_transport_service"("transport_id", "path");
        START_WEB_TRANSPORT_SERVICE =
            "start_web_transport_service"("transport_id", "path", "config");
        STOP_WEB_TRANSPORT_SERVICE = "stop_web_transport_service"("transport_id", "path");
        // The worker's live config item (everything started at runtime included), which the
        // controller's save_config asks for.
        GET_LIVE_CONFIG = "get_live_config"();
    });
}

/// `crossbar.worker.<id>.*`: the components of a router worker.
pub mod router_components {
    procedures!(RouterComponents {
        GET_ROUTER_COMPONENTS = "get_router_components"();
        GET_ROUTER_COMPONENT = "get_router_component"("component_id");
        START_ROUTER_COMPONENT = "start_router_component"("component_id", "config");
        STOP_ROUTER_COMPONENT = "stop_router_component"("component_id");
    });
}

/// `crossbar.worker.<id>.*` of a container worker.
pub mod container {
    procedures!(Container {
        GET_COMPONENTS = "get_components"();
        GET_COMPONENT = "get_component"("component_id");
        START_COMPONENT = "start_component"("component_id", "config");
        STOP_COMPONENT = "stop_component"("component_id");
        RESTART_COMPONENT = "restart_component"("component_id");
        // Stops every component, then the container (Crossbar.io's `shutdown`).
        SHUTDOWN = "shutdown"();
    });
}

/// Every procedure of every API.
pub fn all() -> impl Iterator<Item = &'static Procedure> {
    controller::ALL
        .iter()
        .chain(process::ALL)
        .chain(router::ALL)
        .chain(router_components::ALL)
        .chain(container::ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_and_unique_per_prefix() {
        let mut seen = std::collections::HashSet::new();
        for p in all() {
            assert!(
                p.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                p.name
            );
            // Router and container workers both have the process API: names may repeat
            // across worker kinds (shutdown), never within one.
            assert!(seen.insert((p.api, p.name)), "{}", p.name);
        }
        for kind in [Api::Router, Api::RouterComponents] {
            for p in all().filter(|p| p.api == kind) {
                assert!(!process::ALL.iter().any(|q| q.name == p.name), "{}", p.name);
            }
        }
        assert_eq!(
            router::START_ROUTER_REALM.uri(Some("w1")),
            "crossbar.worker.w1.start_router_realm"
        );
        assert_eq!(controller::GET_WORKERS.uri(None), "crossbar.get_workers");
    }
}
