//! A JSON message read element by element, its arguments kept as the sender's text.
//!
//! The JSON counterpart of [`crate::msgpack`]: the frame is split into its top-level elements
//! once (serde_json's `RawValue`, no tree built), the header fields are decoded one by one, and
//! the trailing `Args`/`KwArgs` of what the router forwards are checked ([`ValueCheck`]) and
//! kept as text, so a JSON receiver gets them exactly as sent — key order, number spelling,
//! integers beyond 64 bits — and nobody pays for a tree of values it does not read.
//!
//! JSON here is the JSON of Python's `json` module, which autobahn-python and Crossbar.io
//! speak: it writes a non-finite float as `NaN`, `Infinity` or `-Infinity` and an integer of
//! any size as its digits, and reads both back. serde_json refuses the first and reads the
//! second as a float, so what it cannot read exactly is read by jiter ([`parse`]), and
//! [`serialize_token`] writes what serde_json would write as `null`.

use bytes::Bytes;
use jiter::{Jiter, JiterResult, NumberAny, NumberInt, Peek};
use serde::Serializer;
use serde_json::value::RawValue;

use crate::message::ProtocolViolation;
use crate::msgpack::RawTail;
use crate::payload::RawPayload;
use crate::value::{Dict, MAX_DEPTH, Value, ValueCheck, big_integer, decode_json_binary};

/// Arguments this large are kept as a slice of their frame rather than copied (as MessagePack).
const SLICE_FROM: usize = 4096;

fn bad(e: impl std::fmt::Display) -> ProtocolViolation {
    ProtocolViolation(format!("invalid json message: {e}"))
}

/// The elements of one JSON array (a WAMP message) not read yet.
pub(crate) struct JsonItems<'a> {
    frame: &'a [u8],
    elements: std::vec::IntoIter<&'a str>,
}

impl<'a> JsonItems<'a> {
    /// Splits the frame into its elements; `None` if it is not one JSON array (the whole
    /// decoder then reports what is wrong).
    pub fn new(frame: &'a [u8]) -> Option<JsonItems<'a>> {
        let elements = match serde_json::from_slice::<Vec<&RawValue>>(frame) {
            Ok(raw) => raw.into_iter().map(RawValue::get).collect(),
            Err(_) => split_python(frame)?,
        };
        Some(JsonItems {
            frame,
            elements: elements.into_iter(),
        })
    }

    pub fn remaining(&self) -> usize {
        self.elements.len()
    }

    /// The next element, decoded.
    pub fn value(&mut self) -> Option<Result<Value, ProtocolViolation>> {
        let raw = self.elements.next()?;
        Some(parse(raw.as_bytes()).map_err(bad))
    }

    /// Where `raw` (a slice of the frame) starts in it.
    fn offset(&self, raw: &str) -> usize {
        raw.as_ptr() as usize - self.frame.as_ptr() as usize
    }

    /// The remaining elements as checked arguments: a list, or a list and a dict, that decode
    /// as [`Value`]s would. [`RawTail::Unread`] (nothing consumed) for anything else.
    pub fn raw_tail(&mut self, owner: &Bytes) -> Result<RawTail, ProtocolViolation> {
        debug_assert_eq!(owner.as_ptr(), self.frame.as_ptr());
        let rest = self.elements.as_slice();
        let shape_ok = match rest {
            [args] => args.starts_with('['),
            [args, kwargs] => args.starts_with('[') && kwargs.starts_with('{'),
            _ => false,
        };
        if !shape_ok {
            return Ok(RawTail::Unread);
        }
        for part in rest {
            if serde_json::from_str::<ValueCheck>(part).is_err() {
                parse_python(part.as_bytes()).map_err(bad)?;
            }
        }
        // `[]` / `{}`, perhaps with whitespace inside.
        let empty = |s: &str, e: &str| {
            s.len() <= 16 && s.chars().filter(|c| !c.is_whitespace()).eq(e.chars())
        };
        if empty(rest[0], "[]") && rest.get(1).is_none_or(|k| empty(k, "{}")) {
            self.elements.by_ref().for_each(drop);
            return Ok(RawTail::Empty);
        }
        let start = self.offset(rest[0]);
        let last = rest[rest.len() - 1];
        let end = self.offset(last) + last.len();
        let elements = rest.len() as u8;
        self.elements.by_ref().for_each(drop);
        let bytes = if end - start < SLICE_FROM {
            Bytes::copy_from_slice(&self.frame[start..end])
        } else {
            owner.slice(start..end)
        };
        Ok(RawTail::Raw(RawPayload::json(elements, bytes)))
    }
}

/// One JSON value as Python's `json` reads it (see the module comment): serde_json where it
/// reads exactly, jiter for `NaN`/`Infinity` tokens and for integers beyond 64 bits.
pub(crate) fn parse(text: &[u8]) -> Result<Value, String> {
    if !has_long_digit_run(text) {
        match serde_json::from_slice::<Value>(text) {
            Ok(v) => return Ok(v),
            Err(e) => return parse_python(text).map_err(|_| e.to_string()),
        }
    }
    parse_python(text)
}

/// A run of 19 digits or more: perhaps an integer beyond 64 bits, which serde_json would read
/// as a float — beyond `u64` from 20 digits, and below `i64::MIN` from 19 (-2⁶³ - 1 is
/// `-9223372036854775809`; 18 digits always fit `i64`). Longer fractions and exponents come
/// here too, and read the same either way.
pub(crate) fn has_long_digit_run(text: &[u8]) -> bool {
    let mut run = 0;
    text.iter().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= 19
    })
}

