//! The WAMP `ubjson` serializer (`wamp.2.ubjson`, RawSocket serializer 4) as autobahn-python
//! 26 and Crossbar.io 26 speak it: **BJData** (Binary JData, draft 2), the maintained successor
//! of UBJSON that autobahn's `ubjson` serializer is backed by (the `bjdata` package). It differs
//! from UBJSON draft 12 on the wire: numbers are little-endian, and unsigned integers have
//! their own markers (`u`, `m`, `M`), so a `uint64` needs no high-precision number.
//!
//! Written here rather than taken from a crate: there is no BJData crate, and the UBJSON
//! crates on crates.io are early drafts (serde_ubj says "not production ready", serde_ub_json
//! has one release from 2022); the format is small. Both directions go through serde, so the
//! [`Value`](crate::value::Value) visitor (nesting limit, bytes, big integers) and `Message`'s
//! serialization are the same for every serializer.
//!
//! Mapping: binary is a strongly typed byte array (`[$B#n`), as bjdata writes `bytes`; a
//! `uint8` array (`[$U#n`, how py-ubjson wrote bytes) is read as binary too. Integers take the
//! smallest marker that holds them, as bjdata chooses; integers beyond 64 bits are
//! high-precision numbers (`H`, as bjdata writes Python ints that large). Floats are `float64`
//! (non-finite ones too, as bjdata writes them). Reading accepts every scalar marker (`h` is
//! IEEE half precision) and optimized (`$` type, `#` count) containers; N-dimensional array
//! counts (`#[`) are refused; a high-precision number that is not an integer is read as the
//! nearest `float64`.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize};

/// What went wrong reading or writing UBJSON.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

const NULL: u8 = b'Z';
const NOOP: u8 = b'N';
const TRUE: u8 = b'T';
const FALSE: u8 = b'F';
const BYTE: u8 = b'B';
const INT8: u8 = b'i';
const UINT8: u8 = b'U';
const INT16: u8 = b'I';
const UINT16: u8 = b'u';
const INT32: u8 = b'l';
const UINT32: u8 = b'm';
const INT64: u8 = b'L';
const UINT64: u8 = b'M';
const FLOAT16: u8 = b'h';
const FLOAT32: u8 = b'd';
const FLOAT64: u8 = b'D';
const HIGH_PREC: u8 = b'H';
const CHAR: u8 = b'C';
const STRING: u8 = b'S';
const ARRAY_START: u8 = b'[';
const ARRAY_END: u8 = b']';
const OBJECT_START: u8 = b'{';
const OBJECT_END: u8 = b'}';
const CONTAINER_TYPE: u8 = b'$';
const CONTAINER_COUNT: u8 = b'#';

/// Serializes `value` as UBJSON, appending to `out`.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<()> {
    value.serialize(&mut UbjsonSerializer {
        out,
        high_precision_next: false,
    })
}

/// A newtype struct of this name holding a string of digits is written as a high-precision
/// number (how a [`crate::value::Value`] bignum of any size goes out).
pub(crate) const HIGH_PRECISION: &str = "@@UBJSON_HIGH_PRECISION@@";

/// Deserializes one UBJSON value that makes up the whole of `bytes`.
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    let mut d = UbjsonDeserializer { input: bytes };
    let v = T::deserialize(&mut d)?;
    // Trailing no-ops are padding, anything else is not part of one value.
    let rest = d.input.iter().filter(|b| **b != NOOP).count();
    if rest != 0 {
        return Err(Error(format!("{rest} trailing bytes")));
    }
    Ok(v)
}

/// True for the serializer of this module (so a bignum goes out as a high-precision number).
pub(crate) fn is_ubjson<S: ser::Serializer>() -> bool {
    std::any::type_name::<S>().contains("UbjsonSerializer")
}

// ---- reading a bignum --------------------------------------------------------------------

/// A high-precision integer beyond 128 bits, presented as the CBOR tag ciborium would present
/// (`@@TAGGED@@(tag, bytes)`), which is how a [`crate::value::Value`] holds one.
struct Bignum {
    tag: u64,
    magnitude: Vec<u8>,
}

