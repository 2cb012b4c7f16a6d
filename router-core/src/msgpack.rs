//! A MessagePack message read field by field, straight from its frame.
//!
//! Decoding the whole message into a list of [`Value`]s first would build (and then drop) a
//! tree for arguments the router only forwards. Here each field is decoded as the message
//! parser asks for it: integers, strings and empty dicts directly, anything else through
//! `rmp_serde`, and the trailing `Args`/`KwArgs` can be taken as checked bytes
//! ([`RawPayload`]). [`value_len`] finds where each element ends; `rmp_serde` decodes and checks it.

use bytes::Bytes;
use rmp::Marker;

use crate::message::ProtocolViolation;
use crate::payload::RawPayload;
use crate::value::{Value, ValueCheck};

/// Arguments this large are kept as a slice of their frame rather than copied.
const SLICE_FROM: usize = 4096;

/// What [`MsgPackItems::raw_tail`] found.
pub(crate) enum RawTail {
    /// Checked arguments, as bytes.
    Raw(RawPayload),
    /// An empty list (and dict): no payload.
    Empty,
    /// Not a list (and dict) ending the message: left unread, for the caller to decode and
    /// report what is wrong.
    Unread,
}

/// The elements of one MessagePack array (a WAMP message) not read yet.
pub(crate) struct MsgPackItems<'a> {
    frame: &'a [u8],
    rest: &'a [u8],
    left: usize,
}

fn bad(e: impl std::fmt::Display) -> ProtocolViolation {
    ProtocolViolation(format!("invalid msgpack message: {e}"))
}

impl<'a> MsgPackItems<'a> {
    /// Reads the array header; `None` if the frame does not start with an array.
    pub fn new(frame: &'a [u8]) -> Option<MsgPackItems<'a>> {
        let mut rest = frame;
        let left = rmp::decode::read_array_len(&mut rest).ok()?;
        Some(MsgPackItems {
            frame,
            rest,
            left: left as usize,
        })
    }

    pub fn remaining(&self) -> usize {
        self.left
    }

    /// Bytes after the last element.
    pub fn trailing(&self) -> usize {
        if self.left == 0 { self.rest.len() } else { 0 }
    }

    fn peek(&self) -> Option<Marker> {
        if self.left == 0 {
            return None;
        }
        self.rest.first().map(|b| Marker::from_u8(*b))
    }

    /// The next element's bytes.
    fn take_element(&mut self) -> Result<&'a [u8], ProtocolViolation> {
        let len = value_len(self.rest).ok_or_else(|| bad("truncated element"))?;
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        self.left -= 1;
        Ok(head)
    }

    /// The next element as a [`Value`]; `None` when all are read.
    pub fn value(&mut self) -> Option<Result<Value, ProtocolViolation>> {
        if self.left == 0 {
            return None;
        }
        Some(
            self.take_element()
                .and_then(|b| rmp_serde::from_slice(b).map_err(bad)),
        )
    }

    /// The next element if it is an integer that fits `i64`.
    pub fn int(&mut self) -> Option<i64> {
        match self.peek()? {
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::U64
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64 => {
                let mut r = self.rest;
                let i = rmp::decode::read_int::<i64, _>(&mut r).ok()?;
                self.rest = r;
                self.left -= 1;
                Some(i)
            }
            _ => None,
        }
    }

