//! The seed's rules for names and IDs, and the other argument shapes the CDC checks
//! (public keys, e-mail addresses, roles).
//!
//! Written out by hand rather than with a regex engine: each rule is a few character classes.

use crate::error::{CdcError, Result};

/// IDs of nodes, workers, transports, …: `^[a-z][a-z0-9_]{2,11}$`.
pub fn is_seed_id(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=12).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Crossbar.io's config IDs (`^[a-z][a-z0-9_]{2,63}$`), a superset of the seed's: objects on a
/// node (workers, realms, transports…) may have been created from a Crossbar.io config.
pub fn is_object_id(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Names of users and realms: `^[A-Za-z][A-Za-z0-9_\-@\.]{2,254}$`.
pub fn is_seed_name(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=255).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-@.".contains(c))
}

pub fn check_node_id(s: &str) -> Result<()> {
    if is_seed_id(s) {
        Ok(())
    } else {
        Err(CdcError::invalid(format!(
            "invalid node_id \"{s}\": must match ^[a-z][a-z0-9_]{{2,11}}$"
        )))
    }
}

/// Realm and role IDs as Crossbar.io and the node take them (`user-0`, `Admin`): usable as
/// one URI component, `^[A-Za-z][A-Za-z0-9_\-]{2,63}$`.
pub fn is_realm_or_role_id(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=64).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// Checks the ID of an object on a node (`what` names the argument in the message): the
/// strict rule for nodes, workers, transports and the rest, dashes allowed in realm and
/// role IDs.
pub fn check_object_id(what: &str, s: &str) -> Result<()> {
    if matches!(what, "realm_id" | "role_id") {
        return if is_realm_or_role_id(s) {
            Ok(())
        } else {
            Err(CdcError::invalid(format!(
                "invalid {what} \"{s}\": must match ^[A-Za-z][A-Za-z0-9_\\-]{{2,63}}$"
            )))
        };
    }
    if is_object_id(s) {
        Ok(())
    } else {
        Err(CdcError::invalid(format!(
            "invalid {what} \"{s}\": must match ^[a-z][a-z0-9_]{{2,63}}$"
        )))
    }
}

pub fn check_name(what: &str, s: &str) -> Result<()> {
    if is_seed_name(s) {
        Ok(())
    } else {
        Err(CdcError::invalid(format!(
            "invalid {what} \"{s}\": must match ^[A-Za-z][A-Za-z0-9_\\-@\\.]{{2,254}}$"
        )))
    }
}

/// A web resource is named by its path on the transport (`info`, `ws`, `/`, `static/img`): any
/// non-empty string without whitespace or control characters, up to 255 bytes.
pub fn check_resource_id(s: &str) -> Result<()> {
    if !s.is_empty() && s.len() <= 255 && !s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(())
    } else {
        Err(CdcError::invalid(format!(
            "invalid resource_id \"{s}\": must be a path without whitespace"
        )))
    }
}

/// Normalizes an Ed25519 public key given as 64 hex characters to lowercase; keys are
/// compared as text everywhere after this.
pub fn normalize_pubkey(what: &str, s: &str) -> Result<String> {
    router_core::auth::cryptosign::parse_public_key(s)
        .map(|_| s.to_ascii_lowercase())
        .map_err(|e| CdcError::invalid(format!("invalid {what}: {e}")))
}

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
/// The mail layer parses it again strictly when the message is built.
pub fn check_email(s: &str) -> Result<()> {
    let ok = s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
        && match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && !domain.is_empty()
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if ok {
        Ok(())
    } else {
        Err(CdcError::invalid(format!("invalid user_email \"{s}\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["abc", "node1", "a_b_c", "abcdefghijkl", "n12"] {
            assert!(is_seed_id(ok), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "1abc",
            "Abc",
            "abc-d",
            "abcdefghijklm",
            "ab c",
            "_ab",
            "abé",
        ] {
            assert!(!is_seed_id(bad), "{bad}");
        }
        assert!(is_object_id("worker001_with_a_longer_name"));
        assert!(check_object_id("role_id", "user-0").is_ok());
        assert!(check_object_id("realm_id", "my-realm").is_ok());
        assert!(check_object_id("worker_id", "user-0").is_err());
        assert!(check_object_id("role_id", "a.b").is_err());
        assert!(!is_object_id(&"a".repeat(65)));
    }

    #[test]
    fn names() {
        for ok in ["alice", "Bob", "a.b@example.com", "realm-1", "x_y", "abc"] {
            assert!(is_seed_name(ok), "{ok}");
        }
        for bad in ["", "ab", "1abc", "-abc", "a b c", "ab/c", "abé"] {
            assert!(!is_seed_name(bad), "{bad}");
        }
        assert!(is_seed_name(&format!("a{}", "b".repeat(254))));
        assert!(!is_seed_name(&format!("a{}", "b".repeat(255))));
    }

    #[test]
    fn pubkeys_and_emails() {
        let k = "1ADFC8BFE1D35616E64DFFBD900096F23B066F914C8C2FFBB66F6075B96E116D";
        assert_eq!(normalize_pubkey("k", k).unwrap(), k.to_ascii_lowercase());
        assert!(normalize_pubkey("k", "abc").is_err());
        assert!(check_email("alice@example.com").is_ok());
        for bad in ["", "alice", "@x.org", "a@", "a@b@c", "a b@c.d", "a@.x"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
