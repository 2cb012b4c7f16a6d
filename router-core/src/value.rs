//! The dynamic value model of WAMP payloads and option dictionaries.
//!
//! One type serves all three serializers. Binary data is kept as [`Bytes`]: MessagePack and CBOR
//! carry it natively, JSON uses the WAMP convention of a string `"\0" + base64(bytes)`. The choice
//! is made with serde's `is_human_readable()`, which is `true` only for the JSON (text) formats.

use indexmap::IndexMap;
use std::fmt;

use base64::Engine as _;
use bytes::Bytes;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A WAMP dictionary (`Details`, `Options`, `KwArgs`). Keys are always strings.
pub type Dict = IndexMap<String, Value>;
/// A WAMP list (`Args`).
pub type List = Vec<Value>;

/// Any value that may appear in a WAMP message.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    /// Every integer that fits `i64` (all WAMP IDs do).
    Int(i64),
    /// Only for unsigned integers above `i64::MAX`.
    UInt(u64),
    Float(f64),
    String(String),
    Bytes(Bytes),
    List(List),
    Dict(Dict),
    /// A CBOR tag and its value, kept so a CBOR receiver gets it as it was sent: bignums
    /// beyond 64 bits (tags 2, 3; a JavaScript `BigInt`) and typed arrays (tag 64…, a
    /// `Uint8Array`), dates, … Other serializers get the value without its tag, a bignum that
    /// fits 128 bits as a JSON number.
    Tagged(u64, Box<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The value as a non-negative integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) if *i >= 0 => Some(*i as u64),
            Value::UInt(u) => Some(*u),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Tagged(..) => "tagged",
        }
    }

    /// What of this value `codec` cannot carry, if anything: MessagePack has no integers
    /// beyond 64 bits. JSON (as Python's json, see [`crate::json`]) writes integers of any
    /// size and NaN/Infinity tokens; CBOR and UBJSON carry every value (other serializers get a
    /// CBOR tag's value without the tag).
    pub fn refused_by(&self, codec: crate::codec::Codec) -> Option<&'static str> {
        use crate::codec::Codec;
        match (self, codec) {
            (Value::List(l), _) => l.iter().find_map(|v| v.refused_by(codec)),
            (Value::Dict(d), _) => d.values().find_map(|v| v.refused_by(codec)),
            (Value::Tagged(TAG_BIGPOS | TAG_BIGNEG, _), Codec::MsgPack) => {
                Some("an integer beyond 64 bits")
            }
            (Value::Tagged(_, v), _) => v.refused_by(codec),
            _ => None,
        }
    }

    /// Converts any serializable value (a config struct, a status record) into a `Value`.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
        serde_json::to_value(value).map(Value::from)
    }

    /// Converts this value into a typed structure through serde.
    pub fn deserialize_into<T: serde::de::DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_value(serde_json::Value::from(self))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<std::borrow::Cow<'_, str>> for Value {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        Value::String(s.into_owned())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i as i64)
    }
}
impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i as i64)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        if u <= i64::MAX as u64 {
            Value::Int(u as i64)
        } else {
            Value::UInt(u)
        }
    }
}
impl From<usize> for Value {
    fn from(u: usize) -> Self {
        Value::from(u as u64)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Bytes(b)
    }
}
impl From<List> for Value {
    fn from(l: List) -> Self {
        Value::List(l)
    }
}
impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map(Into::into).unwrap_or(Value::Null)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => match decode_json_binary(&s) {
                Some(b) => Value::Bytes(b),
                None => Value::String(s),
            },
            serde_json::Value::Array(a) => Value::List(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Dict(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

impl From<Value> for serde_json::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Int(i) => serde_json::Value::from(i),
            Value::UInt(u) => serde_json::Value::from(u),
            Value::Float(f) => serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s),
            Value::Bytes(b) => serde_json::Value::String(encode_json_binary(&b)),
            Value::List(l) => serde_json::Value::Array(l.into_iter().map(Into::into).collect()),
            Value::Dict(d) => {
                serde_json::Value::Object(d.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
            Value::Tagged(_, v) => (*v).into(),
        }
    }
}

