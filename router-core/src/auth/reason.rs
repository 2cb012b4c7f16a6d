//! The ABORT reasons authentication answers with, spelled as Crossbar.io spells them.
//!
//! Crossbar.io denies with `autobahn.wamp.types.Deny`, whose default reason is
//! `wamp.error.not_authorized`; nearly every authentication failure (unknown principal, wrong
//! ticket, bad signature) uses that default and only the message differs. Clients that branch on
//! the reason see the same URIs from us. Note `wamp.error.no_auth_method`: Crossbar.io's name for
//! "none of your authmethods is enabled", not the spec's `wamp.error.no_matching_auth_method`.

/// The default denial: the credentials were not accepted.
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
/// None of the client's `authmethods` is enabled on this transport.
pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
/// No realm was requested and none could be assigned.
pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
/// No role could be assigned to the principal.
pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
/// No authid could be assigned to the principal.
pub const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";
/// Used by Crossbar.io for failures of dynamic authenticators (kept for the router's use).
pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";

/// All the reasons above, for tests that check the vocabulary.
pub const ALL: &[&str] = &[
    NOT_AUTHORIZED,
    NO_AUTH_METHOD,
    NO_SUCH_REALM,
    NO_SUCH_ROLE,
    NO_SUCH_PRINCIPAL,
    AUTHENTICATION_FAILED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_wamp_error_uris() {
        for r in ALL {
            assert!(r.starts_with("wamp.error."), "{r}");
            assert!(
                crate::uri::is_valid(
                    r,
                    crate::uri::UriCheck::Strict,
                    crate::uri::MatchPolicy::Exact
                ),
                "{r}"
            );
        }
    }
}
