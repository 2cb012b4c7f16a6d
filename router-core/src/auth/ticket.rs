//! WAMP-Ticket: an empty CHALLENGE, answered with the principal's ticket in plain text.

use std::collections::BTreeMap;

use async_trait::async_trait;
use subtle::ConstantTimeEq as _;

use super::config::TicketAuth;
use super::config_auth::{Principal, assign, authid_display};
use super::reason;
use super::{AuthDenied, AuthStep, HelloInfo, Identity, PendingAuth};
use crate::value::Dict;

/// A static ticket principal database.
pub(crate) struct TicketDb {
    principals: BTreeMap<String, (Principal, String)>,
    default_role: Option<String>,
}

impl TicketDb {
    pub(crate) fn new(config: &TicketAuth) -> TicketDb {
        let principals = config
            .principals
            .iter()
            .map(|(authid, p)| {
                let principal = Principal {
                    realm: None,
                    role: p.role.clone(),
                };
                (authid.clone(), (principal, p.ticket.clone()))
            })
            .collect();
        TicketDb {
            principals,
            default_role: config.default_role.clone(),
        }
    }

    /// Answers a HELLO for `ticket`: an empty challenge, or Crossbar.io's denial.
    pub(crate) fn hello(&self, hello: &HelloInfo) -> AuthStep {
        let Some((principal, ticket)) = hello.authid.as_ref().and_then(|a| self.principals.get(a))
        else {
            return AuthStep::Deny(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                format!(
                    "no principal with authid \"{}\" exists",
                    authid_display(hello.authid.as_deref())
                ),
            ));
        };
        let authid = hello.authid.clone().unwrap_or_default();
        let (realm, authrole) =
            match assign(hello, &authid, principal, self.default_role.as_deref()) {
                Ok(assigned) => assigned,
                Err(denied) => return AuthStep::Deny(denied),
            };
        let identity = Identity {
            realm,
            authid,
            authrole,
            authmethod: "ticket".into(),
            authprovider: "static".into(),
            // Crossbar.io hands the client's authextra back in WELCOME for ticket principals.
            authextra: hello.authextra.clone(),
        };
        AuthStep::Challenge {
            method: "ticket".into(),
            extra: Dict::new(),
            pending: Box::new(PendingTicket {
                ticket: ticket.clone(),
                identity,
            }),
        }
    }
}

/// A ticket CHALLENGE sent, waiting for the ticket.
struct PendingTicket {
    ticket: String,
    identity: Identity,
}

#[async_trait]
impl PendingAuth for PendingTicket {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        // Constant time, so the ticket cannot be guessed byte by byte from response times.
        if bool::from(self.ticket.as_bytes().ct_eq(signature.as_bytes())) {
            Ok(self.identity)
        } else {
            Err(AuthDenied::new(
                reason::NOT_AUTHORIZED,
                "ticket in static WAMP-Ticket authentication is invalid",
            ))
        }
    }
}
