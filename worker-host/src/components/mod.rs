//! Components: WAMP application sessions hosted by router and container workers.
//!
//! A component is either Crossbar.io's `class` (an autobahn-python `ApplicationSession`
//! subclass, run by an embedded bootstrap in a child Python process) or `exec` (any native
//! executable speaking WAMP). A router component's session joins the worker's own router with
//! the identity the worker gives it ([`session_link`]); a container component connects through
//! its configured transport. [`ComponentHost`] starts and stops them and reports statuses.

pub mod api;
mod child;
pub mod class;
pub mod config;
pub mod exec;
pub mod host;
pub mod policy;
pub mod session_link;

pub use api::{ComponentApi, ComponentEvents, event_channel};
pub use child::{ComponentLogLine, LogSink, LogStream};
pub use config::{ComponentConfig, ComponentKind, Placement};
pub use host::{
    ComponentHost, ComponentInfo, EventSink, HostEvent, HostOptions, INTERNAL_ID_PREFIX,
};
pub use policy::{ContainerPolicy, PolicyDecision, RestartPolicy, ShutdownPolicy};

use router_core::config::ConfigError;

use mgmt_api::vocabulary::{Status, error};

/// Why a component could not be started or stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ComponentError {
    #[error("invalid component configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("invalid component configuration: {0}")]
    InvalidConfiguration(String),
    #[error("{message}")]
    ClassImportFailed { id: String, message: String },
    #[error("component \"{id}\" is already running ({status})")]
    AlreadyRunning { id: String, status: Status },
    #[error("no component \"{0}\"")]
    NoSuchComponent(String),
    #[error("component \"{id}\" is {status}, not started")]
    NotStarted { id: String, status: Status },
    #[error("component \"{id}\" could not start: {message}")]
    CannotStart { id: String, message: String },
}

impl ComponentError {
    /// The management API's error URI.
    pub fn error_uri(&self) -> &'static str {
        match self {
            ComponentError::Config(_) | ComponentError::InvalidConfiguration(_) => {
                error::INVALID_CONFIGURATION
            }
            ComponentError::ClassImportFailed { .. } => error::CLASS_IMPORT_FAILED,
            ComponentError::AlreadyRunning { .. } => error::ALREADY_RUNNING,
            ComponentError::NoSuchComponent(_) => error::NO_SUCH_OBJECT,
            ComponentError::NotStarted { .. } => error::NOT_RUNNING,
            ComponentError::CannotStart { .. } => error::CANNOT_START,
        }
    }

    /// From the bootstrap's `error` line.
    fn from_bootstrap(id: &str, uri: &str, message: String) -> ComponentError {
        match uri {
            error::CLASS_IMPORT_FAILED => ComponentError::ClassImportFailed {
                id: id.to_owned(),
                message,
            },
            error::INVALID_CONFIGURATION => ComponentError::InvalidConfiguration(message),
            _ => ComponentError::CannotStart {
                id: id.to_owned(),
                message,
            },
        }
    }
}
