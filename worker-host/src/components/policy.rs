//! A container's `options.restart` and `options.shutdown`: what happens when one of its
//! components ends, as Crossbar.io's container decides it (`worker/container.py`).

use router_core::config::{ConfigError, from_value};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// When something that ended is started again: a worker process (the node's supervisor) or a
/// container's component (Crossbar.io's `options.restart`). Both spellings are accepted:
/// Crossbar.io's `restart-always|restart-on-failed|restart-never` and `always|on-failure|never`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// Whenever it ends (unless it was stopped on request).
    #[serde(rename = "always", alias = "restart-always")]
    Always,
    /// When it ends with an error (a failed component, a worker exiting non-zero or on a
    /// signal).
    #[serde(rename = "on-failure", alias = "restart-on-failed")]
    OnFailure,
    /// Crossbar.io's default.
    #[default]
    #[serde(rename = "never", alias = "restart-never")]
    Never,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        }
    }
}

/// A container's `options.shutdown`: when it stops itself (Crossbar.io's names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShutdownPolicy {
    /// Crossbar.io's default: the container keeps running.
    #[default]
    #[serde(rename = "shutdown-manual")]
    Manual,
    #[serde(rename = "shutdown-on-last-component-stopped")]
    OnLastComponentStopped,
    #[serde(rename = "shutdown-on-any-component-failed")]
    OnAnyComponentFailed,
    #[serde(rename = "shutdown-on-any-component-stopped")]
    OnAnyComponentStopped,
}

impl ShutdownPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownPolicy::Manual => "shutdown-manual",
            ShutdownPolicy::OnLastComponentStopped => "shutdown-on-last-component-stopped",
            ShutdownPolicy::OnAnyComponentFailed => "shutdown-on-any-component-failed",
            ShutdownPolicy::OnAnyComponentStopped => "shutdown-on-any-component-stopped",
        }
    }
}

/// The container's policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerPolicy {
    pub restart: RestartPolicy,
    pub shutdown: ShutdownPolicy,
}

/// What to do after a component ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyDecision {
    /// Start the component again with the same config.
    Restart,
    /// Stop the whole container worker.
    ShutdownContainer,
    Nothing,
}

impl ContainerPolicy {
    /// The policies, refusing the combinations Crossbar.io refuses (a container that restarts
    /// every component can never see the condition it is to shut down on).
    pub fn new(restart: RestartPolicy, shutdown: ShutdownPolicy) -> Result<Self, ConfigError> {
        use ShutdownPolicy::*;
        let impossible = matches!(
            (restart, shutdown),
            (
                RestartPolicy::Always,
                OnAnyComponentStopped | OnAnyComponentFailed | OnLastComponentStopped
            ) | (RestartPolicy::OnFailure, OnAnyComponentFailed)
        );
        if impossible {
            return Err(ConfigError::new(
                "restart",
                format!(
                    "\"{}\" won't work with shutdown \"{}\"",
                    restart.as_str(),
                    shutdown.as_str()
                ),
            ));
        }
        Ok(ContainerPolicy { restart, shutdown })
    }

    /// Reads `restart` and `shutdown` from a container's `options` (other keys are ignored).
    pub fn from_options(options: &Value) -> Result<ContainerPolicy, ConfigError> {
        fn get<T: serde::de::DeserializeOwned + Default>(
            o: &Value,
            key: &str,
        ) -> Result<T, ConfigError> {
            match o.get(key) {
                None | Some(Value::Null) => Ok(T::default()),
                Some(v) => from_value(v.clone()).map_err(|e| e.within(key)),
            }
        }
        ContainerPolicy::new(get(options, "restart")?, get(options, "shutdown")?)
    }

    /// The decision after a component ended: `failed` (it crashed or left uncleanly),
    /// `remaining` (components still running), `requested` (stopped through the API, which
    /// never restarts it). Shutdown rules come first, as in Crossbar.io.
    pub fn on_component_ended(
        &self,
        failed: bool,
        remaining: usize,
        requested: bool,
    ) -> PolicyDecision {
        match self.shutdown {
            ShutdownPolicy::OnAnyComponentFailed if failed => {
                return PolicyDecision::ShutdownContainer;
            }
            ShutdownPolicy::OnAnyComponentStopped => return PolicyDecision::ShutdownContainer,
            ShutdownPolicy::OnLastComponentStopped if remaining == 0 => {
                return PolicyDecision::ShutdownContainer;
            }
            _ => {}
        }
        if requested {
            return PolicyDecision::Nothing;
        }
        match self.restart {
            RestartPolicy::Always => PolicyDecision::Restart,
            RestartPolicy::OnFailure if failed => PolicyDecision::Restart,
            _ => PolicyDecision::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_and_decide() {
        let p = ContainerPolicy::from_options(&json!({})).unwrap();
        assert_eq!(p, ContainerPolicy::default());
        assert_eq!(
            p.on_component_ended(true, 0, false),
            PolicyDecision::Nothing
        );

        let p = ContainerPolicy::from_options(&json!({"restart": "restart-on-failed"})).unwrap();
        assert_eq!(
            p.on_component_ended(true, 1, false),
            PolicyDecision::Restart
        );
        assert_eq!(
            p.on_component_ended(false, 1, false),
            PolicyDecision::Nothing
        );
        assert_eq!(p.on_component_ended(true, 1, true), PolicyDecision::Nothing);

        let p = ContainerPolicy::from_options(
            &json!({"shutdown": "shutdown-on-last-component-stopped"}),
        )
        .unwrap();
        assert_eq!(
            p.on_component_ended(false, 1, true),
            PolicyDecision::Nothing
        );
        assert_eq!(
            p.on_component_ended(false, 0, true),
            PolicyDecision::ShutdownContainer
        );

        let p = ContainerPolicy::from_options(
            &json!({"shutdown": "shutdown-on-any-component-failed", "restart": "restart-never"}),
        )
        .unwrap();
        assert_eq!(
            p.on_component_ended(true, 3, false),
            PolicyDecision::ShutdownContainer
        );
        assert_eq!(
            p.on_component_ended(false, 3, false),
            PolicyDecision::Nothing
        );

        let p = ContainerPolicy::from_options(&json!({"restart": "restart-always"})).unwrap();
        assert_eq!(
            p.on_component_ended(false, 0, false),
            PolicyDecision::Restart
        );
    }

    #[test]
    fn bad_options() {
        let e = ContainerPolicy::from_options(&json!({"restart": "sometimes"})).unwrap_err();
        assert_eq!(e.path, "restart");
        let e = ContainerPolicy::from_options(&json!({"shutdown": 1})).unwrap_err();
        assert_eq!(e.path, "shutdown");
        let e = ContainerPolicy::from_options(
            &json!({"restart": "restart-always", "shutdown": "shutdown-on-any-component-failed"}),
        )
        .unwrap_err();
        assert!(e.message.contains("won't work"), "{e}");
    }
}
