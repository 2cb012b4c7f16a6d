//! The controller's management API, `crossbar.<procedure>`: one file per family
//! ([`node`]: status, stats, shutdown, key; [`workers`]: start/stop/list/log;
//! [`super::config_ops`]: save/upload/download of the config file).

mod node;
mod stats;
mod workers;

use std::future::Future;
use std::sync::{Arc, Weak};

use router_core::client::{CallError, ClientError, Invocation, RegisterOptions, Session};
use router_core::{Dict, Payload, Value as WampValue};
use serde_json::Value;
use worker_host::vocabulary::error;

use super::Controller;

/// A management error: a `crossbar.error.*` URI, a readable message and, rarely, more
/// positional arguments (`cannot_start` carries the worker's log).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub uri: &'static str,
    pub message: String,
    pub extra: Vec<Value>,
}

impl ApiError {
    pub fn new(uri: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            uri,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with_arg(mut self, v: Value) -> ApiError {
        self.extra.push(v);
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(error::INVALID_ARGUMENT, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.uri, self.message)
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> CallError {
        let mut args = vec![WampValue::String(e.message)];
        args.extend(e.extra.into_iter().map(WampValue::from));
        CallError::with_args(e.uri, args, Dict::new())
    }
}

/// The arguments of one call, positional or by keyword (Crossbar.io's Python signatures
/// accept both).
pub struct Args {
    args: Vec<Value>,
    kwargs: serde_json::Map<String, Value>,
    /// The calling session (Crossbar.io's `who`).
    pub caller: Option<u64>,
}

impl Args {
    fn from_invocation(inv: Invocation) -> Args {
        let caller = inv.caller();
        Args {
            args: inv.args.into_iter().map(Value::from).collect(),
            kwargs: inv
                .kwargs
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect(),
            caller,
        }
    }

    /// Argument `pos` (or keyword `name`); `None` when absent or null.
    pub fn get(&self, pos: usize, name: &str) -> Option<&Value> {
        self.kwargs
            .get(name)
            .or_else(|| self.args.get(pos))
            .filter(|v| !v.is_null())
    }

    pub fn str(&self, pos: usize, name: &str) -> Result<&str, ApiError> {
        match self.get(pos, name) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(ApiError::invalid_argument(format!(
                "{name} must be a string, not {other}"
            ))),
            None => Err(ApiError::invalid_argument(format!("{name} is required"))),
        }
    }

    pub fn bool_or(&self, pos: usize, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(pos, name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(ApiError::invalid_argument(format!(
                "{name} must be a boolean, not {other}"
            ))),
        }
    }

    pub fn u64_or(&self, pos: usize, name: &str, default: u64) -> Result<u64, ApiError> {
        match self.get(pos, name) {
            None => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "{name} must be a non-negative integer, not {v}"
                ))
            }),
        }
    }
}

/// Registers `crossbar.<name>`, answered by `f` with the controller (held weakly: the
/// registrations must not keep a stopped controller alive).
pub(crate) async fn register<F, Fut>(
    ctl: &Arc<Controller>,
    session: &Session,
    name: &str,
    f: F,
) -> Result<(), ClientError>
where
    F: Fn(Arc<Controller>, Args) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ApiError>> + Send + 'static,
{
    let weak: Weak<Controller> = Arc::downgrade(ctl);
    let f = Arc::new(f);
    let uri = format!("crossbar.{name}");
    session
        .register(&uri, RegisterOptions::default(), move |inv| {
            let (weak, f) = (weak.clone(), f.clone());
            async move {
                let ctl = weak.upgrade().ok_or_else(|| {
                    CallError::with_message(error::RUNTIME_ERROR, "the node is shutting down")
                })?;
                let value = f(ctl, Args::from_invocation(inv)).await?;
                Ok(Payload::new(vec![WampValue::from(value)], Dict::new()))
            }
        })
        .await
        .map(|_| ())
}

/// Registers every `crossbar.*` procedure of the controller.
pub(crate) async fn register_all(ctl: &Arc<Controller>, s: &Session) -> Result<(), ClientError> {
    node::register(ctl, s).await?;
    workers::register(ctl, s).await?;
    super::config_ops::register(ctl, s).await
}
