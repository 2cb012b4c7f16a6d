//! Hand-written encoders and peekers for the few messages on the load generator's hot path.
//!
//! The router does the full work per message (decode to values, check, route, encode); if the
//! load generator did the same it would need as much CPU as the router and measure itself.
//! So CALL, YIELD and PUBLISH are assembled from pre-serialized parts (only the request id
//! changes), and incoming RESULT, INVOCATION and EVENT are only peeked at: the message code,
//! the leading ids, and for EVENT the timestamp that ends its argument list. Anything the
//! peeker does not recognise falls back to router-core's full decoder, so a surprise shape
//! costs time, never correctness. Unit tests check every encoder against router-core's codec.

use bytes::{BufMut, Bytes, BytesMut};
use router_core::message::code;
use router_core::{Codec, Message, Value};

/// A message assembled from a code, one id and pre-serialized trailing elements.
pub struct Template {
    codec: Codec,
    code: u64,
    /// Serialized elements after the id (each a complete value), in order.
    tail: Vec<Bytes>,
}

impl Template {
    /// `[code, id, tail...]` where `tail` are values serialized once here.
    pub fn new(codec: Codec, code: u64, tail: &[Value]) -> Template {
        Template {
            codec,
            code,
            tail: tail.iter().map(|v| codec.encode_value(v)).collect(),
        }
    }

    /// CALL `[48, req, {}, procedure, args]`.
    pub fn call(codec: Codec, procedure: &str, args: Vec<Value>) -> Template {
        Template::new(
            codec,
            code::CALL,
            &[
                Value::Dict(Default::default()),
                Value::String(procedure.into()),
                Value::List(args),
            ],
        )
    }

    /// YIELD `[70, req, {}, args]`.
    pub fn yield_(codec: Codec, args: Vec<Value>) -> Template {
        Template::new(
            codec,
            code::YIELD,
            &[Value::Dict(Default::default()), Value::List(args)],
        )
    }

    /// Serializes the message with `id`.
    pub fn encode(&self, id: u64) -> Bytes {
        let mut b = BytesMut::with_capacity(16 + self.tail.iter().map(|t| t.len()).sum::<usize>());
        let n = 2 + self.tail.len();
        array_header(self.codec, n, &mut b);
        uint(self.codec, self.code, &mut b);
        sep(self.codec, &mut b);
        uint(self.codec, id, &mut b);
        for t in &self.tail {
            sep(self.codec, &mut b);
            b.put_slice(t);
        }
        close(self.codec, &mut b);
        b.freeze()
    }
}

/// PUBLISH `[16, req, {}, topic, [pad, ts]]`, with the timestamp last so the EVENT the router
/// builds from it ends with it too (see [`event_timestamp`]).
pub struct PublishTemplate {
    codec: Codec,
    /// Everything up to and including the request id's separator is rebuilt per message;
    /// this is `{}`, topic and the start of the args list with the padding element.
    options_topic: Bytes,
    pad: Bytes,
}

impl PublishTemplate {
    pub fn new(codec: Codec, topic: &str, pad: &str) -> PublishTemplate {
        let mut ot = BytesMut::new();
        ot.put_slice(&codec.encode_value(&Value::Dict(Default::default())));
        sep(codec, &mut ot);
        ot.put_slice(&codec.encode_value(&Value::String(topic.into())));
        PublishTemplate {
            codec,
            options_topic: ot.freeze(),
            pad: codec.encode_value(&Value::String(pad.into())),
        }
    }

    pub fn encode(&self, req: u64, ts: u64) -> Bytes {
        let c = self.codec;
        let mut b = BytesMut::with_capacity(48 + self.pad.len());
        array_header(c, 5, &mut b);
        uint(c, code::PUBLISH, &mut b);
        sep(c, &mut b);
        uint(c, req, &mut b);
        sep(c, &mut b);
        b.put_slice(&self.options_topic);
        sep(c, &mut b);
        array_header(c, 2, &mut b);
        b.put_slice(&self.pad);
        sep(c, &mut b);
        uint(c, ts, &mut b);
        close(c, &mut b);
        close(c, &mut b);
        b.freeze()
    }
}

/// The serializers the generator writes by hand (the others are refused by its CLI).
pub const SPOKEN: [Codec; 3] = [Codec::MsgPack, Codec::Json, Codec::Cbor];

fn array_header(c: Codec, n: usize, b: &mut BytesMut) {
    match c {
        Codec::Json => b.put_u8(b'['),
        Codec::MsgPack => {
            debug_assert!(n < 16);
            b.put_u8(0x90 | n as u8)
        }
        Codec::Cbor => {
            debug_assert!(n < 24);
            b.put_u8(0x80 | n as u8)
        }
        Codec::Ubjson => unreachable!("not in SPOKEN"),
    }
}