impl<'de> de::EnumAccess<'de> for Bignum {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        use de::IntoDeserializer;
        let variant = seed.deserialize("@@TAGGED@@".into_deserializer())?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Bignum {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        Err(Error("a bignum is not a unit".into()))
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value> {
        Err(Error("a bignum is a tag and its bytes".into()))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(BignumParts {
            bignum: self,
            next: 0,
        })
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        Err(Error("a bignum is a tag and its bytes".into()))
    }
}

/// The tag number, then the magnitude's bytes.
struct BignumParts {
    bignum: Bignum,
    next: u8,
}

impl<'de> SeqAccess<'de> for BignumParts {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        use de::IntoDeserializer;
        self.next += 1;
        match self.next {
            1 => seed
                .deserialize(self.bignum.tag.into_deserializer())
                .map(Some),
            2 => seed
                .deserialize(de::value::BytesDeserializer::<Error>::new(
                    &self.bignum.magnitude,
                ))
                .map(Some),
            _ => Ok(None),
        }
    }
}

// ---- writing -------------------------------------------------------------------------------

struct UbjsonSerializer<'a> {
    out: &'a mut Vec<u8>,
    /// The next string is the digits of a high-precision number ([`HIGH_PRECISION`]).
    high_precision_next: bool,
}

impl UbjsonSerializer<'_> {
    /// The smallest marker that holds `v`: unsigned ones for what is not negative.
    fn int(&mut self, v: i128) {
        let out = &mut *self.out;
        if let Ok(u) = u64::try_from(v) {
            if let Ok(u) = u8::try_from(u) {
                out.extend_from_slice(&[UINT8, u]);
            } else if let Ok(u) = u16::try_from(u) {
                out.push(UINT16);
                out.extend_from_slice(&u.to_le_bytes());
            } else if let Ok(u) = u32::try_from(u) {
                out.push(UINT32);
                out.extend_from_slice(&u.to_le_bytes());
            } else {
                out.push(UINT64);
                out.extend_from_slice(&u.to_le_bytes());
            }
        } else if let Ok(i) = i8::try_from(v) {
            out.extend_from_slice(&[INT8, i as u8]);
        } else if let Ok(i) = i16::try_from(v) {
            out.push(INT16);
            out.extend_from_slice(&i.to_le_bytes());
        } else if let Ok(i) = i32::try_from(v) {
            out.push(INT32);
            out.extend_from_slice(&i.to_le_bytes());
        } else if let Ok(i) = i64::try_from(v) {
            out.push(INT64);
            out.extend_from_slice(&i.to_le_bytes());
        } else {
            self.high_precision(&v.to_string());
        }
    }

    /// A length or count.
    fn len(&mut self, n: usize) {
        self.int(n as i128);
    }

    fn high_precision(&mut self, digits: &str) {
        self.out.push(HIGH_PREC);
        self.len(digits.len());
        self.out.extend_from_slice(digits.as_bytes());
    }

    fn key(&mut self, k: &str) {
        self.len(k.len());
        self.out.extend_from_slice(k.as_bytes());
    }
}

fn unsupported(what: &str) -> Error {
    Error(format!("{what} cannot be written as a WAMP value"))
}

