//! A CBOR message read element by element, its arguments kept as the sender's bytes.
//!
//! The CBOR counterpart of [`crate::msgpack`] and [`crate::json`]: [`item_len`] finds where
//! each element of the message's array ends (ciborium has no raw value), the header fields are
//! decoded one by one, and the trailing `Args`/`KwArgs` of what the router forwards are checked
//! ([`ValueCheck`]) and kept as bytes, so a CBOR receiver gets them exactly as sent (tags,
//! integer widths, key order).

use bytes::Bytes;

use crate::message::ProtocolViolation;
use crate::msgpack::RawTail;
use crate::payload::RawPayload;
use crate::value::{Value, ValueCheck};

/// Arguments this large are kept as a slice of their frame rather than copied (as MessagePack).
const SLICE_FROM: usize = 4096;

fn bad(e: impl std::fmt::Display) -> ProtocolViolation {
    ProtocolViolation(format!("invalid cbor message: {e}"))
}

/// The length of the first CBOR data item in `b`, or `None` if `b` ends inside it or it is
/// not well-formed (reserved additional information, a stray break).
///
/// Only framing: what the item holds is checked when it is decoded. Each step consumes at
/// least one byte, so the loop is bounded by the input however large the claimed counts.
pub(crate) fn item_len(b: &[u8]) -> Option<usize> {
    walk(b, |_| {})
}

/// [`item_len`], calling `on_head` with the position of every head it reads.
fn walk(b: &[u8], mut on_head: impl FnMut(usize)) -> Option<usize> {
    /// What an enclosing container still expects: a count of items, or items until a break.
    enum Open {
        Items(u64),
        UntilBreak,
    }
    let mut open: Vec<Open> = Vec::new();
    let mut pos = 0usize;
    loop {
        let head = *b.get(pos)?;
        on_head(pos);
        pos += 1;
        let (major, info) = (head >> 5, head & 0x1f);
        // Whether this head ends an item (a scalar, an empty container, a break).
        let mut complete = true;
        if head == 0xff {
            // A break ends the innermost indefinite container, which is then one item.
            match open.pop() {
                Some(Open::UntilBreak) => {}
                _ => return None,
            }
        } else {
            let arg = match info {
                0..=23 => Some(u64::from(info)),
                24..=27 => {
                    let n = 1usize << (info - 24);
                    let bytes = b.get(pos..pos.checked_add(n)?)?;
                    pos += n;
                    Some(bytes.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x)))
                }
                31 if matches!(major, 2..=5) => None,
                _ => return None,
            };
            let mut enter = |o: Open| {
                open.push(o);
                complete = false;
            };
            match (major, arg) {
                (0 | 1 | 7, Some(_)) => {}
                (2 | 3, Some(n)) => {
                    pos = pos.checked_add(usize::try_from(n).ok()?)?;
                    if pos > b.len() {
                        return None;
                    }
                }
                // Indefinite strings: definite chunks until the break (checked on decoding).
                (2..=5, None) => enter(Open::UntilBreak),
                (4, Some(0)) | (5, Some(0)) => {}
                (4, Some(n)) => enter(Open::Items(n)),
                (5, Some(n)) => enter(Open::Items(n.checked_mul(2)?)),
                (6, Some(_)) => enter(Open::Items(1)),
                _ => return None,
            }
        }
        // A complete item counts towards its container, which may complete in turn.
        while complete {
            match open.last_mut() {
                None => return Some(pos),
                Some(Open::Items(n)) => {
                    *n -= 1;
                    if *n == 0 {
                        open.pop();
                    } else {
                        complete = false;
                    }
                }
                Some(Open::UntilBreak) => complete = false,
            }
        }
    }
}

/// Reads one CBOR data item (all of `item`) with ciborium.
///
/// ciborium reads a bignum (tags 2 and 3) of up to 16 bytes as a 128-bit integer and refuses a
/// negative one below `i128::MIN` (-2¹²⁷ - 1 … -2¹²⁸) as "integer too large", though it is
/// valid CBOR — and what this router writes for such an integer from a JSON sender. Those
/// bignums get a leading zero byte first (17 bytes, the same number), which ciborium hands
/// over as a tagged value.
pub(crate) fn from_item<T: serde::de::DeserializeOwned>(item: &[u8]) -> Result<T, String> {
    let widened = widen_negative_bignums(item);
    let mut reader = widened.as_deref().unwrap_or(item);
    ciborium::from_reader(&mut reader).map_err(|e| e.to_string())
}

