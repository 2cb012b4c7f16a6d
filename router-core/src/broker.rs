//! Publish & subscribe: subscriptions (exact, prefix, wildcard) and event fan-out.
//!
//! An event is delivered once per matching subscription. All subscribers of one subscription
//! receive the same EVENT (same subscription ID), so it is built once and shared; its bytes are
//! produced at most once per serializer (see [`SharedMessage`]).

use crate::util::HashMap;
use std::sync::Arc;

use crate::authorization::Action;
use crate::codec::Codec;
use crate::dict;
use crate::message::{Id, Message, Payload, code};
use crate::meta;
use crate::peer::{Outgoing, SharedMessage};
use crate::realm::Realm;
use crate::session::{Deferred, SessionCtx, SessionHandle, Step};
use crate::uri::{self, MatchPolicy};
use crate::value::{Dict, Value};

/// One subscription: a topic pattern and the sessions subscribed to it.
#[derive(Debug)]
pub struct Subscription {
    pub id: Id,
    pub uri: String,
    pub policy: MatchPolicy,
    pub created: String,
    pub subscribers: Vec<Arc<SessionHandle>>,
}

impl Subscription {
    /// The record used by the meta API (`wamp.subscription.get`, `on_create`).
    pub fn details(&self) -> Dict {
        dict! {
            "id" => self.id,
            "created" => self.created.clone(),
            "uri" => self.uri.clone(),
            "match" => self.policy.as_str(),
        }
    }
}

/// The subscriptions of one realm, and its retained events.
#[derive(Debug, Default)]
pub struct Broker {
    exact: HashMap<String, Id>,
    prefix: HashMap<String, Id>,
    wildcard: HashMap<String, Id>,
    subs: HashMap<Id, Subscription>,
    /// The last event published with `retain: true`, by topic (WAMP event retention; MQTT's
    /// retained messages map onto it).
    retained: HashMap<String, RetainedEvent>,
    /// Event history (the realm store's `event-history`), by subscription. These
    /// subscriptions exist from the realm's start and outlive their subscribers, as in
    /// Crossbar.io, whose store subscribes to them itself.
    history: HashMap<Id, History>,
}

/// The last `limit` events of one subscription, newest last.
#[derive(Debug)]
struct History {
    limit: usize,
    events: std::collections::VecDeque<Arc<StoredEvent>>,
}

/// An event as `wamp.subscription.get_events` returns it.
#[derive(Debug)]
struct StoredEvent {
    time_ns: u128,
    session: Id,
    authid: String,
    authrole: String,
    publication: Id,
    topic: String,
    payload: Payload,
}

impl StoredEvent {
    /// Crossbar.io's record: `time_ns`, `realm`, `session_id`, `authid`, `authrole`,
    /// `publication`, `topic`, `args`, `kwargs`.
    fn record(&self, realm: &str) -> Value {
        let p = self.payload.clone().into_decoded();
        let nanos = u64::try_from(self.time_ns).unwrap_or(u64::MAX);
        Value::Dict(dict! {
            "time_ns" => nanos,
            "realm" => realm.to_owned(),
            "session_id" => self.session,
            "authid" => self.authid.clone(),
            "authrole" => self.authrole.clone(),
            "publication" => self.publication,
            "topic" => self.topic.clone(),
            "args" => if p.args.is_empty() { Value::Null } else { Value::List(p.args) },
            "kwargs" => if p.kwargs.is_empty() { Value::Null } else { Value::Dict(p.kwargs) },
        })
    }
}

