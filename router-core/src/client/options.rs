//! Options of joining, calling, registering, publishing and subscribing, and how each becomes
//! a WAMP Options/Details dictionary.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::dealer::InvokePolicy;
use crate::message::Id;
use crate::uri::MatchPolicy;
use crate::value::{Dict, List, Value};

use super::types::CallResult;

/// Answers a CHALLENGE: `(authmethod, extra) -> signature`. An `Err` aborts the handshake
/// with its text. The auth module's client credentials plug in here.
pub type ChallengeHandler = Arc<dyn Fn(&str, &Dict) -> Result<String, String> + Send + Sync>;

/// Receives progressive results. It runs on the session's receive loop, so it must be quick
/// and must not block; forward into a channel for anything more.
pub type ProgressHandler = Arc<dyn Fn(CallResult) + Send + Sync>;

/// How long the handshake may take when [`JoinOptions::handshake_timeout`] is not set.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What HELLO asks for.
#[derive(Clone, Default)]
pub struct JoinOptions {
    /// `None` lets the router pick the realm (the uplink's `realm: null`).
    pub realm: Option<String>,
    pub authid: Option<String>,
    pub authrole: Option<String>,
    /// In order of preference; empty leaves them out (the router assumes `anonymous`).
    pub authmethods: Vec<String>,
    pub authextra: Dict,
    /// Needed for challenge/response methods (wampcra, cryptosign, ticket).
    pub on_challenge: Option<ChallengeHandler>,
    /// Bounds HELLO → WELCOME; [`DEFAULT_HANDSHAKE_TIMEOUT`] when `None`.
    pub handshake_timeout: Option<Duration>,
}

impl JoinOptions {
    /// Options that join `realm` with nothing else set.
    pub fn realm(realm: impl Into<String>) -> Self {
        JoinOptions {
            realm: Some(realm.into()),
            ..Default::default()
        }
    }

    /// Sets the challenge handler.
    pub fn on_challenge(
        mut self,
        f: impl Fn(&str, &Dict) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.on_challenge = Some(Arc::new(f));
        self
    }
}

impl fmt::Debug for JoinOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinOptions")
            .field("realm", &self.realm)
            .field("authid", &self.authid)
            .field("authrole", &self.authrole)
            .field("authmethods", &self.authmethods)
            .field("authextra", &self.authextra)
            .field("on_challenge", &self.on_challenge.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

/// How a canceled call is stopped at the callee (WAMP advanced profile, call canceling).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CancelMode {
    /// The caller gets its error at once; the callee is not told and its answer is dropped.
    Skip,
    /// The callee is interrupted; the caller gets its error when the callee has answered.
    Kill,
    /// The callee is interrupted and the caller gets its error at once.
    #[default]
    KillNoWait,
}

impl CancelMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

/// Options of one call.
#[derive(Clone, Default)]
pub struct CallOptions {
    /// Sent as CALL.Options.timeout: the router cancels the call after it (ERROR
    /// `wamp.error.canceled`). The client gives up on its own one second later, in case the
    /// router does not support call timeouts.
    pub timeout: Option<Duration>,
    /// Asks for progressive results and receives them.
    pub on_progress: Option<ProgressHandler>,
    /// Asks the router to disclose this caller to the callee (the router's role config decides).
    pub disclose_me: bool,
    /// Cancels the call when triggered; the call then returns the router's answer, normally
    /// ERROR `wamp.error.canceled`. Dropping the call's future cancels it too.
    pub cancel: Option<CancellationToken>,
    pub cancel_mode: CancelMode,
}

impl CallOptions {
    pub(crate) fn to_dict(&self) -> Dict {
        let mut d = Dict::new();
        if let Some(t) = self.timeout {
            // Whole seconds, as Crossbar.io reads it (rounded up: 0 means "no timeout").
            d.insert(
                "timeout".into(),
                Value::from(t.as_secs_f64().ceil().max(1.0) as u64),
            );
        }
        if self.on_progress.is_some() {
            d.insert("receive_progress".into(), Value::Bool(true));
        }
        if self.disclose_me {
            d.insert("disclose_me".into(), Value::Bool(true));
        }
        d
    }
}

