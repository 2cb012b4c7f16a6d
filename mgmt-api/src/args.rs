//! The arguments of one management call. Crossbar.io's procedures are Python functions, so
//! callers pass each parameter by position or by keyword; a parameter is read from its
//! position first, then from its keyword (or an alias callers use), and null counts as absent
//! except where a procedure says otherwise ([`Args::get_raw`]).
//!
//! Errors are [`ArgError`]s, plain messages that name the parameter; each API turns them into
//! its own error URI (`crossbar.error.invalid_argument` on the node, `cdc.error.*` on the CDC).

use router_core::Id;
use router_core::client::Invocation;
use router_core::value::{Dict, List, Value};
use serde_json::Value as Json;

/// A parameter missing or of the wrong type; the message names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(pub String);

type Result<T> = std::result::Result<T, ArgError>;

/// The arguments of one call, and who made it.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub args: List,
    pub kwargs: Dict,
    /// The calling session, when the router disclosed it (events then exclude it, and some
    /// answers name it, as Crossbar.io's do).
    pub caller: Option<Id>,
    pub caller_authid: Option<String>,
    pub caller_authrole: Option<String>,
}

impl Args {
    pub fn new(args: List, kwargs: Dict) -> Args {
        Args {
            args,
            kwargs,
            ..Args::default()
        }
    }

    pub fn from_invocation(inv: &Invocation) -> Args {
        Args {
            args: inv.args.clone(),
            kwargs: inv.kwargs.clone(),
            caller: inv.caller(),
            caller_authid: inv.caller_authid().map(str::to_owned),
            caller_authrole: inv.caller_authrole().map(str::to_owned),
        }
    }

    /// Parameter `pos` as given (null included), else keyword `name`.
    pub fn get_raw(&self, pos: usize, name: &str) -> Option<&Value> {
        self.args.get(pos).or_else(|| self.kwargs.get(name))
    }

    /// Parameter `pos`, else keyword `name`; `None` when absent or null.
    pub fn get(&self, pos: usize, name: &str) -> Option<&Value> {
        self.get_any(pos, &[name])
    }

    /// Parameter `pos`, else the first of `names` given as a keyword; null is absent.
    pub fn get_any(&self, pos: usize, names: &[&str]) -> Option<&Value> {
        self.args
            .get(pos)
            .filter(|v| !v.is_null())
            .or_else(|| names.iter().find_map(|n| self.kwargs.get(*n)))
            .filter(|v| !v.is_null())
    }

    /// A required parameter of any type.
    pub fn required(&self, pos: usize, names: &[&str]) -> Result<&Value> {
        self.get_any(pos, names).ok_or_else(|| {
            ArgError(format!(
                "missing argument {} (positional argument {})",
                names.first().copied().unwrap_or("?"),
                pos + 1
            ))
        })
    }

    /// A required parameter as JSON (a configuration, which the node parses with serde).
    pub fn json(&self, pos: usize, names: &[&str]) -> Result<Json> {
        self.required(pos, names).map(|v| Json::from(v.clone()))
    }

    /// A required string.
    pub fn str(&self, pos: usize, name: &str) -> Result<&str> {
        match self.get(pos, name) {
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(wrong(name, "a string", v)),
            None => Err(ArgError(format!("missing argument {name}"))),
        }
    }

    /// A required, non-empty string (an object ID or a path).
    pub fn string(&self, pos: usize, name: &str) -> Result<String> {
        match self.str(pos, name)? {
            "" => Err(ArgError(format!("argument {name} must not be empty"))),
            s => Ok(s.to_owned()),
        }
    }

    /// An optional string.
    pub fn opt_str(&self, pos: usize, name: &str) -> Result<Option<&str>> {
        match self.get(pos, name) {
            None => Ok(None),
            Some(_) => self.str(pos, name).map(Some),
        }
    }

