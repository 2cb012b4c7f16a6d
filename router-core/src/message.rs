//! WAMP messages as a typed enum, with strict shape checks when built from a decoded list.
//!
//! Decoding happens in two steps (see `codec`): bytes → `Vec<Value>` by the serializer, then
//! [`Message::from_list`] checks every field's type and range. Any mismatch is a
//! [`ProtocolViolation`], which closes only the offending session.

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use bytes::Bytes;

use crate::cbor::CborItems;
use crate::json::JsonItems;
use crate::msgpack::{MsgPackItems, RawTail};
pub use crate::payload::{Payload, RawPayload};
use crate::value::{Dict, List, Value};

/// A WAMP ID (session, publication, subscription, registration, request): an integer in [0, 2^53].
pub type Id = u64;

/// The largest valid WAMP ID (2^53), so that IDs survive a trip through a JavaScript double.
pub const MAX_ID: Id = 1 << 53;

/// The message type codes of the basic and advanced profile.
pub mod code {
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const CANCEL: u64 = 49;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const INTERRUPT: u64 = 69;
    pub const YIELD: u64 = 70;
}

/// Every WAMP message this router speaks.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Hello {
        realm: Option<String>,
        details: Dict,
    },
    Welcome {
        session: Id,
        details: Dict,
    },
    Abort {
        details: Dict,
        reason: String,
        payload: Payload,
    },
    Challenge {
        authmethod: String,
        extra: Dict,
    },
    Authenticate {
        signature: String,
        extra: Dict,
    },
    Goodbye {
        details: Dict,
        reason: String,
    },
    Error {
        request_type: u64,
        request: Id,
        details: Dict,
        error: String,
        payload: Payload,
    },
    Publish {
        request: Id,
        options: Dict,
        topic: String,
        payload: Payload,
    },
    Published {
        request: Id,
        publication: Id,
    },
    Subscribe {
        request: Id,
        options: Dict,
        topic: String,
    },
    Subscribed {
        request: Id,
        subscription: Id,
    },
    Unsubscribe {
        request: Id,
        subscription: Id,
    },
    /// `request` 0 with `Details.subscription` (and `reason`): the router revoked it.
    Unsubscribed {
        request: Id,
        details: Dict,
    },
    Event {
        subscription: Id,
        publication: Id,
        details: Dict,
        payload: Payload,
    },
    Call {
        request: Id,
        options: Dict,
        procedure: String,
        payload: Payload,
    },
    Cancel {
        request: Id,
        options: Dict,
    },
    Result {
        request: Id,
        details: Dict,
        payload: Payload,
    },
    Register {
        request: Id,
        options: Dict,
        procedure: String,
    },
    Registered {
        request: Id,
        registration: Id,
    },
    Unregister {
        request: Id,
        registration: Id,
    },
    /// `request` 0 with `Details.registration` (and `reason`): the router revoked it.
    Unregistered {
        request: Id,
        details: Dict,
    },
    Invocation {
        request: Id,
        registration: Id,
        details: Dict,
        payload: Payload,
    },
    Interrupt {
        request: Id,
        options: Dict,
    },
    Yield {
        request: Id,
        options: Dict,
        payload: Payload,
    },
}

/// A message that is malformed: wrong length, wrong field type, out-of-range ID, unknown code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol violation: {0}")]
pub struct ProtocolViolation(pub String);

fn violation<T>(msg: impl Into<String>) -> Result<T, ProtocolViolation> {
    Err(ProtocolViolation(msg.into()))
}

/// Where the fields of a message come from.
enum Items<'a> {
    /// Decoded already (JSON, CBOR, in-process peers).
    List(std::vec::IntoIter<Value>),
    /// Read from the MessagePack frame as they are asked for.
    MsgPack(MsgPackItems<'a>),
    /// The JSON frame's elements, decoded as they are asked for.
    Json(JsonItems<'a>),
    /// The CBOR frame's elements, decoded as they are asked for.
    Cbor(CborItems<'a>),
}

impl Items<'_> {
    fn next(&mut self) -> Option<Result<Value, ProtocolViolation>> {
        match self {
            Items::List(items) => items.next().map(Ok),
            Items::MsgPack(items) => items.value(),
            Items::Json(items) => items.value(),
            Items::Cbor(items) => items.value(),
        }
    }
    fn len(&self) -> usize {
        match self {
            Items::List(items) => items.len(),
            Items::MsgPack(items) => items.remaining(),
            Items::Json(items) => items.remaining(),
            Items::Cbor(items) => items.remaining(),
        }
    }
}

/// Reads the fields of one message in order, naming the message and field in every error.
struct Fields<'a> {
    name: &'static str,
    items: Items<'a>,
    /// The frame, if the arguments may stay serialized (see [`crate::payload`]).
    keep_raw: Option<&'a Bytes>,
}

