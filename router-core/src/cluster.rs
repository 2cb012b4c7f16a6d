//! A realm shared by several routers (the members of its cluster) over a message bus.
//!
//! router-core knows no bus: a member is given a [`ClusterBus`] that carries frames to every
//! other member of the realm, in order, and hands it the frames the others send
//! ([`ClusterLink::on_frame`]). What crosses is a publication: each member forwards the events
//! its sessions (and testaments) publish, and delivers the others' as it delivers its own —
//! the same matching (exact, prefix, wildcard), black/white lists, publisher exclusion,
//! disclosure, retention and history. Subscriptions are not replicated: every member receives
//! every event of the realm and matches it locally, so matching is exactly the broker's.
//!
//! A frame: `[version 1][kind 1][header length u32 BE][header][serializer][message]`. The
//! header is a MessagePack list `[member, seq, publication, publisher session, authid,
//! authrole, disclose]`; the message is the publication as a serialized WAMP PUBLISH in the
//! serializer of its arguments (the sender's bytes, as received), so the receiving member
//! checks it with the same decoder that checks a client's messages, and forwards the
//! arguments to its subscribers of that serializer without decoding them.
//!
//! Membership: every member broadcasts a heartbeat ([`ClusterLink::tick`], every
//! [`HEARTBEAT_INTERVAL`]) and a leave frame when its realm stops; a member is known from its
//! first frame and forgotten after its leave frame or [`MEMBER_TIMEOUT`] of silence (a node
//! that died or lost the bus). [`ClusterLink::members`] is what the management API shows.
//!
//! Order: a member's frames are sent in the order its sessions' publications were routed,
//! and the bus keeps that order to each other member, so events keep their order per
//! publisher and subscriber across members. `seq` counts a member's frames, so one that went
//! missing on the bus (a bus server failing) is counted, never reordered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;

use crate::broker::{self, Publisher, RemotePublication};
use crate::codec::Codec;
use crate::message::{Id, Message, Payload};
use crate::realm::Realm;
use crate::session::Deferred;
use crate::util::HashMap;
use crate::value::{Dict, Value};

/// Carries a member's frames to every other member of the realm.
pub trait ClusterBus: Send + Sync + 'static {
    /// Queues `frame` for the other members: never blocks, keeps the order of the calls. A
    /// frame the bus cannot take (its queue is full while it is disconnected) is dropped and
    /// counted by the bus. A member's own frames never come back to it, so a frame under its
    /// own name is another router's with the same `member`.
    fn broadcast(&self, frame: Bytes);
}

const VERSION: u8 = 1;
const KIND_EVENT: u8 = 1;
const KIND_HEARTBEAT: u8 = 2;
const KIND_LEAVE: u8 = 3;

/// How often a member says it is alive ([`ClusterLink::tick`]).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// How long a member may stay silent before the others forget it.
pub const MEMBER_TIMEOUT: Duration = Duration::from_secs(5);

/// The options of a publication that matter to receivers on other members.
const FORWARDED_OPTIONS: &[&str] = &[
    "exclude_me",
    "exclude",
    "eligible",
    "exclude_authid",
    "exclude_authrole",
    "eligible_authid",
    "eligible_authrole",
    "retain",
];

/// A realm's side of its cluster: forwards what is published here, delivers what the other
/// members publish, and counts both.
pub struct ClusterLink {
    realm: Weak<Realm>,
    member: String,
    bus: Arc<dyn ClusterBus>,
    seq: AtomicU64,
    /// The last `seq` seen of each other member.
    seen: Mutex<HashMap<String, u64>>,
    /// The other members heard from within [`MEMBER_TIMEOUT`], by name.
    members: Mutex<BTreeMap<String, Peer>>,
    /// When this member joined (RFC 3339), as the others see it.
    started: String,
    /// When a member name conflict was last warned about.
    conflict_warned: Mutex<Option<Instant>>,
    counters: Counters,
}

/// Another member, as its frames tell.
struct Peer {
    since: String,
    started: String,
    sessions: u64,
    last_seen: Instant,
}

