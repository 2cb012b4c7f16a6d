//! The WAMP meta API: session, subscription and registration events and procedures, and
//! testaments. Procedures are answered by the router itself when a session calls a `wamp.`
//! URI that nobody registered.

use std::sync::Arc;

use crate::broker;
use crate::message::{Id, Message, Payload};
use crate::peer::Outgoing;
use crate::realm::Realm;
use crate::session::{Deferred, SessionHandle, Testament};
use crate::uri::MatchPolicy;
use crate::value::{Dict, List, Value};

/// Publishes a meta event (when the realm has the meta API enabled).
pub(crate) fn publish(realm: &Arc<Realm>, topic: &str, args: List, deferred: &mut Deferred) {
    if realm.options().enable_meta_api {
        broker::publish_internal(realm, topic, Payload::args(args), &Dict::new(), deferred);
    }
}

pub(crate) fn on_join(realm: &Arc<Realm>, s: &Arc<SessionHandle>, deferred: &mut Deferred) {
    publish(
        realm,
        "wamp.session.on_join",
        vec![Value::Dict(s.details())],
        deferred,
    );
}

pub(crate) fn on_leave(realm: &Arc<Realm>, s: &Arc<SessionHandle>, deferred: &mut Deferred) {
    // Crossbar.io publishes the session ID alone; authid and authrole follow for newer clients.
    publish(
        realm,
        "wamp.session.on_leave",
        vec![
            s.id.into(),
            s.identity.authid.clone().into(),
            s.identity.authrole.clone().into(),
        ],
        deferred,
    );
}

type MetaResult = Result<Payload, (String, String)>;

fn ok(v: impl Into<Value>) -> Option<MetaResult> {
    Some(Ok(Payload::args(vec![v.into()])))
}

fn err(uri: &str, msg: impl Into<String>) -> Option<MetaResult> {
    Some(Err((uri.to_owned(), msg.into())))
}

/// Reads positional argument `i` (or keyword `name`).
fn arg<'a>(p: &'a Payload, i: usize, name: &str) -> Option<&'a Value> {
    p.args
        .get(i)
        .or_else(|| p.kwargs.get(name))
        .filter(|v| !v.is_null())
}

/// Registration and subscription revocation (`wamp.registration.remove_callee`,
/// `wamp.subscription.remove_subscriber`), as Crossbar.io has them: the session leaves the
/// registration (subscription) with the usual meta events and gets UNREGISTERED
/// (UNSUBSCRIBED) with request 0 and `Details.registration` (`subscription`) and `reason`.
fn revoke(
    realm: &Arc<Realm>,
    registration: bool,
    p: &Payload,
    deferred: &mut Deferred,
) -> MetaResult {
    let (what, id_name) = if registration {
        ("registration", "registration_id")
    } else {
        ("subscription", "subscription_id")
    };
    let id = id_arg(p, 0, id_name)?;
    let session_id = id_arg(
        p,
        1,
        if registration {
            "callee_id"
        } else {
            "subscriber_id"
        },
    )?;
    let reason = arg(p, 2, "reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let session = realm.session(session_id).ok_or_else(|| {
        (
            "wamp.error.no_such_session".to_owned(),
            format!("no session with ID {session_id} exists on this router"),
        )
    })?;
    let (exists, member, uri) = if registration {
        let dealer = realm.dealer.read();
        let r = dealer.get(id);
        (
            r.is_some(),
            r.is_some_and(|r| r.callees.iter().any(|c| c.id == session_id)),
            r.map(|r| r.uri.clone()).unwrap_or_default(),
        )
    } else {
        let broker = realm.broker.read();
        let s = broker.get(id);
        (
            s.is_some(),
            s.is_some_and(|s| s.subscribers.iter().any(|c| c.id == session_id)),
            s.map(|s| s.uri.clone()).unwrap_or_default(),
        )
    };
    let missing = format!("wamp.error.no_such_{what}");
    if !exists {
        return Err((
            missing,
            format!("no {what} with ID {id} exists on this router"),
        ));
    }
    if uri.starts_with("wamp.") || uri.starts_with("crossbar.") {
        return Err((
            "wamp.error.not_authorized".to_owned(),
            format!("not authorized to revoke a {what} of protected URI \"{uri}\""),
        ));
    }
    if !member {
        return Err((
            missing,
            format!("session {session_id} is not on {what} {id}"),
        ));
    }
    let mut details = Dict::new();
    details.insert(what.to_owned(), Value::from(id));
    if let Some(r) = reason {
        details.insert("reason".into(), Value::from(r));
    }
    let notice = if registration {
        crate::dealer::remove_callee(realm, &session, id, deferred);
        Message::Unregistered {
            request: 0,
            details,
        }
    } else {
        broker::remove_subscriber(realm, &session, id, deferred);
        Message::Unsubscribed {
            request: 0,
            details,
        }
    };
    session.send(Outgoing::from(notice), deferred);
    Ok(Payload::default())
}