impl<'a> Fields<'a> {
    fn next(&mut self, field: &str) -> Result<Value, ProtocolViolation> {
        match self.items.next() {
            Some(v) => v,
            None => violation(format!("{}: missing {}", self.name, field)),
        }
    }
    fn id(&mut self, field: &str) -> Result<Id, ProtocolViolation> {
        // An integer read directly is judged like any other value (it is consumed either way).
        let value = match &mut self.items {
            Items::MsgPack(m) => match m.int() {
                Some(i) => Value::Int(i),
                None => self.next(field)?,
            },
            Items::List(_) | Items::Json(_) | Items::Cbor(_) => self.next(field)?,
        };
        match value {
            Value::Int(i) if (0..=MAX_ID as i64).contains(&i) => Ok(i as u64),
            other => violation(format!(
                "{}: {} must be an integer in [0, 2^53], got {}",
                self.name,
                field,
                describe(&other)
            )),
        }
    }
    fn int(&mut self, field: &str) -> Result<u64, ProtocolViolation> {
        match self.next(field)? {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            Value::UInt(u) => Ok(u),
            other => violation(format!(
                "{}: {} must be a non-negative integer, got {}",
                self.name,
                field,
                describe(&other)
            )),
        }
    }
    fn dict(&mut self, field: &str) -> Result<Dict, ProtocolViolation> {
        if let Items::MsgPack(m) = &mut self.items
            && m.empty_map()
        {
            return Ok(Dict::new());
        }
        match self.next(field)? {
            Value::Dict(d) => Ok(d),
            other => violation(format!(
                "{}: {} must be a dict, got {}",
                self.name,
                field,
                describe(&other)
            )),
        }
    }
    fn string(&mut self, field: &str) -> Result<String, ProtocolViolation> {
        if let Items::MsgPack(m) = &mut self.items
            && let Some(s) = m.str()
        {
            return Ok(s.to_owned());
        }
        match self.next(field)? {
            Value::String(s) => Ok(s),
            other => violation(format!(
                "{}: {} must be a string, got {}",
                self.name,
                field,
                describe(&other)
            )),
        }
    }
    fn opt_string(&mut self, field: &str) -> Result<Option<String>, ProtocolViolation> {
        match self.next(field)? {
            Value::String(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            other => violation(format!(
                "{}: {} must be a string or null, got {}",
                self.name,
                field,
                describe(&other)
            )),
        }
    }
    /// Reads the optional `Args|list [, KwArgs|dict]` tail.
    fn payload(&mut self) -> Result<Payload, ProtocolViolation> {
        if let Some(frame) = self.keep_raw {
            let tail = match &mut self.items {
                Items::MsgPack(m) => m.raw_tail(frame)?,
                Items::Json(j) => j.raw_tail(frame)?,
                Items::Cbor(c) => c.raw_tail(frame)?,
                Items::List(_) => RawTail::Unread,
            };
            match tail {
                RawTail::Raw(raw) => return Ok(Payload::from_raw(raw)),
                RawTail::Empty => return Ok(Payload::default()),
                RawTail::Unread => {}
            }
        }
        let args = match self.items.next().transpose()? {
            None => return self.end(Payload::default()),
            Some(Value::List(l)) => l,
            // Payload passthru mode: one binary (or string) element only the receiver reads.
            Some(body @ (Value::Bytes(_) | Value::String(_))) => {
                return self.end(Payload::transparent(body));
            }
            Some(other) => {
                return violation(format!(
                    "{}: Arguments must be a list, got {}",
                    self.name,
                    describe(&other)
                ));
            }
        };
        let kwargs = match self.items.next().transpose()? {
            None => Dict::new(),
            Some(Value::Dict(d)) => d,
            Some(other) => {
                return violation(format!(
                    "{}: ArgumentsKw must be a dict, got {}",
                    self.name,
                    describe(&other)
                ));
            }
        };
        self.end(Payload::new(args, kwargs))
    }
    fn end<T>(&mut self, t: T) -> Result<T, ProtocolViolation> {
        let extra = self.items.len();
        if extra > 0 {
            return violation(format!(
                "{}: {} unexpected trailing element(s)",
                self.name, extra
            ));
        }
        if let Items::MsgPack(m) = &self.items
            && m.trailing() > 0
        {
            return violation(format!(
                "invalid msgpack message: {} trailing bytes",
                m.trailing()
            ));
        }
        Ok(t)
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Int(i) => format!("integer {i}"),
        Value::UInt(u) => format!("integer {u}"),
        other => other.type_name().to_string(),
    }
}

impl Message {
    /// Builds a message from its decoded list form, checking every field.
    pub fn from_list(list: List) -> Result<Message, ProtocolViolation> {
        Message::from_items(Items::List(list.into_iter()), None)
    }