impl<'a, 'b> ser::Serializer for &'a mut UbjsonSerializer<'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.int(v.into());
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<()> {
        self.serialize_u128(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        match i128::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => self.high_precision(&v.to_string()),
        }
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<()> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        self.out.push(FLOAT64);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        if std::mem::take(&mut self.high_precision_next) {
            self.high_precision(v);
            return Ok(());
        }
        self.out.push(STRING);
        self.key(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.out
            .extend_from_slice(&[ARRAY_START, CONTAINER_TYPE, BYTE, CONTAINER_COUNT]);
        self.len(v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        self.out.push(NULL);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        self.high_precision_next = name == HIGH_PRECISION;
        value.serialize(&mut *self)?;
        self.high_precision_next = false;
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<()> {
        Err(unsupported("an enum"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>> {
        self.out.push(ARRAY_START);
        Ok(Compound {
            ser: self,
            end: ARRAY_END,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, 'b>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(unsupported("an enum"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>> {
        self.out.push(OBJECT_START);
        Ok(Compound {
            ser: self,
            end: OBJECT_END,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, 'b>> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(unsupported("an enum"))
    }
}

/// An array or object being written; `end` closes it.
struct Compound<'a, 'b> {
    ser: &'a mut UbjsonSerializer<'b>,
    end: u8,
}

impl Compound<'_, '_> {
    fn close(self) -> Result<()> {
        self.ser.out.push(self.end);
        Ok(())
    }
}

/// The array kinds of serde: every element is a value.
macro_rules! array_compound {
    ($($kind:ident :: $add:ident),*) => {$(
        impl ser::$kind for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                value.serialize(&mut *self.ser)
            }
            fn end(self) -> Result<()> {
                self.close()
            }
        }
    )*};
}

array_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        // An object key is a string without its marker: written as a value, then unmarked.
        let mut value = Vec::new();
        key.serialize(&mut UbjsonSerializer {
            out: &mut value,
            high_precision_next: false,
        })?;
        match value.split_first() {
            Some((&STRING, key)) => {
                self.ser.out.extend_from_slice(key);
                Ok(())
            }
            _ => Err(Error("an object key must be a string".into())),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<()> {
        self.ser.key(key);
        v.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

// ---- reading -------------------------------------------------------------------------------

struct UbjsonDeserializer<'de> {
    input: &'de [u8],
}

fn eof() -> Error {
    Error("truncated value".into())
}

impl<'de> UbjsonDeserializer<'de> {
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        if self.input.len() < n {
            return Err(eof());
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// The next marker, skipping no-ops.
    fn marker(&mut self) -> Result<u8> {
        loop {
            let m = self.byte()?;
            if m != NOOP {
                return Ok(m);
            }
        }
    }

    fn peek_marker(&mut self) -> Result<u8> {
        while let Some(&NOOP) = self.input.first() {
            self.input = &self.input[1..];
        }
        self.input.first().copied().ok_or_else(eof)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    /// An integer after its marker `m`.
    fn int_of(&mut self, m: u8) -> Result<i128> {
        Ok(match m {
            INT8 => i8::from_le_bytes(self.array()?).into(),
            UINT8 | BYTE => self.byte()?.into(),
            INT16 => i16::from_le_bytes(self.array()?).into(),
            UINT16 => u16::from_le_bytes(self.array()?).into(),
            INT32 => i32::from_le_bytes(self.array()?).into(),
            UINT32 => u32::from_le_bytes(self.array()?).into(),
            INT64 => i64::from_le_bytes(self.array()?).into(),
            UINT64 => u64::from_le_bytes(self.array()?).into(),
            other => {
                return Err(Error(format!(
                    "expected an integer, got marker {other:#04x}"
                )));
            }
        })
    }

    /// A length or count: an integer with its marker, not negative, and (as every element
    /// or byte takes at least one byte) no larger than what is left of the input.
    fn len(&mut self) -> Result<usize> {
        let m = self.marker()?;
        if m == ARRAY_START {
            return Err(Error("N-dimensional arrays are not supported".into()));
        }
        let n = self.int_of(m)?;
        let n = usize::try_from(n).map_err(|_| Error(format!("invalid length {n}")))?;
        if n > self.input.len() {
            return Err(eof());
        }
        Ok(n)
    }

    /// A string's bytes after its marker (`S`: length then bytes; `C`: one byte).
    fn str_of(&mut self, m: u8) -> Result<&'de str> {
        let bytes = match m {
            CHAR => self.take(1)?,
            STRING => {
                let n = self.len()?;
                self.take(n)?
            }
            other => return Err(Error(format!("expected a string, got marker {other:#04x}"))),
        };
        std::str::from_utf8(bytes).map_err(|_| Error("a string is not UTF-8".into()))
    }

    /// An object key: a length and UTF-8 bytes, without a marker.
    fn key(&mut self) -> Result<&'de str> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| Error("an object key is not UTF-8".into()))
    }

    /// The optional `$type` and `#count` of a container after its opening marker.
    fn container_params(&mut self) -> Result<(Option<u8>, Option<usize>)> {
        let mut ty = None;
        if self.input.first() == Some(&CONTAINER_TYPE) {
            self.input = &self.input[1..];
            let t = self.byte()?;
            if matches!(
                t,
                CONTAINER_TYPE | CONTAINER_COUNT | NOOP | ARRAY_END | OBJECT_END
            ) {
                return Err(Error(format!("invalid container type {t:#04x}")));
            }
            ty = Some(t);
        }
        let count = if self.input.first() == Some(&CONTAINER_COUNT) {
            self.input = &self.input[1..];
            Some(self.len()?)
        } else if ty.is_some() {
            return Err(Error("a container type without a count".into()));
        } else {
            None
        };
        Ok((ty, count))
    }

    /// Visits one value whose marker `m` has been read.
    fn value_of<V: Visitor<'de>>(&mut self, m: u8, visitor: V) -> Result<V::Value> {
        match m {
            NULL => visitor.visit_unit(),
            TRUE => visitor.visit_bool(true),
            FALSE => visitor.visit_bool(false),
            BYTE | INT8 | UINT8 | INT16 | UINT16 | INT32 | UINT32 | INT64 | UINT64 => {
                let i = self.int_of(m)?;
                match i64::try_from(i) {
                    Ok(i) => visitor.visit_i64(i),
                    Err(_) => visitor.visit_u64(i as u64),
                }
            }
            FLOAT16 => visitor.visit_f64(half_to_f64(u16::from_le_bytes(self.array()?))),
            FLOAT32 => visitor.visit_f64(f32::from_le_bytes(self.array()?).into()),
            FLOAT64 => visitor.visit_f64(f64::from_le_bytes(self.array()?)),
            HIGH_PREC => {
                let s = self.str_of(STRING)?;
                if let Ok(i) = s.parse::<i128>() {
                    visitor.visit_i128(i)
                } else if let Ok(u) = s.parse::<u128>() {
                    visitor.visit_u128(u)
                } else if let Some((tag, magnitude)) = crate::value::bignum_of_digits(s) {
                    // Beyond 128 bits: the CBOR bignum a `Value` holds, spelled as ciborium
                    // spells a tag.
                    visitor.visit_enum(Bignum { tag, magnitude })
                } else {
                    match s.parse::<f64>() {
                        Ok(f) if s.bytes().all(|b| b"0123456789+-.eE".contains(&b)) => {
                            visitor.visit_f64(f)
                        }
                        _ => Err(Error(format!("invalid high-precision number \"{s}\""))),
                    }
                }
            }
            CHAR | STRING => visitor.visit_borrowed_str(self.str_of(m)?),
            ARRAY_START => {
                let (ty, count) = self.container_params()?;
                if let (Some(BYTE | UINT8), Some(n)) = (ty, count) {
                    // Binary: bjdata writes bytes as `[$B#n`, py-ubjson wrote `[$U#n`.
                    return visitor.visit_borrowed_bytes(self.take(n)?);
                }
                visitor.visit_seq(Elements {
                    de: self,
                    ty,
                    left: count,
                })
            }
            OBJECT_START => {
                let (ty, count) = self.container_params()?;
                visitor.visit_map(Elements {
                    de: self,
                    ty,
                    left: count,
                })
            }
            other => Err(Error(format!("invalid marker {other:#04x}"))),
        }
    }
}

/// An IEEE 754 half-precision float (BJData's `h`).
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

impl<'de> de::Deserializer<'de> for &mut UbjsonDeserializer<'de> {
    type Error = Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let m = self.marker()?;
        self.value_of(m, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The elements of an array or the entries of an object: counted (`left`) or ended by their
/// closing marker; typed (`ty`: the elements carry no marker of their own) or not.
struct Elements<'a, 'de> {
    de: &'a mut UbjsonDeserializer<'de>,
    ty: Option<u8>,
    left: Option<usize>,
}

impl<'de> Elements<'_, 'de> {
    /// Whether another element follows (consuming the closing marker when not).
    fn more(&mut self, end: u8) -> Result<bool> {
        match &mut self.left {
            Some(0) => Ok(false),
            Some(n) => {
                *n -= 1;
                Ok(true)
            }
            None => {
                if self.de.peek_marker()? == end {
                    self.de.input = &self.de.input[1..];
                    Ok(false)
                } else {
                    Ok(true)
                }
            }
        }
    }

    fn element<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value> {
        match self.ty {
            None => seed.deserialize(&mut *self.de),
            Some(ty) => seed.deserialize(Typed { de: self.de, ty }),
        }
    }
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.more(ARRAY_END)? {
            return Ok(None);
        }
        self.element(seed).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.left
    }
}

impl<'de> MapAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.more(OBJECT_END)? {
            return Ok(None);
        }
        let key = self.de.key()?;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.element(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.left
    }
}

/// One element of a typed container: its marker is the container's.
struct Typed<'a, 'de> {
    de: &'a mut UbjsonDeserializer<'de>,
    ty: u8,
}

impl<'de> de::Deserializer<'de> for Typed<'_, 'de> {
    type Error = Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.de.value_of(self.ty, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;
    use crate::value::{List, Value};
    use bytes::Bytes;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        to_writer(&mut out, v).unwrap();
        out
    }

    fn dec(b: &[u8]) -> Value {
        from_slice(b).unwrap()
    }

    #[test]
    fn values_round_trip() {
        let v = Value::List(vec![
            Value::Null,
            true.into(),
            false.into(),
            0i64.into(),
            255i64.into(),
            (-128i64).into(),
            40_000i64.into(),
            (-3_000_000_000i64).into(),
            Value::UInt(u64::MAX),
            1.5f64.into(),
            "".into(),
            "x".into(),
            "héllo wörld".into(),
            Value::Bytes(Bytes::from_static(b"\x00\x01\xff")),
            Value::List(List::new()),
            Value::Dict(dict! {"z" => 1i64, "a" => Value::Dict(dict! {"k" => "v"})}),
        ]);
        assert_eq!(dec(&enc(&v)), v);
    }

    /// What bjdata (autobahn-python's `ubjson` serializer) writes for
    /// `[1, "ab", b"\x00\x01", {"k": None}, 300, -300, 70000, 2**64-1, -2**40, 1.5]`.
    #[test]
    fn reads_and_writes_what_autobahn_python_writes() {
        let py: &[u8] = b"[U\x01SU\x02ab[$B#U\x02\x00\x01{U\x01kZ}u,\x01I\xd4\xfemp\x11\x01\x00\
            M\xff\xff\xff\xff\xff\xff\xff\xffL\x00\x00\x00\x00\x00\xff\xff\xff\
            D\x00\x00\x00\x00\x00\x00\xf8?]";
        let v = dec(py);
        assert_eq!(
            v,
            Value::List(vec![
                1i64.into(),
                "ab".into(),
                Value::Bytes(Bytes::from_static(b"\x00\x01")),
                Value::Dict(dict! {"k" => Value::Null}),
                300i64.into(),
                (-300i64).into(),
                70_000i64.into(),
                Value::UInt(u64::MAX),
                (-(1i64 << 40)).into(),
                1.5f64.into(),
            ])
        );
        assert_eq!(enc(&v), py.to_vec());
    }

    #[test]
    fn optimized_containers_and_other_markers() {
        assert_eq!(
            dec(b"[$i#U\x03\x01\x02\xff"),
            Value::List(vec![1i64.into(), 2i64.into(), (-1i64).into()])
        );
        assert_eq!(dec(b"{#U\x01U\x01aCb"), Value::Dict(dict! {"a" => "b"}));
        assert_eq!(dec(b"N[NZN]N"), Value::List(vec![Value::Null]));
        assert_eq!(dec(b"d\x00\x00\xc0\x3f"), Value::Float(1.5));
        assert_eq!(dec(b"h\x00\x3e"), Value::Float(1.5));
        // py-ubjson's bytes.
        assert_eq!(
            dec(b"[$U#U\x02\x00\x01"),
            Value::Bytes(Bytes::from_static(b"\x00\x01"))
        );
        assert_eq!(dec(b"HU\x1418446744073709551615"), Value::UInt(u64::MAX));
        assert!(from_slice::<Value>(b"[$U#[$U#U\x01\x02\x01\x02").is_err());
    }

    #[test]
    fn big_integers_are_high_precision_numbers() {
        let h = b"HU\x161180591620717411303424"; // 2**70, as bjdata writes it
        let big = dec(h);
        assert!(matches!(big, Value::Tagged(2, _)), "{big:?}");
        assert_eq!(enc(&big), h.to_vec());
        let neg = dec(b"HU\x14-9223372036854775809");
        assert!(matches!(neg, Value::Tagged(3, _)), "{neg:?}");
        assert_eq!(dec(b"HU\x031.5"), Value::Float(1.5));
        assert!(matches!(dec(&enc(&Value::Float(f64::NAN))), Value::Float(f) if f.is_nan()));
    }

    #[test]
    fn bad_input_is_an_error() {
        for bad in [
            &b""[..],
            b"[",
            b"S\x05",
            b"SU\x05ab",
            b"[$U#U\xffab",
            b"[#i\xff",
            b"{U\x01a",
            b"q",
            b"ZZ",
            b"SU\x02\xff\xfe",
            b"[$Z]",
            b"HU\x03abc",
        ] {
            assert!(from_slice::<Value>(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let deep = [vec![ARRAY_START; 10_000], vec![ARRAY_END; 10_000]].concat();
        assert!(from_slice::<Value>(&deep).is_err());
    }
}