impl fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("on_progress", &self.on_progress.is_some())
            .field("disclose_me", &self.disclose_me)
            .field("cancel", &self.cancel.is_some())
            .field("cancel_mode", &self.cancel_mode)
            .finish()
    }
}

/// Options of REGISTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterOptions {
    pub match_: MatchPolicy,
    /// How a shared registration picks its callee; `Single` forbids sharing.
    pub invoke: InvokePolicy,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions {
            match_: MatchPolicy::Exact,
            invoke: InvokePolicy::Single,
        }
    }
}

impl RegisterOptions {
    pub(crate) fn to_dict(self) -> Dict {
        let mut d = Dict::new();
        if self.match_ != MatchPolicy::Exact {
            d.insert("match".into(), Value::from(self.match_.as_str()));
        }
        if self.invoke != InvokePolicy::Single {
            d.insert("invoke".into(), Value::from(self.invoke.as_str()));
        }
        d
    }
}

/// Options of SUBSCRIBE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    pub match_: MatchPolicy,
    /// Ask for the retained events the subscription matches (sent after SUBSCRIBED).
    pub get_retained: bool,
}

impl SubscribeOptions {
    pub(crate) fn to_dict(self) -> Dict {
        let mut d = Dict::new();
        if self.match_ != MatchPolicy::Exact {
            d.insert("match".into(), Value::from(self.match_.as_str()));
        }
        if self.get_retained {
            d.insert("get_retained".into(), Value::Bool(true));
        }
        d
    }
}

/// Options of PUBLISH: acknowledgement, publisher exclusion and black/white listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishOptions {
    /// Wait for PUBLISHED (or ERROR); without it, errors are not reported.
    pub acknowledge: bool,
    /// Keep the event from this session's own subscriptions (the WAMP default: `true`).
    pub exclude_me: bool,
    pub exclude: Vec<Id>,
    pub exclude_authid: Vec<String>,
    pub exclude_authrole: Vec<String>,
    /// `Some`: only these sessions may receive the event.
    pub eligible: Option<Vec<Id>>,
    pub eligible_authid: Option<Vec<String>>,
    pub eligible_authrole: Option<Vec<String>>,
    pub disclose_me: bool,
    /// Keep the event as the topic's retained event.
    pub retain: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            acknowledge: false,
            exclude_me: true,
            exclude: Vec::new(),
            exclude_authid: Vec::new(),
            exclude_authrole: Vec::new(),
            eligible: None,
            eligible_authid: None,
            eligible_authrole: None,
            disclose_me: false,
            retain: false,
        }
    }
}

impl PublishOptions {
    /// Options that only ask for an acknowledgement.
    pub fn acknowledged() -> Self {
        PublishOptions {
            acknowledge: true,
            ..Default::default()
        }
    }

    pub(crate) fn to_dict(&self) -> Dict {
        fn ids(v: &[Id]) -> Value {
            Value::List(v.iter().map(|i| Value::from(*i)).collect::<List>())
        }
        fn strs(v: &[String]) -> Value {
            Value::List(v.iter().map(|s| Value::from(s.as_str())).collect::<List>())
        }
        let mut d = Dict::new();
        if self.acknowledge {
            d.insert("acknowledge".into(), Value::Bool(true));
        }
        if !self.exclude_me {
            d.insert("exclude_me".into(), Value::Bool(false));
        }
        if self.disclose_me {
            d.insert("disclose_me".into(), Value::Bool(true));
        }
        if self.retain {
            d.insert("retain".into(), Value::Bool(true));
        }
        if !self.exclude.is_empty() {
            d.insert("exclude".into(), ids(&self.exclude));
        }
        if !self.exclude_authid.is_empty() {
            d.insert("exclude_authid".into(), strs(&self.exclude_authid));
        }
        if !self.exclude_authrole.is_empty() {
            d.insert("exclude_authrole".into(), strs(&self.exclude_authrole));
        }
        if let Some(v) = &self.eligible {
            d.insert("eligible".into(), ids(v));
        }
        if let Some(v) = &self.eligible_authid {
            d.insert("eligible_authid".into(), strs(v));
        }
        if let Some(v) = &self.eligible_authrole {
            d.insert("eligible_authrole".into(), strs(v));
        }
        if self.retain {
            d.insert("retain".into(), Value::Bool(true));
        }
        d
    }
}
