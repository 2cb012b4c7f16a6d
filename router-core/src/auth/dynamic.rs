//! Dynamic authentication: the router asks a WAMP procedure who a client is.
//!
//! As Crossbar.io does (`PendingAuth._init_dynamic_authenticator`, `_assign_principal`), the
//! router's service session on the authenticator realm (`authenticator-realm`, else the realm
//! the client asked for) calls the configured procedure with `(realm, authid, details)`:
//! anonymous, wampcra and cryptosign at HELLO, ticket at AUTHENTICATE (with the ticket in
//! `details.ticket`). The answer is a role, or a dict with `role`, `authid`, `realm`, `extra`
//! (WELCOME's authextra) and the method's secrets (`secret`, `salt`, `iterations`, `keylen`
//! for wampcra; `pubkey` for cryptosign; the credential of a static principal for scram). The authenticator's own error reaches the client
//! as ABORT with its URI and first argument. The call runs on the connecting session's own
//! task, so a slow authenticator holds up only that handshake; it is bounded by the
//! method's timeout, which Crossbar.io does not have.

use std::sync::Weak;

use async_trait::async_trait;

use super::config::DynamicAuth;
use super::{AuthDenied, AuthStep, HelloInfo, Identity, PendingAuth, TransportInfo, reason};
use super::{anonymous, cryptosign, scram, tls, wampcra};
use crate::client::{CallError, CallOptions, Session};
use crate::router::Router;
use crate::value::{Dict, Value};

/// The role of the service session that calls the authenticator when none is configured.
const SERVICE_ROLE: &str = "trusted";

/// A dynamic authenticator for one method of a transport.
pub(crate) struct DynamicMethod {
    config: DynamicAuth,
    /// The method's name as the client offers it.
    method: &'static str,
    router: Weak<Router>,
    /// `dynamic`, or `function` for a hosted callable.
    provider: &'static str,
}

/// What the authenticator said, checked.
struct Assigned {
    identity: Identity,
    /// The whole answer dict (the method's secrets are read from it).
    answer: Dict,
}

impl DynamicMethod {
    pub(crate) fn new(config: DynamicAuth, method: &'static str, router: Weak<Router>) -> Self {
        DynamicMethod {
            config,
            method,
            router,
            provider: "dynamic",
        }
    }

    /// The `authprovider` the session is welcomed with (`function` for hosted callables).
    pub(crate) fn provider(mut self, provider: &'static str) -> Self {
        self.provider = provider;
        self
    }

    /// Answers a HELLO offering this method.
    pub(crate) async fn hello(&self, hello: &HelloInfo) -> AuthStep {
        match self.step(hello).await {
            Ok(step) => step,
            Err(denied) => AuthStep::Deny(denied),
        }
    }