/// Encodes bytes in the WAMP JSON binary convention: `"\0"` followed by standard base64.
pub fn encode_json_binary(b: &[u8]) -> String {
    let mut s = String::with_capacity(1 + b.len().div_ceil(3) * 4);
    s.push('\0');
    base64::engine::general_purpose::STANDARD.encode_string(b, &mut s);
    s
}

/// Decodes a string in the WAMP JSON binary convention; `None` if it is an ordinary string.
pub fn decode_json_binary(s: &str) -> Option<Bytes> {
    let rest = s.strip_prefix('\0')?;
    base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()
        .map(Bytes::from)
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::UInt(u) => serializer.serialize_u64(*u),
            // serde_json would write `null`; Python's json (and so Crossbar.io) writes a token.
            Value::Float(f) if !f.is_finite() && crate::json::is_json::<S>() => {
                crate::json::serialize_token(crate::json::non_finite_token(*f), serializer)
            }
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&encode_json_binary(b))
                } else {
                    serializer.serialize_bytes(b)
                }
            }
            Value::List(l) => {
                let mut seq = serializer.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Dict(d) => serialize_dict(d, serializer),
            Value::Tagged(tag, v) => serialize_tagged(*tag, v, serializer),
        }
    }
}

/// CBOR tag numbers of bignums.
pub(crate) const TAG_BIGPOS: u64 = 2;
pub(crate) const TAG_BIGNEG: u64 = 3;

/// The serializer is ciborium's. serde has no notion of tags; ciborium spells one as the
/// tuple variant `@@TAG@@::@@TAGGED@@(tag, value)`, which any other serializer would write as
/// a map. Both binary serializers say `is_human_readable() == false`, so the type tells them
/// apart (checked by a test: a ciborium upgrade that renamed it would fail there).
fn is_cbor<S: Serializer>() -> bool {
    std::any::type_name::<S>().contains("ciborium::")
}

fn serialize_tagged<S: Serializer>(tag: u64, v: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeTupleVariant;
    if is_cbor::<S>() {
        let mut t = serializer.serialize_tuple_variant("@@TAG@@", 0, "@@TAGGED@@", 2)?;
        t.serialize_field(&tag)?;
        t.serialize_field(v)?;
        return t.end();
    }
    // JSON writes integers of any size as their digits, as Python's json does.
    if let (TAG_BIGPOS | TAG_BIGNEG, Value::Bytes(b)) = (tag, v)
        && crate::json::is_json::<S>()
    {
        return crate::json::serialize_token(&bignum_digits(tag, b), serializer);
    }
    // UBJSON writes them as a high-precision number.
    if let (TAG_BIGPOS | TAG_BIGNEG, Value::Bytes(b)) = (tag, v)
        && crate::ubjson::is_ubjson::<S>()
    {
        let digits = bignum_digits(tag, b);
        return serializer.serialize_newtype_struct(crate::ubjson::HIGH_PRECISION, &digits);
    }
    if let (TAG_BIGPOS | TAG_BIGNEG, Value::Bytes(b), true) =
        (tag, v, serializer.is_human_readable())
        && b.len() <= 16
    {
        let mut be = [0u8; 16];
        be[16 - b.len()..].copy_from_slice(b);
        let n = u128::from_be_bytes(be);
        if tag == TAG_BIGPOS {
            return serializer.serialize_u128(n);
        }
        // A CBOR negative bignum n stands for -1 - n.
        if let Ok(n) = i128::try_from(n) {
            return serializer.serialize_i128(-1 - n);
        }
    }
    v.serialize(serializer)
}

/// The decimal digits of a CBOR bignum (`tag` 2 or 3, big-endian `magnitude`).
pub(crate) fn bignum_digits(tag: u64, magnitude: &[u8]) -> String {
    use num_bigint::{BigInt, Sign};
    let n = BigInt::from_bytes_be(Sign::Plus, magnitude);
    if tag == TAG_BIGNEG {
        (-n - 1u8).to_string()
    } else {
        n.to_string()
    }
}

