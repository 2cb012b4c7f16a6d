//! A container's `options.restart` and `options.shutdown`: what happens when one of its
//! components ends, as Crossbar.io's container decides it (`worker/container.py`).

use router_core::config::{ConfigError, unknown_variant};
use serde_json::Value;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailed,
    /// Crossbar.io's default.
    #[default]
    Never,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShutdownPolicy {
    /// Crossbar.io's default: the container keeps running.
    #[default]
    Manual,
    OnLastComponentStopped,
    OnAnyComponentFailed,
    OnAnyComponentStopped,
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

const RESTART: &[&str] = &["restart-always", "restart-on-failed", "restart-never"];
const SHUTDOWN: &[&str] = &[
    "shutdown-manual",
    "shutdown-on-last-component-stopped",
    "shutdown-on-any-component-failed",
    "shutdown-on-any-component-stopped",
];

impl ContainerPolicy {
    /// Reads `restart` and `shutdown` from a container's `options` (other keys are ignored),
    /// refusing the combinations Crossbar.io refuses.
    pub fn from_options(options: &Value) -> Result<ContainerPolicy, ConfigError> {
        let get = |key: &str| -> Result<Option<&str>, ConfigError> {
            match options.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(ConfigError::new(key, "must be a string")),
            }
        };
        let restart = match get("restart")? {
            None | Some("restart-never") => RestartPolicy::Never,
            Some("restart-always") => RestartPolicy::Always,
            Some("restart-on-failed") => RestartPolicy::OnFailed,
            Some(other) => return Err(unknown_variant("restart", other, RESTART)),
        };
        let shutdown = match get("shutdown")? {
            None | Some("shutdown-manual") => ShutdownPolicy::Manual,
            Some("shutdown-on-last-component-stopped") => ShutdownPolicy::OnLastComponentStopped,
            Some("shutdown-on-any-component-failed") => ShutdownPolicy::OnAnyComponentFailed,
            Some("shutdown-on-any-component-stopped") => ShutdownPolicy::OnAnyComponentStopped,
            Some(other) => return Err(unknown_variant("shutdown", other, SHUTDOWN)),
        };
        let impossible = matches!(
            (restart, shutdown),
            (RestartPolicy::Always, ShutdownPolicy::OnAnyComponentStopped)
                | (RestartPolicy::Always, ShutdownPolicy::OnAnyComponentFailed)
                | (
                    RestartPolicy::Always,
                    ShutdownPolicy::OnLastComponentStopped
                )
                | (
                    RestartPolicy::OnFailed,
                    ShutdownPolicy::OnAnyComponentFailed
                )
        );
        if impossible {
            return Err(ConfigError::new(
                "restart",
                format!(
                    "\"{}\" cannot work with shutdown \"{}\"",
                    get("restart")?.unwrap_or_default(),
                    get("shutdown")?.unwrap_or_default()
                ),
            ));
        }
        Ok(ContainerPolicy { restart, shutdown })
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
            RestartPolicy::OnFailed if failed => PolicyDecision::Restart,
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
        assert!(e.message.contains("cannot work"), "{e}");
    }
}
