//! The authenticator of a transport with a static `auth` config (or none): picks the method
//! from the client's `authmethods` the way Crossbar.io's `RouterSession.onHello` does and hands
//! the HELLO to that method.

use std::fmt;

use async_trait::async_trait;
use ed25519_dalek::SigningKey;

use super::config::{AnonymousAuth, AuthConfig};
use super::cryptosign::CryptosignDb;
use super::ticket::TicketDb;
use super::wampcra::WampCraDb;
use super::{AuthDenied, AuthStep, Authenticator, HelloInfo};
use super::{anonymous, reason};
use crate::config::ConfigError;

/// Every authmethod name Crossbar.io knows. A client offering a name outside this list is
/// refused outright, even if a later name would match; known names that are not enabled are
/// skipped.
pub const KNOWN_AUTHMETHODS: &[&str] = &[
    "ticket",
    "wampcra",
    "tls",
    "cryptosign",
    "cryptosign-proxy",
    "cookie",
    "anonymous",
    "anonymous-proxy",
    "scram",
];

/// What a static principal entry says about realm and role.
pub(crate) struct Principal {
    /// The only realm the principal may join.
    pub realm: Option<String>,
    pub role: Option<String>,
}

/// Decides realm and role for a known principal, with the checks (and the order of checks)
/// of Crossbar.io's `PendingAuth._assign_principal`.
///
/// One deliberate difference: Crossbar.io silently moves a client whose principal has a
/// `realm` into that realm, whatever realm the HELLO asked for; we refuse the HELLO instead, so
/// a client never lands on a realm it did not ask for.
pub(crate) fn assign(
    hello: &HelloInfo,
    authid: &str,
    principal: &Principal,
    default_role: Option<&str>,
) -> Result<(String, String), AuthDenied> {
    let requested = hello.realm.as_deref().filter(|r| !r.is_empty());
    let realm = match (requested, principal.realm.as_deref()) {
        (Some(r), Some(p)) if r != p => {
            return Err(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                format!("principal \"{authid}\" may only join realm \"{p}\", not \"{r}\""),
            ));
        }
        (Some(r), _) => r,
        (None, Some(p)) => p,
        (None, None) => return Err(AuthDenied::new(reason::NO_SUCH_REALM, "no realm assigned")),
    };
    if authid.is_empty() {
        return Err(AuthDenied::new(
            reason::NO_SUCH_PRINCIPAL,
            "no authid assigned",
        ));
    }
    let Some(role) = principal.role.as_deref().or(default_role) else {
        return Err(AuthDenied::new(
            reason::NO_SUCH_ROLE,
            "no authrole assigned",
        ));
    };
    Ok((realm.to_owned(), role.to_owned()))
}

/// An authid as Crossbar.io prints it in messages (Python's `None` when absent).
pub(crate) fn authid_display(authid: Option<&str>) -> &str {
    authid.unwrap_or("None")
}

