//! The authenticator of a transport's `auth` config (or of none): picks the method from the
//! client's `authmethods` the way Crossbar.io's `RouterSession.onHello` does and hands the
//! HELLO to that method, a static principal database or a dynamic authenticator.

use std::fmt;
use std::sync::Weak;

use async_trait::async_trait;
use ed25519_dalek::SigningKey;

use super::config::{AnonymousAuth, AuthConfig, MethodConfig};
use super::cryptosign::CryptosignDb;
use super::dynamic::DynamicMethod;
use super::scram::ScramDb;
use super::ticket::TicketDb;
use super::tls::TlsDb;
use super::wampcra::WampCraDb;
use super::{AuthDenied, AuthStep, Authenticator, HelloInfo};
use super::{anonymous, reason};
use crate::config::ConfigError;
use crate::router::Router;

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

/// One enabled method: its static database, or the procedure that decides.
enum Method<S> {
    Static(S),
    Dynamic(DynamicMethod),
}

impl<S> Method<S> {
    fn build<C>(
        config: &MethodConfig<C>,
        name: &'static str,
        router: &Weak<Router>,
        db: impl FnOnce(&C) -> Result<S, ConfigError>,
    ) -> Result<Method<S>, ConfigError> {
        Ok(match config {
            MethodConfig::Static(c) => Method::Static(db(c).map_err(|e| e.within(name))?),
            MethodConfig::Dynamic(d) => {
                Method::Dynamic(DynamicMethod::new(d.clone(), name, router.clone()))
            }
            MethodConfig::Function(f) => {
                let d = f.as_dynamic().map_err(|e| e.within(name))?;
                Method::Dynamic(DynamicMethod::new(d, name, router.clone()).provider("function"))
            }
        })
    }
}

/// The methods a transport enables, ready to answer HELLOs.
struct Methods {
    anonymous: Option<Method<AnonymousAuth>>,
    ticket: Option<Method<TicketDb>>,
    wampcra: Option<Method<WampCraDb>>,
    cryptosign: Option<Method<CryptosignDb>>,
    scram: Option<Method<ScramDb>>,
    tls: Option<Method<TlsDb>>,
    /// `auth.cookie`: a cookie that carries a login authenticates.
    cookie: bool,
}

/// Authenticates sessions against a transport's `auth` config.
pub struct ConfigAuthenticator {
    /// `None`: the transport has no `auth` config, so Crossbar.io's default applies.
    methods: Option<Methods>,
    /// Signs the client's challenge in cryptosign router authentication (the node key).
    router_key: Option<SigningKey>,
}

impl ConfigAuthenticator {
    /// The authenticator for a transport's `auth` config. An empty config is the same as
    /// none ([`ConfigAuthenticator::unconfigured`]), as in Crossbar.io. Dynamic methods call
    /// their authenticators through `router`'s realms. Fails on a cryptosign key that is not
    /// a valid Ed25519 public key (path relative to the `auth` dict).
    pub fn new(
        config: &AuthConfig,
        router: Weak<Router>,
    ) -> Result<ConfigAuthenticator, ConfigError> {
        if config.is_empty() {
            return Ok(ConfigAuthenticator::unconfigured());
        }
        let methods = Methods {
            anonymous: opt(&config.anonymous, |c| {
                Method::build(c, "anonymous", &router, |a| Ok(a.clone()))
            })?,
            ticket: opt(&config.ticket, |c| {
                Method::build(c, "ticket", &router, |t| Ok(TicketDb::new(t)))
            })?,
            wampcra: opt(&config.wampcra, |c| {
                Method::build(c, "wampcra", &router, |w| Ok(WampCraDb::new(w)))
            })?,
            cryptosign: opt(&config.cryptosign, |c| {
                Method::build(c, "cryptosign", &router, CryptosignDb::new)
            })?,
            scram: opt(&config.scram, |c| {
                Method::build(c, "scram", &router, |s| Ok(ScramDb::new(s)))
            })?,
            tls: opt(&config.tls, |c| {
                Method::build(c, "tls", &router, |t| Ok(TlsDb::new(t)))
            })?,
            cookie: config.cookie.is_some(),
        };
        Ok(ConfigAuthenticator {
            methods: Some(methods),
            router_key: None,
        })
    }

