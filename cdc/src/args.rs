//! The seed's ID rules over the management protocol's one reading of arguments
//! ([`mgmt_api::Args`]: position first, keyword by the seed's parameter name as a fallback).

pub use mgmt_api::Args;

use crate::error::{CdcError, Result};
use crate::names;

/// The IDs of the seed API, checked by its rules.
pub trait SeedArgs {
    /// A node ID (the seed's ID rule).
    fn node_id(&self, i: usize) -> Result<String>;
    /// The ID of an object on a node (worker, realm, role, …).
    fn object_id(&self, i: usize, name: &str) -> Result<String>;
    /// A free-form token ID (profile IDs are random strings chosen by the node).
    fn token_id(&self, i: usize, name: &str) -> Result<String>;
    /// A web resource path.
    fn resource_id(&self, i: usize, name: &str) -> Result<String>;
}

impl SeedArgs for Args {
    fn node_id(&self, i: usize) -> Result<String> {
        let s = self.str(i, "node_id")?;
        names::check_node_id(s)?;
        Ok(s.to_owned())
    }

    fn object_id(&self, i: usize, name: &str) -> Result<String> {
        let s = self.str(i, name)?;
        names::check_object_id(name, s)?;
        Ok(s.to_owned())
    }

    fn token_id(&self, i: usize, name: &str) -> Result<String> {
        let s = self.str(i, name)?;
        if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CdcError::invalid(format!("invalid {name} \"{s}\"")));
        }
        Ok(s.to_owned())
    }

    fn resource_id(&self, i: usize, name: &str) -> Result<String> {
        let s = self.str(i, name)?;
        names::check_resource_id(s)?;
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use router_core::value::Value;

    fn a(args: serde_json::Value, kwargs: serde_json::Value) -> Args {
        match (Value::from(args), Value::from(kwargs)) {
            (Value::List(l), Value::Dict(d)) => Args::new(l, d),
            _ => unreachable!(),
        }
    }

    #[test]
    fn ids_follow_the_seed_rules() {
        let x = a(
            serde_json::json!(["node1", null, "NODE", "a b"]),
            serde_json::json!({"worker_id": "w01"}),
        );
        assert_eq!(x.node_id(0).unwrap(), "node1");
        assert_eq!(x.object_id(1, "worker_id").unwrap(), "w01");
        assert!(x.node_id(2).is_err());
        assert!(x.token_id(3, "profile_id").is_err());
        let e = x.object_id(5, "realm_id").unwrap_err();
        assert_eq!(e.uri(), crate::error::uri::INVALID_ARGUMENT);
        assert!(e.to_string().contains("missing argument realm_id"), "{e}");
    }
}