    pub fn bool_or(&self, pos: usize, name: &str, default: bool) -> Result<bool> {
        match self.get(pos, name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(wrong(name, "a boolean", v)),
        }
    }

    /// An optional non-negative integer.
    pub fn u64_or(&self, pos: usize, name: &str, default: u64) -> Result<u64> {
        self.u64_in(pos, name, default, u64::MAX)
    }

    /// An optional integer from 0 to `max`.
    pub fn u64_in(&self, pos: usize, name: &str, default: u64, max: u64) -> Result<u64> {
        match self.get(pos, name) {
            None => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(n),
                _ if max == u64::MAX => Err(wrong(name, "a non-negative integer", v)),
                _ => Err(wrong(name, &format!("an integer from 0 to {max}"), v)),
            },
        }
    }

    /// An optional finite number.
    pub fn f64_or(&self, pos: usize, name: &str, default: f64) -> Result<f64> {
        match self.get(pos, name) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| wrong(name, "a number", v)),
        }
    }

    /// A required dictionary.
    pub fn dict(&self, pos: usize, name: &str) -> Result<Dict> {
        match self.get(pos, name) {
            Some(Value::Dict(d)) => Ok(d.clone()),
            Some(v) => Err(wrong(name, "a dictionary", v)),
            None => Err(ArgError(format!("missing argument {name}"))),
        }
    }

    /// An optional dictionary.
    pub fn opt_dict(&self, pos: usize, name: &str) -> Result<Option<Dict>> {
        match self.get(pos, name) {
            None => Ok(None),
            Some(_) => self.dict(pos, name).map(Some),
        }
    }

    /// The arguments as JSON (for audit logs).
    pub fn to_json(&self) -> Json {
        let args = Json::from(Value::List(self.args.clone()));
        if self.kwargs.is_empty() {
            args
        } else {
            serde_json::json!({"args": args, "kwargs": Json::from(Value::Dict(self.kwargs.clone()))})
        }
    }
}

fn wrong(name: &str, what: &str, got: &Value) -> ArgError {
    ArgError(format!(
        "argument {name} must be {what}, not {}",
        got.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(args: Json, kwargs: Json) -> Args {
        match (Value::from(args), Value::from(kwargs)) {
            (Value::List(l), Value::Dict(d)) => Args::new(l, d),
            _ => unreachable!(),
        }
    }

    #[test]
    fn position_first_then_keyword_then_alias() {
        let x = a(
            serde_json::json!(["w1", null]),
            serde_json::json!({"worker_id": "other", "kill": true, "config": {"a": 1}, "limit": 7}),
        );
        assert_eq!(x.str(0, "worker_id").unwrap(), "w1");
        // A null position falls back to the keyword.
        assert!(x.bool_or(1, "kill", false).unwrap());
        assert_eq!(x.u64_or(2, "limit", 50).unwrap(), 7);
        assert_eq!(x.u64_or(3, "other", 50).unwrap(), 50);
        assert_eq!(
            x.json(4, &["realm_config", "config"]).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(x.get_raw(1, "setting").is_some_and(Value::is_null));
    }

    #[test]
    fn errors_name_the_parameter() {
        let x = a(serde_json::json!([1, "", "x"]), serde_json::json!({}));
        let msg = |r: Result<String>| r.unwrap_err().0;
        assert_eq!(
            msg(x.string(0, "worker_id")),
            "argument worker_id must be a string, not integer"
        );
        assert_eq!(
            msg(x.string(1, "worker_id")),
            "argument worker_id must not be empty"
        );
        assert_eq!(msg(x.string(3, "realm_id")), "missing argument realm_id");
        assert!(x.dict(2, "config").is_err());
        assert!(x.u64_in(0, "limit", 1, 0).is_err());
        assert!(x.bool_or(2, "kill", false).is_err());
        assert!(
            x.required(5, &["config"])
                .unwrap_err()
                .0
                .contains("positional argument 6")
        );
    }
}
