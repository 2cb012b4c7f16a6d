//! Reading management-call arguments by position or keyword (Crossbar.io's procedures are
//! Python functions: callers use either), with `crossbar.error.invalid_argument` for a wrong
//! type.

use router_core::client::{CallError, Invocation};
use router_core::value::Value;

use crate::vocabulary::error;

pub(crate) fn invalid(msg: impl Into<String>) -> CallError {
    CallError::with_message(error::INVALID_ARGUMENT, msg)
}

/// The argument at `index` or named `name`; `None` if absent.
pub(crate) fn arg<'a>(inv: &'a Invocation, index: usize, name: &str) -> Option<&'a Value> {
    inv.args.get(index).or_else(|| inv.kwargs.get(name))
}

/// A required string argument.
pub(crate) fn string(inv: &Invocation, index: usize, name: &str) -> Result<String, CallError> {
    match arg(inv, index, name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(invalid(format!(
            "{name} must be a string, not {}",
            v.type_name()
        ))),
        None => Err(invalid(format!("missing argument {name}"))),
    }
}

/// An optional string argument (absent or null: `default`).
pub(crate) fn string_or(
    inv: &Invocation,
    index: usize,
    name: &str,
    default: &str,
) -> Result<String, CallError> {
    match arg(inv, index, name) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(_) => string(inv, index, name),
    }
}

/// An optional boolean argument.
pub(crate) fn boolean(
    inv: &Invocation,
    index: usize,
    name: &str,
    default: bool,
) -> Result<bool, CallError> {
    match arg(inv, index, name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(invalid(format!(
            "{name} must be a boolean, not {}",
            v.type_name()
        ))),
    }
}

/// An optional number argument.
pub(crate) fn number(
    inv: &Invocation,
    index: usize,
    name: &str,
    default: f64,
) -> Result<f64, CallError> {
    match arg(inv, index, name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| invalid(format!("{name} must be a number, not {}", v.type_name()))),
    }
}

/// Any JSON-like argument (absent: null).
pub(crate) fn json(inv: &Invocation, index: usize, name: &str) -> serde_json::Value {
    arg(inv, index, name)
        .cloned()
        .map(Into::into)
        .unwrap_or_default()
}