/// A member of the realm's cluster, for the management API.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClusterMember {
    pub member: String,
    /// This router.
    pub local: bool,
    /// When the member started its side of the realm (its own clock).
    pub started: String,
    /// When this router first heard from it (this router's clock).
    pub since: String,
    /// Its sessions on the realm at its last heartbeat.
    pub sessions: u64,
    /// Milliseconds since its last frame (0 for this router).
    pub last_seen_ms: u64,
}

#[derive(Default)]
struct Counters {
    events_out: AtomicU64,
    events_in: AtomicU64,
    events_lost: AtomicU64,
    frames_bad: AtomicU64,
    member_conflicts: AtomicU64,
}

/// How often a member name conflict may be warned about.
const CONFLICT_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// What a link has done, for the management API.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClusterCounters {
    pub events_out: u64,
    pub events_in: u64,
    /// Frames of another member that never arrived (gaps in its `seq`).
    pub events_lost: u64,
    /// Frames that could not be read (dropped).
    pub frames_bad: u64,
    /// Frames of another router under this member's name (dropped): two routers share a
    /// `member` name, and neither sees the other's events.
    pub member_conflicts: u64,
}

impl ClusterLink {
    pub(crate) fn new(realm: &Arc<Realm>, member: String, bus: Arc<dyn ClusterBus>) -> Self {
        ClusterLink {
            realm: Arc::downgrade(realm),
            member,
            bus,
            seq: AtomicU64::new(0),
            seen: Mutex::new(HashMap::default()),
            members: Mutex::new(BTreeMap::new()),
            started: crate::util::utcnow(),
            conflict_warned: Mutex::new(None),
            counters: Counters::default(),
        }
    }

    /// Says to the others that this member is alive, and forgets those silent for longer
    /// than [`MEMBER_TIMEOUT`]. The bus calls it every [`HEARTBEAT_INTERVAL`].
    pub fn tick(&self) {
        let sessions = self.realm.upgrade().map_or(0, |r| r.session_count());
        let header = Value::List(vec![
            Value::from(self.member.as_str()),
            Value::from(self.started.as_str()),
            Value::from(sessions as u64),
        ]);
        self.bus.broadcast(frame(KIND_HEARTBEAT, &header, &[]));
        let realm = self.realm_name();
        self.members.lock().retain(|name, peer| {
            let alive = peer.last_seen.elapsed() <= MEMBER_TIMEOUT;
            if !alive {
                tracing::warn!(%realm, member = %name, silent_ms = peer.last_seen.elapsed().as_millis() as u64, "cluster: member timed out");
            }
            alive
        });
    }

    /// The frame that tells the others this member is leaving (its realm stops): the bus
    /// sends it last.
    pub fn leave_frame(&self) -> Bytes {
        frame(
            KIND_LEAVE,
            &Value::List(vec![Value::from(self.member.as_str())]),
            &[],
        )
    }

    /// This router and the members heard from within [`MEMBER_TIMEOUT`], by name.
    pub fn members(&self) -> Vec<ClusterMember> {
        let sessions = self.realm.upgrade().map_or(0, |r| r.session_count());
        let mut all = vec![ClusterMember {
            member: self.member.clone(),
            local: true,
            started: self.started.clone(),
            since: self.started.clone(),
            sessions: sessions as u64,
            last_seen_ms: 0,
        }];
        for (name, p) in self.members.lock().iter() {
            if p.last_seen.elapsed() > MEMBER_TIMEOUT {
                continue;
            }
            all.push(ClusterMember {
                member: name.clone(),
                local: false,
                started: p.started.clone(),
                since: p.since.clone(),
                sessions: p.sessions,
                last_seen_ms: p.last_seen.elapsed().as_millis() as u64,
            });
        }
        all.sort_by(|a, b| a.member.cmp(&b.member));
        all
    }

    fn realm_name(&self) -> String {
        self.realm
            .upgrade()
            .map(|r| r.name().to_owned())
            .unwrap_or_default()
    }

