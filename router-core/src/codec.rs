//! Serializers: WAMP messages to and from JSON, MessagePack, CBOR and UBJSON bytes, and the
//! batched framing of the `wamp.2.*.batched` WebSocket subprotocols.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::{Message, Payload, ProtocolViolation, WithoutRawTail};
#[cfg(test)]
use crate::payload::RawPayload;
use crate::value::{List, Value};

/// One of the WAMP serializers this router speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    Json,
    MsgPack,
    Cbor,
    Ubjson,
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Codec {
    /// Every serializer, in the order a transport without a `serializers` list offers them
    /// (Crossbar.io's default order: CBOR, MessagePack, UBJSON, JSON).
    pub const ALL: [Codec; 4] = [Codec::Cbor, Codec::MsgPack, Codec::Ubjson, Codec::Json];

    /// The names of [`Codec::ALL`], for messages that list them.
    pub const NAMES: &'static [&'static str] = &["cbor", "msgpack", "ubjson", "json"];

    /// The name used in Crossbar.io configs (`"json"`, `"msgpack"`, `"cbor"`, `"ubjson"`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::MsgPack => "msgpack",
            Codec::Cbor => "cbor",
            Codec::Ubjson => "ubjson",
        }
    }

    pub fn from_name(name: &str) -> Option<Codec> {
        match name {
            "json" => Some(Codec::Json),
            "msgpack" => Some(Codec::MsgPack),
            "cbor" => Some(Codec::Cbor),
            "ubjson" => Some(Codec::Ubjson),
            _ => None,
        }
    }

    /// Parses a WebSocket subprotocol (`wamp.2.cbor`, `wamp.2.json.batched`, …).
    pub fn from_subprotocol(proto: &str) -> Option<(Codec, bool)> {
        let rest = proto.strip_prefix("wamp.2.")?;
        let (name, batched) = match rest.strip_suffix(".batched") {
            Some(n) => (n, true),
            None => (rest, false),
        };
        Codec::from_name(name).map(|c| (c, batched))
    }

    pub fn subprotocol(self, batched: bool) -> &'static str {
        match (self, batched) {
            (Codec::Json, false) => "wamp.2.json",
            (Codec::Json, true) => "wamp.2.json.batched",
            (Codec::MsgPack, false) => "wamp.2.msgpack",
            (Codec::MsgPack, true) => "wamp.2.msgpack.batched",
            (Codec::Cbor, false) => "wamp.2.cbor",
            (Codec::Cbor, true) => "wamp.2.cbor.batched",
            (Codec::Ubjson, false) => "wamp.2.ubjson",
            (Codec::Ubjson, true) => "wamp.2.ubjson.batched",
        }
    }

    /// The serializer id in the RawSocket handshake.
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Codec::Json => 1,
            Codec::MsgPack => 2,
            Codec::Cbor => 3,
            Codec::Ubjson => 4,
        }
    }

    pub fn from_rawsocket_id(id: u8) -> Option<Codec> {
        match id {
            1 => Some(Codec::Json),
            2 => Some(Codec::MsgPack),
            3 => Some(Codec::Cbor),
            4 => Some(Codec::Ubjson),
            _ => None,
        }
    }

    /// JSON travels in WebSocket text frames, the others in binary frames.
    pub fn is_binary(self) -> bool {
        !matches!(self, Codec::Json)
    }

    /// Serializes one message.
    pub fn encode(self, msg: &Message) -> Bytes {
        let mut buf = BytesMut::with_capacity(128);
        self.encode_into(msg, &mut buf);
        buf.freeze()
    }

    /// Serializes one message, appending to `buf`.
    pub fn encode_into(self, msg: &Message, buf: &mut BytesMut) {
        if let Some(raw) = msg.payload().and_then(Payload::raw)
            && raw.codec() == self
        {
            // The same serializer: the sender's arguments go out as they came, after the
            // message's other fields (a MessagePack array's length counts them; a JSON
            // array is reopened for them).
            let res = match self {
                Codec::MsgPack => rmp_serde::encode::write(&mut buf.writer(), &WithoutRawTail(msg))
                    .map_err(|e| e.to_string()),
                Codec::Cbor => ciborium::into_writer(&WithoutRawTail(msg), buf.writer())
                    .map_err(|e| e.to_string()),
                _ => serde_json::to_writer(buf.writer(), &WithoutRawTail(msg))
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = res {
                tracing::error!(codec = %self, error = %e, "message encoding failed");
            }
            if self == Codec::Json && buf.last() == Some(&b']') {
                buf.truncate(buf.len() - 1);
                buf.put_u8(b',');
                buf.extend_from_slice(raw.bytes());
                buf.put_u8(b']');
            } else {
                buf.extend_from_slice(raw.bytes());
            }
            return;
        }
        let w = buf.writer();
        // Encoding a `Message` cannot fail: every map key is a string and every value is
        // representable in all three formats (non-finite floats become JSON null).
        let res = match self {
            Codec::Json => serde_json::to_writer(w, msg).map_err(|e| e.to_string()),
            Codec::MsgPack => {
                let mut w = w;
                rmp_serde::encode::write(&mut w, msg).map_err(|e| e.to_string())
            }
            Codec::Cbor => ciborium::into_writer(msg, w).map_err(|e| e.to_string()),
            Codec::Ubjson => ubjson_into(msg, w.into_inner()),
        };
        if let Err(e) = res {
            tracing::error!(codec = %self, error = %e, "message encoding failed");
        }
    }

    /// Deserializes one message and checks its shape.
    pub fn decode(self, bytes: &[u8]) -> Result<Message, ProtocolViolation> {
        if self == Codec::MsgPack
            && let Some(msg) = Message::from_msgpack(bytes)
        {
            return msg;
        }
        self.decode_whole(bytes)
    }

    /// [`Codec::decode`] for a message the router routes: MessagePack and JSON arguments it
    /// only forwards stay serialized (see [`crate::payload`]).
    pub fn decode_routed(self, frame: &Bytes) -> Result<Message, ProtocolViolation> {
        let routed = match self {
            Codec::MsgPack => Message::from_msgpack_routed(frame),
            Codec::Json => Message::from_json_routed(frame),
            Codec::Cbor => Message::from_cbor_routed(frame),
            Codec::Ubjson => None,
        };
        routed.unwrap_or_else(|| self.decode_whole(frame))
    }

    /// Decodes the whole message to values, then checks its shape.
    fn decode_whole(self, bytes: &[u8]) -> Result<Message, ProtocolViolation> {
        let value = self.decode_value(bytes)?;
        match value {
            Value::List(list) => Message::from_list(list),
            other => Err(ProtocolViolation(format!(
                "a WAMP message must be a list, got {}",
                other.type_name()
            ))),
        }
    }

    /// Deserializes any value (the first step of [`Codec::decode`]).
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, ProtocolViolation> {
        let bad = |e: String| ProtocolViolation(format!("invalid {} message: {}", self.name(), e));
        match self {
            Codec::Json => crate::json::parse(bytes).map_err(bad),
            Codec::MsgPack => {
                // The length first: the zero-copy reader below cannot tell where it stopped.
                let len = crate::msgpack::value_len(bytes)
                    .ok_or_else(|| bad("truncated value".into()))?;
                if len != bytes.len() {
                    return Err(bad(format!("{} trailing bytes", bytes.len() - len)));
                }
                rmp_serde::from_slice(bytes).map_err(|e| bad(e.to_string()))
            }
            Codec::Ubjson => crate::ubjson::from_slice(bytes).map_err(|e| bad(e.to_string())),
            Codec::Cbor => {
                let len = crate::cbor::item_len(bytes)
                    .ok_or_else(|| bad("truncated or malformed value".into()))?;
                if len != bytes.len() {
                    return Err(bad(format!("{} trailing bytes", bytes.len() - len)));
                }
                crate::cbor::from_item(bytes).map_err(bad)
            }
        }
    }

    /// Serializes any value (used for the JSON config, CBOR worker extras and tests).
    pub fn encode_value(self, value: &Value) -> Bytes {
        let mut buf = BytesMut::new();
        let w = (&mut buf).writer();
        let _ = match self {
            Codec::Json => serde_json::to_writer(w, value).map_err(|e| e.to_string()),
            Codec::MsgPack => {
                let mut w = w;
                rmp_serde::encode::write(&mut w, value).map_err(|e| e.to_string())
            }
            Codec::Cbor => ciborium::into_writer(value, w).map_err(|e| e.to_string()),
            Codec::Ubjson => ubjson_into(value, w.into_inner()),
        };
        buf.freeze()
    }

    /// Appends one message in the batched framing of this serializer: JSON messages end with
    /// `0x1e`, binary messages are prefixed with their length as a big-endian u32.
    pub fn encode_batched_into(self, msg: &Message, buf: &mut BytesMut) {
        match self {
            Codec::Json => {
                self.encode_into(msg, buf);
                buf.put_u8(0x1e);
            }
            Codec::MsgPack | Codec::Cbor | Codec::Ubjson => {
                let at = buf.len();
                buf.put_u32(0);
                self.encode_into(msg, buf);
                let len = (buf.len() - at - 4) as u32;
                buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    /// Splits one batched WebSocket message into the serialized messages it carries.
    pub fn split_batched(self, data: &[u8]) -> Result<Vec<&[u8]>, ProtocolViolation> {
        let mut out = Vec::new();
        match self {
            Codec::Json => {
                for part in data.split(|b| *b == 0x1e) {
                    if !part.is_empty() {
                        out.push(part);
                    }
                }
            }
            Codec::MsgPack | Codec::Cbor | Codec::Ubjson => {
                let mut rest = data;
                while !rest.is_empty() {
                    if rest.len() < 4 {
                        return Err(ProtocolViolation("truncated batched message length".into()));
                    }
                    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    if rest.len() - 4 < len {
                        return Err(ProtocolViolation("truncated batched message".into()));
                    }
                    out.push(&rest[4..4 + len]);
                    rest = &rest[4 + len..];
                }
            }
        }
        if out.is_empty() {
            return Err(ProtocolViolation("empty batch".into()));
        }
        Ok(out)
    }
}

/// Writes `value` as UBJSON at the end of `buf`.
fn ubjson_into<T: serde::Serialize + ?Sized>(value: &T, buf: &mut BytesMut) -> Result<(), String> {
    let mut out = Vec::with_capacity(128);
    let res = crate::ubjson::to_writer(&mut out, value).map_err(|e| e.to_string());
    buf.extend_from_slice(&out);
    res
}

/// Decodes a message given as a list of values (for in-process peers and tests).
pub fn from_values(list: List) -> Result<Message, ProtocolViolation> {
    Message::from_list(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;
    use crate::message::Payload;
    use crate::value::Dict;

    fn sample() -> Message {
        Message::Call {
            request: 42,
            options: dict! {"receive_progress" => true},
            procedure: "com.example.add".into(),
            payload: Payload::new(
                vec![
                    Value::Int(1),
                    Value::Float(2.5),
                    Value::Bytes(Bytes::from_static(b"\x00\xff")),
                ],
                dict! {"k" => "v"},
            ),
        }
    }

    #[test]
    fn all_codecs_roundtrip() {
        for c in Codec::ALL {
            let m = sample();
            let b = c.encode(&m);
            assert_eq!(c.decode(&b).unwrap(), m, "{c}");
        }
    }

    /// Payload passthru mode: the binary body survives every serializer, routed or not.
    #[test]
    fn transparent_payloads_roundtrip() {
        let m = Message::Event {
            subscription: 1,
            publication: 2,
            details: dict! {"enc_algo" => "cryptobox", "enc_serializer" => "json"},
            payload: Payload::transparent(Value::Bytes(Bytes::from_static(b"\x00sealed\xff"))),
        };
        for c in Codec::ALL {
            let b = c.encode(&m);
            assert_eq!(c.decode(&b).unwrap(), m, "{c}");
            assert_eq!(c.decode_routed(&b).unwrap(), m, "{c} routed");
        }
    }

    #[test]
    fn json_wire_form() {
        let m = Message::Hello {
            realm: Some("realm1".into()),
            details: Dict::new(),
        };
        assert_eq!(&Codec::Json.encode(&m)[..], br#"[1,"realm1",{}]"#);
    }

    #[test]
    fn batched_roundtrip() {
        for c in Codec::ALL {
            let mut buf = BytesMut::new();
            c.encode_batched_into(&sample(), &mut buf);
            c.encode_batched_into(
                &Message::Unsubscribed {
                    request: 3,
                    details: Dict::new(),
                },
                &mut buf,
            );
            let parts = c.split_batched(&buf).unwrap();
            assert_eq!(parts.len(), 2);
            assert_eq!(
                c.decode(parts[1]).unwrap(),
                Message::Unsubscribed {
                    request: 3,
                    details: Dict::new(),
                }
            );
        }
    }

    /// A seeded generator: the seed is printed, and `EDGE_TEST_SEED=<seed>` repeats a run.
    fn seeded_rng() -> rand::rngs::StdRng {
        use rand::SeedableRng as _;
        let seed: u64 = std::env::var("EDGE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        println!("random inputs from seed {seed} (EDGE_TEST_SEED={seed} repeats them)");
        rand::rngs::StdRng::seed_from_u64(seed)
    }

    #[test]
    fn garbage_never_panics() {
        use rand::RngExt as _;
        let mut rng = seeded_rng();
        for c in Codec::ALL {
            let good = c.encode(&sample());
            for _ in 0..3000 {
                let mut b = good.to_vec();
                let n = rng.random_range(1..4);
                for _ in 0..n {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                let cut = rng.random_range(0..=b.len());
                let _ = c.decode(&b[..cut]);
                let _ = c.split_batched(&b[..cut]);
            }
        }
    }

    /// A CALL whose arguments hold what MessagePack can carry: bytes, nesting, big integers.
    fn rich_call() -> Message {
        Message::Call {
            request: 7,
            options: dict! {"receive_progress" => true},
            procedure: "com.example.echo".into(),
            payload: Payload::new(
                vec![
                    Value::from("x".repeat(40)),
                    Value::Bytes(Bytes::from_static(b"\x00\x01")),
                    Value::List(vec![Value::Int(-3), Value::UInt(u64::MAX), Value::Null]),
                    Value::Dict(dict! {"a" => 1.5}),
                ],
                dict! {"k" => "v", "n" => Value::List(vec![])},
            ),
        }
    }

    #[test]
    fn routed_msgpack_arguments_go_out_as_they_came() {
        let c = Codec::MsgPack;
        let frame = c.encode(&rich_call());
        let routed = c.decode_routed(&frame).unwrap();
        let Message::Call { payload, .. } = &routed else {
            panic!("{routed:?}")
        };
        assert!(payload.raw().is_some(), "arguments kept serialized");
        assert!(payload.args.is_empty());
        assert_eq!(routed, c.decode(&frame).unwrap());
        let Message::Call { payload, .. } = routed else {
            unreachable!()
        };
        let invocation = |payload| Message::Invocation {
            request: 1,
            registration: 2,
            details: dict! {"caller" => 5},
            payload,
        };
        let decoded = payload.clone().into_decoded();
        assert!(decoded.raw().is_none());
        // Spliced into a MessagePack message: the same bytes as serializing the values.
        assert_eq!(
            c.encode(&invocation(payload.clone())),
            c.encode(&invocation(decoded.clone()))
        );
        // Other serializers (and in-process peers) get them decoded.
        for other in [Codec::Json, Codec::Cbor, Codec::Ubjson] {
            let out = other.encode(&invocation(payload.clone()));
            assert_eq!(out, other.encode(&invocation(decoded.clone())), "{other}");
            assert_eq!(other.decode(&out).unwrap(), invocation(decoded.clone()));
        }
        assert_eq!(
            invocation(payload).into_decoded(),
            invocation(decoded.clone())
        );
        // Empty arguments are no payload at all.
        let empty = Message::Yield {
            request: 3,
            options: Dict::new(),
            payload: Payload::new(vec![], Dict::new()),
        };
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0x95, 70, 3, 0x80, 0x90, 0x80]);
        let got = c.decode_routed(&frame.freeze()).unwrap();
        assert_eq!(got, empty);
        assert!(got.payload().unwrap().raw().is_none());
    }

    /// JSON arguments reach a JSON receiver as the sender wrote them (number spelling, integers
    /// beyond 64 bits, key order, whitespace), and other serializers get them decoded.
    #[test]
    fn routed_json_arguments_go_out_as_they_came() {
        let c = Codec::Json;
        let args =
            r#"["x", 1.0, 18446744073709551616, {"z": 1, "a": "\u0000AAE="}] , {"k": -0.5e-3}"#;
        let frame = Bytes::from(format!(r#"[48,7,{{}},"com.echo",{args}]"#));
        let routed = c.decode_routed(&frame).unwrap();
        let Message::Call { payload, .. } = routed.clone() else {
            panic!("{routed:?}")
        };
        assert_eq!(payload.raw().map(RawPayload::codec), Some(Codec::Json));
        assert_eq!(routed, c.decode(&frame).unwrap());
        let invocation = Message::Invocation {
            request: 1,
            registration: 2,
            details: dict! {"caller" => 5},
            payload: payload.clone(),
        };
        let out = c.encode(&invocation);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            format!(r#"[68,1,2,{{"caller":5}},{args}]"#)
        );
        let decoded = payload.clone().into_decoded();
        assert_eq!(
            decoded.args[3],
            Value::Dict(dict! {"z" => 1, "a" => Value::Bytes(Bytes::from_static(b"\x00\x01"))})
        );
        // 2⁶⁴ is read as the integer it is: CBOR and UBJSON carry it, MessagePack refuses.
        assert!(matches!(decoded.args[2], Value::Tagged(2, _)));
        assert_eq!(
            payload.refused_by(Codec::MsgPack),
            Some("an integer beyond 64 bits")
        );
        for other in [Codec::Cbor, Codec::Ubjson] {
            assert_eq!(payload.refused_by(other), None);
            let m = other.decode(&other.encode(&invocation)).unwrap();
            assert_eq!(m.payload().unwrap().args, decoded.args, "{other}");
        }
    }

    /// CBOR arguments reach a CBOR receiver byte for byte (a half-precision float stays one,
    /// a bignum keeps its tag), and other serializers get them decoded.
    #[test]
    fn routed_cbor_arguments_go_out_as_they_came() {
        let c = Codec::Cbor;
        let args: &[u8] = &[
            0x82, 0xf9, 0x3e, 0x00, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let kwargs: &[u8] = &[0xa1, 0x61, b'k', 0x41, 0x00];
        let frame =
            Bytes::from([&[0x86, 0x18, 48, 7, 0xa0, 0x61, b'p'][..], args, kwargs].concat());
        let routed = c.decode_routed(&frame).unwrap();
        assert_eq!(routed, c.decode(&frame).unwrap());
        let Message::Call { payload, .. } = routed else {
            panic!("{routed:?}")
        };
        assert_eq!(payload.raw().map(RawPayload::codec), Some(Codec::Cbor));
        let invocation = Message::Invocation {
            request: 1,
            registration: 2,
            details: Dict::new(),
            payload: payload.clone(),
        };
        let out = c.encode(&invocation);
        assert!(out.ends_with(&[args, kwargs].concat()), "{out:x?}");
        assert_eq!(c.decode(&out).unwrap(), invocation);
        let decoded = payload.into_decoded();
        assert_eq!(decoded.args[0], Value::Float(1.5));
        for other in [Codec::Json, Codec::Ubjson] {
            let m = other.decode(&other.encode(&invocation)).unwrap();
            assert_eq!(m.payload().unwrap().args[0], Value::Float(1.5), "{other}");
        }
    }

    #[test]
    fn small_routed_arguments_do_not_keep_their_read_buffer() {
        let c = Codec::MsgPack;
        for (len, sliced) in [(40, false), (10_000, true)] {
            let call = Message::Call {
                request: 1,
                options: Dict::new(),
                procedure: "p".into(),
                payload: Payload::args(vec![Value::from("x".repeat(len))]),
            };
            // The frame is a slice of a larger read buffer, as the transports hand it over.
            let mut buffer = BytesMut::from(&c.encode(&call)[..]);
            let frame_len = buffer.len();
            buffer.extend_from_slice(&[0u8; 16 * 1024]);
            let buffer = buffer.freeze();
            let frame = buffer.slice(..frame_len);
            let routed = c.decode_routed(&frame).unwrap();
            let raw = routed.payload().and_then(Payload::raw).unwrap();
            let inside = buffer.as_ptr_range().contains(&raw.bytes().as_ptr());
            assert_eq!(inside, sliced, "{len}-byte argument");
            assert_eq!(routed, call);
        }
    }

    #[test]
    fn routed_and_plain_decoding_agree_on_any_input() {
        let mut rng = seeded_rng();
        let json_goods: Vec<Bytes> = [
            &br#"[48,7,{"receive_progress":true},"com.example.echo",["x",1.0,18446744073709551616,"\u0000AAE="],{"k":{"z":1,"a":[]}}]"#[..],
            br#"[16, 1, {}, "t", [ 1 , 2 ] , { "a" : null }]"#,
            br#"[70,3,{},[]]"#,
            br#"[70,3,{},[],{}]"#,
            br#"[8,48,5,{},"e",[true],{"n":-0.5e-3}]"#,
            br#"[48,1,{},"p",{"not":"a list"}]"#,
            br#"[48,1,{},"p",[],[]]"#,
            br#"[48,1,{},"p",[],{},7]"#,
        ]
        .iter()
        .map(|b| Bytes::copy_from_slice(b))
        .collect();
        check_routed_agrees(Codec::Json, json_goods, &mut rng);
        let cbor = Codec::Cbor;
        let mut cbor_goods = vec![cbor.encode(&rich_call()), cbor.encode(&sample())];
        // A bignum tag and an indefinite-length array in the arguments.
        cbor_goods.push(Bytes::from_static(&[
            0x85, 0x18, 48, 1, 0xa0, 0x61, b'p', 0x9f, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
        ]));
        cbor_goods.push(Bytes::from_static(&[
            0x86, 0x18, 48, 1, 0xa0, 0x61, b'p', 0x81, 0x01, 0xa1, 0x61, b'k', 0xf9, 0x3e, 0x00,
        ]));
        check_routed_agrees(cbor, cbor_goods, &mut rng);
        let c = Codec::MsgPack;
        let mut goods = vec![c.encode(&rich_call()), c.encode(&sample())];
        // An extension value in the arguments, and a map with an integer key: not WAMP values.
        goods.push(Bytes::from_static(&[
            0x95, 48, 1, 0x80, 0xa1, b'p', 0x91, 0xd4, 1, 2,
        ]));
        goods.push(Bytes::from_static(&[
            0x95, 48, 1, 0x80, 0xa1, b'p', 0x91, 0x81, 1, 2,
        ]));
        // IDs out of range, each followed by something that would pass for the field.
        goods.push(Bytes::from_static(&[
            0x96, 8, 48, 0xff, 7, 0x80, 0xa1, b'e',
        ]));
        goods.push(Bytes::from_static(&[
            0x96, 8, 48, 0xcf, 0, 0x40, 0, 0, 0, 0, 0, 0, 7, 0x80, 0xa1, b'e',
        ]));
        goods.push(Bytes::from_static(&[0x93, 34, 0xff, 5]));
        check_routed_agrees(c, goods, &mut rng);
    }

    /// Every mutation of every good frame: routed and plain decoding accept and reject alike,
    /// and what they accept is the same message.
    fn check_routed_agrees(c: Codec, goods: Vec<Bytes>, rng: &mut rand::rngs::StdRng) {
        use rand::RngExt as _;
        for good in goods {
            for i in 0..3000 {
                let mut b = good.to_vec();
                if i > 0 {
                    for _ in 0..rng.random_range(1..4) {
                        let at = rng.random_range(0..b.len());
                        // JSON: characters that keep it JSON-shaped more often than not.
                        b[at] = if c == Codec::Json {
                            let alphabet = b"[]{},:\"01 -.e\\u";
                            alphabet[rng.random_range(0..alphabet.len())]
                        } else {
                            rng.random()
                        };
                    }
                    b.truncate(rng.random_range(0..=b.len()));
                }
                let frame = Bytes::from(b);
                let plain = c.decode(&frame);
                let whole = c.decode_whole(&frame);
                let routed = c.decode_routed(&frame).map(Message::into_decoded);
                assert_eq!(
                    plain.is_ok(),
                    whole.is_ok(),
                    "{frame:x?} {plain:?} {whole:?}"
                );
                assert_eq!(
                    plain.is_ok(),
                    routed.is_ok(),
                    "{frame:x?} {plain:?} {routed:?}"
                );
                if let (Ok(p), Ok(w), Ok(r)) = (plain, whole, routed) {
                    // Compared as text: a mutation can make a NaN, which equals nothing.
                    let text = |m: &Message| format!("{m:?}");
                    assert_eq!(text(&p), text(&w));
                    assert_eq!(text(&p), text(&r));
                }
            }
        }
    }

    #[test]
    fn subprotocols() {
        assert_eq!(
            Codec::from_subprotocol("wamp.2.cbor.batched"),
            Some((Codec::Cbor, true))
        );
        assert_eq!(
            Codec::from_subprotocol("wamp.2.json"),
            Some((Codec::Json, false))
        );
        assert_eq!(
            Codec::from_subprotocol("wamp.2.ubjson.batched"),
            Some((Codec::Ubjson, true))
        );
        assert_eq!(Codec::from_subprotocol("wamp.2.flatbuffers"), None);
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
            assert_eq!(Codec::from_rawsocket_id(c.rawsocket_id()), Some(c));
            assert!(Codec::NAMES.contains(&c.name()));
        }
    }
}