/// The CBOR bignum (tag and big-endian magnitude) of a string of decimal digits with an
/// optional `-`; `None` for anything else.
pub(crate) fn bignum_of_digits(s: &str) -> Option<(u64, Vec<u8>)> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: num_bigint::BigInt = s.parse().ok()?;
    Some(match big_integer(&n) {
        Value::Tagged(tag, v) => match *v {
            Value::Bytes(b) => (tag, b.to_vec()),
            _ => return None,
        },
        _ => return None,
    })
}

/// An integer beyond `i64`: `UInt` up to `u64::MAX`, beyond that the CBOR bignum every
/// [`Value`] uses (tag 2 holds n, tag 3 holds -1 - n).
pub(crate) fn big_integer(b: &num_bigint::BigInt) -> Value {
    use num_bigint::Sign;
    if let Ok(i) = i64::try_from(b) {
        return Value::Int(i);
    }
    if let Ok(u) = u64::try_from(b) {
        return Value::UInt(u);
    }
    let (tag, magnitude) = match b.sign() {
        Sign::Minus => (TAG_BIGNEG, (-b - 1u8).magnitude().to_bytes_be()),
        _ => (TAG_BIGPOS, b.magnitude().to_bytes_be()),
    };
    Value::Tagged(tag, Box::new(Value::Bytes(Bytes::from(magnitude))))
}

/// A bignum tag for an integer beyond 64 bits, as CBOR writes it (minimal big-endian bytes).
pub(crate) fn bignum(tag: u64, n: u128) -> Value {
    let be = n.to_be_bytes();
    let start = be.iter().position(|b| *b != 0).unwrap_or(be.len() - 1);
    Value::Tagged(
        tag,
        Box::new(Value::Bytes(Bytes::copy_from_slice(&be[start..]))),
    )
}

pub(crate) fn serialize_dict<S: Serializer>(d: &Dict, serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(d.len()))?;
    for (k, v) in d {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// Nesting limit: deeper input is rejected instead of risking a stack overflow.
pub const MAX_DEPTH: usize = 128;

/// Builds a [`Value`], or with `build: false` only checks that one would be built: the same
/// visitor either way, so a payload the router checks and forwards as bytes decodes later,
/// wherever it has to, exactly as it would have on arrival.
struct ValueVisitor {
    human_readable: bool,
    depth: usize,
    build: bool,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }
    fn visit_i128<E: de::Error>(self, i: i128) -> Result<Value, E> {
        if let Ok(v) = i64::try_from(i) {
            Ok(Value::Int(v))
        } else if let Ok(v) = u64::try_from(i) {
            Ok(Value::UInt(v))
        } else if i >= 0 {
            Ok(bignum(TAG_BIGPOS, i as u128))
        } else {
            // -1 - i, which is non-negative here.
            Ok(bignum(TAG_BIGNEG, (-1 - i) as u128))
        }
    }
    fn visit_u128<E: de::Error>(self, u: u128) -> Result<Value, E> {
        Ok(u64::try_from(u)
            .map(Value::from)
            .unwrap_or_else(|_| bignum(TAG_BIGPOS, u)))
    }
    /// A CBOR tag (ciborium presents one as an enum): kept with its value.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use serde::de::VariantAccess;
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        let (variant, access): (String, _) = data.variant()?;
        if variant != "@@TAGGED@@" {
            return Err(de::Error::custom("an enum is not a WAMP value"));
        }
        access.tuple_variant(
            2,
            TagVisitor {
                human_readable: self.human_readable,
                depth: self.depth + 1,
                build: self.build,
            },
        )
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        if !self.build {
            return Ok(Value::Null);
        }
        if self.human_readable
            && let Some(b) = decode_json_binary(s)
        {
            return Ok(Value::Bytes(b));
        }
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        if !self.build {
            return Ok(Value::Null);
        }
        if self.human_readable
            && let Some(b) = decode_json_binary(&s)
        {
            return Ok(Value::Bytes(b));
        }
        Ok(Value::String(s))
    }
    fn visit_bytes<E>(self, b: &[u8]) -> Result<Value, E> {
        if !self.build {
            return Ok(Value::Null);
        }
        Ok(Value::Bytes(Bytes::copy_from_slice(b)))
    }
    fn visit_byte_buf<E>(self, b: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(Bytes::from(b)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        let element = || ValueSeed {
            human_readable: self.human_readable,
            depth: self.depth + 1,
            build: self.build,
        };
        if !self.build {
            while seq.next_element_seed(element())?.is_some() {}
            return Ok(Value::Null);
        }
        // Cap the pre-allocation: the size hint comes from untrusted input.
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(element())? {
            list.push(v);
        }
        Ok(Value::List(list))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        let element = || ValueSeed {
            human_readable: self.human_readable,
            depth: self.depth + 1,
            build: self.build,
        };
        let mut dict = Dict::new();
        while let Some(key) = map.next_key_seed(KeySeed { build: self.build })? {
            let v = map.next_value_seed(element())?;
            if self.build {
                dict.insert(key, v);
            }
        }
        if !self.build {
            return Ok(Value::Null);
        }
        Ok(Value::Dict(dict))
    }
}