/// Why `wamp.subscription.get_events` has no answer.
pub(crate) enum HistoryError {
    /// The realm keeps no history at all, or not for this subscription.
    Unavailable(&'static str),
    NoSuchSubscription,
}

/// An event kept for subscribers that ask for it (`get_retained`).
#[derive(Debug)]
struct RetainedEvent {
    payload: Payload,
    /// Who may receive it: the publication's black/white lists.
    filter: ReceiverFilter,
    /// Disclosed publisher: (session, authid, authrole).
    publisher: Option<(Id, String, String)>,
    /// The passthru options of a transparent payload, for the EVENT's details.
    transparency: Dict,
}

impl Broker {
    /// A broker with the history subscriptions of a realm store.
    pub(crate) fn with_history(store: Option<&crate::realm::RealmStoreConfig>) -> Broker {
        let mut b = Broker::default();
        let Some(store) = store else { return b };
        let default_limit = store
            .limit
            .unwrap_or(crate::realm::RealmStoreConfig::DEFAULT_LIMIT);
        for h in &store.event_history {
            let policy = match h.policy.as_deref() {
                None => MatchPolicy::Exact,
                Some(m) => match MatchPolicy::parse(m) {
                    Some(p) => p,
                    None => continue,
                },
            };
            let id = b.create(&h.uri, policy, Vec::new());
            b.history.insert(
                id,
                History {
                    limit: h.limit.unwrap_or(default_limit).max(1),
                    events: Default::default(),
                },
            );
        }
        b
    }

    /// Keeps a publication in the history of every history subscription it matches.
    fn record(
        &mut self,
        topic: &str,
        publication: Id,
        payload: &Payload,
        publisher: &Publisher<'_>,
    ) {
        let mut ids = Vec::new();
        self.for_each_match(topic, |s| ids.push(s.id));
        let mut event = None;
        for id in ids {
            let Some(h) = self.history.get_mut(&id) else {
                continue;
            };
            let e = event.get_or_insert_with(|| {
                Arc::new(StoredEvent {
                    time_ns: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or_default(),
                    session: publisher.id,
                    authid: publisher.authid.to_owned(),
                    authrole: publisher.authrole.to_owned(),
                    publication,
                    topic: topic.to_owned(),
                    payload: payload.clone(),
                })
            });
            h.events.push_back(e.clone());
            while h.events.len() > h.limit {
                h.events.pop_front();
            }
        }
    }

    /// The last `limit` events of a history subscription, newest first.
    pub(crate) fn events(
        &self,
        realm: &str,
        id: Id,
        limit: usize,
    ) -> Result<Vec<Value>, HistoryError> {
        if self.history.is_empty() {
            return Err(HistoryError::Unavailable(
                "event history not available or enabled",
            ));
        }
        if !self.subs.contains_key(&id) {
            return Err(HistoryError::NoSuchSubscription);
        }
        let h = self.history.get(&id).ok_or(HistoryError::Unavailable(
            "event history for the given subscription is not available or enabled",
        ))?;
        Ok(h.events
            .iter()
            .rev()
            .take(limit)
            .map(|e| e.record(realm))
            .collect())
    }

    fn index(&self, policy: MatchPolicy) -> &HashMap<String, Id> {
        match policy {
            MatchPolicy::Exact => &self.exact,
            MatchPolicy::Prefix => &self.prefix,
            MatchPolicy::Wildcard => &self.wildcard,
        }
    }
    fn index_mut(&mut self, policy: MatchPolicy) -> &mut HashMap<String, Id> {
        match policy {
            MatchPolicy::Exact => &mut self.exact,
            MatchPolicy::Prefix => &mut self.prefix,
            MatchPolicy::Wildcard => &mut self.wildcard,
        }
    }

    pub fn get(&self, id: Id) -> Option<&Subscription> {
        self.subs.get(&id)
    }

    /// The subscription for exactly this topic pattern and policy.
    pub fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.index(policy).get(uri).copied()
    }

    /// IDs of all subscriptions by policy.
    pub fn list(&self) -> (Vec<Id>, Vec<Id>, Vec<Id>) {
        (
            self.exact.values().copied().collect(),
            self.prefix.values().copied().collect(),
            self.wildcard.values().copied().collect(),
        )
    }

