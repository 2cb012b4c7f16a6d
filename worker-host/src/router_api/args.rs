//! Reading a management call's arguments: each parameter by position, or by its keyword
//! (Crossbar.io's parameter name, and any alias callers use), as JSON.

use router_core::Id;
use router_core::client::Invocation;
use serde_json::{Map, Value as Json};

use super::ApiError;
use crate::vocabulary::error;

/// The arguments of one call.
#[derive(Clone, Debug, Default)]
pub struct Args {
    args: Vec<Json>,
    kwargs: Map<String, Json>,
    /// The calling session, when the router disclosed it (events then exclude it, as
    /// Crossbar.io's do).
    pub caller: Option<Id>,
}

impl Args {
    pub fn new(args: Vec<Json>, kwargs: Map<String, Json>) -> Args {
        Args {
            args,
            kwargs,
            caller: None,
        }
    }

    pub(crate) fn from_invocation(inv: &Invocation) -> Args {
        Args {
            args: inv.args.iter().cloned().map(Json::from).collect(),
            kwargs: inv
                .kwargs
                .iter()
                .map(|(k, v)| (k.clone(), Json::from(v.clone())))
                .collect(),
            caller: inv.caller(),
        }
    }

    /// Parameter `pos` (0-based), else the first of `names` given as a keyword.
    fn get(&self, pos: usize, names: &[&str]) -> Option<&Json> {
        self.args
            .get(pos)
            .or_else(|| names.iter().find_map(|n| self.kwargs.get(*n)))
            .filter(|v| !v.is_null())
    }

    /// A required parameter, any JSON value.
    pub fn required(&self, pos: usize, names: &[&str]) -> Result<&Json, ApiError> {
        self.get(pos, names).ok_or_else(|| {
            ApiError::new(
                error::INVALID_ARGUMENT,
                format!(
                    "missing argument {} (positional argument {})",
                    names.first().copied().unwrap_or("?"),
                    pos + 1
                ),
            )
        })
    }

    /// A required, non-empty string parameter (an object id or a path).
    pub fn string(&self, pos: usize, name: &str) -> Result<String, ApiError> {
        match self.required(pos, &[name])? {
            Json::String(s) if !s.is_empty() => Ok(s.clone()),
            other => Err(ApiError::new(
                error::INVALID_ARGUMENT,
                format!("argument {name} must be a non-empty string, got {other}"),
            )),
        }
    }

    /// An optional boolean parameter.
    pub fn flag(&self, pos: usize, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(pos, &[name]) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(ApiError::new(
                error::INVALID_ARGUMENT,
                format!("argument {name} must be a boolean, got {other}"),
            )),
        }
    }
}

/// Requires a JSON object (a config), else `invalid_configuration` naming `what`.
pub(super) fn object<'j>(value: &'j Json, what: &str) -> Result<&'j Map<String, Json>, ApiError> {
    value.as_object().ok_or_else(|| {
        ApiError::new(
            error::INVALID_CONFIGURATION,
            format!("{what} must be an object, got {value}"),
        )
    })
}