    /// Reads a message from a MessagePack frame, checking every field like [`from_list`].
    /// `None` if the frame is not a MessagePack array.
    ///
    /// [`from_list`]: Message::from_list
    pub(crate) fn from_msgpack(frame: &[u8]) -> Option<Result<Message, ProtocolViolation>> {
        let items = MsgPackItems::new(frame)?;
        Some(Message::from_items(Items::MsgPack(items), None))
    }

    /// [`Message::from_msgpack`] for a message the router routes: the arguments of what it
    /// forwards stay serialized ([`RawPayload`], slices of `frame`).
    pub(crate) fn from_msgpack_routed(frame: &Bytes) -> Option<Result<Message, ProtocolViolation>> {
        let items = MsgPackItems::new(frame)?;
        Some(Message::from_items(Items::MsgPack(items), Some(frame)))
    }

    /// Reads a JSON message the router routes: its elements split once, the arguments of what
    /// it forwards kept as the sender's text. `None` if the frame is not one JSON array.
    pub(crate) fn from_json_routed(frame: &Bytes) -> Option<Result<Message, ProtocolViolation>> {
        let items = JsonItems::new(frame)?;
        Some(Message::from_items(Items::Json(items), Some(frame)))
    }

    /// Reads a CBOR message the router routes, its forwarded arguments kept as the sender's
    /// bytes. `None` if the frame is not one definite-length CBOR array.
    pub(crate) fn from_cbor_routed(frame: &Bytes) -> Option<Result<Message, ProtocolViolation>> {
        let items = CborItems::new(frame)?;
        Some(Message::from_items(Items::Cbor(items), Some(frame)))
    }

