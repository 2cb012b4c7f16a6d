//! Session statistics (a realm's `stats`, as Crossbar.io has them): bytes and messages each
//! session's serializer read and wrote, published on `wamp.session.on_stats` when the session
//! joins (`trigger_on_join`), every `trigger_after_rated_messages` rated messages or
//! `trigger_after_duration` nanoseconds of traffic, and when it leaves (`trigger_on_leave`).
//!
//! A rated message is a message counted in units of `rated_message_size` bytes (a 1,300-byte
//! message is 3 rated messages of 512). Counting happens where the bytes are: the session
//! task counts the frames it reads, the connection's writer the frames it writes; both reach
//! the counters through the session's outgoing queue ([`crate::peer::OutSender::stats`]).
//! Realms without `stats` count nothing.

use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::dict;
use crate::realm::Realm;
use crate::session::{Deferred, SessionHandle};
use crate::value::{Dict, Value};

/// A realm's `stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStatsConfig {
    #[serde(default = "default_rated_message_size")]
    pub rated_message_size: u64,
    /// Publish after this many rated messages (0: never).
    #[serde(default)]
    pub trigger_after_rated_messages: u64,
    /// Publish on the first message this many nanoseconds after the last publication (0: never).
    #[serde(default)]
    pub trigger_after_duration: u64,
    #[serde(default)]
    pub trigger_on_join: bool,
    #[serde(default = "default_true")]
    pub trigger_on_leave: bool,
}

fn default_rated_message_size() -> u64 {
    512
}

fn default_true() -> bool {
    true
}

impl SessionStatsConfig {
    /// What Crossbar.io asserts when a session joins such a realm.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rated_message_size == 0 || !self.rated_message_size.is_multiple_of(2) {
            return Err(ConfigError::new(
                "rated_message_size",
                "must be a positive even number of bytes",
            ));
        }
        if self.trigger_after_rated_messages == 0 && self.trigger_after_duration == 0 {
            return Err(ConfigError::new(
                "",
                "set trigger_after_rated_messages or trigger_after_duration (or both)",
            ));
        }
        Ok(())
    }
}

/// One session's counters since the last publication.
pub struct SessionStats {
    config: SessionStatsConfig,
    realm: Weak<Realm>,
    /// `{session, realm, authid, authrole}`: the first argument of every event.
    info: Dict,
    serializer: &'static str,
    counters: Mutex<Counters>,
}

struct Counters {
    cycle: u64,
    /// When the counters were last reset (ns since the Unix epoch, and as an instant).
    reset_ns: u64,
    reset_at: Instant,
    bytes: u64,
    messages: u64,
    rated_messages: u64,
    published_first: bool,
}

impl SessionStats {
    pub(crate) fn new(
        config: SessionStatsConfig,
        realm: &Arc<Realm>,
        session: &SessionHandle,
    ) -> SessionStats {
        SessionStats {
            config,
            realm: Arc::downgrade(realm),
            info: dict! {
                "realm" => realm.name().to_owned(),
                "session" => session.id,
                "authid" => session.identity.authid.clone(),
                "authrole" => session.identity.authrole.clone(),
            },
            serializer: session.serializer.map_or("", |c| c.name()),
            counters: Mutex::new(Counters {
                cycle: 0,
                reset_ns: now_ns(),
                reset_at: Instant::now(),
                bytes: 0,
                messages: 0,
                rated_messages: 0,
                published_first: false,
            }),
        }
    }

    pub fn config(&self) -> &SessionStatsConfig {
        &self.config
    }

    /// Counts one message of `len` bytes, read or written, and publishes the counters if a
    /// trigger is reached.
    pub fn count(&self, len: usize) {
        let len = len as u64;
        let snapshot = {
            let mut c = self.counters.lock();
            c.bytes += len;
            c.messages += 1;
            c.rated_messages += len.div_ceil(self.config.rated_message_size);
            let by_messages = self.config.trigger_after_rated_messages > 0
                && c.rated_messages >= self.config.trigger_after_rated_messages;
            let by_time = self.config.trigger_after_duration > 0
                && c.reset_at.elapsed().as_nanos()
                    >= u128::from(self.config.trigger_after_duration);
            (by_messages || by_time).then(|| self.take(&mut c, false))
        };
        if let Some(stats) = snapshot {
            self.publish(stats);
        }
    }

    /// Publishes the counters now: when the session joins, and (`last`) when it leaves.
    pub(crate) fn publish_now(&self, last: bool) {
        let stats = self.take(&mut self.counters.lock(), last);
        self.publish(stats);
    }

    /// The event's second argument, as autobahn's `ISerializer.stats()` makes it; resets the
    /// counters.
    fn take(&self, c: &mut Counters, last: bool) -> Dict {
        c.cycle += 1;
        let now = now_ns();
        let stats = dict! {
            "cycle" => c.cycle,
            "serializer" => self.serializer,
            "timestamp" => c.reset_ns,
            "duration" => now.saturating_sub(c.reset_ns),
            "bytes" => c.bytes,
            "messages" => c.messages,
            "rated_messages" => c.rated_messages,
            "first" => !c.published_first,
            "last" => last,
        };
        c.published_first = true;
        c.reset_ns = now;
        c.reset_at = Instant::now();
        c.bytes = 0;
        c.messages = 0;
        c.rated_messages = 0;
        stats
    }

    fn publish(&self, stats: Dict) {
        let Some(realm) = self.realm.upgrade() else {
            return;
        };
        let mut deferred = Deferred::default();
        crate::meta::publish(
            &realm,
            "wamp.session.on_stats",
            vec![Value::Dict(self.info.clone()), Value::Dict(stats)],
            &mut deferred,
        );
        deferred.spawn_flush();
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