/// A testament's `scope` argument (default `destroyed`), as Crossbar.io checks it. Without
/// session resumption a session is detached and destroyed at once, so both scopes' testaments
/// are published when it goes; the scope decides what `flush_testaments` removes.
fn testament_scope(p: &Payload, i: usize) -> Result<&'static str, (String, String)> {
    match arg(p, i, "scope").map(|v| v.as_str()) {
        None | Some(Some("destroyed")) => Ok("destroyed"),
        Some(Some("detached")) => Ok("detached"),
        _ => Err((
            "wamp.error.testament_error".to_owned(),
            "scope must be destroyed or detached".to_owned(),
        )),
    }
}

fn id_arg(p: &Payload, i: usize, name: &str) -> Result<Id, (String, String)> {
    arg(p, i, name).and_then(Value::as_u64).ok_or_else(|| {
        (
            "wamp.error.invalid_argument".to_owned(),
            format!("argument \"{name}\" must be an ID"),
        )
    })
}

fn roles_filter(p: &Payload, i: usize) -> Option<Vec<String>> {
    arg(p, i, "filter_authroles")
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
}

fn list_by_policy((exact, prefix, wildcard): (Vec<Id>, Vec<Id>, Vec<Id>)) -> Value {
    let l = |v: Vec<Id>| Value::List(v.into_iter().map(Value::from).collect());
    Value::Dict(
        crate::dict! { "exact" => l(exact), "prefix" => l(prefix), "wildcard" => l(wildcard) },
    )
}

fn match_arg(p: &Payload, i: usize) -> MatchPolicy {
    arg(p, i, "options")
        .and_then(Value::as_dict)
        .and_then(|o| o.get("match"))
        .and_then(Value::as_str)
        .and_then(MatchPolicy::parse)
        .unwrap_or_default()
}