/// Reads a CBOR tag's number and value.
struct TagVisitor {
    human_readable: bool,
    depth: usize,
    build: bool,
}

impl<'de> Visitor<'de> for TagVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CBOR tag and its value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let tag: u64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("tag without a number"))?;
        let value = seq
            .next_element_seed(ValueSeed {
                human_readable: self.human_readable,
                depth: self.depth,
                build: self.build,
            })?
            .ok_or_else(|| de::Error::custom("tag without a value"))?;
        if !self.build {
            return Ok(Value::Null);
        }
        // A bignum's magnitude in minimal bytes, as [`bignum`] writes it (the CBOR reader
        // hands some over with a leading zero: `cbor::from_item`).
        if let (TAG_BIGPOS | TAG_BIGNEG, Value::Bytes(b)) = (tag, &value)
            && b.len() > 1
            && b[0] == 0
        {
            let start = b.iter().position(|x| *x != 0).unwrap_or(b.len() - 1);
            return Ok(Value::Tagged(tag, Box::new(Value::Bytes(b.slice(start..)))));
        }
        Ok(Value::Tagged(tag, Box::new(value)))
    }
}

/// Deserializes a [`Value`] with an explicit nesting depth (used for nested elements).
struct ValueSeed {
    human_readable: bool,
    depth: usize,
    build: bool,
}

impl<'de> de::DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor {
            human_readable: self.human_readable,
            depth: self.depth,
            build: self.build,
        })
    }
}

/// A dictionary key: what `String` accepts (a string, or bytes that are UTF-8), kept only
/// when building.
struct KeySeed {
    build: bool,
}

impl<'de> de::DeserializeSeed<'de> for KeySeed {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_string(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E>(self, s: &str) -> Result<String, E> {
        Ok(if self.build {
            s.to_owned()
        } else {
            String::new()
        })
    }
    fn visit_string<E>(self, s: String) -> Result<String, E> {
        Ok(s)
    }
    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<String, E> {
        match std::str::from_utf8(b) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(b), &self)),
        }
    }
}

/// Checks that the input is one valid [`Value`], accepting and rejecting exactly what
/// decoding a `Value` does, without building it.
pub(crate) struct ValueCheck;

impl<'de> Deserialize<'de> for ValueCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ValueCheck, D::Error> {
        ValueVisitor::whole(d, false).map(|_| ValueCheck)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        ValueVisitor::whole(d, true)
    }
}

impl ValueVisitor {
    /// Visits a whole input (nesting depth 0).
    fn whole<'de, D: Deserializer<'de>>(d: D, build: bool) -> Result<Value, D::Error> {
        let human_readable = d.is_human_readable();
        d.deserialize_any(ValueVisitor {
            human_readable,
            depth: 0,
            build,
        })
    }
}

