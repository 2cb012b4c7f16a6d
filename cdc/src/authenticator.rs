//! Who connects to the CDC: users and nodes by WAMP-cryptosign (the public key decides who they
//! are), anonymous clients on the global realm only.
//!
//! - A node says HELLO with realm null (or its realm's name), authrole `node` and its public
//!   key, exactly as to Crossbar.io's master; it is welcomed on the realm it is paired with,
//!   with authid = its node ID, authextra = the node extra given at pairing, and the role
//!   `node:<node_id>`. An unknown key is refused with `fabric.auth-failed.node-unpaired`, the
//!   reason nodes look for.
//! - A user joins the global realm as `user`, or a management realm as `owner` or with the role
//!   registered for that key (authid = the user name).
//! - Anonymous sessions may join the global realm only.

use std::sync::Arc;

use async_trait::async_trait;
use router_core::Router;
use router_core::auth::{AuthDenied, AuthStep, Authenticator, HelloInfo, Identity, PendingAuth};
use router_core::auth::{cryptosign, reason};
use router_core::value::{Dict, Value};

use crate::registry::realms::GLOBAL_REALM;
use crate::registry::{KeyOwner, Registry};
use crate::roles;

/// The ABORT reason for a node key that is not paired (Crossbar.io's master sends the same).
pub const NODE_UNPAIRED: &str = "fabric.auth-failed.node-unpaired";

/// The CDC's authenticator, for every listening transport.
pub struct CdcAuthenticator {
    registry: Arc<Registry>,
    router: Arc<Router>,
}

impl CdcAuthenticator {
    pub fn new(registry: Arc<Registry>, router: Arc<Router>) -> Self {
        CdcAuthenticator { registry, router }
    }