    /// Counts a frame of another router under this member's name, and says so (at most
    /// every [`CONFLICT_WARNING_INTERVAL`]).
    fn name_conflict(&self, realm: &Realm) {
        let n = self
            .counters
            .member_conflicts
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let mut warned = self.conflict_warned.lock();
        if warned.is_none_or(|t| t.elapsed() >= CONFLICT_WARNING_INTERVAL) {
            *warned = Some(Instant::now());
            tracing::warn!(realm = %realm.name(), member = %self.member, frames = n, "cluster: another router uses this member name; its frames are dropped (give each node's realm its own cluster.member)");
        }
    }

    /// Notes that `member` was heard from (any frame), with what its heartbeat says.
    fn heard(&self, member: &str, heartbeat: Option<(String, u64)>) {
        let mut members = self.members.lock();
        let peer = match members.get_mut(member) {
            Some(p) => p,
            None => {
                tracing::info!(realm = %self.realm_name(), %member, "cluster: member joined");
                members.entry(member.to_owned()).or_insert(Peer {
                    since: crate::util::utcnow(),
                    started: String::new(),
                    sessions: 0,
                    last_seen: Instant::now(),
                })
            }
        };
        peer.last_seen = Instant::now();
        if let Some((started, sessions)) = heartbeat {
            peer.started = started;
            peer.sessions = sessions;
        }
    }

    /// This router's name in the cluster.
    pub fn member(&self) -> &str {
        &self.member
    }

    pub fn counters(&self) -> ClusterCounters {
        let c = &self.counters;
        ClusterCounters {
            events_out: c.events_out.load(Ordering::Relaxed),
            events_in: c.events_in.load(Ordering::Relaxed),
            events_lost: c.events_lost.load(Ordering::Relaxed),
            frames_bad: c.frames_bad.load(Ordering::Relaxed),
            member_conflicts: c.member_conflicts.load(Ordering::Relaxed),
        }
    }

    /// Sends a publication of this member to the others.
    pub(crate) fn forward_event(
        &self,
        topic: &str,
        publication: Id,
        options: &Dict,
        payload: &Payload,
        from: &Publisher<'_>,
        disclose: bool,
    ) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let header = Value::List(vec![
            Value::from(self.member.as_str()),
            Value::from(seq),
            Value::from(publication),
            Value::from(from.id),
            Value::from(from.authid),
            Value::from(from.authrole),
            Value::Bool(disclose),
        ]);
        let mut forwarded = Dict::new();
        for key in FORWARDED_OPTIONS
            .iter()
            .chain(crate::payload::TRANSPARENT_PAYLOAD_KEYS.iter())
        {
            if let Some(v) = options.get(*key) {
                forwarded.insert((*key).to_owned(), v.clone());
            }
        }
        // The arguments' own serializer keeps them as they came; decoded ones travel as
        // MessagePack (CBOR where MessagePack cannot carry them).
        let codec = match payload.raw() {
            Some(raw) => raw.codec(),
            None if payload.refused_by(Codec::MsgPack).is_some() => Codec::Cbor,
            None => Codec::MsgPack,
        };
        let message = codec.encode(&Message::Publish {
            request: 1,
            options: forwarded,
            topic: topic.to_owned(),
            payload: payload.clone(),
        });
        let mut body = Vec::with_capacity(1 + message.len());
        body.push(codec_id(codec));
        body.extend_from_slice(&message);
        self.counters.events_out.fetch_add(1, Ordering::Relaxed);
        self.bus.broadcast(frame(KIND_EVENT, &header, &body));
    }

    /// Delivers a frame another member sent. A frame that cannot be read is dropped and
    /// counted; it never affects a session.
    pub async fn on_frame(&self, frame: Bytes) {
        let Some(realm) = self.realm.upgrade() else {
            return;
        };
        let event = match read_frame(&frame) {
            Ok(Frame::Event(e)) => e,
            Ok(Frame::Heartbeat {
                member,
                started,
                sessions,
            }) => {
                if member == self.member {
                    self.name_conflict(&realm);
                } else {
                    self.heard(&member, Some((started, sessions)));
                }
                return;
            }
            Ok(Frame::Leave { member }) => {
                if self.members.lock().remove(&member).is_some() {
                    tracing::info!(realm = %realm.name(), %member, "cluster: member left");
                }
                self.seen.lock().remove(&member);
                return;
            }
            Err(why) => {
                self.counters.frames_bad.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(realm = %realm.name(), reason = %why, "cluster frame dropped");
                return;
            }
        };
        if event.member == self.member {
            self.name_conflict(&realm);
            return;
        }
        self.heard(&event.member, None);
        {
            let mut seen = self.seen.lock();
            let last = seen.entry(event.member.clone()).or_insert(0);
            if *last != 0 && event.seq > *last + 1 {
                self.counters
                    .events_lost
                    .fetch_add(event.seq - *last - 1, Ordering::Relaxed);
            }
            *last = event.seq;
        }
        self.counters.events_in.fetch_add(1, Ordering::Relaxed);
        let mut deferred = Deferred::default();
        broker::deliver_remote(&realm, event.publication, &mut deferred);
        deferred.flush().await;
    }
}