/// Builds a [`Dict`] from `key => value` pairs.
#[macro_export]
macro_rules! dict {
    () => { $crate::value::Dict::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut d = $crate::value::Dict::new();
        $( d.insert(::std::string::String::from($k), $crate::value::Value::from($v)); )+
        d
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_binary_roundtrip() {
        let v = Value::List(vec![Value::Bytes(Bytes::from_static(b"\x00\x01hello"))]);
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, "[\"\\u0000AAFoZWxsbw==\"]");
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn msgpack_binary_native() {
        let v = Value::Bytes(Bytes::from_static(b"abc"));
        let b = rmp_serde::to_vec(&v).unwrap();
        assert_eq!(b, vec![0xc4, 3, b'a', b'b', b'c']);
        let back: Value = rmp_serde::from_slice(&b).unwrap();
        assert_eq!(back, v);
        // A msgpack string starting with NUL stays a string.
        let s = Value::String("\0AAE=".into());
        let back: Value = rmp_serde::from_slice(&rmp_serde::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let s = "[".repeat(200) + &"]".repeat(200);
        // serde_json's own recursion limit is 128 too; either way it must be an error, not a crash.
        assert!(serde_json::from_str::<Value>(&s).is_err());
    }
}

#[cfg(test)]
mod tagged_tests {
    use super::*;
    use crate::codec::Codec;

    /// `[2(h'010000000000000000000000'), 64(h'010203'), 3(h'0100000000000000000000')]`, the
    /// CBOR of 2^88, a `Uint8Array` [1, 2, 3] and -1 - 2^80.
    fn tagged_cbor() -> Vec<u8> {
        let mut b = vec![0x83, 0xc2, 0x4c, 0x01];
        b.extend_from_slice(&[0u8; 11]);
        b.extend_from_slice(&[0xd8, 0x40, 0x43, 1, 2, 3]);
        b.extend_from_slice(&[0xc3, 0x4b, 0x01]);
        b.extend_from_slice(&[0u8; 10]);
        b
    }

    #[test]
    fn cbor_tags_survive_a_cbor_round_trip() {
        let bytes = tagged_cbor();
        let v = Codec::Cbor.decode_value(&bytes).unwrap();
        let Value::List(items) = &v else {
            panic!("{v:?}")
        };
        assert!(
            matches!(&items[0], Value::Tagged(2, b) if matches!(&**b, Value::Bytes(x) if x.len() == 12))
        );
        assert!(
            matches!(&items[1], Value::Tagged(64, b) if **b == Value::Bytes(Bytes::from_static(&[1, 2, 3])))
        );
        assert_eq!(&Codec::Cbor.encode_value(&v)[..], &bytes[..]);
    }

    #[test]
    fn other_serializers_get_the_value_without_its_tag() {
        let v = Codec::Cbor.decode_value(&tagged_cbor()).unwrap();
        let json = Codec::Json.encode_value(&v);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            format!("[{},\"\\u0000AQID\",{}]", 1u128 << 88, -1 - (1i128 << 80))
        );
        let mp = Codec::MsgPack
            .decode_value(&Codec::MsgPack.encode_value(&v))
            .unwrap();
        assert_eq!(
            mp.as_list().unwrap()[1],
            Value::Bytes(Bytes::from_static(&[1, 2, 3]))
        );
    }

    #[test]
    fn bignums_from_128_bit_integers_are_minimal() {
        let v = ValueVisitor {
            human_readable: false,
            depth: 0,
            build: true,
        }
        .visit_u128::<serde::de::value::Error>(1u128 << 64)
        .unwrap();
        assert_eq!(
            v,
            Value::Tagged(
                2,
                Box::new(Value::Bytes(Bytes::from_static(&[
                    1, 0, 0, 0, 0, 0, 0, 0, 0
                ])))
            )
        );
    }
}
