//! A JSON message read element by element, its arguments kept as the sender's text.
//!
//! The JSON counterpart of [`crate::msgpack`]: the frame is split into its top-level elements
//! once (serde_json's `RawValue`, no tree built), the header fields are decoded one by one, and
//! the trailing `Args`/`KwArgs` of what the router forwards are checked ([`ValueCheck`]) and
//! kept as text, so a JSON receiver gets them exactly as sent — key order, number spelling,
//! integers beyond 64 bits — and nobody pays for a tree of values it does not read.

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::message::ProtocolViolation;
use crate::msgpack::RawTail;
use crate::payload::RawPayload;
use crate::value::{Value, ValueCheck};

/// Arguments this large are kept as a slice of their frame rather than copied (as MessagePack).
const SLICE_FROM: usize = 4096;

fn bad(e: impl std::fmt::Display) -> ProtocolViolation {
    ProtocolViolation(format!("invalid json message: {e}"))
}

/// The elements of one JSON array (a WAMP message) not read yet.
pub(crate) struct JsonItems<'a> {
    frame: &'a [u8],
    elements: std::vec::IntoIter<&'a RawValue>,
}

impl<'a> JsonItems<'a> {
    /// Splits the frame into its elements; `None` if it is not one JSON array (the whole
    /// decoder then reports what is wrong).
    pub fn new(frame: &'a [u8]) -> Option<JsonItems<'a>> {
        let elements: Vec<&RawValue> = serde_json::from_slice(frame).ok()?;
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
        Some(serde_json::from_str(raw.get()).map_err(bad))
    }

    /// Where `raw` (a slice of the frame) starts in it.
    fn offset(&self, raw: &RawValue) -> usize {
        raw.get().as_ptr() as usize - self.frame.as_ptr() as usize
    }

    /// The remaining elements as checked arguments: a list, or a list and a dict, that decode
    /// as [`Value`]s would. [`RawTail::Unread`] (nothing consumed) for anything else.
    pub fn raw_tail(&mut self, owner: &Bytes) -> Result<RawTail, ProtocolViolation> {
        debug_assert_eq!(owner.as_ptr(), self.frame.as_ptr());
        let rest = self.elements.as_slice();
        let shape_ok = match rest {
            [args] => args.get().starts_with('['),
            [args, kwargs] => args.get().starts_with('[') && kwargs.get().starts_with('{'),
            _ => false,
        };
        if !shape_ok {
            return Ok(RawTail::Unread);
        }
        for part in rest {
            serde_json::from_str::<ValueCheck>(part.get()).map_err(bad)?;
        }
        // `[]` / `{}`, perhaps with whitespace inside.
        let empty = |r: &RawValue, e: &str| {
            let s = r.get();
            s.len() <= 16 && s.chars().filter(|c| !c.is_whitespace()).eq(e.chars())
        };
        if empty(rest[0], "[]") && rest.get(1).is_none_or(|k| empty(k, "{}")) {
            self.elements.by_ref().for_each(drop);
            return Ok(RawTail::Empty);
        }
        let start = self.offset(rest[0]);
        let last = rest[rest.len() - 1];
        let end = self.offset(last) + last.get().len();
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
