//! Dynamic authorizers: a role with `authorizer` asks that procedure before each CALL,
//! REGISTER, PUBLISH and SUBSCRIBE of its sessions.
//!
//! As in Crossbar.io (`RouterRoleDynamicAuth`), the realm's service session calls
//! `authorizer(session, uri, action, options)`: `session` is the session's details (session,
//! authid, authrole, authmethod, authprovider, authextra, transport), `action` one of `call`,
//! `register`, `publish`, `subscribe`, `options` the message's options. The answer is a bool
//! or a dict with `allow` (required), `disclose`, `cache` and `validate`. An error, a bad
//! answer or no answer in time denies with `wamp.error.authorization_failed`.
//!
//! The session's own task waits for the answer, so its messages stay in order and other
//! sessions are not held up. `cache: true` keeps the answer for that session, URI and action
//! (Crossbar.io keeps it per role; per session is never wrong for an authorizer that looks
//! at the authid).

use std::time::Duration;

use crate::authorization::{Action, Authorization};
use crate::client::CallOptions;
use crate::message::{Message, code};
use crate::session::{SessionCtx, Step, dispatch};
use crate::util::HashMap;
use crate::value::{Dict, Value};

/// How long a session waits for its authorizer (Crossbar.io waits forever).
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

/// The error URI of a failed authorization (as opposed to a denied one).
const AUTHORIZATION_FAILED: &str = "wamp.error.authorization_failed";

/// A session's dynamic authorization state, boxed on the session (most have none).
#[derive(Default)]
pub(crate) struct AuthorizerState {
    /// Answers given with `cache: true`.
    cache: HashMap<(String, Action), Authorization>,
    /// The answer for the message being routed now, taken by [`SessionCtx::authorize`].
    decided: Option<(Action, String, Authorization)>,
}

impl AuthorizerState {
    /// The decision for `uri` and `action` if it was made for the message being routed.
    pub(crate) fn take_decided(&mut self, uri: &str, action: Action) -> Option<Authorization> {
        match self.decided.take() {
            Some((a, u, auth)) if a == action && u == uri => Some(auth),
            _ => None,
        }
    }
}

/// The question a message asks an authorizer.
struct Question<'m> {
    action: Action,
    uri: &'m str,
    options: &'m Dict,
    request: u64,
    request_type: u64,
    /// Whether a failure is answered (a PUBLISH only when acknowledged).
    answered: bool,
}