    fn decide(&self, hello: &HelloInfo) -> Result<AuthStep, AuthDenied> {
        let wants = |m: &str| hello.authmethods.iter().any(|x| x == m);
        let pubkey = match hello.authextra.get("pubkey") {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        if wants("cryptosign")
            && let Some(pubkey) = pubkey
        {
            return self.cryptosign(hello, pubkey);
        }
        let as_node = hello.authrole.as_deref() == Some("node");
        if as_node {
            return Err(AuthDenied::new(
                NODE_UNPAIRED,
                "nodes must authenticate with WAMP-cryptosign and send their public key (authextra.pubkey)",
            ));
        }
        if wants("anonymous") {
            return match hello.realm.as_deref() {
                None | Some(GLOBAL_REALM) => Ok(AuthStep::Welcome(Identity {
                    realm: GLOBAL_REALM.into(),
                    authid: router_core::util::serial_number(),
                    authrole: roles::ANONYMOUS.into(),
                    authmethod: "anonymous".into(),
                    authprovider: "cdc".into(),
                    authextra: Dict::new(),
                })),
                Some(realm) => Err(AuthDenied::new(
                    reason::NOT_AUTHORIZED,
                    format!(
                        "anonymous access to management realm \"{realm}\" is not allowed: authenticate with WAMP-cryptosign"
                    ),
                )),
            };
        }
        Err(AuthDenied::new(
            reason::NO_AUTH_METHOD,
            "the CDC accepts WAMP-cryptosign (with authextra.pubkey), and anonymous on the global realm",
        ))
    }

    fn cryptosign(&self, hello: &HelloInfo, pubkey: &str) -> Result<AuthStep, AuthDenied> {
        let deny = |m: String| AuthDenied::new(reason::NOT_AUTHORIZED, m);
        match hello.authextra.get("channel_binding") {
            None | Some(Value::Null) => {}
            Some(_) => {
                return Err(deny(
                    "channel binding is not supported by this CDC: send channel_binding null"
                        .into(),
                ));
            }
        }
        let key = cryptosign::parse_public_key(pubkey)
            .map_err(|e| deny(format!("invalid authextra.pubkey: {e}")))?;
        let pubkey = pubkey.to_ascii_lowercase();
        let owner = self.registry.key_owner(&pubkey).map_err(|e| {
            AuthDenied::new(
                reason::AUTHENTICATION_FAILED,
                format!("registry unavailable: {e}"),
            )
        })?;
        let as_node = hello.authrole.as_deref() == Some("node");
        let identity = match owner {
            Some(KeyOwner::Node { realm, node_id }) => {
                if let Some(asked) = &hello.realm
                    && *asked != realm
                {
                    return Err(deny(format!(
                        "node \"{node_id}\" is paired with management realm \"{realm}\", not \"{asked}\""
                    )));
                }
                let extra = self
                    .registry
                    .node(&realm, &node_id)
                    .ok()
                    .flatten()
                    .and_then(|n| n.extra)
                    .map(Value::from);
                Identity {
                    realm,
                    authrole: roles::node_role(&node_id),
                    authid: node_id,
                    authmethod: "cryptosign".into(),
                    authprovider: "cdc".into(),
                    authextra: match extra {
                        Some(Value::Dict(d)) => d,
                        _ => Dict::new(),
                    },
                }
            }
            None if as_node || hello.realm.is_none() => {
                return Err(AuthDenied::new(
                    NODE_UNPAIRED,
                    format!(
                        "node public key {pubkey} is not paired with any management realm of this CDC; \
                         the realm owner pairs it with cdc.manage.register_node@1(<management_realm>, \"{pubkey}\", <node_id>, <node_extra>)"
                    ),
                ));
            }
            None => {
                return Err(deny(format!(
                    "no user has the public key {pubkey}; register it with cdc.manage.create_user@1 (anonymously, on realm \"{GLOBAL_REALM}\")"
                )));
            }
            Some(KeyOwner::User(_)) if as_node => {
                return Err(AuthDenied::new(
                    NODE_UNPAIRED,
                    format!("public key {pubkey} belongs to a user, not to a paired node"),
                ));
            }
            Some(KeyOwner::User(user)) => self.user_identity(hello, &pubkey, user)?,
        };
        let mut challenge = [0u8; cryptosign::CHALLENGE_LEN];
        rand::fill(&mut challenge);
        let mut extra = Dict::new();
        extra.insert("challenge".into(), Value::String(hex::encode(challenge)));
        extra.insert("channel_binding".into(), Value::Null);
        Ok(AuthStep::Challenge {
            method: "cryptosign".into(),
            extra,
            pending: Box::new(PendingSignature {
                key,
                challenge,
                identity,
                router: self.router.clone(),
            }),
        })
    }

    /// The realm of a user's HELLO that names none (the seed's tutorials join with realm
    /// `None`): the one management realm the user owns or is registered on; the global
    /// realm when there is none; with several, the user must name one.
    fn default_realm(&self, user: &str, pubkey: &str) -> Result<String, AuthDenied> {
        let unavailable = |e: crate::error::CdcError| {
            AuthDenied::new(reason::AUTHENTICATION_FAILED, e.to_string())
        };
        let mut mine = Vec::new();
        for r in self.registry.realms().map_err(unavailable)? {
            let member = r.owner == user
                || self
                    .registry
                    .membership(&r.name, pubkey)
                    .map_err(unavailable)?
                    .is_some();
            if member {
                mine.push(r.name);
            }
        }
        match mine.len() {
            0 => Ok(GLOBAL_REALM.to_owned()),
            1 => Ok(mine.remove(0)),
            _ => {
                mine.sort();
                Err(AuthDenied::new(
                    reason::NO_SUCH_REALM,
                    format!(
                        "user \"{user}\" is on several management realms ({}): name the realm to join",
                        mine.join(", ")
                    ),
                ))
            }
        }
    }

    fn user_identity(
        &self,
        hello: &HelloInfo,
        pubkey: &str,
        user: String,
    ) -> Result<Identity, AuthDenied> {
        let deny = |m: String| AuthDenied::new(reason::NOT_AUTHORIZED, m);
        let unavailable = |e: crate::error::CdcError| {
            AuthDenied::new(reason::AUTHENTICATION_FAILED, e.to_string())
        };
        let realm = match &hello.realm {
            Some(r) => r.clone(),
            None => self.default_realm(&user, pubkey)?,
        };
        let (authrole, authextra) = if realm == GLOBAL_REALM {
            (roles::USER.to_owned(), Dict::new())
        } else {
            let Some(r) = self.registry.realm(&realm).map_err(unavailable)? else {
                return Err(AuthDenied::new(
                    reason::NO_SUCH_REALM,
                    format!("no management realm \"{realm}\""),
                ));
            };
            if r.owner == user {
                (roles::OWNER.to_owned(), Dict::new())
            } else {
                match self
                    .registry
                    .membership(&realm, pubkey)
                    .map_err(unavailable)?
                {
                    Some(m) => (
                        m.role.as_str().to_owned(),
                        match m.extra.map(Value::from) {
                            Some(Value::Dict(d)) => d,
                            _ => Dict::new(),
                        },
                    ),
                    None => {
                        return Err(deny(format!(
                            "user \"{user}\" (public key {pubkey}) is not registered on management realm \"{realm}\""
                        )));
                    }
                }
            }
        };
        Ok(Identity {
            realm,
            authid: user,
            authrole,
            authmethod: "cryptosign".into(),
            authprovider: "cdc".into(),
            authextra,
        })
    }
}

#[async_trait]
impl Authenticator for CdcAuthenticator {
    async fn hello(&self, hello: &HelloInfo) -> AuthStep {
        match self.decide(hello) {
            Ok(step) => step,
            Err(denied) => {
                tracing::info!(reason = %denied.reason, message = %denied.message, peer = %hello.transport.peer, "session refused");
                AuthStep::Deny(denied)
            }
        }
    }
}

/// A CHALLENGE sent; the signature decides.
struct PendingSignature {
    key: ed25519_dalek::VerifyingKey,
    challenge: [u8; cryptosign::CHALLENGE_LEN],
    identity: Identity,
    router: Arc<Router>,
}

#[async_trait]
impl PendingAuth for PendingSignature {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        cryptosign::verify_signature(&self.key, signature, &self.challenge)?;
        if let Some(node_id) = roles::node_of_role(&self.identity.authrole) {
            // A node that reconnects while its old session lingers (a half-open TCP connection)
            // replaces it: the old session would hold on to the node's registrations.
            if let Some(realm) = self.router.realm(&self.identity.realm) {
                let role = [self.identity.authrole.clone()];
                for old in realm.sessions(Some(&role)) {
                    tracing::info!(
                        node = node_id,
                        session = old.id,
                        "node reconnected: closing its previous session"
                    );
                    old.close("wamp.close.replaced", "the node connected again");
                }
            }
        }
        Ok(self.identity)
    }
}