    /// Calls `f` for every subscription matching `topic`.
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&Subscription)) {
        if let Some(s) = self.exact.get(topic).and_then(|id| self.subs.get(id)) {
            f(s);
        }
        for (p, id) in &self.prefix {
            if topic.starts_with(p.as_str())
                && let Some(s) = self.subs.get(id)
            {
                f(s);
            }
        }
        for (p, id) in &self.wildcard {
            if uri::wildcard_matches(p, topic)
                && let Some(s) = self.subs.get(id)
            {
                f(s);
            }
        }
    }

    /// Adds a subscriber; returns (subscription id, created, newly subscribed).
    fn add(
        &mut self,
        uri: &str,
        policy: MatchPolicy,
        session: &Arc<SessionHandle>,
    ) -> (Id, bool, bool) {
        if let Some(&id) = self.index(policy).get(uri) {
            let sub = self
                .subs
                .get_mut(&id)
                .expect("index and subscriptions agree");
            if sub.subscribers.iter().any(|s| s.id == session.id) {
                return (id, false, false);
            }
            sub.subscribers.push(session.clone());
            return (id, false, true);
        }
        (self.create(uri, policy, vec![session.clone()]), true, true)
    }

    /// A new subscription with a fresh ID.
    fn create(
        &mut self,
        uri: &str,
        policy: MatchPolicy,
        subscribers: Vec<Arc<SessionHandle>>,
    ) -> Id {
        let id = loop {
            let id = crate::util::random_id();
            if !self.subs.contains_key(&id) {
                break id;
            }
        };
        self.index_mut(policy).insert(uri.to_owned(), id);
        self.subs.insert(
            id,
            Subscription {
                id,
                uri: uri.to_owned(),
                policy,
                created: crate::util::utcnow(),
                subscribers,
            },
        );
        id
    }

    /// Removes a subscriber; returns (was subscribed, subscription deleted, its uri).
    fn remove(&mut self, id: Id, session: Id) -> (bool, bool, String) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return (false, false, String::new());
        };
        let before = sub.subscribers.len();
        sub.subscribers.retain(|s| s.id != session);
        let removed = sub.subscribers.len() != before;
        let uri = sub.uri.clone();
        if sub.subscribers.is_empty() && !self.history.contains_key(&id) {
            let policy = sub.policy;
            self.subs.remove(&id);
            self.index_mut(policy).remove(&uri);
            return (removed, true, uri);
        }
        (removed, false, uri)
    }
}

/// Reads the `match` option of SUBSCRIBE/REGISTER.
pub(crate) fn match_option(options: &Dict) -> Result<MatchPolicy, String> {
    match options.get("match") {
        None | Some(Value::Null) => Ok(MatchPolicy::Exact),
        Some(Value::String(s)) => MatchPolicy::parse(s)
            .ok_or_else(|| format!("invalid value \"{s}\" for option \"match\"")),
        Some(_) => Err("option \"match\" must be a string".into()),
    }
}

/// `wamp.*` is reserved for the router; `crossbar.*` needs a grant that names `crossbar.`
/// explicitly (management roles have one; application roles with a catch-all grant do not).
pub(crate) fn restricted(ctx: &SessionCtx, uri: &str) -> Option<&'static str> {
    let role = ctx.realm.role(&ctx.handle.identity.authrole);
    let trusted = role.as_ref().is_some_and(|r| r.is_allow_all());
    if trusted {
        return None;
    }
    if uri.starts_with("wamp.") {
        return Some("wamp.error.invalid_uri");
    }
    if uri.starts_with("crossbar.") {
        let explicit = role.is_some_and(|r| {
            r.grants()
                .iter()
                .any(|(_, p)| p.effective().0.starts_with("crossbar"))
        });
        if !explicit {
            return Some("wamp.error.not_authorized");
        }
    }
    None
}

pub(crate) fn subscribe(ctx: &mut SessionCtx, request: Id, options: Dict, topic: String) -> Step {
    let policy = match match_option(&options) {
        Ok(p) => p,
        Err(e) => {
            ctx.error(code::SUBSCRIBE, request, "wamp.error.invalid_argument", e);
            return Step::Continue;
        }
    };
    if !uri::is_valid(&topic, ctx.realm.options().uri_check, policy) {
        ctx.error(
            code::SUBSCRIBE,
            request,
            "wamp.error.invalid_uri",
            format!("subscribe for invalid topic URI '{topic}'"),
        );
        return Step::Continue;
    }
    let auth = ctx.authorize(&topic, Action::Subscribe);
    if !auth.allow {
        let msg = format!(
            "session is not authorized to subscribe to topic '{}' (authrole \"{}\")",
            topic, ctx.handle.identity.authrole
        );
        ctx.error(code::SUBSCRIBE, request, "wamp.error.not_authorized", msg);
        return Step::Continue;
    }
    let (id, created, added) = ctx.realm.broker.write().add(&topic, policy, &ctx.handle);
    ctx.subscriptions.insert(id);
    ctx.reply(Message::Subscribed {
        request,
        subscription: id,
    });
    if options.get("get_retained").and_then(Value::as_bool) == Some(true) {
        send_retained(ctx, id, &topic, policy);
    }
    if added && !topic.starts_with("wamp.") {
        let realm = ctx.realm.clone();
        if created {
            let details = realm
                .broker
                .read()
                .get(id)
                .map(Subscription::details)
                .unwrap_or_default();
            meta::publish(
                &realm,
                "wamp.subscription.on_create",
                vec![ctx.handle.id.into(), details.into()],
                &mut ctx.deferred,
            );
        }
        meta::publish(
            &realm,
            "wamp.subscription.on_subscribe",
            vec![ctx.handle.id.into(), id.into()],
            &mut ctx.deferred,
        );
    }
    Step::Continue
}