    async fn step(&self, hello: &HelloInfo) -> Result<AuthStep, AuthDenied> {
        match self.method {
            "anonymous" => {
                let authid = self
                    .config
                    .authid
                    .clone()
                    .unwrap_or_else(anonymous::generate_serial_number);
                let service = self.service(hello).await?;
                let a = self
                    .ask(&service, hello, Some(&authid), self.details(hello))
                    .await?;
                Ok(AuthStep::Welcome(a.identity))
            }
            "ticket" => {
                // Crossbar.io checks the authenticator's realm and role at HELLO and asks it
                // only once the ticket has arrived.
                let service = self.service(hello).await?;
                Ok(AuthStep::Challenge {
                    method: "ticket".into(),
                    extra: Dict::new(),
                    pending: Box::new(PendingTicket {
                        authenticator: DynamicMethod::new(
                            self.config.clone(),
                            self.method,
                            self.router.clone(),
                        )
                        .provider(self.provider),
                        service,
                        hello: hello.clone(),
                    }),
                })
            }
            "wampcra" => {
                let a = self.ask_at_hello(hello).await?;
                let secret = answer_str(&a.answer, "secret")?.ok_or_else(|| {
                    failed("the dynamic authenticator's answer has no \"secret\" for WAMP-CRA")
                })?;
                let salting = salting(&a.answer)?;
                let key = match &salting {
                    Some((salt, iterations, keylen)) => {
                        wampcra::derive_key(secret, salt, *iterations, *keylen)
                    }
                    None => secret.to_owned(),
                };
                Ok(wampcra::challenge(
                    a.identity,
                    hello.session_id,
                    &key,
                    salting.as_ref(),
                ))
            }
            "cryptosign" => {
                let binding = cryptosign::check_channel_binding(hello)?;
                let a = self.ask_at_hello(hello).await?;
                let pubkey = answer_str(&a.answer, "pubkey")?.ok_or_else(|| {
                    failed(
                        "the dynamic authenticator's answer has no \"pubkey\" for WAMP-Cryptosign",
                    )
                })?;
                let key = cryptosign::parse_public_key(pubkey).map_err(|e| {
                    failed(format!(
                        "the dynamic authenticator's \"pubkey\" is not usable: {e}"
                    ))
                })?;
                Ok(cryptosign::challenge(a.identity, key, None, binding))
            }
            "scram" => {
                // Crossbar.io checks the nonce and authid before it asks, and passes neither
                // authid nor authrole in `details`.
                let nonce = scram::client_nonce(hello)?;
                let authid = scram::requested_authid(hello)?;
                let service = self.service(hello).await?;
                let a = self
                    .ask(&service, hello, Some(authid), self.details(hello))
                    .await?;
                let credential = scram::Credential::from_answer(&a.answer)
                    .map_err(|e| failed(format!("the dynamic authenticator's answer {e}")))?;
                Ok(scram::challenge(a.identity, nonce, credential))
            }
            "tls" => {
                // The certificate is in `details.transport.peer_cert` (and `client_cert`).
                tls::peer_cert(hello)?;
                let service = self.service(hello).await?;
                let a = self
                    .ask(
                        &service,
                        hello,
                        hello.authid.as_deref(),
                        self.details(hello),
                    )
                    .await?;
                Ok(AuthStep::Welcome(a.identity))
            }
            other => Err(AuthDenied::new(
                reason::NO_AUTH_METHOD,
                format!("dynamic authentication is not available for \"{other}\""),
            )),
        }
    }

    /// Asks the authenticator at HELLO with the HELLO's authid and authrole in `details`
    /// (wampcra and cryptosign, as Crossbar.io passes them).
    async fn ask_at_hello(&self, hello: &HelloInfo) -> Result<Assigned, AuthDenied> {
        let service = self.service(hello).await?;
        let mut details = self.details(hello);
        details.insert("authid".into(), opt_str(hello.authid.as_deref()));
        details.insert("authrole".into(), opt_str(hello.authrole.as_deref()));
        self.ask(&service, hello, hello.authid.as_deref(), details)
            .await
    }

    /// The router's session that calls the authenticator, on the authenticator realm.
    async fn service(&self, hello: &HelloInfo) -> Result<Session, AuthDenied> {
        let realm_name = match (&self.config.authenticator_realm, &hello.realm) {
            (Some(r), _) => r.clone(),
            (None, Some(r)) if !r.is_empty() => r.clone(),
            (None, _) => {
                return Err(AuthDenied::new(
                    reason::NO_SUCH_REALM,
                    "client did not specify a realm to join (and no explicit realm was configured for dynamic authenticator)",
                ));
            }
        };
        let router = self
            .router
            .upgrade()
            .ok_or_else(|| failed("the router is shutting down"))?;
        let Some(realm) = router.realm(&realm_name) else {
            return Err(AuthDenied::new(
                reason::NO_SUCH_REALM,
                format!(
                    "explicit realm <{realm_name}> configured for dynamic authenticator does not exist"
                ),
            ));
        };
        let role = self
            .config
            .authenticator_role
            .as_deref()
            .unwrap_or(SERVICE_ROLE);
        if !realm.has_role(role) {
            return Err(AuthDenied::new(
                reason::NO_SUCH_ROLE,
                format!(
                    "explicit role <{role}> on realm <{realm_name}> configured for dynamic authenticator does not exist"
                ),
            ));
        }
        realm.service_session(role).await.map_err(failed)
    }

