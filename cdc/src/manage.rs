//! The management API on the global realm (`cdc.manage.*@1`): creating users and realms,
//! registering users and nodes with realms, each confirmed by a PIN (`verify@1`).
//!
//! `create_user@1` and `verify@1` may be called anonymously; the others need a cryptosign user
//! (the router's roles see to that), `create_realm@1` only for one of the caller's own keys,
//! `register_user@1` and `register_node@1` only by the realm's owner. Every call is audited.

use std::sync::Arc;

use router_core::value::Value;

use crate::app::Cdc;
use crate::args::Args;
use crate::error::{CdcError, Result};
use crate::mail::PinMail;
use crate::names;
use crate::registry::AuditEntry;
use crate::registry::realms::{GLOBAL_REALM, UserRole};
use crate::roles;
use crate::verification::{Action, Outcome, unix_now};

/// Who calls (disclosed by the router).
#[derive(Debug, Clone)]
pub struct Caller {
    pub authid: String,
    pub authrole: String,
}

impl Cdc {
    /// Answers `cdc.manage.<name>@1`.
    pub async fn manage(self: &Arc<Self>, name: &str, caller: &Caller, a: Args) -> Result<Value> {
        let result = match name {
            "create_user" => self.create_user(caller, &a).await,
            "verify" => self.verify(&a).await,
            "create_realm" => self.create_realm(caller, &a).await,
            "register_user" => self.register_user(caller, &a).await,
            "register_node" => self.register_node(caller, &a).await,
            _ => Err(CdcError::Internal(format!("no handler for {name}"))),
        };
        // Tokens are secrets: the audit log keeps only the verification ID.
        let logged = if name == "verify" {
            serde_json::json!([a
                .get(0, "verification_id")
                .cloned()
                .map(serde_json::Value::from)])
        } else {
            a.to_json()
        };
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{}: {e}", e.uri()),
        };
        let entry = AuditEntry::new(
            GLOBAL_REALM,
            &caller.authid,
            &caller.authrole,
            &format!("cdc.manage.{name}@1"),
            &logged,
            outcome,
        );
        if let Err(e) = self.registry.audit(&entry) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
        result
    }

    /// The user calling, for procedures that need one.
    fn calling_user(&self, caller: &Caller) -> Result<crate::registry::User> {
        if caller.authrole != roles::USER {
            return Err(CdcError::NotAuthorized(
                "this procedure needs a registered user (authenticate with WAMP-cryptosign)".into(),
            ));
        }
        self.registry
            .user_by_name(&caller.authid)?
            .ok_or_else(|| CdcError::NoSuchUser(format!("no user \"{}\"", caller.authid)))
    }

    /// The owner of `realm` if the caller is it.
    fn require_owner(&self, caller: &Caller, realm: &str) -> Result<crate::registry::User> {
        let user = self.calling_user(caller)?;
        let r = self
            .registry
            .realm(realm)?
            .ok_or_else(|| CdcError::NoSuchRealm(format!("no management realm \"{realm}\"")))?;
        if r.owner != user.name {
            return Err(CdcError::NotAuthorized(format!(
                "only the owner of management realm \"{realm}\" may do this"
            )));
        }
        Ok(user)
    }

    /// Stores the action as pending and mails its PIN; returns the verification ID.
    async fn request(
        &self,
        action: Action,
        to_name: &str,
        to_email: &str,
        by: &str,
    ) -> Result<Value> {
        let pending = self
            .verifier
            .create(&self.registry, &action, by, unix_now())?;
        let mail = PinMail {
            to_name: to_name.to_owned(),
            to_email: to_email.to_owned(),
            action: action.describe(),
            kind: action.kind().to_owned(),
            verification_id: pending.verification_id.clone(),
            token: pending.token,
            expires_in_secs: self.verifier.config().expiry_secs,
        };
        if let Err(e) = self.mailer.send(&mail).await {
            // Nobody can ever verify it: do not leave it behind.
            let _ = self
                .verifier
                .cancel(&self.registry, &pending.verification_id);
            return Err(e);
        }
        Ok(Value::from(pending.verification_id))
    }

    async fn create_user(&self, caller: &Caller, a: &Args) -> Result<Value> {
        let user_name = a.str(0, "user_name")?;
        names::check_name("user_name", user_name)?;
        let user_email = a.str(1, "user_email")?;
        names::check_email(user_email)?;
        let user_pubkey = names::normalize_pubkey("user_pubkey", a.str(2, "user_pubkey")?)?;
        // Adding a key to an existing user: the PIN goes to the address on record.
        let to_email = match self.registry.user_by_name(user_name)? {
            Some(u) => u.email,
            None => user_email.to_owned(),
        };
        let action = Action::CreateUser {
            user_name: user_name.to_owned(),
            user_email: user_email.to_owned(),
            user_pubkey,
        };
        self.request(action, user_name, &to_email, &caller.authid)
            .await
    }

    async fn create_realm(&self, caller: &Caller, a: &Args) -> Result<Value> {
        let user = self.calling_user(caller)?;
        let realm = a.str(0, "management_realm")?;
        names::check_name("management_realm", realm)?;
        let owner_pubkey = names::normalize_pubkey("owner_pubkey", a.str(1, "owner_pubkey")?)?;
        if !user.pubkeys.contains(&owner_pubkey) {
            return Err(CdcError::NotAuthorized(
                "owner_pubkey must be one of your own public keys".into(),
            ));
        }
        let action = Action::CreateRealm {
            realm: realm.to_owned(),
            owner_pubkey,
        };
        self.request(action, &user.name, &user.email, &user.name)
            .await
    }

    async fn register_user(&self, caller: &Caller, a: &Args) -> Result<Value> {
        let realm = a.str(0, "management_realm")?;
        let owner = self.require_owner(caller, realm)?;
        let user_pubkey = names::normalize_pubkey("user_pubkey", a.str(1, "user_pubkey")?)?;
        let role = UserRole::parse(a.str(2, "user_role")?)?;
        let extra = a
            .opt_dict(3, "user_extra")?
            .map(|d| serde_json::Value::from(Value::Dict(d)));
        let action = Action::RegisterUser {
            realm: realm.to_owned(),
            user_pubkey,
            user_role: role.as_str().to_owned(),
            user_extra: extra,
        };
        self.request(action, &owner.name, &owner.email, &owner.name)
            .await
    }

    async fn register_node(&self, caller: &Caller, a: &Args) -> Result<Value> {
        let realm = a.str(0, "management_realm")?;
        let owner = self.require_owner(caller, realm)?;
        let node_pubkey = names::normalize_pubkey("node_pubkey", a.str(1, "node_pubkey")?)?;
        let node_id = a.str(2, "node_id")?;
        names::check_node_id(node_id)?;
        let extra = a
            .opt_dict(3, "node_extra")?
            .map(|d| serde_json::Value::from(Value::Dict(d)));
        let action = Action::RegisterNode {
            realm: realm.to_owned(),
            node_pubkey,
            node_id: node_id.to_owned(),
            node_extra: extra,
        };
        self.request(action, &owner.name, &owner.email, &owner.name)
            .await
    }

    async fn verify(self: &Arc<Self>, a: &Args) -> Result<Value> {
        let verification_id = a.str(0, "verification_id")?;
        let token = a.str(1, "token")?;
        let (_, outcome) =
            self.verifier
                .verify(&self.registry, verification_id, token, unix_now())?;
        match &outcome {
            Outcome::RealmCreated { realm, .. } => self.start_management_realm(realm).await?,
            Outcome::NodeRegistered { realm, node_id } => self.add_node_role(realm, node_id),
            Outcome::UserCreated { .. } | Outcome::UserRegistered { .. } => {}
        }
        tracing::info!(outcome = %outcome.to_json(), "verification succeeded");
        Ok(Value::from(outcome.to_json()))
    }
}