fn parse_python(text: &[u8]) -> Result<Value, String> {
    let mut j = Jiter::new(text).with_allow_inf_nan();
    let read = |j: &mut Jiter<'_>| -> JiterResult<Value> {
        let peek = j.peek()?;
        let v = read_value(j, peek, 0)?;
        j.finish()?;
        Ok(v)
    };
    read(&mut j).map_err(|e| e.description(&j))
}

fn read_value(j: &mut Jiter<'_>, peek: Peek, depth: usize) -> JiterResult<Value> {
    let too_deep = |j: &Jiter<'_>| jiter::JiterError {
        error_type: jiter::JiterErrorType::JsonError(jiter::JsonErrorType::RecursionLimitExceeded),
        index: j.current_index(),
    };
    Ok(match peek {
        Peek::Null => {
            j.known_null()?;
            Value::Null
        }
        Peek::True | Peek::False => Value::Bool(j.known_bool(peek)?),
        Peek::String => {
            let s = j.known_str()?;
            match decode_json_binary(s) {
                Some(b) => Value::Bytes(b),
                None => Value::String(s.to_owned()),
            }
        }
        Peek::Array => {
            if depth >= MAX_DEPTH {
                return Err(too_deep(j));
            }
            let mut list = Vec::new();
            let mut next = j.known_array()?;
            while let Some(p) = next {
                list.push(read_value(j, p, depth + 1)?);
                next = j.array_step()?;
            }
            Value::List(list)
        }
        Peek::Object => {
            if depth >= MAX_DEPTH {
                return Err(too_deep(j));
            }
            let mut dict = Dict::new();
            let mut key = j.known_object()?.map(str::to_owned);
            while let Some(k) = key {
                let p = j.peek()?;
                let v = read_value(j, p, depth + 1)?;
                // A repeated key keeps its first place and its last value, as Python's dict.
                dict.insert(k, v);
                key = j.next_key()?.map(str::to_owned);
            }
            Value::Dict(dict)
        }
        _ => match j.known_number(peek)? {
            NumberAny::Float(f) => Value::Float(f),
            NumberAny::Int(NumberInt::Int(i)) => Value::Int(i),
            NumberAny::Int(NumberInt::BigInt(b)) => big_integer(&b),
        },
    })
}

/// The top-level elements of a frame serde_json refused, if jiter reads it as Python's
/// `json` would (then each element is a slice of the frame).
fn split_python(frame: &[u8]) -> Option<Vec<&str>> {
    let text = std::str::from_utf8(frame).ok()?;
    let mut j = Jiter::new(frame).with_allow_inf_nan();
    let mut elements = Vec::new();
    let mut next = j.next_array().ok()?;
    while let Some(peek) = next {
        let start = j.current_index();
        j.known_skip(peek).ok()?;
        elements.push(&text[start..j.current_index()]);
        next = j.array_step().ok()?;
    }
    j.finish().ok()?;
    Some(elements)
}

/// Whether the serializer writes JSON text (serde_json's, not its `Value` builder).
pub(crate) fn is_json<S: Serializer>() -> bool {
    std::any::type_name::<S>().contains("serde_json::ser::Serializer")
}

/// Writes `token` into serde_json's output as it stands: a non-finite float as Python's
/// `json` spells it, an integer of any size as its digits. This is how serde_json's own
/// `RawValue` serializes (a struct of this name, its one field written unquoted; a test
/// checks the output, so a serde_json that changed it would fail there).
pub(crate) fn serialize_token<S: Serializer>(
    token: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";
    let mut s = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
    s.serialize_field(RAW_VALUE_TOKEN, token)?;
    s.end()
}