    /// `details` as Crossbar.io passes them: transport, session, authmethod, authextra.
    fn details(&self, hello: &HelloInfo) -> Dict {
        let mut d = Dict::new();
        d.insert(
            "transport".into(),
            Value::Dict(transport_details(&hello.transport)),
        );
        d.insert("session".into(), Value::from(hello.session_id));
        d.insert("authmethod".into(), Value::from(self.method));
        d.insert("authextra".into(), Value::Dict(hello.authextra.clone()));
        d
    }

    /// Calls the authenticator and checks its answer.
    async fn ask(
        &self,
        service: &Session,
        hello: &HelloInfo,
        authid: Option<&str>,
        details: Dict,
    ) -> Result<Assigned, AuthDenied> {
        let uri = &self.config.authenticator;
        let args = vec![
            opt_str(hello.realm.as_deref()),
            opt_str(authid),
            Value::Dict(details),
        ];
        let timeout = self.config.timeout();
        // Dropping the call on timeout cancels it at the callee.
        let call = service.call(uri, args, Dict::new(), CallOptions::default());
        let result = match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                return Err(failed(format!(
                    "dynamic authenticator {uri} did not answer within {} s",
                    timeout.as_secs_f64()
                )));
            }
            Ok(Err(e)) => return Err(authenticator_error(e)),
            Ok(Ok(r)) => r,
        };
        if result.args.len() != 1 || !result.kwargs.is_empty() {
            return Err(failed(
                "got invalid return type \"<class 'autobahn.wamp.types.CallResult'>\" from dynamic authenticator",
            ));
        }
        let answer = match result.args.into_iter().next() {
            Some(Value::String(role)) => {
                let mut d = Dict::new();
                d.insert("role".into(), Value::String(role));
                d
            }
            Some(Value::Dict(d)) => d,
            Some(other) => {
                return Err(failed(format!(
                    "got invalid return type \"<class '{}'>\" from dynamic authenticator",
                    python_type(&other)
                )));
            }
            None => unreachable!("one argument checked above"),
        };
        self.assign(hello, authid, answer)
    }

    /// Crossbar.io's `_assign_principal`: realm, authid, role and extra from the answer.
    fn assign(
        &self,
        hello: &HelloInfo,
        authid: Option<&str>,
        answer: Dict,
    ) -> Result<Assigned, AuthDenied> {
        let realm = answer_str(&answer, "realm")?
            .map(str::to_owned)
            .or_else(|| hello.realm.clone())
            .filter(|r| !r.is_empty());
        let authid = answer_str(&answer, "authid")?
            .or(authid)
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        let authrole = answer_str(&answer, "role")?
            .map(str::to_owned)
            .or_else(|| self.config.default_role.clone())
            .filter(|r| !r.is_empty());
        let authextra = match answer.get("extra") {
            None | Some(Value::Null) => Dict::new(),
            Some(Value::Dict(d)) => d.clone(),
            Some(other) => {
                return Err(failed(format!(
                    "the dynamic authenticator's \"extra\" must be a dict, not {}",
                    other.type_name()
                )));
            }
        };
        let Some(realm) = realm else {
            return Err(AuthDenied::new(reason::NO_SUCH_REALM, "no realm assigned"));
        };
        let Some(authid) = authid else {
            return Err(AuthDenied::new(
                reason::NO_SUCH_PRINCIPAL,
                "no authid assigned",
            ));
        };
        let Some(authrole) = authrole else {
            return Err(AuthDenied::new(
                reason::NO_SUCH_ROLE,
                "no authrole assigned",
            ));
        };
        Ok(Assigned {
            identity: Identity {
                realm,
                authid,
                authrole,
                authmethod: self.method.into(),
                authprovider: self.provider.into(),
                authextra,
            },
            answer,
        })
    }
}

/// A ticket CHALLENGE sent; the authenticator is asked when the ticket arrives.
struct PendingTicket {
    authenticator: DynamicMethod,
    service: Session,
    hello: HelloInfo,
}

#[async_trait]
impl PendingAuth for PendingTicket {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        let mut details = self.authenticator.details(&self.hello);
        details.insert("ticket".into(), Value::from(signature));
        let a = self
            .authenticator
            .ask(
                &self.service,
                &self.hello,
                self.hello.authid.as_deref(),
                details,
            )
            .await?;
        Ok(a.identity)
    }
}