fn sep(c: Codec, b: &mut BytesMut) {
    if c == Codec::Json {
        b.put_u8(b',');
    }
}

fn close(c: Codec, b: &mut BytesMut) {
    if c == Codec::Json {
        b.put_u8(b']');
    }
}

fn uint(c: Codec, v: u64, b: &mut BytesMut) {
    match c {
        Codec::Json => {
            let mut tmp = [0u8; 20];
            let mut i = tmp.len();
            let mut v = v;
            loop {
                i -= 1;
                tmp[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            b.put_slice(&tmp[i..]);
        }
        Codec::MsgPack => {
            if v < 128 {
                b.put_u8(v as u8);
            } else if v <= u8::MAX as u64 {
                b.put_u8(0xcc);
                b.put_u8(v as u8);
            } else if v <= u16::MAX as u64 {
                b.put_u8(0xcd);
                b.put_u16(v as u16);
            } else if v <= u32::MAX as u64 {
                b.put_u8(0xce);
                b.put_u32(v as u32);
            } else {
                b.put_u8(0xcf);
                b.put_u64(v);
            }
        }
        Codec::Cbor => {
            if v < 24 {
                b.put_u8(v as u8);
            } else if v <= u8::MAX as u64 {
                b.put_u8(0x18);
                b.put_u8(v as u8);
            } else if v <= u16::MAX as u64 {
                b.put_u8(0x19);
                b.put_u16(v as u16);
            } else if v <= u32::MAX as u64 {
                b.put_u8(0x1a);
                b.put_u32(v as u32);
            } else {
                b.put_u8(0x1b);
                b.put_u64(v);
            }
        }
        Codec::Ubjson => unreachable!("not in SPOKEN"),
    }
}

/// The message code and up to two leading unsigned ids (`[code, a, b, ...]`). Fields that are
/// not unsigned integers end the peek (they read as `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    pub code: u64,
    pub a: Option<u64>,
    pub b: Option<u64>,
}

impl Peek {
    /// The request id a reply (RESULT, ERROR, …) answers.
    pub fn request(&self) -> Option<u64> {
        if self.code == code::ERROR {
            self.b
        } else {
            self.a
        }
    }
}

/// Peeks at a serialized message; `None` if it is not a list starting with an integer.
pub fn peek(c: Codec, data: &[u8]) -> Option<Peek> {
    let mut r = Reader { d: data, i: 0 };
    match c {
        Codec::Json => {
            r.ws();
            if r.next()? != b'[' {
                return None;
            }
            let code = r.json_uint()?;
            let a = r.json_sep().and_then(|_| r.json_uint());
            let b = a.and_then(|_| r.json_sep().and_then(|_| r.json_uint()));
            Some(Peek { code, a, b })
        }
        Codec::MsgPack => {
            let h = r.next()?;
            if !(0x90..=0x9f).contains(&h) {
                if h == 0xdc {
                    r.take(2)?;
                } else {
                    return None;
                }
            }
            let code = r.mp_uint()?;
            let a = r.mp_uint();
            let b = a.and_then(|_| r.mp_uint());
            Some(Peek { code, a, b })
        }
        Codec::Cbor => {
            let h = r.next()?;
            match h {
                0x80..=0x97 | 0x9f => {}
                0x98 => {
                    r.take(1)?;
                }
                0x99 => {
                    r.take(2)?;
                }
                _ => return None,
            }
            let code = r.cbor_uint()?;
            let a = r.cbor_uint();
            let b = a.and_then(|_| r.cbor_uint());
            Some(Peek { code, a, b })
        }
        Codec::Ubjson => None,
    }
}

/// The timestamp that ends an EVENT's (or RESULT's) argument list, read from the last bytes of
/// the message; falls back to a full decode when the tail does not look as expected.
pub fn event_timestamp(c: Codec, data: &[u8]) -> Option<u64> {
    let n = data.len();
    let tail = match c {
        Codec::MsgPack if n >= 9 && data[n - 9] == 0xcf => {
            Some(u64::from_be_bytes(data[n - 8..].try_into().ok()?))
        }
        Codec::MsgPack if n >= 9 && data[n - 9] == 0xd3 => {
            Some(i64::from_be_bytes(data[n - 8..].try_into().ok()?) as u64)
        }
        Codec::Cbor if n >= 9 && data[n - 9] == 0x1b => {
            Some(u64::from_be_bytes(data[n - 8..].try_into().ok()?))
        }
        Codec::Json => json_tail_uint(data),
        _ => None,
    };
    tail.or_else(|| match c.decode(data).ok()? {
        Message::Event { payload, .. } | Message::Result { payload, .. } => {
            payload.args.last()?.as_u64()
        }
        _ => None,
    })
}

/// `...,<digits>]]` at the end of a JSON message.
fn json_tail_uint(d: &[u8]) -> Option<u64> {
    let mut end = d.len();
    while end > 0 && d[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    for _ in 0..2 {
        if end == 0 || d[end - 1] != b']' {
            return None;
        }
        end -= 1;
    }
    let mut start = end;
    while start > 0 && d[start - 1].is_ascii_digit() {
        start -= 1;
    }
    if start == end || start == 0 || !matches!(d[start - 1], b',' | b'[') {
        return None;
    }
    std::str::from_utf8(&d[start..end]).ok()?.parse().ok()
}

struct Reader<'a> {
    d: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> Option<u8> {
        let b = *self.d.get(self.i)?;
        self.i += 1;
        Some(b)
    }
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.d.get(self.i..self.i + n)?;
        self.i += n;
        Some(s)
    }
    fn be(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0u64, |a, b| (a << 8) | *b as u64))
    }
    fn ws(&mut self) {
        while self.d.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn json_sep(&mut self) -> Option<()> {
        self.ws();
        (self.next()? == b',').then_some(())
    }
    fn json_uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        while self.d.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        // A fraction or exponent means this is not an integer id.
        if matches!(self.d.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        std::str::from_utf8(&self.d[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    fn mp_uint(&mut self) -> Option<u64> {
        let h = self.next()?;
        match h {
            0x00..=0x7f => Some(h as u64),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            0xd0 => self.be(1).filter(|v| *v < 0x80),
            0xd1 => self.be(2).filter(|v| *v < 0x8000),
            0xd2 => self.be(4).filter(|v| *v < 0x8000_0000),
            0xd3 => self.be(8).filter(|v| *v < 1 << 63),
            _ => None,
        }
    }
    fn cbor_uint(&mut self) -> Option<u64> {
        let h = self.next()?;
        match h {
            0x00..=0x17 => Some(h as u64),
            0x18 => self.be(1),
            0x19 => self.be(2),
            0x1a => self.be(4),
            0x1b => self.be(8),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use router_core::Payload;

    #[test]
    fn templates_match_router_core() {
        for c in SPOKEN {
            for id in [
                0u64,
                1,
                23,
                24,
                127,
                128,
                255,
                256,
                65535,
                65536,
                1 << 40,
                1 << 53,
            ] {
                let call = Template::call(c, "bench.p", vec![Value::String("xy".into())]);
                let m = c.decode(&call.encode(id)).unwrap();
                assert_eq!(
                    m,
                    Message::Call {
                        request: id,
                        options: Default::default(),
                        procedure: "bench.p".into(),
                        payload: Payload::args(vec![Value::String("xy".into())]),
                    },
                    "{c} {id}"
                );
                let y = Template::yield_(c, vec![Value::Int(7)]);
                let m = c.decode(&y.encode(id)).unwrap();
                assert!(matches!(m, Message::Yield { request, .. } if request == id));
                let p = PublishTemplate::new(c, "bench.t", "pad");
                let ts = (1u64 << 60) + id;
                match c.decode(&p.encode(id, ts)).unwrap() {
                    Message::Publish {
                        request,
                        topic,
                        payload,
                        ..
                    } => {
                        assert_eq!((request, topic.as_str()), (id, "bench.t"));
                        assert_eq!(payload.args[1].as_u64(), Some(ts));
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn peeks_router_core_messages() {
        for c in SPOKEN {
            for id in [0u64, 5, 300, 70000, 1 << 35, 1 << 53] {
                let ev = Message::Event {
                    subscription: id,
                    publication: id + 1,
                    details: Default::default(),
                    payload: Payload::args(vec![
                        Value::String("pad".into()),
                        Value::Int((1i64 << 60) + 3),
                    ]),
                };
                let bytes = c.encode(&ev);
                assert_eq!(
                    peek(c, &bytes),
                    Some(Peek {
                        code: code::EVENT,
                        a: Some(id),
                        b: Some(id + 1)
                    })
                );
                assert_eq!(event_timestamp(c, &bytes), Some((1 << 60) + 3));
                let err = Message::error(code::CALL, id, "wamp.error.x", vec![]);
                let p = peek(c, &c.encode(&err)).unwrap();
                assert_eq!((p.code, p.request()), (code::ERROR, Some(id)));
            }
            assert_eq!(peek(c, b""), None);
            assert_eq!(peek(c, b"\xff\xff"), None);
        }
    }
}