fn codec_id(c: Codec) -> u8 {
    match c {
        Codec::Json => 1,
        Codec::MsgPack => 2,
        Codec::Cbor => 3,
        Codec::Ubjson => 4,
    }
}

fn codec_of(id: u8) -> Option<Codec> {
    Some(match id {
        1 => Codec::Json,
        2 => Codec::MsgPack,
        3 => Codec::Cbor,
        4 => Codec::Ubjson,
        _ => return None,
    })
}

/// `[VERSION][kind][header length u32 BE][header: MessagePack][body]`.
fn frame(kind: u8, header: &Value, body: &[u8]) -> Bytes {
    let header = Codec::MsgPack.encode_value(header);
    let mut frame = BytesMut::with_capacity(6 + header.len() + body.len());
    frame.put_u8(VERSION);
    frame.put_u8(kind);
    frame.put_u32(u32::try_from(header.len()).unwrap_or(u32::MAX));
    frame.put_slice(&header);
    frame.put_slice(body);
    frame.freeze()
}

/// A frame of another member.
enum Frame {
    Event(Box<RemoteEvent>),
    Heartbeat {
        member: String,
        started: String,
        sessions: u64,
    },
    Leave {
        member: String,
    },
}

/// A publication of another member, read from its frame.
struct RemoteEvent {
    member: String,
    seq: u64,
    publication: RemotePublication,
}

fn read_frame(frame: &Bytes) -> Result<Frame, String> {
    if frame.len() < 6 || frame[0] != VERSION {
        return Err("not a version 1 frame".into());
    }
    let kind = frame[1];
    let len = u32::from_be_bytes([frame[2], frame[3], frame[4], frame[5]]) as usize;
    let body = 6usize
        .checked_add(len)
        .filter(|end| *end < frame.len() || (kind != KIND_EVENT && *end == frame.len()))
        .ok_or("the header overruns the frame")?;
    let header = Codec::MsgPack
        .decode_value(&frame[6..body])
        .map_err(|e| format!("header: {}", e.0))?;
    let Value::List(h) = header else {
        return Err("the header is not a list".into());
    };
    let text = |i: usize| -> Result<String, String> {
        h.get(i)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("header element {i} is not a string"))
    };
    let int = |i: usize| -> Result<u64, String> {
        h.get(i)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("header element {i} is not an integer"))
    };
    match kind {
        KIND_EVENT => {}
        KIND_HEARTBEAT => {
            return Ok(Frame::Heartbeat {
                member: text(0)?,
                started: text(1)?,
                sessions: int(2)?,
            });
        }
        KIND_LEAVE => return Ok(Frame::Leave { member: text(0)? }),
        other => return Err(format!("unknown frame kind {other}")),
    }
    let codec = codec_of(frame[body]).ok_or("unknown serializer")?;
    let message = codec
        .decode_routed(&frame.slice(body + 1..))
        .map_err(|e| format!("message: {}", e.0))?;
    let Message::Publish {
        options,
        topic,
        payload,
        ..
    } = message
    else {
        return Err("the message is not a PUBLISH".into());
    };
    Ok(Frame::Event(Box::new(RemoteEvent {
        member: text(0)?,
        seq: int(1)?,
        publication: RemotePublication {
            topic,
            publication: int(2)?,
            options,
            payload,
            publisher: (int(3)?, text(4)?, text(5)?),
            disclose: h.get(6).and_then(Value::as_bool).unwrap_or(false),
        },
    })))
}
