//! What the router sends to a session, and the bounded queue it goes through.
//!
//! Every session has one outgoing queue, drained by its writer (a wire writer task or an
//! in-process client). Events fanned out to many subscribers are wrapped in a
//! [`SharedMessage`], serialized at most once per codec no matter how many subscribers
//! receive it.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::codec::Codec;
use crate::message::Message;

/// One item in a session's outgoing queue.
///
/// Small on purpose (two words): a queue allocates its slots in blocks of 32, and an idle
/// session's first block is part of what every connection costs.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Message(Box<Message>),
    Shared(Arc<SharedMessage>),
}

impl Outgoing {
    /// The serialized form for `codec` (cached for shared messages).
    pub fn encode(&self, codec: Codec) -> Bytes {
        match self {
            Outgoing::Message(m) => codec.encode(m),
            Outgoing::Shared(s) => s.encoded(codec).clone(),
        }
    }

    /// The message itself, for in-process peers.
    pub fn into_message(self) -> Message {
        match self {
            Outgoing::Message(m) => *m,
            Outgoing::Shared(s) => s.message().clone(),
        }
    }

    pub fn message(&self) -> &Message {
        match self {
            Outgoing::Message(m) => m.as_ref(),
            Outgoing::Shared(s) => s.message(),
        }
    }
}

impl From<Message> for Outgoing {
    fn from(m: Message) -> Self {
        Outgoing::Message(Box::new(m))
    }
}

/// A message sent to many sessions, serialized lazily once per codec.
#[derive(Debug)]
pub struct SharedMessage {
    message: Message,
    encoded: [OnceLock<Bytes>; 3],
}

impl SharedMessage {
    pub fn new(message: Message) -> Arc<Self> {
        Arc::new(SharedMessage {
            message,
            encoded: Default::default(),
        })
    }

    pub fn message(&self) -> &Message {
        &self.message
    }

    pub fn encoded(&self, codec: Codec) -> &Bytes {
        let slot = match codec {
            Codec::Json => &self.encoded[0],
            Codec::MsgPack => &self.encoded[1],
            Codec::Cbor => &self.encoded[2],
        };
        slot.get_or_init(|| codec.encode(&self.message))
    }
}
