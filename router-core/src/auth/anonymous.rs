//! WAMP-Anonymous: welcome without a challenge, under a configured role and a random authid.

use super::config::AnonymousAuth;
use super::reason;
use super::{AuthDenied, AuthStep, HelloInfo, Identity};

/// The 27 characters of autobahn's `DEFAULT_TOKEN_CHARS`: base36 without the look-alikes
/// 0/O/D, 1/I, 8/B and 2/Z.
const TOKEN_CHARS: &[u8] = b"345679ACEFGHJKLMNPQRSTUVWXY";

/// `n` random token characters, autobahn's `newid(n)`.
pub fn random_token(n: usize) -> String {
    (0..n)
        .map(|_| char::from(TOKEN_CHARS[rand::random_range(0..TOKEN_CHARS.len())]))
        .collect()
}

/// A random serial like autobahn's `generate_serial_number()`: six groups of four token
/// characters, `YRAC-EL4X-FQQE-AW4T-WNUV-VN6T` (114 bits).
pub fn generate_serial_number() -> String {
    let groups: Vec<String> = (0..6).map(|_| random_token(4)).collect();
    groups.join("-")
}

/// Welcomes an anonymous HELLO under `config` (Crossbar.io's `PendingAuthAnonymous`).
///
/// The client's authid is ignored, and its authextra is echoed back in WELCOME as Crossbar.io
/// does. `no_realm_message` differs between the configured and the default case, as in
/// Crossbar.io.
pub(crate) fn welcome(
    hello: &HelloInfo,
    config: &AnonymousAuth,
    no_realm_message: &str,
) -> AuthStep {
    let realm = hello
        .realm
        .as_deref()
        .filter(|r| !r.is_empty())
        .or(config.realm.as_deref());
    let Some(realm) = realm else {
        return AuthStep::Deny(AuthDenied::new(reason::NO_SUCH_REALM, no_realm_message));
    };
    AuthStep::Welcome(Identity {
        realm: realm.to_owned(),
        authid: config.authid.clone().unwrap_or_else(generate_serial_number),
        authrole: config.role.clone().unwrap_or_else(|| "anonymous".into()),
        authmethod: "anonymous".into(),
        authprovider: "static".into(),
        authextra: hello.authextra.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_number_format() {
        let s = generate_serial_number();
        assert_eq!(s.len(), 29, "{s}");
        let groups: Vec<&str> = s.split('-').collect();
        assert_eq!(groups.len(), 6, "{s}");
        for g in groups {
            assert_eq!(g.len(), 4, "{s}");
            assert!(g.bytes().all(|b| TOKEN_CHARS.contains(&b)), "{s}");
        }
        assert_ne!(s, generate_serial_number());
    }
}