    /// The authenticator of a transport without `auth` config. Crossbar.io's default: a client
    /// offering `anonymous` (or nothing) joins the realm it names with role `anonymous` and a
    /// random authid; a client offering only other methods is refused.
    pub fn unconfigured() -> ConfigAuthenticator {
        ConfigAuthenticator {
            methods: None,
            router_key: None,
        }
    }

    /// Enables cryptosign router authentication: a client's `authextra.challenge` is signed
    /// with `key` (the node key, as Crossbar.io does).
    pub fn with_router_key(mut self, key: SigningKey) -> ConfigAuthenticator {
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
                ("scram", m.scram.is_some()),
                ("tls", m.tls.is_some()),
                ("cookie", m.cookie),
            ]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect(),
        }
    }

    /// The answer to a HELLO.
    pub async fn answer(&self, hello: &HelloInfo) -> AuthStep {
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
            // Crossbar.io names an anonymous session on a tracked connection by its cookie.
            let config = AnonymousAuth {
                authid: hello.transport.cookie.as_ref().map(|c| c.cbtid.clone()),
                ..AnonymousAuth::default()
            };
            return anonymous::welcome(hello, &config, "no realm requested");
        };

        if methods.cookie
            && let Some(step) = cookie_login(hello, &offered)
        {
            return step;
        }

        for &method in &offered {
            if !KNOWN_AUTHMETHODS.contains(&method) {
                return AuthStep::Deny(AuthDenied::new(
                    reason::NOT_AUTHORIZED,
                    format!("invalid authmethod \"{method}\""),
                ));
            }
            // The first enabled method decides; Crossbar.io never falls back to the next.
            match method {
                "anonymous" => match &methods.anonymous {
                    Some(Method::Static(a)) => {
                        return anonymous::welcome(hello, a, "no realm assigned");
                    }
                    Some(Method::Dynamic(d)) => return d.hello(hello).await,
                    None => {}
                },
                "ticket" => match &methods.ticket {
                    Some(Method::Static(t)) => return t.hello(hello),
                    Some(Method::Dynamic(d)) => return d.hello(hello).await,
                    None => {}
                },
                "wampcra" => match &methods.wampcra {
                    Some(Method::Static(w)) => return w.hello(hello),
                    Some(Method::Dynamic(d)) => return d.hello(hello).await,
                    None => {}
                },
                "cryptosign" => match &methods.cryptosign {
                    Some(Method::Static(c)) => return c.hello(hello, self.router_key.as_ref()),
                    Some(Method::Dynamic(d)) => return d.hello(hello).await,
                    None => {}
                },
                "scram" => match &methods.scram {
                    Some(Method::Static(s)) => return s.hello(hello),
                    Some(Method::Dynamic(d)) => return d.hello(hello).await,
                    None => {}
                },
                "tls" => match &methods.tls {
                    Some(Method::Static(t)) => return t.hello(hello),
                    Some(Method::Dynamic(d)) => return d.hello(hello).await,
                    None => {}
                },
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

impl Default for ConfigAuthenticator {
    fn default() -> Self {
        ConfigAuthenticator::unconfigured()
    }
}

impl fmt::Debug for ConfigAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigAuthenticator")
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
impl Authenticator for ConfigAuthenticator {
    async fn hello(&self, hello: &HelloInfo) -> AuthStep {
        self.answer(hello).await
    }
}

/// Cookie authentication as Crossbar.io's `onHello` does it: a client offering `cookie` on a
/// connection whose cookie carries a login joins as that login (`authprovider: cookie`, the
/// original authmethod); a client offering other methods only revokes the cookie's login
/// (the new login records itself when it succeeds). One difference: a client asking for
/// another realm than the cookie's goes on to its other methods instead of being moved.
fn cookie_login(hello: &HelloInfo, offered: &[&str]) -> Option<AuthStep> {
    let tracking = hello.transport.cookie.as_ref()?;
    let auth = tracking.auth()?;
    if !offered.contains(&"cookie") {
        tracking.revoke();
        return None;
    }
    if hello
        .realm
        .as_deref()
        .is_some_and(|r| !r.is_empty() && r != auth.realm)
    {
        return None;
    }
    Some(AuthStep::Welcome(super::Identity {
        realm: auth.realm,
        authid: auth.authid,
        authrole: auth.authrole,
        authmethod: auth.authmethod.into(),
        authprovider: "cookie".into(),
        authextra: auth.authextra,
    }))
}

/// Builds an optional method.
fn opt<C, T>(
    config: &Option<C>,
    build: impl FnOnce(&C) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    config.as_ref().map(build).transpose()
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
