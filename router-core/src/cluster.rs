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
//! Order: a member's frames are sent in the order its sessions' publications were routed,
//! and the bus keeps that order to each other member, so events keep their order per
//! publisher and subscriber across members. `seq` counts a member's frames, so one that went
//! missing on the bus (a bus server failing) is counted, never reordered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

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
    /// counted by the bus.
    fn broadcast(&self, frame: Bytes);
}

const VERSION: u8 = 1;
const KIND_EVENT: u8 = 1;

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
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    events_out: AtomicU64,
    events_in: AtomicU64,
    events_lost: AtomicU64,
    frames_bad: AtomicU64,
}

/// What a link has done, for the management API.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClusterCounters {
    pub events_out: u64,
    pub events_in: u64,
    /// Frames of another member that never arrived (gaps in its `seq`).
    pub events_lost: u64,
    /// Frames that could not be read (dropped).
    pub frames_bad: u64,
}

impl ClusterLink {
    pub(crate) fn new(realm: &Arc<Realm>, member: String, bus: Arc<dyn ClusterBus>) -> Self {
        ClusterLink {
            realm: Arc::downgrade(realm),
            member,
            bus,
            seq: AtomicU64::new(0),
            seen: Mutex::new(HashMap::default()),
            counters: Counters::default(),
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
        let header = Codec::MsgPack.encode_value(&header);
        let mut frame = BytesMut::with_capacity(7 + header.len() + message.len());
        frame.put_u8(VERSION);
        frame.put_u8(KIND_EVENT);
        frame.put_u32(u32::try_from(header.len()).unwrap_or(u32::MAX));
        frame.put_slice(&header);
        frame.put_u8(codec_id(codec));
        frame.put_slice(&message);
        self.counters.events_out.fetch_add(1, Ordering::Relaxed);
        self.bus.broadcast(frame.freeze());
    }

    /// Delivers a frame another member sent. A frame that cannot be read is dropped and
    /// counted; it never affects a session.
    pub async fn on_frame(&self, frame: Bytes) {
        let Some(realm) = self.realm.upgrade() else {
            return;
        };
        let event = match read_event(&frame) {
            Ok(e) => e,
            Err(why) => {
                self.counters.frames_bad.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(realm = %realm.name(), reason = %why, "cluster frame dropped");
                return;
            }
        };
        if event.member == self.member {
            return;
        }
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

/// A publication of another member, read from its frame.
struct RemoteEvent {
    member: String,
    seq: u64,
    publication: RemotePublication,
}

fn read_event(frame: &Bytes) -> Result<RemoteEvent, String> {
    if frame.len() < 7 || frame[0] != VERSION || frame[1] != KIND_EVENT {
        return Err("not a version 1 event frame".into());
    }
    let len = u32::from_be_bytes([frame[2], frame[3], frame[4], frame[5]]) as usize;
    let body = 6usize
        .checked_add(len)
        .filter(|end| *end < frame.len())
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
    Ok(RemoteEvent {
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
    })
}