/// Python's `json` spelling of a non-finite float.
pub(crate) fn non_finite_token(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::message::Message;
    use crate::value::{TAG_BIGNEG, TAG_BIGPOS};

    fn floats(v: &Value) -> Vec<f64> {
        match v {
            Value::List(l) => l.iter().filter_map(Value::as_f64).collect(),
            _ => panic!("{v:?}"),
        }
    }

    /// Python's json writes `NaN`, `Infinity` and `-Infinity`; they are read, and written
    /// back to JSON receivers the same way (serde_json alone would refuse them, and write
    /// `null`).
    #[test]
    fn non_finite_floats_as_python_writes_them() {
        let v = parse(b"[NaN, Infinity,-Infinity, 1.5]").unwrap();
        let f = floats(&v);
        assert!(f[0].is_nan());
        assert_eq!(&f[1..], &[f64::INFINITY, f64::NEG_INFINITY, 1.5]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            "[NaN,Infinity,-Infinity,1.5]"
        );
        for bad in ["[nan]", "[NaNa]", "[+Infinity]", "[Infinity", "[1] x"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    /// Integers of any size are integers, as in Python: beyond `i64` a `UInt`, beyond `u64`
    /// a CBOR bignum, and JSON writes them back as the same digits.
    #[test]
    fn integers_of_any_size() {
        let big = "1606938044258990275541962092341162602522202993782792835301376"; // 2**200
        let text = format!(
            "[9223372036854775807,18446744073709551615,18446744073709551616,{big},-{big},-9223372036854775809,1.00000000000000000000001]"
        );
        let v = parse(text.as_bytes()).unwrap();
        let Value::List(l) = &v else { panic!() };
        assert_eq!(l[0], Value::Int(i64::MAX));
        assert_eq!(l[1], Value::UInt(u64::MAX));
        assert_eq!(l[2], crate::value::bignum(TAG_BIGPOS, 1u128 << 64));
        assert!(
            matches!(&l[3], Value::Tagged(TAG_BIGPOS, b) if matches!(&**b, Value::Bytes(b) if b.len() == 26))
        );
        assert!(matches!(&l[4], Value::Tagged(TAG_BIGNEG, _)));
        assert_eq!(l[5], crate::value::bignum(TAG_BIGNEG, 1u128 << 63));
        assert_eq!(l[6], Value::Float(1.0));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            format!(
                "[9223372036854775807,18446744073709551615,18446744073709551616,{big},-{big},-9223372036854775809,1.0]"
            )
        );
        // CBOR and UBJSON carry the bignums as they are.
        for c in [Codec::Cbor, Codec::Ubjson] {
            assert_eq!(c.decode_value(&c.encode_value(&v)).unwrap(), v, "{c}");
        }
        let ubjson = Codec::Ubjson.encode_value(&l[3]);
        assert_eq!(&ubjson[..3], b"HU\x3d", "2**200 as a high-precision number");
        assert_eq!(&ubjson[3..], big.as_bytes());
    }

    /// A message with such tokens is routed like any other: its arguments reach a JSON
    /// receiver as sent, and other serializers get the values.
    #[test]
    fn routed_message_with_python_tokens() {
        let args = r#"[NaN, -Infinity, 123456789012345678901234567890], {"k": Infinity}"#;
        let frame = Bytes::from(format!(
            r#"[16, 7, {{"acknowledge": true}}, "com.t", {args}]"#
        ));
        let routed = Codec::Json.decode_routed(&frame).unwrap();
        let Message::Publish { payload, .. } = &routed else {
            panic!("{routed:?}")
        };
        let raw = payload.raw().expect("kept as text");
        assert_eq!(raw.bytes(), args.as_bytes());
        let decoded = payload.clone().into_decoded();
        assert!(decoded.args[0].as_f64().unwrap().is_nan());
        assert_eq!(decoded.kwargs["k"], Value::Float(f64::INFINITY));
        assert_eq!(payload.refused_by(Codec::Cbor), None);
        assert_eq!(
            payload.refused_by(Codec::MsgPack),
            Some("an integer beyond 64 bits")
        );
        let mut items = JsonItems::new(b"[1, NaN]").unwrap();
        assert_eq!(items.value().unwrap().unwrap(), Value::Int(1));
        assert!(items.value().unwrap().unwrap().as_f64().unwrap().is_nan());
    }

    #[test]
    fn nesting_is_bounded_on_the_python_path_too() {
        let deep = format!(
            "{}NaN{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(deep.as_bytes()).unwrap_err().contains("recursion"));
        let ok = format!("{}NaN{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
