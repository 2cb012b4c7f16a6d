//! The arguments a message carries, decoded or as the sender serialized them.
//!
//! The router never looks inside the arguments of what it routes (CALL → INVOCATION,
//! YIELD → RESULT, ERROR → ERROR, PUBLISH → EVENT). So when a message arrives in MessagePack,
//! JSON or CBOR, its `Args`/`KwArgs` are checked (exactly what decoding them would accept) and
//! kept as the caller's bytes: a receiver that speaks the same serializer gets them copied into
//! its message as they came, and no tree of [`Value`]s is built or serialized for it. They are decoded
//! only where something reads them: an in-process peer, the meta API, or a receiver with
//! another serializer.

use bytes::Bytes;

use crate::codec::Codec;
use crate::value::{Dict, List, Value};

/// Positional and keyword arguments of a message. Empty parts are omitted on the wire.
///
/// `args` and `kwargs` are empty while the payload is [raw](Payload::raw): read them after
/// [`Payload::into_decoded`] (messages reaching in-process peers are decoded already), and
/// when it is [transparent](Payload::transparent).
#[derive(Clone, Debug, Default)]
pub struct Payload {
    pub args: List,
    pub kwargs: Dict,
    raw: Option<RawPayload>,
    /// Payload passthru mode (WAMP's PPT, autobahn's E2EE): one binary (or string) element
    /// where `Args` would be, that only the receiver can read. Boxed: rare, and every message
    /// holds a `Payload`.
    transparent: Option<Box<Value>>,
}

/// The options (of CALL, YIELD, PUBLISH, ERROR) that describe a transparent payload, copied
/// into what the router forwards: autobahn's `enc_*` and the WAMP spec's `ppt_*`.
pub const TRANSPARENT_PAYLOAD_KEYS: [&str; 7] = [
    "enc_algo",
    "enc_key",
    "enc_serializer",
    "ppt_scheme",
    "ppt_serializer",
    "ppt_cipher",
    "ppt_keyid",
];

/// `Args` and, if `elements` is 2, `KwArgs`, serialized, as the last elements of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct RawPayload {
    codec: Codec,
    elements: u8,
    bytes: Bytes,
}

impl RawPayload {
    /// Wraps checked MessagePack: a list (`elements == 1`) or a list and a dict (`2`).
    pub(crate) fn msgpack(elements: u8, bytes: Bytes) -> RawPayload {
        debug_assert!(matches!(elements, 1 | 2));
        RawPayload {
            codec: Codec::MsgPack,
            elements,
            bytes,
        }
    }

    /// Wraps checked CBOR: an array (`elements == 1`) or an array and a map (`2`).
    pub(crate) fn cbor(elements: u8, bytes: Bytes) -> RawPayload {
        debug_assert!(matches!(elements, 1 | 2));
        RawPayload {
            codec: Codec::Cbor,
            elements,
            bytes,
        }
    }

    /// Wraps checked JSON text: a list (`elements == 1`) or a list, a comma (perhaps with
    /// whitespace) and a dict (`2`), as they stood in the sender's message.
    pub(crate) fn json(elements: u8, bytes: Bytes) -> RawPayload {
        debug_assert!(matches!(elements, 1 | 2));
        RawPayload {
            codec: Codec::Json,
            elements,
            bytes,
        }
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The serialized elements, to be appended to a message header that counts them.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    fn decode(&self) -> Result<Payload, String> {
        if self.codec == Codec::Json {
            // The elements as they stood in the message's list.
            let mut text = Vec::with_capacity(self.bytes.len() + 2);
            text.push(b'[');
            text.extend_from_slice(&self.bytes);
            text.push(b']');
            let mut parts = match crate::json::parse(&text)? {
                Value::List(l) => l.into_iter(),
                other => return Err(format!("arguments are {}", other.type_name())),
            };
            return match (parts.next(), parts.next()) {
                (Some(Value::List(args)), None) => Ok(Payload::args(args)),
                (Some(Value::List(args)), Some(Value::Dict(kwargs))) => {
                    Ok(Payload::new(args, kwargs))
                }
                _ => Err("arguments are not a list (and a dict)".into()),
            };
        }
        let mut rest = &self.bytes[..];
        let codec = self.codec;
        let mut element = || -> Result<Value, String> {
            let len = match codec {
                Codec::Cbor => crate::cbor::item_len(rest),
                _ => crate::msgpack::value_len(rest),
            }
            .ok_or("truncated element")?;
            let (head, tail) = rest.split_at(len);
            rest = tail;
            // `head` is exactly one value: no second framing pass through `decode_value`.
            match codec {
                Codec::Cbor => crate::cbor::from_item(head),
                _ => rmp_serde::from_slice(head).map_err(|e| e.to_string()),
            }
        };
        let args = match element()? {
            Value::List(l) => l,
            other => return Err(format!("Arguments are {}", other.type_name())),
        };
        let kwargs = if self.elements == 2 {
            match element()? {
                Value::Dict(d) => d,
                other => return Err(format!("ArgumentsKw are {}", other.type_name())),
            }
        } else {
            Dict::new()
        };
        Ok(Payload::new(args, kwargs))
    }
}

impl Payload {
    pub fn new(args: List, kwargs: Dict) -> Self {
        Payload {
            args,
            kwargs,
            raw: None,
            transparent: None,
        }
    }