fn kill_reason(p: &Payload, i: usize) -> (String, String) {
    let reason = arg(p, i, "reason")
        .and_then(Value::as_str)
        .unwrap_or("wamp.close.killed")
        .to_owned();
    let message = arg(p, i + 1, "message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    (reason, message)
}

/// Answers a meta procedure; `None` if `procedure` is not one.
pub(crate) fn call(
    realm: &Arc<Realm>,
    caller: &Arc<SessionHandle>,
    procedure: &str,
    p: Payload,
    deferred: &mut Deferred,
) -> Option<MetaResult> {
    let proc_ = procedure.strip_prefix("wamp.")?;
    match proc_ {
        "session.count" => ok(realm.sessions(roles_filter(&p, 0).as_deref()).len()),
        "session.list" => {
            let ids: List = realm
                .sessions(roles_filter(&p, 0).as_deref())
                .iter()
                .map(|s| Value::from(s.id))
                .collect();
            ok(ids)
        }
        "session.get" => {
            let id = match id_arg(&p, 0, "session_id") {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            match realm.session(id) {
                Some(s) => ok(s.details()),
                None => err(
                    "wamp.error.no_such_session",
                    format!("no session with ID {id} exists on this router"),
                ),
            }
        }
        "session.kill" => {
            let id = match id_arg(&p, 0, "session_id") {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            if id == caller.id {
                return err(
                    "wamp.error.no_such_session",
                    "cannot kill the calling session",
                );
            }
            let (reason, message) = kill_reason(&p, 1);
            match realm.session(id) {
                Some(s) => {
                    s.close(&reason, &message);
                    Some(Ok(Payload::default()))
                }
                None => err(
                    "wamp.error.no_such_session",
                    format!("no session with ID {id} exists on this router"),
                ),
            }
        }
        "session.kill_by_authid" | "session.kill_by_authrole" | "session.kill_all" => {
            let (key, first_reason) = match proc_ {
                "session.kill_all" => (None, 0),
                _ => (
                    arg(
                        &p,
                        0,
                        if proc_.ends_with("authid") {
                            "authid"
                        } else {
                            "authrole"
                        },
                    )
                    .and_then(Value::as_str),
                    1,
                ),
            };
            if proc_ != "session.kill_all" && key.is_none() {
                return err(
                    "wamp.error.invalid_argument",
                    "missing authid/authrole argument",
                );
            }
            let (reason, message) = kill_reason(&p, first_reason);
            let mut killed = List::new();
            for s in realm.sessions(None) {
                // A session already told to close (by an earlier kill, say) is on its way
                // out and is not killed, or counted, twice.
                if s.id == caller.id || s.is_closing() {
                    continue;
                }
                let hit = match proc_ {
                    "session.kill_by_authid" => Some(s.identity.authid.as_str()) == key,
                    "session.kill_by_authrole" => Some(s.identity.authrole.as_str()) == key,
                    _ => true,
                };
                if hit {
                    s.close(&reason, &message);
                    killed.push(Value::from(s.id));
                }
            }
            if proc_ == "session.kill_all" {
                ok(killed.len())
            } else {
                ok(killed)
            }
        }
        "session.add_testament" => {
            let Some(topic) = arg(&p, 0, "topic")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return err("wamp.error.invalid_argument", "add_testament needs a topic");
            };
            let args = arg(&p, 1, "args")
                .and_then(Value::as_list)
                .cloned()
                .unwrap_or_default();
            let kwargs = arg(&p, 2, "kwargs")
                .and_then(Value::as_dict)
                .cloned()
                .unwrap_or_default();
            let mut options = arg(&p, 3, "publish_options")
                .and_then(Value::as_dict)
                .cloned()
                .unwrap_or_default();
            // As Crossbar.io: a testament is never acknowledged and never excludes anyone by
            // being the publisher's.
            options.shift_remove("acknowledge");
            options.shift_remove("exclude_me");
            let scope = match testament_scope(&p, 4) {
                Ok(s) => s,
                Err(e) => return Some(Err(e)),
            };
            let publication = crate::util::random_id();
            caller.testaments.lock().push(Testament {
                topic,
                payload: Payload::new(args, kwargs),
                options,
                scope,
            });
            ok(publication)
        }
        "session.flush_testaments" => {
            let scope = match testament_scope(&p, 0) {
                Ok(s) => s,
                Err(e) => return Some(Err(e)),
            };
            let mut testaments = caller.testaments.lock();
            let before = testaments.len();
            testaments.retain(|t| t.scope != scope);
            ok(before - testaments.len())
        }
        "registration.remove_callee" | "subscription.remove_subscriber" => Some(revoke(
            realm,
            proc_ == "registration.remove_callee",
            &p,
            deferred,
        )),
        "subscription.list" => ok(list_by_policy(realm.broker.read().list())),
        "subscription.lookup" => {
            let Some(topic) = arg(&p, 0, "topic").and_then(Value::as_str) else {
                return err("wamp.error.invalid_argument", "lookup needs a topic");
            };
            ok(realm.broker.read().lookup(topic, match_arg(&p, 1)))
        }
        "subscription.match" => {
            let Some(topic) = arg(&p, 0, "topic").and_then(Value::as_str) else {
                return err("wamp.error.invalid_argument", "match needs a topic");
            };
            let mut ids = List::new();
            realm
                .broker
                .read()
                .for_each_match(topic, |s| ids.push(Value::from(s.id)));
            if ids.is_empty() {
                ok(Value::Null)
            } else {
                ok(ids)
            }
        }
        "subscription.get" | "subscription.list_subscribers" | "subscription.count_subscribers" => {
            let id = match id_arg(&p, 0, "subscription_id") {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            let broker = realm.broker.read();
            let Some(s) = broker.get(id) else {
                return err(
                    "wamp.error.no_such_subscription",
                    format!("no subscription with ID {id} exists on this broker"),
                );
            };
            match proc_ {
                "subscription.get" => ok(s.details()),
                "subscription.list_subscribers" => ok(s
                    .subscribers
                    .iter()
                    .map(|x| Value::from(x.id))
                    .collect::<List>()),
                _ => ok(s.subscribers.len()),
            }
        }
        "subscription.get_events" => {
            let id = match id_arg(&p, 0, "subscription_id") {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            let limit = arg(&p, 1, "limit").and_then(Value::as_u64).unwrap_or(10);
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            match realm.broker.read().events(realm.name(), id, limit) {
                Ok(events) => ok(events.into_iter().collect::<List>()),
                Err(crate::broker::HistoryError::Unavailable(m)) => {
                    err("wamp.error.history_unavailable", m)
                }
                Err(crate::broker::HistoryError::NoSuchSubscription) => err(
                    "wamp.error.no_such_subscription",
                    format!("no subscription with ID {id} exists on this broker"),
                ),
            }
        }
        "registration.list" => ok(list_by_policy(realm.dealer.read().list())),
        "registration.lookup" => {
            let Some(procedure) = arg(&p, 0, "procedure").and_then(Value::as_str) else {
                return err("wamp.error.invalid_argument", "lookup needs a procedure");
            };
            ok(realm.dealer.read().lookup(procedure, match_arg(&p, 1)))
        }
        "registration.match" => {
            let Some(procedure) = arg(&p, 0, "procedure").and_then(Value::as_str) else {
                return err("wamp.error.invalid_argument", "match needs a procedure");
            };
            ok(realm.dealer.read().best_match(procedure).map(|r| r.id))
        }
        "registration.get" | "registration.list_callees" | "registration.count_callees" => {
            let id = match id_arg(&p, 0, "registration_id") {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            let dealer = realm.dealer.read();
            let Some(r) = dealer.get(id) else {
                return err(
                    "wamp.error.no_such_registration",
                    format!("no registration with ID {id} exists on this dealer"),
                );
            };
            match proc_ {
                "registration.get" => ok(r.details()),
                "registration.list_callees" => ok(r
                    .callees
                    .iter()
                    .map(|x| Value::from(x.id))
                    .collect::<List>()),
                _ => ok(r.callees.len()),
            }
        }
        _ => None,
    }
}