    /// The next element if it is a valid UTF-8 string.
    pub fn str(&mut self) -> Option<&'a str> {
        match self.peek()? {
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let (s, tail) = rmp::decode::read_str_from_slice(self.rest).ok()?;
                self.rest = tail;
                self.left -= 1;
                Some(s)
            }
            _ => None,
        }
    }

    /// Skips the next element if it is an empty map.
    pub fn empty_map(&mut self) -> bool {
        if self.peek() == Some(Marker::FixMap(0)) {
            self.rest = &self.rest[1..];
            self.left -= 1;
            return true;
        }
        false
    }

    /// The remaining elements as checked arguments, if they are a list and optionally a
    /// dict, and nothing follows; `owner` is the frame these items read, as `Bytes`.
    pub fn raw_tail(&mut self, owner: &Bytes) -> Result<RawTail, ProtocolViolation> {
        debug_assert_eq!(owner.as_ptr(), self.frame.as_ptr());
        let start = self.frame.len() - self.rest.len();
        let (elements, save_rest, save_left) = (self.left, self.rest, self.left);
        let kinds_ok = match elements {
            1 | 2 => {
                matches!(
                    self.peek(),
                    Some(Marker::FixArray(_) | Marker::Array16 | Marker::Array32)
                )
            }
            _ => false,
        };
        if !kinds_ok {
            return Ok(RawTail::Unread);
        }
        let args = self.take_element()?;
        if elements == 2
            && !matches!(
                self.peek(),
                Some(Marker::FixMap(_) | Marker::Map16 | Marker::Map32)
            )
        {
            (self.rest, self.left) = (save_rest, save_left);
            return Ok(RawTail::Unread);
        }
        let kwargs = if elements == 2 {
            Some(self.take_element()?)
        } else {
            None
        };
        if !self.rest.is_empty() {
            (self.rest, self.left) = (save_rest, save_left);
            return Ok(RawTail::Unread);
        }
        for part in [Some(args), kwargs].into_iter().flatten() {
            rmp_serde::from_slice::<ValueCheck>(part).map_err(bad)?;
        }
        let empty = args == [0x90] && kwargs.is_none_or(|k| k == [0x80]);
        if empty {
            return Ok(RawTail::Empty);
        }
        // A slice of the frame would keep the whole read buffer it came from alive for as long
        // as the message waits in a queue (a stuck receiver's queue holds thousands): small
        // arguments are copied, large ones (which fill most of their buffer) are sliced.
        let tail = &self.frame[start..];
        let bytes = if tail.len() < SLICE_FROM {
            Bytes::copy_from_slice(tail)
        } else {
            owner.slice(start..)
        };
        Ok(RawTail::Raw(RawPayload::msgpack(elements as u8, bytes)))
    }
}

/// The length of the first MessagePack value in `b`, or `None` if `b` ends inside it.
///
/// Only framing: what the value holds is checked when it is decoded. (`rmp`'s `MessageLen`
/// would do, but it panics on extension types, which any peer can send.) Each step consumes
/// at least one byte, so the loop is bounded by the input however large the claimed counts.
pub(crate) fn value_len(b: &[u8]) -> Option<usize> {
    let be = |at: usize, n: usize| -> Option<u64> {
        let bytes = b.get(at..at.checked_add(n)?)?;
        Some(bytes.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x)))
    };
    let mut pos = 0usize;
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let marker = Marker::from_u8(*b.get(pos)?);
        pos += 1;
        // (bytes after the marker, nested values that follow them)
        let (skip, values): (u64, u64) = match marker {
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::Null
            | Marker::True
            | Marker::False
            | Marker::Reserved => (0, 0),
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(n) => (u64::from(n), 0),
            Marker::Str8 | Marker::Bin8 => (1 + be(pos, 1)?, 0),
            Marker::Str16 | Marker::Bin16 => (2 + be(pos, 2)?, 0),
            Marker::Str32 | Marker::Bin32 => (4 + be(pos, 4)?, 0),
            Marker::FixArray(n) => (0, u64::from(n)),
            Marker::Array16 => (2, be(pos, 2)?),
            Marker::Array32 => (4, be(pos, 4)?),
            Marker::FixMap(n) => (0, 2 * u64::from(n)),
            Marker::Map16 => (2, 2 * be(pos, 2)?),
            Marker::Map32 => (4, 2 * be(pos, 4)?),
            // Extension types: a type byte, then the data.
            Marker::FixExt1 => (2, 0),
            Marker::FixExt2 => (3, 0),
            Marker::FixExt4 => (5, 0),
            Marker::FixExt8 => (9, 0),
            Marker::FixExt16 => (17, 0),
            Marker::Ext8 => (1 + 1 + be(pos, 1)?, 0),
            Marker::Ext16 => (2 + 1 + be(pos, 2)?, 0),
            Marker::Ext32 => (4 + 1 + be(pos, 4)?, 0),
        };
        pos = pos.checked_add(usize::try_from(skip).ok()?)?;
        if pos > b.len() {
            return None;
        }
        pending += values;
    }
    Some(pos)
}