/// `b` with every tag-3 bignum of 16 bytes whose magnitude is 2¹²⁷ or more written with 17;
/// `None` when there is none (the common case: no tag 3 at all).
fn widen_negative_bignums(b: &[u8]) -> Option<Vec<u8>> {
    if !b.contains(&0xc3) {
        return None;
    }
    let mut at = Vec::new();
    walk(b, |pos| {
        // 0xc3: tag 3; 0x50: a byte string of 16; its first byte with the top bit set.
        if b[pos] == 0xc3
            && b.get(pos + 1) == Some(&0x50)
            && b.get(pos + 2).is_some_and(|x| *x >= 0x80)
        {
            at.push(pos + 1);
        }
    })?;
    if at.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() + at.len());
    let mut from = 0;
    for p in at {
        out.extend_from_slice(&b[from..p]);
        out.extend_from_slice(&[0x51, 0x00]);
        from = p + 1;
    }
    out.extend_from_slice(&b[from..]);
    Some(out)
}

/// The elements of one CBOR array (a WAMP message) not read yet.
pub(crate) struct CborItems<'a> {
    frame: &'a [u8],
    rest: &'a [u8],
    left: usize,
}

impl<'a> CborItems<'a> {
    /// Reads the array header; `None` if the frame is not one definite-length array (the
    /// whole decoder then reports what is wrong, or reads it).
    pub fn new(frame: &'a [u8]) -> Option<CborItems<'a>> {
        let head = *frame.first()?;
        let (left, at) = match head {
            0x80..=0x97 => (usize::from(head - 0x80), 1),
            0x98 => (usize::from(*frame.get(1)?), 2),
            _ => return None,
        };
        if item_len(frame)? != frame.len() {
            return None;
        }
        Some(CborItems {
            frame,
            rest: &frame[at..],
            left,
        })
    }

    pub fn remaining(&self) -> usize {
        self.left
    }

    fn take_element(&mut self) -> Result<&'a [u8], ProtocolViolation> {
        let len = item_len(self.rest).ok_or_else(|| bad("truncated element"))?;
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        self.left -= 1;
        Ok(head)
    }

    /// The next element, decoded.
    pub fn value(&mut self) -> Option<Result<Value, ProtocolViolation>> {
        if self.left == 0 {
            return None;
        }
        Some(self.take_element().and_then(|b| from_item(b).map_err(bad)))
    }

    /// The remaining elements as checked arguments: an array, or an array and a map.
    /// [`RawTail::Unread`] (nothing consumed) for anything else.
    pub fn raw_tail(&mut self, owner: &Bytes) -> Result<RawTail, ProtocolViolation> {
        debug_assert_eq!(owner.as_ptr(), self.frame.as_ptr());
        let start = self.frame.len() - self.rest.len();
        let major = |b: &[u8]| b.first().map(|h| h >> 5);
        let elements = self.left;
        if !matches!(elements, 1 | 2) || major(self.rest) != Some(4) {
            return Ok(RawTail::Unread);
        }
        let (saved_rest, saved_left) = (self.rest, self.left);
        let args = self.take_element()?;
        if elements == 2 && major(self.rest) != Some(5) {
            (self.rest, self.left) = (saved_rest, saved_left);
            return Ok(RawTail::Unread);
        }
        let kwargs = if elements == 2 {
            Some(self.take_element()?)
        } else {
            None
        };
        for part in [Some(args), kwargs].into_iter().flatten() {
            from_item::<ValueCheck>(part).map_err(bad)?;
        }
        if args == [0x80] && kwargs.is_none_or(|k| k == [0xa0]) {
            return Ok(RawTail::Empty);
        }
        let tail = &self.frame[start..];
        let bytes = if tail.len() < SLICE_FROM {
            Bytes::copy_from_slice(tail)
        } else {
            owner.slice(start..)
        };
        Ok(RawTail::Raw(RawPayload::cbor(elements as u8, bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_lengths() {
        for (item, len) in [
            (&[0x00][..], 1),
            (&[0x18, 0xff], 2),
            (&[0x1b, 0, 0, 0, 0, 0, 0, 0, 1], 9),
            (&[0x63, b'a', b'b', b'c', 0x00], 4),
            (&[0x82, 0x01, 0x82, 0x02, 0x03, 0x00], 5),
            (&[0xa1, 0x61, b'k', 0xf6], 4),
            (&[0x9f, 0x01, 0x9f, 0xff, 0xff, 0x00], 5),
            (&[0x5f, 0x41, 0x00, 0xff], 4),
            (&[0xc2, 0x41, 0x01], 3),
            (&[0xfb, 0, 0, 0, 0, 0, 0, 0, 0], 9),
            (&[0x80], 1),
        ] {
            assert_eq!(item_len(item), Some(len), "{item:x?}");
        }
        for bad in [
            &[][..],
            &[0x18],
            &[0x62, b'a'],
            &[0x82, 0x01],
            &[0x9f, 0x01],
            &[0xff],
            &[0x1c],
            &[0x3f],
            &[0xc2],
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(item_len(bad), None, "{bad:x?}");
        }
    }
}