pub(crate) fn unsubscribe(ctx: &mut SessionCtx, request: Id, subscription: Id) -> Step {
    if !ctx.subscriptions.remove(&subscription) {
        ctx.error(
            code::UNSUBSCRIBE,
            request,
            "wamp.error.no_such_subscription",
            format!("session has no subscription {subscription}"),
        );
        return Step::Continue;
    }
    let realm = ctx.realm.clone();
    remove_subscriber(&realm, &ctx.handle, subscription, &mut ctx.deferred);
    ctx.reply(Message::Unsubscribed {
        request,
        details: Dict::new(),
    });
    Step::Continue
}

/// Sends the subscriber the retained events its new subscription matches, each with
/// `retained: true`, after SUBSCRIBED (Crossbar.io answers exact subscriptions; a pattern
/// subscription gets the retained event of every topic it matches, as MQTT does).
fn send_retained(ctx: &mut SessionCtx, subscription: Id, topic: &str, policy: MatchPolicy) {
    let events: Vec<Message> = {
        let broker = ctx.realm.broker.read();
        let matching: Vec<(&String, &RetainedEvent)> = match policy {
            MatchPolicy::Exact => broker.retained.get_key_value(topic).into_iter().collect(),
            _ => broker
                .retained
                .iter()
                .filter(|(t, _)| uri::matches(policy, topic, t))
                .collect(),
        };
        matching
            .into_iter()
            .filter(|(_, r)| r.filter.accepts(&ctx.handle))
            .map(|(t, r)| {
                let mut details = Dict::new();
                if policy != MatchPolicy::Exact {
                    details.insert("topic".into(), Value::from(t.as_str()));
                }
                if let Some((id, authid, authrole)) = &r.publisher {
                    details.insert("publisher".into(), Value::from(*id));
                    details.insert("publisher_authid".into(), Value::from(authid.as_str()));
                    details.insert("publisher_authrole".into(), Value::from(authrole.as_str()));
                }
                details.extend(r.transparency.clone());
                details.insert("retained".into(), Value::Bool(true));
                Message::Event {
                    subscription,
                    publication: crate::util::random_id(),
                    details,
                    payload: r.payload.clone(),
                }
            })
            .collect()
    };
    for e in events {
        ctx.reply(e);
    }
}

/// Removes a session from a subscription, with meta events.
pub(crate) fn remove_subscriber(
    realm: &Arc<Realm>,
    session: &Arc<SessionHandle>,
    id: Id,
    deferred: &mut Deferred,
) {
    let (removed, deleted, uri) = realm.broker.write().remove(id, session.id);
    if removed && !uri.starts_with("wamp.") {
        meta::publish(
            realm,
            "wamp.subscription.on_unsubscribe",
            vec![session.id.into(), id.into()],
            deferred,
        );
        if deleted {
            meta::publish(
                realm,
                "wamp.subscription.on_delete",
                vec![session.id.into(), id.into()],
                deferred,
            );
        }
    }
}

fn id_list(options: &Dict, key: &str) -> Option<Vec<Id>> {
    options
        .get(key)
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
}

