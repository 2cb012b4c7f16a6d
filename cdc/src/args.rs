//! Reading procedure arguments: positional first, keyword (by the seed's parameter name) as a
//! fallback, with errors that name the parameter.

use router_core::value::{Dict, List, Value};

use crate::error::{CdcError, Result};
use crate::names;

/// The arguments of one call.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub args: List,
    pub kwargs: Dict,
}

impl Args {
    pub fn new(args: List, kwargs: Dict) -> Self {
        Args { args, kwargs }
    }

    /// Argument `i` (or keyword `name`); null counts as absent.
    pub fn get(&self, i: usize, name: &str) -> Option<&Value> {
        self.args
            .get(i)
            .filter(|v| !v.is_null())
            .or_else(|| self.kwargs.get(name))
            .filter(|v| !v.is_null())
    }

    /// Argument `i` as given, null included (for settings where null means "remove").
    pub fn get_raw(&self, i: usize, name: &str) -> Option<&Value> {
        self.args.get(i).or_else(|| self.kwargs.get(name))
    }

    pub fn str(&self, i: usize, name: &str) -> Result<&str> {
        match self.get(i, name) {
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(CdcError::invalid(format!(
                "argument {name} must be a string, not {}",
                v.type_name()
            ))),
            None => Err(CdcError::invalid(format!("missing argument {name}"))),
        }
    }

    pub fn opt_str(&self, i: usize, name: &str) -> Result<Option<&str>> {
        match self.get(i, name) {
            None => Ok(None),
            Some(_) => self.str(i, name).map(Some),
        }
    }

    /// A required value of any type.
    pub fn value(&self, i: usize, name: &str) -> Result<Value> {
        self.get(i, name)
            .cloned()
            .ok_or_else(|| CdcError::invalid(format!("missing argument {name}")))
    }

    /// A dictionary (a config): required.
    pub fn dict(&self, i: usize, name: &str) -> Result<Dict> {
        match self.get(i, name) {
            Some(Value::Dict(d)) => Ok(d.clone()),
            Some(v) => Err(CdcError::invalid(format!(
                "argument {name} must be a dictionary, not {}",
                v.type_name()
            ))),
            None => Err(CdcError::invalid(format!("missing argument {name}"))),
        }
    }

    /// A dictionary or null (extra data).
    pub fn opt_dict(&self, i: usize, name: &str) -> Result<Option<Dict>> {
        match self.get(i, name) {
            None => Ok(None),
            Some(Value::Dict(d)) => Ok(Some(d.clone())),
            Some(v) => Err(CdcError::invalid(format!(
                "argument {name} must be a dictionary or null, not {}",
                v.type_name()
            ))),
        }
    }

    pub fn opt_bool(&self, i: usize, name: &str, default: bool) -> Result<bool> {
        match self.get(i, name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(CdcError::invalid(format!(
                "argument {name} must be a boolean, not {}",
                v.type_name()
            ))),
        }
    }

    /// A non-negative integer up to `max`, with a default.
    pub fn opt_uint(&self, i: usize, name: &str, default: u64, max: u64) -> Result<u64> {
        match self.get(i, name) {
            None => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(n),
                _ => Err(CdcError::invalid(format!(
                    "argument {name} must be an integer from 0 to {max}"
                ))),
            },
        }
    }

    /// A node ID (the seed's ID rule).
    pub fn node_id(&self, i: usize) -> Result<String> {
        let s = self.str(i, "node_id")?;
        names::check_node_id(s)?;
        Ok(s.to_owned())
    }

    /// The ID of an object on a node (worker, realm, role, …).
    pub fn object_id(&self, i: usize, name: &str) -> Result<String> {
        let s = self.str(i, name)?;
        names::check_object_id(name, s)?;
        Ok(s.to_owned())
    }

    /// A free-form token ID (profile IDs are random strings chosen by the node).
    pub fn token_id(&self, i: usize, name: &str) -> Result<String> {
        let s = self.str(i, name)?;
        if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CdcError::invalid(format!("invalid {name} \"{s}\"")));
        }
        Ok(s.to_owned())
    }

    /// A web resource path.
    pub fn resource_id(&self, i: usize, name: &str) -> Result<String> {
        let s = self.str(i, name)?;
        names::check_resource_id(s)?;
        Ok(s.to_owned())
    }
}

/// JSON of the arguments, for the audit log.
pub fn to_json(a: &Args) -> serde_json::Value {
    let args = serde_json::Value::from(Value::List(a.args.clone()));
    if a.kwargs.is_empty() {
        args
    } else {
        serde_json::json!({"args": args, "kwargs": serde_json::Value::from(Value::Dict(a.kwargs.clone()))})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(args: serde_json::Value, kwargs: serde_json::Value) -> Args {
        let l = match Value::from(args) {
            Value::List(l) => l,
            _ => unreachable!(),
        };
        let d = match Value::from(kwargs) {
            Value::Dict(d) => d,
            _ => unreachable!(),
        };
        Args::new(l, d)
    }

    #[test]
    fn positional_then_keyword() {
        let x = a(
            serde_json::json!(["node1"]),
            serde_json::json!({"worker_id": "w01", "limit": 7}),
        );
        assert_eq!(x.node_id(0).unwrap(), "node1");
        assert_eq!(x.object_id(1, "worker_id").unwrap(), "w01");
        assert_eq!(x.opt_uint(2, "limit", 50, 1000).unwrap(), 7);
        assert_eq!(x.opt_uint(3, "other", 50, 1000).unwrap(), 50);
        assert!(x.opt_bool(3, "flag", true).unwrap());
    }

    #[test]
    fn errors_name_the_parameter() {
        let x = a(serde_json::json!([1, null, "NODE"]), serde_json::json!({}));
        assert!(
            x.str(0, "node_id")
                .unwrap_err()
                .to_string()
                .contains("node_id must be a string")
        );
        assert!(
            x.str(1, "worker_id")
                .unwrap_err()
                .to_string()
                .contains("missing argument worker_id")
        );
        assert!(x.node_id(2).is_err());
        assert!(x.dict(0, "config").is_err());
        assert!(x.opt_uint(0, "limit", 1, 0).is_err());
        assert!(x.get_raw(1, "setting").is_some_and(Value::is_null));
    }
}