    fn from_items<'a>(
        mut items: Items<'a>,
        keep_raw: Option<&'a Bytes>,
    ) -> Result<Message, ProtocolViolation> {
        let first = match &mut items {
            Items::MsgPack(m) => match m.int() {
                Some(c) => Some(Value::Int(c)),
                None => items.next().transpose()?,
            },
            Items::List(_) | Items::Json(_) | Items::Cbor(_) => items.next().transpose()?,
        };
        let code = match first {
            Some(Value::Int(c)) if c >= 0 => c as u64,
            Some(other) => {
                return violation(format!(
                    "message type must be an integer, got {}",
                    describe(&other)
                ));
            }
            None => return violation("empty message"),
        };
        let name = match name_of(code) {
            Some(n) => n,
            None => return violation(format!("unknown message type {code}")),
        };
        use code::*;
        let mut f = Fields {
            name,
            items,
            // Only the arguments the router forwards without reading them.
            keep_raw: keep_raw.filter(|_| matches!(code, ERROR | PUBLISH | CALL | YIELD)),
        };
        let msg = match code {
            HELLO => {
                let realm = f.opt_string("Realm")?;
                let details = f.dict("Details")?;
                f.end(Message::Hello { realm, details })?
            }
            WELCOME => {
                let session = f.id("Session")?;
                let details = f.dict("Details")?;
                f.end(Message::Welcome { session, details })?
            }
            ABORT => {
                let details = f.dict("Details")?;
                let reason = f.string("Reason")?;
                let payload = f.payload()?;
                Message::Abort {
                    details,
                    reason,
                    payload,
                }
            }
            CHALLENGE => {
                let authmethod = f.string("AuthMethod")?;
                let extra = f.dict("Extra")?;
                f.end(Message::Challenge { authmethod, extra })?
            }
            AUTHENTICATE => {
                let signature = f.string("Signature")?;
                let extra = f.dict("Extra")?;
                f.end(Message::Authenticate { signature, extra })?
            }
            GOODBYE => {
                let details = f.dict("Details")?;
                let reason = f.string("Reason")?;
                f.end(Message::Goodbye { details, reason })?
            }
            ERROR => {
                let request_type = f.int("REQUEST.Type")?;
                let request = f.id("REQUEST.Request")?;
                let details = f.dict("Details")?;
                let error = f.string("Error")?;
                let payload = f.payload()?;
                Message::Error {
                    request_type,
                    request,
                    details,
                    error,
                    payload,
                }
            }
            PUBLISH => {
                let request = f.id("Request")?;
                let options = f.dict("Options")?;
                let topic = f.string("Topic")?;
                let payload = f.payload()?;
                Message::Publish {
                    request,
                    options,
                    topic,
                    payload,
                }
            }
            PUBLISHED => {
                let request = f.id("PUBLISH.Request")?;
                let publication = f.id("Publication")?;
                f.end(Message::Published {
                    request,
                    publication,
                })?
            }
            SUBSCRIBE => {
                let request = f.id("Request")?;
                let options = f.dict("Options")?;
                let topic = f.string("Topic")?;
                f.end(Message::Subscribe {
                    request,
                    options,
                    topic,
                })?
            }
            SUBSCRIBED => {
                let request = f.id("SUBSCRIBE.Request")?;
                let subscription = f.id("Subscription")?;
                f.end(Message::Subscribed {
                    request,
                    subscription,
                })?
            }
            UNSUBSCRIBE => {
                let request = f.id("Request")?;
                let subscription = f.id("SUBSCRIBED.Subscription")?;
                f.end(Message::Unsubscribe {
                    request,
                    subscription,
                })?
            }
            UNSUBSCRIBED => {
                let request = f.id("UNSUBSCRIBE.Request")?;
                // The advanced profile may append a Details dict (subscription revocation).
                let details = if f.items.len() == 1 {
                    f.dict("Details")?
                } else {
                    Dict::new()
                };
                f.end(Message::Unsubscribed { request, details })?
            }
            EVENT => {
                let subscription = f.id("SUBSCRIBED.Subscription")?;
                let publication = f.id("PUBLISHED.Publication")?;
                let details = f.dict("Details")?;
                let payload = f.payload()?;
                Message::Event {
                    subscription,
                    publication,
                    details,
                    payload,
                }
            }
            CALL => {
                let request = f.id("Request")?;
                let options = f.dict("Options")?;
                let procedure = f.string("Procedure")?;
                let payload = f.payload()?;
                Message::Call {
                    request,
                    options,
                    procedure,
                    payload,
                }
            }
            CANCEL => {
                let request = f.id("CALL.Request")?;
                let options = f.dict("Options")?;
                f.end(Message::Cancel { request, options })?
            }
            RESULT => {
                let request = f.id("CALL.Request")?;
                let details = f.dict("Details")?;
                let payload = f.payload()?;
                Message::Result {
                    request,
                    details,
                    payload,
                }
            }
            REGISTER => {
                let request = f.id("Request")?;
                let options = f.dict("Options")?;
                let procedure = f.string("Procedure")?;
                f.end(Message::Register {
                    request,
                    options,
                    procedure,
                })?
            }
            REGISTERED => {
                let request = f.id("REGISTER.Request")?;
                let registration = f.id("Registration")?;
                f.end(Message::Registered {
                    request,
                    registration,
                })?
            }
            UNREGISTER => {
                let request = f.id("Request")?;
                let registration = f.id("REGISTERED.Registration")?;
                f.end(Message::Unregister {
                    request,
                    registration,
                })?
            }
            UNREGISTERED => {
                let request = f.id("UNREGISTER.Request")?;
                let details = if f.items.len() == 1 {
                    f.dict("Details")?
                } else {
                    Dict::new()
                };
                f.end(Message::Unregistered { request, details })?
            }
            INVOCATION => {
                let request = f.id("Request")?;
                let registration = f.id("REGISTERED.Registration")?;
                let details = f.dict("Details")?;
                let payload = f.payload()?;
                Message::Invocation {
                    request,
                    registration,
                    details,
                    payload,
                }
            }
            INTERRUPT => {
                let request = f.id("INVOCATION.Request")?;
                let options = f.dict("Options")?;
                f.end(Message::Interrupt { request, options })?
            }
            YIELD => {
                let request = f.id("INVOCATION.Request")?;
                let options = f.dict("Options")?;
                let payload = f.payload()?;
                Message::Yield {
                    request,
                    options,
                    payload,
                }
            }
            _ => unreachable!("name_of() covers exactly the handled codes"),
        };
        Ok(msg)
    }