fn str_list(options: &Dict, key: &str) -> Option<Vec<String>> {
    options.get(key).and_then(Value::as_list).map(|l| {
        l.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

/// Who may receive an event, from PUBLISH options (exclusion and black/white listing).
#[derive(Debug)]
struct ReceiverFilter {
    publisher: Option<Id>,
    exclude: Option<Vec<Id>>,
    eligible: Option<Vec<Id>>,
    exclude_authid: Option<Vec<String>>,
    exclude_authrole: Option<Vec<String>>,
    eligible_authid: Option<Vec<String>>,
    eligible_authrole: Option<Vec<String>>,
    /// Serializers that cannot carry the event's arguments: their sessions do not get it.
    refusing: Vec<Codec>,
}

impl ReceiverFilter {
    fn from_options(options: &Dict, publisher: Option<Id>) -> Self {
        let exclude_me = options
            .get("exclude_me")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        ReceiverFilter {
            publisher: if exclude_me { publisher } else { None },
            exclude: id_list(options, "exclude"),
            eligible: id_list(options, "eligible"),
            exclude_authid: str_list(options, "exclude_authid"),
            exclude_authrole: str_list(options, "exclude_authrole"),
            eligible_authid: str_list(options, "eligible_authid"),
            eligible_authrole: str_list(options, "eligible_authrole"),
            refusing: Vec::new(),
        }
    }

    fn is_trivial(&self) -> bool {
        self.exclude.is_none()
            && self.eligible.is_none()
            && self.exclude_authid.is_none()
            && self.exclude_authrole.is_none()
            && self.eligible_authid.is_none()
            && self.eligible_authrole.is_none()
    }

    fn accepts(&self, s: &SessionHandle) -> bool {
        if self.publisher == Some(s.id) {
            return false;
        }
        if !self.refusing.is_empty() && s.serializer.is_some_and(|c| self.refusing.contains(&c)) {
            return false;
        }
        if self.is_trivial() {
            return true;
        }
        let id = &s.identity;
        !(self.exclude.as_ref().is_some_and(|l| l.contains(&s.id))
            || self.eligible.as_ref().is_some_and(|l| !l.contains(&s.id))
            || self
                .exclude_authid
                .as_ref()
                .is_some_and(|l| l.contains(&id.authid))
            || self
                .exclude_authrole
                .as_ref()
                .is_some_and(|l| l.contains(&id.authrole))
            || self
                .eligible_authid
                .as_ref()
                .is_some_and(|l| !l.contains(&id.authid))
            || self
                .eligible_authrole
                .as_ref()
                .is_some_and(|l| !l.contains(&id.authrole)))
    }
}

pub(crate) fn publish(
    ctx: &mut SessionCtx,
    request: Id,
    options: Dict,
    topic: String,
    payload: Payload,
) -> Step {
    let acknowledge = options
        .get("acknowledge")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let fail = |ctx: &mut SessionCtx, error: &str, message: String| {
        if acknowledge {
            ctx.error(code::PUBLISH, request, error, message);
        }
        Step::Continue
    };
    if !uri::is_valid(&topic, ctx.realm.options().uri_check, MatchPolicy::Exact) {
        return fail(
            ctx,
            "wamp.error.invalid_uri",
            format!("publish with invalid topic URI '{topic}'"),
        );
    }
    if let Some(err) = restricted(ctx, &topic) {
        return fail(
            ctx,
            err,
            format!("publish with restricted topic URI '{topic}'"),
        );
    }
    let auth = ctx.authorize(&topic, Action::Publish);
    if !auth.allow {
        return fail(
            ctx,
            "wamp.error.not_authorized",
            format!("session not authorized to publish to topic '{topic}'"),
        );
    }
    let publication = crate::util::random_id();
    let mut filter = ReceiverFilter::from_options(&options, Some(ctx.handle.id));
    // Arguments a serializer cannot carry reach only the subscribers of the others; the
    // publisher hears of it (an ERROR instead of PUBLISHED), as a caller would.
    let refusing = refusing_receivers(ctx, &topic, &payload, &filter);
    if !refusing.is_empty() {
        let what: Vec<String> = refusing
            .iter()
            .map(|(c, why)| format!("{why} (in {c})"))
            .collect();
        let message = format!(
            "the event on '{topic}' was not sent to subscribers whose serializer cannot carry its arguments: {}",
            what.join("; ")
        );
        if acknowledge {
            ctx.error(
                code::PUBLISH,
                request,
                "wamp.error.invalid_argument",
                message,
            );
        } else {
            tracing::warn!(session = ctx.handle.id, "{message}");
        }
    } else if acknowledge {
        ctx.reply(Message::Published {
            request,
            publication,
        });
    }
    filter.refusing = refusing.into_iter().map(|(c, _)| c).collect();
    let disclose = auth.allow
        && (auth.disclose || topic.starts_with("wamp.") || topic.starts_with("crossbar."));
    let realm = ctx.realm.clone();
    let from = Publisher::from(&*ctx.handle);
    if let Some(cluster) = realm.cluster() {
        cluster.forward_event(&topic, publication, &options, &payload, &from, disclose);
    }
    let publisher = disclose.then_some(&from);
    retain(&realm, &topic, &payload, &options, publisher);
    if realm.keeps_history {
        realm
            .broker
            .write()
            .record(&topic, publication, &payload, &from);
    }
    dispatch(
        &realm,
        &topic,
        Publication::new(publication, payload, &options, publisher),
        &filter,
        &mut ctx.deferred,
    );
    Step::Continue
}

/// Who published an event: a session and its identity, on this router or on another member
/// of the realm's cluster.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Publisher<'a> {
    pub id: Id,
    pub authid: &'a str,
    pub authrole: &'a str,
}

impl<'a> From<&'a SessionHandle> for Publisher<'a> {
    fn from(s: &'a SessionHandle) -> Self {
        Publisher {
            id: s.id,
            authid: &s.identity.authid,
            authrole: &s.identity.authrole,
        }
    }
}

/// A publication of another member of the realm's cluster.
pub(crate) struct RemotePublication {
    pub topic: String,
    pub publication: Id,
    pub options: Dict,
    pub payload: Payload,
    /// The publishing session and its authid and authrole.
    pub publisher: (Id, String, String),
    /// The publisher's role discloses it.
    pub disclose: bool,
}

/// An event published on another member of the realm's cluster, delivered here as a local
/// publication is: retained, kept in history, dispatched to the matching subscriptions with
/// the publication's black/white lists and disclosure. Receivers whose serializer cannot
/// carry its arguments are left out (the publisher cannot be told any more).
pub(crate) fn deliver_remote(realm: &Arc<Realm>, ev: RemotePublication, deferred: &mut Deferred) {
    let from = Publisher {
        id: ev.publisher.0,
        authid: &ev.publisher.1,
        authrole: &ev.publisher.2,
    };
    let mut filter = ReceiverFilter::from_options(&ev.options, Some(from.id));
    filter.refusing = [Codec::MsgPack, Codec::Json]
        .into_iter()
        .filter(|c| ev.payload.refused_by(*c).is_some())
        .collect();
    let publisher = ev.disclose.then_some(&from);
    retain(realm, &ev.topic, &ev.payload, &ev.options, publisher);
    if realm.keeps_history {
        realm
            .broker
            .write()
            .record(&ev.topic, ev.publication, &ev.payload, &from);
    }
    dispatch(
        realm,
        &ev.topic,
        Publication::new(ev.publication, ev.payload, &ev.options, publisher),
        &filter,
        deferred,
    );
}

/// The serializers of this event's receivers that cannot carry its arguments, with why. The
/// subscribers are looked at only when the arguments hold such a value.
fn refusing_receivers(
    ctx: &SessionCtx,
    topic: &str,
    payload: &Payload,
    filter: &ReceiverFilter,
) -> Vec<(Codec, &'static str)> {
    let mut refusing: Vec<(Codec, &str)> = [Codec::MsgPack, Codec::Json]
        .into_iter()
        .filter(|c| ctx.handle.serializer != Some(*c))
        .filter_map(|c| payload.refused_by(c).map(|why| (c, why)))
        .collect();
    if refusing.is_empty() {
        return refusing;
    }
    let mut present = Vec::new();
    ctx.realm.broker.read().for_each_match(topic, |sub| {
        for s in sub.subscribers.iter().filter(|s| filter.accepts(s)) {
            if let Some(c) = s.serializer
                && !present.contains(&c)
            {
                present.push(c);
            }
        }
    });
    refusing.retain(|(c, _)| present.contains(c));
    refusing
}

/// Keeps the event as the topic's retained event if the publication asks (`retain: true`).
fn retain(
    realm: &Realm,
    topic: &str,
    payload: &Payload,
    options: &Dict,
    publisher: Option<&Publisher<'_>>,
) {
    if options.get("retain").and_then(Value::as_bool) != Some(true) {
        return;
    }
    let mut transparency = Dict::new();
    payload.forward_transparency(options, &mut transparency);
    let retained = RetainedEvent {
        transparency,
        payload: payload.clone(),
        filter: ReceiverFilter::from_options(options, None),
        publisher: publisher.map(|p| (p.id, p.authid.to_owned(), p.authrole.to_owned())),
    };
    realm
        .broker
        .write()
        .retained
        .insert(topic.to_owned(), retained);
}

/// Publishes an event from the router itself (meta events, testaments).
pub(crate) fn publish_internal(
    realm: &Arc<Realm>,
    topic: &str,
    payload: Payload,
    options: &Dict,
    deferred: &mut Deferred,
) {
    let publication = crate::util::random_id();
    // Testaments go to the whole cluster; meta events stay with the member they describe.
    if let Some(cluster) = realm.cluster()
        && !topic.starts_with("wamp.")
    {
        let router = Publisher {
            id: 0,
            authid: "",
            authrole: "",
        };
        cluster.forward_event(topic, publication, options, &payload, &router, false);
    }
    retain(realm, topic, &payload, options, None);
    let filter = ReceiverFilter::from_options(options, None);
    dispatch(
        realm,
        topic,
        Publication::new(publication, payload, options, None),
        &filter,
        deferred,
    );
}

/// What one publication sends: its id, its arguments, and the details every EVENT of it
/// carries (the disclosed publisher, a transparent payload's options).
struct Publication {
    id: Id,
    payload: Payload,
    details: Dict,
}

impl Publication {
    fn new(
        id: Id,
        payload: Payload,
        options: &Dict,
        publisher: Option<&Publisher<'_>>,
    ) -> Publication {
        let mut details = Dict::new();
        if let Some(p) = publisher {
            details.insert("publisher".into(), Value::from(p.id));
            details.insert("publisher_authid".into(), Value::from(p.authid));
            details.insert("publisher_authrole".into(), Value::from(p.authrole));
        }
        payload.forward_transparency(options, &mut details);
        Publication {
            id,
            payload,
            details,
        }
    }
}

fn dispatch(
    realm: &Arc<Realm>,
    topic: &str,
    publication: Publication,
    filter: &ReceiverFilter,
    deferred: &mut Deferred,
) {
    let Publication {
        id: publication,
        payload,
        details: common,
    } = publication;
    let broker = realm.broker.read();
    // One EVENT per matching subscription; count them first so the last one takes the payload.
    let mut matching = 0usize;
    broker.for_each_match(topic, |_| matching += 1);
    if matching == 0 {
        return;
    }
    let mut payload = Some(payload);
    let mut seen = 0usize;
    broker.for_each_match(topic, |sub| {
        seen += 1;
        let receivers = sub.subscribers.iter().filter(|s| filter.accepts(s)).count();
        if receivers == 0 {
            return;
        }
        let mut details = Dict::with_capacity(common.len() + 1);
        if sub.policy != MatchPolicy::Exact {
            details.insert("topic".into(), Value::from(topic));
        }
        details.extend(common.iter().map(|(k, v)| (k.clone(), v.clone())));
        let payload = if seen == matching {
            payload.take().unwrap_or_default()
        } else {
            payload.clone().unwrap_or_default()
        };
        let event = Message::Event {
            subscription: sub.id,
            publication,
            details,
            payload,
        };
        if receivers == 1 {
            if let Some(s) = sub.subscribers.iter().find(|s| filter.accepts(s)) {
                s.send(Outgoing::from(event), deferred);
            }
            return;
        }
        let shared = SharedMessage::new(event);
        for s in sub.subscribers.iter().filter(|s| filter.accepts(s)) {
            s.send(Outgoing::Shared(shared.clone()), deferred);
        }
    });
}