/// A list of names as Python prints it (`['ticket', 'wampcra']`): Crossbar.io's denial message
/// for "no acceptable method" contains the client's list in this form.
fn python_list(items: &[&str]) -> String {
    let repr = |s: &str| {
        let s = s.replace('\\', "\\\\");
        if s.contains('\'') && !s.contains('"') {
            format!("\"{s}\"")
        } else {
            format!("'{}'", s.replace('\'', "\\'"))
        }
    };
    let quoted: Vec<String> = items.iter().map(|s| repr(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The methods a transport enables, ready to answer HELLOs.
struct Methods {
    anonymous: Option<AnonymousAuth>,
    ticket: Option<TicketDb>,
    wampcra: Option<WampCraDb>,
    cryptosign: Option<CryptosignDb>,
}

/// Authenticates sessions against a transport's static `auth` config.
pub struct StaticAuthenticator {
    /// `None`: the transport has no `auth` config, so Crossbar.io's default applies.
    methods: Option<Methods>,
    /// Signs the client's challenge in cryptosign router authentication (the node key).
    router_key: Option<SigningKey>,
}

impl StaticAuthenticator {
    /// The authenticator for a transport's `auth` config. An empty config is the same as
    /// none ([`StaticAuthenticator::unconfigured`]), as in Crossbar.io. Fails on a cryptosign
    /// key that is not a valid Ed25519 public key (path relative to the `auth` dict).
    pub fn new(config: &AuthConfig) -> Result<StaticAuthenticator, ConfigError> {
        if config.is_empty() {
            return Ok(StaticAuthenticator::unconfigured());
        }
        let cryptosign = match &config.cryptosign {
            Some(c) => Some(CryptosignDb::new(c).map_err(|e| e.within("cryptosign"))?),
            None => None,
        };
        let methods = Methods {
            anonymous: config.anonymous.clone(),
            ticket: config.ticket.as_ref().map(TicketDb::new),
            wampcra: config.wampcra.as_ref().map(WampCraDb::new),
            cryptosign,
        };
        Ok(StaticAuthenticator {
            methods: Some(methods),
            router_key: None,
        })
    }

    /// The authenticator of a transport without `auth` config. Crossbar.io's default: a client
    /// offering `anonymous` (or nothing) joins the realm it names with role `anonymous` and a
    /// random authid; a client offering only other methods is refused.
    pub fn unconfigured() -> StaticAuthenticator {
        StaticAuthenticator {
            methods: None,
            router_key: None,
        }
    }

    /// Enables cryptosign router authentication: a client's `authextra.challenge` is signed
    /// with `key` (the node key, as Crossbar.io does).
    pub fn with_router_key(mut self, key: SigningKey) -> StaticAuthenticator {
        self.router_key = Some(key);
        self
    }

    /// The enabled methods, in a fixed order (for logs and status).
    pub fn enabled_methods(&self) -> Vec<&'static str> {
        match &self.methods {
            None => vec!["anonymous"],
            Some(m) => [
                ("anonymous", m.anonymous.is_some()),
                ("ticket", m.ticket.is_some()),
                ("wampcra", m.wampcra.is_some()),
                ("cryptosign", m.cryptosign.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect(),
        }
    }

    /// The answer to a HELLO; synchronous, since static authentication never waits.
    pub fn hello_sync(&self, hello: &HelloInfo) -> AuthStep {
        let offered: Vec<&str> = if hello.authmethods.is_empty() {
            vec!["anonymous"]
        } else {
            hello.authmethods.iter().map(String::as_str).collect()
        };

        let Some(methods) = &self.methods else {
            if !offered.contains(&"anonymous") {
                return AuthStep::Deny(AuthDenied::new(
                    reason::NO_AUTH_METHOD,
                    format!(
                        "cannot authenticate [1] using any of the offered authmethods {}",
                        python_list(&offered)
                    ),
                ));
            }
            return anonymous::welcome(hello, &AnonymousAuth::default(), "no realm requested");
        };

        for &method in &offered {
            if !KNOWN_AUTHMETHODS.contains(&method) {
                return AuthStep::Deny(AuthDenied::new(
                    reason::NOT_AUTHORIZED,
                    format!("invalid authmethod \"{method}\""),
                ));
            }
            match method {
                "anonymous" => {
                    if let Some(a) = &methods.anonymous {
                        return anonymous::welcome(hello, a, "no realm assigned");
                    }
                }
                "ticket" => {
                    if let Some(t) = &methods.ticket {
                        return t.hello(hello);
                    }
                }
                "wampcra" => {
                    if let Some(w) = &methods.wampcra {
                        return w.hello(hello);
                    }
                }
                "cryptosign" => {
                    if let Some(c) = &methods.cryptosign {
                        return c.hello(hello, self.router_key.as_ref());
                    }
                }
                // Known to Crossbar.io, never enabled here (the config refuses them).
                _ => {}
            }
        }
        AuthStep::Deny(AuthDenied::new(
            reason::NO_AUTH_METHOD,
            format!(
                "cannot authenticate [2] using any of the offered authmethods {}",
                python_list(&offered)
            ),
        ))
    }
}

impl Default for StaticAuthenticator {
    fn default() -> Self {
        StaticAuthenticator::unconfigured()
    }
}

impl fmt::Debug for StaticAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticAuthenticator")
            .field("configured", &self.methods.is_some())
            .field("methods", &self.enabled_methods())
            .field(
                "router_key",
                &self
                    .router_key
                    .as_ref()
                    .map(super::cryptosign::public_key_hex),
            )
            .finish()
    }
}

#[async_trait]
impl Authenticator for StaticAuthenticator {
    async fn hello(&self, hello: &HelloInfo) -> AuthStep {
        self.hello_sync(hello)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_list_repr() {
        assert_eq!(python_list(&["ticket", "wampcra"]), "['ticket', 'wampcra']");
        assert_eq!(python_list(&[]), "[]");
        assert_eq!(python_list(&["it's"]), "[\"it's\"]");
        assert_eq!(python_list(&["a'\""]), "['a\\'\"']");
    }
}