    /// The message type code.
    pub fn code(&self) -> u64 {
        use code::*;
        match self {
            Message::Hello { .. } => HELLO,
            Message::Welcome { .. } => WELCOME,
            Message::Abort { .. } => ABORT,
            Message::Challenge { .. } => CHALLENGE,
            Message::Authenticate { .. } => AUTHENTICATE,
            Message::Goodbye { .. } => GOODBYE,
            Message::Error { .. } => ERROR,
            Message::Publish { .. } => PUBLISH,
            Message::Published { .. } => PUBLISHED,
            Message::Subscribe { .. } => SUBSCRIBE,
            Message::Subscribed { .. } => SUBSCRIBED,
            Message::Unsubscribe { .. } => UNSUBSCRIBE,
            Message::Unsubscribed { .. } => UNSUBSCRIBED,
            Message::Event { .. } => EVENT,
            Message::Call { .. } => CALL,
            Message::Cancel { .. } => CANCEL,
            Message::Result { .. } => RESULT,
            Message::Register { .. } => REGISTER,
            Message::Registered { .. } => REGISTERED,
            Message::Unregister { .. } => UNREGISTER,
            Message::Unregistered { .. } => UNREGISTERED,
            Message::Invocation { .. } => INVOCATION,
            Message::Interrupt { .. } => INTERRUPT,
            Message::Yield { .. } => YIELD,
        }
    }

    /// The arguments, for the messages that carry them.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Message::Abort { payload, .. }
            | Message::Error { payload, .. }
            | Message::Publish { payload, .. }
            | Message::Event { payload, .. }
            | Message::Call { payload, .. }
            | Message::Result { payload, .. }
            | Message::Invocation { payload, .. }
            | Message::Yield { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The message with its arguments decoded (see [`Payload::into_decoded`]): what an
    /// in-process peer, which reads `args` and `kwargs`, is given.
    pub fn into_decoded(mut self) -> Message {
        match &mut self {
            Message::Abort { payload, .. }
            | Message::Error { payload, .. }
            | Message::Publish { payload, .. }
            | Message::Event { payload, .. }
            | Message::Call { payload, .. }
            | Message::Result { payload, .. }
            | Message::Invocation { payload, .. }
            | Message::Yield { payload, .. }
                if payload.raw().is_some() =>
            {
                *payload = std::mem::take(payload).into_decoded();
            }
            _ => {}
        }
        self
    }

    /// The message type name (`"CALL"`), for logs and errors.
    pub fn name(&self) -> &'static str {
        name_of(self.code()).unwrap_or("UNKNOWN")
    }

    /// An ABORT with the given reason and a human-readable message.
    pub fn abort(reason: &str, message: impl Into<String>) -> Message {
        Message::Abort {
            details: crate::dict! { "message" => message.into() },
            reason: reason.to_owned(),
            payload: Payload::default(),
        }
    }

    /// An ERROR answering request `request` of type `request_type`.
    pub fn error(request_type: u64, request: Id, error: &str, args: List) -> Message {
        Message::Error {
            request_type,
            request,
            details: Dict::new(),
            error: error.to_owned(),
            payload: Payload::args(args),
        }
    }
}