    /// A payload in passthru mode: `body` (bytes or a string) goes where `Args` would.
    pub fn transparent(body: Value) -> Self {
        Payload {
            transparent: Some(Box::new(body)),
            ..Payload::default()
        }
    }

    /// The body of a payload in passthru mode.
    pub fn transparent_body(&self) -> Option<&Value> {
        self.transparent.as_deref()
    }

    /// Copies the passthru options of the message that brought this payload (`from`: CALL,
    /// YIELD or PUBLISH options, ERROR details) into the details of the one that forwards it,
    /// as Crossbar.io does; nothing for ordinary payloads.
    pub fn forward_transparency(&self, from: &Dict, to: &mut Dict) {
        if self.transparent.is_none() {
            return;
        }
        for key in TRANSPARENT_PAYLOAD_KEYS {
            if let Some(v) = from.get(key) {
                to.insert(key.to_owned(), v.clone());
            }
        }
    }

    pub fn args(args: List) -> Self {
        Payload::new(args, Dict::new())
    }

    /// A payload kept as the sender's bytes.
    pub(crate) fn from_raw(raw: RawPayload) -> Self {
        Payload {
            raw: Some(raw),
            ..Payload::default()
        }
    }

    /// The sender's serialized arguments, if they were kept as received.
    pub fn raw(&self) -> Option<&RawPayload> {
        self.raw.as_ref()
    }

    /// The payload with `args` and `kwargs` filled in.
    ///
    /// Raw arguments were checked on arrival with the same rules as decoding, so this cannot
    /// fail; if it ever did, the payload arrives empty and the error is logged.
    pub fn into_decoded(self) -> Payload {
        match &self.raw {
            None => self,
            Some(raw) => raw.decode().unwrap_or_else(|e| {
                tracing::error!(error = %e, "checked arguments failed to decode");
                Payload::default()
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_none()
            && self.transparent.is_none()
            && self.args.is_empty()
            && self.kwargs.is_empty()
    }

    /// Number of trailing list elements this payload takes on the wire (0, 1 or 2).
    pub fn wire_len(&self) -> usize {
        if let Some(raw) = &self.raw {
            usize::from(raw.elements)
        } else if self.transparent.is_some() {
            1
        } else if !self.kwargs.is_empty() {
            2
        } else if !self.args.is_empty() {
            1
        } else {
            0
        }
    }
}

impl Payload {
    /// What of these arguments `codec` cannot carry, if anything: the router answers the
    /// sender with an ERROR rather than deliver them altered (or not at all, as Crossbar.io
    /// does: its call never returns). Arguments kept in their own serializer carry as they are.
    pub fn refused_by(&self, codec: Codec) -> Option<&'static str> {
        match &self.raw {
            Some(raw) if raw.codec == codec => None,
            // Decoded only if the bytes may hold such a value.
            Some(raw) => may_hold_uncarriable(raw.codec, codec, &raw.bytes)
                .then(|| self.clone().into_decoded().refused_by(codec))
                .flatten(),
            None => self
                .args
                .iter()
                .chain(self.kwargs.values())
                .chain(self.transparent.as_deref())
                .find_map(|v| v.refused_by(codec)),
        }
    }
}

/// Whether arguments serialized by `from` may hold what `to` cannot carry, so a raw payload is
/// decoded for the check only then (never on the usual path). Only MessagePack refuses
/// anything (integers beyond 64 bits): CBOR's bignum tags can hold one, and so can a JSON
/// number of 19 digits or more. JSON writes every integer and float (as Python's json does),
/// and CBOR and UBJSON carry all.
fn may_hold_uncarriable(from: Codec, to: Codec, bytes: &[u8]) -> bool {
    match (from, to) {
        (Codec::Cbor, Codec::MsgPack) => bytes.iter().any(|b| matches!(b, 0xc2 | 0xc3)),
        (Codec::Json, Codec::MsgPack) => crate::json::has_long_digit_run(bytes),
        _ => false,
    }
}

/// Equal when the decoded arguments are equal, however each side holds them.
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        if self.transparent.is_some() || other.transparent.is_some() {
            return self.transparent == other.transparent;
        }
        match (&self.raw, &other.raw) {
            (None, None) => self.args == other.args && self.kwargs == other.kwargs,
            _ => self.clone().into_decoded() == other.clone().into_decoded(),
        }
    }
}