fn question(msg: &Message) -> Option<Question<'_>> {
    match msg {
        Message::Call {
            request,
            options,
            procedure,
            ..
        } => Some(Question {
            action: Action::Call,
            uri: procedure,
            options,
            request: *request,
            request_type: code::CALL,
            answered: true,
        }),
        Message::Register {
            request,
            options,
            procedure,
        } => Some(Question {
            action: Action::Register,
            uri: procedure,
            options,
            request: *request,
            request_type: code::REGISTER,
            answered: true,
        }),
        Message::Publish {
            request,
            options,
            topic,
            ..
        } => Some(Question {
            action: Action::Publish,
            uri: topic,
            options,
            request: *request,
            request_type: code::PUBLISH,
            answered: options
                .get("acknowledge")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        Message::Subscribe {
            request,
            options,
            topic,
        } => Some(Question {
            action: Action::Subscribe,
            uri: topic,
            options,
            request: *request,
            request_type: code::SUBSCRIBE,
            answered: true,
        }),
        _ => None,
    }
}

/// Routes `msg` after asking the session's authorizer, if its role has one.
pub(crate) async fn dispatch_authorized(ctx: &mut SessionCtx, msg: Message) -> Step {
    let Some(q) = question(&msg) else {
        return dispatch(ctx, msg);
    };
    let Some(role) = ctx.realm.role(&ctx.handle.identity.authrole) else {
        return dispatch(ctx, msg);
    };
    let Some(authorizer) = role.authorizer() else {
        return dispatch(ctx, msg);
    };
    let key = (q.uri.to_owned(), q.action);
    let cached = ctx
        .authorizer
        .as_ref()
        .and_then(|s| s.cache.get(&key).copied());
    let decision = match cached {
        Some(auth) => Ok(auth),
        None => ask(ctx, authorizer, &q).await.map(|(auth, cache)| {
            if cache {
                ctx.authorizer
                    .get_or_insert_default()
                    .cache
                    .insert(key.clone(), auth);
            }
            auth
        }),
    };
    match decision {
        Ok(auth) => {
            ctx.authorizer.get_or_insert_default().decided = Some((key.1, key.0, auth));
            let step = dispatch(ctx, msg);
            if let Some(s) = &mut ctx.authorizer {
                s.decided = None;
            }
            step
        }
        Err(reason) => {
            if q.answered {
                let what = match q.action {
                    Action::Call => "calling procedure",
                    Action::Register => "registering procedure",
                    Action::Publish => "publishing to topic URI",
                    Action::Subscribe => "subscribing to topic URI",
                };
                let text = format!(
                    "failed to authorize session for {what} '{}': {reason}",
                    q.uri
                );
                ctx.error(q.request_type, q.request, AUTHORIZATION_FAILED, text);
            }
            Step::Continue
        }
    }
}

/// Calls the authorizer; `(decision, cache it)` or why it failed.
async fn ask(
    ctx: &SessionCtx,
    authorizer: &str,
    q: &Question<'_>,
) -> Result<(Authorization, bool), String> {
    let service = ctx.realm.service_session("trusted").await?;
    let args = vec![
        Value::Dict(session_details(ctx)),
        Value::from(q.uri),
        Value::from(q.action.as_str()),
        Value::Dict(q.options.clone()),
    ];
    let call = service.call(authorizer, args, Dict::new(), CallOptions::default());
    let result = match tokio::time::timeout(AUTHORIZER_TIMEOUT, call).await {
        Err(_) => {
            return Err(format!(
                "authorizer {authorizer} did not answer within {} s",
                AUTHORIZER_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(r)) => r,
    };
    match result.args.first() {
        Some(Value::Bool(allow)) if result.args.len() == 1 => Ok((
            Authorization {
                allow: *allow,
                disclose: false,
            },
            false,
        )),
        Some(Value::Dict(d)) if result.args.len() == 1 => answer(d),
        Some(other) if result.args.len() == 1 => Err(format!(
            "Authorizer returned unknown type '{}'",
            other.type_name()
        )),
        _ => Err("Authorizer returned unknown type 'CallResult'".into()),
    }
}

/// Checks a dict answer as Crossbar.io's `sanity_check` does.
fn answer(d: &Dict) -> Result<(Authorization, bool), String> {
    for k in d.keys() {
        if !matches!(k.as_str(), "allow" | "cache" | "disclose" | "validate") {
            return Err(format!("Authorizer returned unknown key '{k}'"));
        }
    }
    let flag = |k: &str| match d.get(k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("Authorizer must have bool for '{k}'")),
    };
    let Some(allow) = flag("allow")? else {
        return Err("Authorizer must have 'allow' in returned dict".into());
    };
    let disclose = flag("disclose")?.unwrap_or(false);
    let cache = flag("cache")?.unwrap_or(false);
    match d.get("validate") {
        None | Some(Value::Null) | Some(Value::Dict(_)) => {}
        Some(_) => {
            return Err(
                "Authorizer must have dict for 'validate' (if present and not null)".into(),
            );
        }
    }
    Ok((Authorization { allow, disclose }, cache))
}

/// The session's details as Crossbar.io gives them to an authorizer.
fn session_details(ctx: &SessionCtx) -> Dict {
    let h = &ctx.handle;
    let mut authextra = h.identity.authextra.clone();
    authextra.insert("x_cb_peer".into(), Value::from(h.transport.peer.clone()));
    authextra.insert("x_cb_pid".into(), Value::from(std::process::id()));
    let mut d = Dict::new();
    d.insert("session".into(), Value::from(h.id));
    d.insert("authid".into(), Value::from(h.identity.authid.clone()));
    d.insert("authrole".into(), Value::from(h.identity.authrole.clone()));
    d.insert("authmethod".into(), Value::from(&*h.identity.authmethod));
    d.insert(
        "authprovider".into(),
        Value::from(&*h.identity.authprovider),
    );
    d.insert("authextra".into(), Value::Dict(authextra));
    d.insert(
        "transport".into(),
        Value::Dict(crate::auth::dynamic::transport_details(&h.transport)),
    );
    d
}