/// The name of a message type code, or `None` for codes this router does not speak.
pub fn name_of(code: u64) -> Option<&'static str> {
    use code::*;
    Some(match code {
        HELLO => "HELLO",
        WELCOME => "WELCOME",
        ABORT => "ABORT",
        CHALLENGE => "CHALLENGE",
        AUTHENTICATE => "AUTHENTICATE",
        GOODBYE => "GOODBYE",
        ERROR => "ERROR",
        PUBLISH => "PUBLISH",
        PUBLISHED => "PUBLISHED",
        SUBSCRIBE => "SUBSCRIBE",
        SUBSCRIBED => "SUBSCRIBED",
        UNSUBSCRIBE => "UNSUBSCRIBE",
        UNSUBSCRIBED => "UNSUBSCRIBED",
        EVENT => "EVENT",
        CALL => "CALL",
        CANCEL => "CANCEL",
        RESULT => "RESULT",
        REGISTER => "REGISTER",
        REGISTERED => "REGISTERED",
        UNREGISTER => "UNREGISTER",
        UNREGISTERED => "UNREGISTERED",
        INVOCATION => "INVOCATION",
        INTERRUPT => "INTERRUPT",
        YIELD => "YIELD",
        _ => return None,
    })
}

/// Serializes a message as its WAMP list form: `[code, fields…, Args?, KwArgs?]`.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_message(self, s, false)
    }
}

/// A message whose raw arguments the serializer leaves out, though the list's length counts
/// them: the caller appends their bytes (MessagePack lists are length-prefixed, not closed).
pub(crate) struct WithoutRawTail<'a>(pub &'a Message);

impl Serialize for WithoutRawTail<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_message(self.0, s, true)
    }
}