/// The transport's details as Crossbar.io's `TransportDetails.marshal()` names them (the
/// keys we know; the rest are null).
pub(crate) fn transport_details(t: &TransportInfo) -> Dict {
    let mut d = Dict::new();
    let tcp = if t.secure { "tls" } else { "tcp" };
    let (channel_type, framing) = match t.kind {
        "websocket" => (tcp, "websocket"),
        "rawsocket" => (tcp, "rawsocket"),
        "unix" => ("unix", "rawsocket"),
        "longpoll" => (tcp, "longpoll"),
        other => ("function", other),
    };
    d.insert("channel_type".into(), Value::from(channel_type));
    d.insert("channel_framing".into(), Value::from(framing));
    d.insert("peer".into(), Value::from(t.peer.clone()));
    d.insert("is_server".into(), Value::Bool(true));
    d.insert("own_pid".into(), Value::from(std::process::id()));
    d.insert("transport".into(), Value::from(&*t.id));
    d.insert(
        "http_headers_received".into(),
        t.http_headers
            .clone()
            .map(Value::Dict)
            .unwrap_or(Value::Null),
    );
    d.insert("is_secure".into(), Value::Bool(t.secure));
    // `client_cert` is the key's name before autobahn's TransportDetails (2022), which
    // Crossbar.io still sets for authenticators that read it.
    let cert = t
        .peer_cert
        .as_deref()
        .map(|c| Value::Dict(c.clone()))
        .unwrap_or(Value::Null);
    d.insert("peer_cert".into(), cert.clone());
    d.insert("client_cert".into(), cert);
    let mut channel_id = Dict::new();
    if let Some(id) = t.channel_id {
        channel_id.insert(
            "tls-unique".into(),
            Value::Bytes(bytes::Bytes::copy_from_slice(&id)),
        );
    }
    d.insert("channel_id".into(), Value::Dict(channel_id));
    d
}

/// A string key of the answer; a value of another type is an error naming the key.
fn answer_str<'a>(answer: &'a Dict, key: &str) -> Result<Option<&'a str>, AuthDenied> {
    match answer.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(failed(format!(
            "the dynamic authenticator's \"{key}\" must be a string, not {}",
            other.type_name()
        ))),
    }
}

/// `(salt, iterations, keylen)` when the answer has all three (as Crossbar.io requires).
fn salting(answer: &Dict) -> Result<Option<(String, u32, u16)>, AuthDenied> {
    let Some(salt) = answer_str(answer, "salt")? else {
        return Ok(None);
    };
    let number = |key: &str| match answer.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
            failed(format!(
                "the dynamic authenticator's \"{key}\" must be a positive integer"
            ))
        }),
    };
    let (Some(iterations), Some(keylen)) = (number("iterations")?, number("keylen")?) else {
        return Ok(None);
    };
    let iterations =
        u32::try_from(iterations).map_err(|_| failed("\"iterations\" is too large"))?;
    let keylen = u16::try_from(keylen).map_err(|_| failed("\"keylen\" is too large"))?;
    Ok(Some((salt.to_owned(), iterations, keylen)))
}

/// The authenticator's error as ABORT: its URI and first argument, as Crossbar.io forwards
/// them; a failure of the call itself (the service session gone) as authentication_failed.
fn authenticator_error(e: CallError) -> AuthDenied {
    if e.error.starts_with("wamp.close.") {
        return failed(format!("dynamic authenticator failed: {e}"));
    }
    let message = match e.args.first() {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => serde_json::Value::from(other.clone()).to_string(),
    };
    AuthDenied {
        reason: e.error,
        message,
    }
}

fn failed(message: impl Into<String>) -> AuthDenied {
    AuthDenied::new(reason::AUTHENTICATION_FAILED, message)
}

fn opt_str(s: Option<&str>) -> Value {
    s.map(Value::from).unwrap_or(Value::Null)
}

/// The Python type name of a value as autobahn-python would decode it.
fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::UInt(_) => "int",
        Value::Float(_) => "float",
        Value::String(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        Value::Tagged(2 | 3, _) => "int",
        Value::Tagged(..) => "CBORTag",
    }
}