fn serialize_message<S: Serializer>(
    msg: &Message,
    s: S,
    skip_raw: bool,
) -> Result<S::Ok, S::Error> {
    struct D<'a>(&'a Dict);
    impl Serialize for D<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            crate::value::serialize_dict(self.0, s)
        }
    }
    let tail = |seq: &mut S::SerializeSeq, p: &Payload| -> Result<(), S::Error> {
        if p.raw().is_some() {
            if skip_raw {
                return Ok(());
            }
            let decoded = p.clone().into_decoded();
            seq.serialize_element(&decoded.args)?;
            if p.wire_len() == 2 {
                seq.serialize_element(&D(&decoded.kwargs))?;
            }
            return Ok(());
        }
        if let Some(body) = p.transparent_body() {
            return seq.serialize_element(body);
        }
        match p.wire_len() {
            0 => Ok(()),
            1 => seq.serialize_element(&p.args),
            _ => {
                seq.serialize_element(&p.args)?;
                seq.serialize_element(&D(&p.kwargs))
            }
        }
    };
    let code = msg.code();
    macro_rules! seq {
            ($n:expr, [$($e:expr),*] $(, $p:expr)?) => {{
                let extra = 0 $( + $p.wire_len() )?;
                let mut seq = s.serialize_seq(Some($n + 1 + extra))?;
                seq.serialize_element(&code)?;
                $( seq.serialize_element($e)?; )*
                $( tail(&mut seq, $p)?; )?
                seq.end()
            }};
        }
    match msg {
        Message::Hello { realm, details } => seq!(2, [realm, &D(details)]),
        Message::Welcome { session, details } => seq!(2, [session, &D(details)]),
        Message::Abort {
            details,
            reason,
            payload,
        } => seq!(2, [&D(details), reason], payload),
        Message::Challenge { authmethod, extra } => seq!(2, [authmethod, &D(extra)]),
        Message::Authenticate { signature, extra } => seq!(2, [signature, &D(extra)]),
        Message::Goodbye { details, reason } => seq!(2, [&D(details), reason]),
        Message::Error {
            request_type,
            request,
            details,
            error,
            payload,
        } => {
            seq!(4, [request_type, request, &D(details), error], payload)
        }
        Message::Publish {
            request,
            options,
            topic,
            payload,
        } => {
            seq!(3, [request, &D(options), topic], payload)
        }
        Message::Published {
            request,
            publication,
        } => seq!(2, [request, publication]),
        Message::Subscribe {
            request,
            options,
            topic,
        } => seq!(3, [request, &D(options), topic]),
        Message::Subscribed {
            request,
            subscription,
        } => seq!(2, [request, subscription]),
        Message::Unsubscribe {
            request,
            subscription,
        } => seq!(2, [request, subscription]),
        Message::Unsubscribed { request, details } if details.is_empty() => seq!(1, [request]),
        Message::Unsubscribed { request, details } => seq!(2, [request, &D(details)]),
        Message::Event {
            subscription,
            publication,
            details,
            payload,
        } => {
            seq!(3, [subscription, publication, &D(details)], payload)
        }
        Message::Call {
            request,
            options,
            procedure,
            payload,
        } => {
            seq!(3, [request, &D(options), procedure], payload)
        }
        Message::Cancel { request, options } => seq!(2, [request, &D(options)]),
        Message::Result {
            request,
            details,
            payload,
        } => seq!(2, [request, &D(details)], payload),
        Message::Register {
            request,
            options,
            procedure,
        } => {
            seq!(3, [request, &D(options), procedure])
        }
        Message::Registered {
            request,
            registration,
        } => seq!(2, [request, registration]),
        Message::Unregister {
            request,
            registration,
        } => seq!(2, [request, registration]),
        Message::Unregistered { request, details } if details.is_empty() => seq!(1, [request]),
        Message::Unregistered { request, details } => seq!(2, [request, &D(details)]),
        Message::Invocation {
            request,
            registration,
            details,
            payload,
        } => {
            seq!(3, [request, registration, &D(details)], payload)
        }
        Message::Interrupt { request, options } => seq!(2, [request, &D(options)]),
        Message::Yield {
            request,
            options,
            payload,
        } => seq!(2, [request, &D(options)], payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    fn roundtrip(m: Message) {
        let v = serde_json::to_value(&m).unwrap();
        let list: List = match Value::from(v) {
            Value::List(l) => l,
            _ => panic!("not a list"),
        };
        assert_eq!(Message::from_list(list).unwrap(), m);
    }

    #[test]
    fn roundtrips() {
        roundtrip(Message::Hello {
            realm: Some("realm1".into()),
            details: dict! {"roles" => Dict::new()},
        });
        roundtrip(Message::Hello {
            realm: None,
            details: Dict::new(),
        });
        roundtrip(Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "com.x".into(),
            payload: Payload::new(vec![Value::Int(1)], dict! {"a" => 1}),
        });
        roundtrip(Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "com.x".into(),
            payload: Payload::new(vec![], dict! {"a" => 1}),
        });
        roundtrip(Message::Yield {
            request: MAX_ID,
            options: Dict::new(),
            payload: Payload::default(),
        });
        // Payload passthru mode: one binary element where Args would be.
        roundtrip(Message::Publish {
            request: 2,
            options: dict! {"enc_algo" => "cryptobox"},
            topic: "com.x".into(),
            payload: Payload::transparent(Value::Bytes(bytes::Bytes::from_static(b"\x00\x01"))),
        });
        roundtrip(Message::Unsubscribed {
            request: 7,
            details: Dict::new(),
        });
        roundtrip(Message::Unregistered {
            request: 0,
            details: crate::dict! {"registration" => 5, "reason" => "wamp.error.revoked"},
        });
    }

    #[test]
    fn rejects_bad_shapes() {
        let bad: Vec<List> = vec![
            vec![],
            vec![Value::Int(999)],
            vec![Value::String("x".into())],
            vec![Value::Int(48), Value::Int(1), Value::Dict(Dict::new())],
            vec![
                Value::Int(48),
                Value::Int(-1),
                Value::Dict(Dict::new()),
                Value::from("a"),
            ],
            vec![
                Value::Int(48),
                Value::Int((MAX_ID + 1) as i64),
                Value::Dict(Dict::new()),
                Value::from("a"),
            ],
            vec![
                Value::Int(48),
                Value::Int(1),
                Value::List(vec![]),
                Value::from("a"),
            ],
            vec![
                Value::Int(48),
                Value::Int(1),
                Value::Dict(Dict::new()),
                Value::from("a"),
                Value::Dict(Dict::new()),
            ],
            vec![
                Value::Int(48),
                Value::Int(1),
                Value::Dict(Dict::new()),
                Value::from("a"),
                Value::List(vec![]),
                Value::Dict(Dict::new()),
                Value::Null,
            ],
            vec![Value::Int(1), Value::Int(1), Value::Dict(Dict::new())],
            vec![Value::Int(32), Value::Int(1), Value::Dict(Dict::new())],
        ];
        for b in bad {
            assert!(Message::from_list(b.clone()).is_err(), "{b:?}");
        }
    }
}
