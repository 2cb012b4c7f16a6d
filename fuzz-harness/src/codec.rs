//! `codec_decode`: one input through every way a serializer reads a message.
//!
//! The first octet picks the serializer (`Codec::ALL`, low two bits) and whether the rest is a
//! batched WebSocket message (bit 2). For each message: `decode` and `decode_routed` (which
//! keeps the arguments of routed messages as the sender's bytes) must accept and reject alike
//! and agree on what they accept (`codec.rs`'s `check_routed_agrees`); what decodes must
//! re-encode to a frame that decodes to the same message, the routed form too; and every other
//! serializer that the payload's `refused_by` does not exclude must write a frame it can read
//! back (JSON only where no string begins with NUL: that is binary in JSON). The value reader (`decode_value`, used for configs and worker extras) must round-trip
//! what it accepts as well.

use bytes::Bytes;
use router_core::{Codec, Message};

use crate::support::text;

pub fn codec_decode(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec::ALL[usize::from(ctl & 3)];
    if ctl & 4 != 0 {
        if let Ok(parts) = codec.split_batched(rest) {
            for part in parts {
                one_message(codec, part);
            }
        }
    } else {
        one_message(codec, rest);
        one_value(codec, rest);
    }
}

fn one_message(codec: Codec, bytes: &[u8]) {
    let frame = Bytes::copy_from_slice(bytes);
    let plain = codec.decode(&frame);
    let routed = codec.decode_routed(&frame);
    assert_eq!(
        plain.is_ok(),
        routed.is_ok(),
        "{codec}: decode and decode_routed disagree on {frame:x?}: {plain:?} / {routed:?}"
    );
    let (Ok(plain), Ok(routed)) = (plain, routed) else {
        return;
    };
    let want = text(&plain);
    assert_eq!(
        want,
        text(&routed.clone().into_decoded()),
        "{codec}: routed decoding differs on {frame:x?}"
    );
    for (what, msg) in [("decoded", &plain), ("routed", &routed)] {
        let again = codec.encode(msg);
        let back = codec.decode(&again).unwrap_or_else(|e| {
            panic!("{codec}: the {what} message of {frame:x?} re-encodes to {again:x?}, which does not decode: {e}")
        });
        assert_eq!(
            want,
            text(&back.into_decoded()),
            "{codec}: the {what} message of {frame:x?} changes through {again:x?}"
        );
    }
    for other in Codec::ALL {
        if other == codec || refused(&plain, other) {
            continue;
        }
        // A string that begins with NUL is binary to a JSON reader (autobahn's convention:
        // "\0" + base64), so a JSON peer cannot be sent one as a string; the router never
        // does for its own fields, and a sender's arguments are the sender's choice.
        if other == Codec::Json && has_nul_string(&want) {
            continue;
        }
        for (what, msg) in [("decoded", &plain), ("routed", &routed)] {
            let out = other.encode(msg);
            if let Err(e) = other.decode(&out) {
                panic!(
                    "{codec} -> {other}: the {what} message of {frame:x?} is written as {out:x?}, which does not decode: {e}"
                );
            }
        }
    }
}

/// Whether `other` cannot carry the message: its payload says so, or (outside the payload,
/// where the router never sends what a receiver did not ask for) it holds what `other` has
/// no form for.
fn refused(msg: &Message, other: Codec) -> bool {
    msg.payload().is_some_and(|p| p.refused_by(other).is_some())
}

/// Whether the text of a message holds a string (not bytes) that begins with NUL.
fn has_nul_string(text: &str) -> bool {
    text.match_indices("\"\\0")
        .any(|(i, _)| i == 0 || text.as_bytes()[i - 1] != b'b')
}

fn one_value(codec: Codec, bytes: &[u8]) {
    let Ok(value) = codec.decode_value(bytes) else {
        return;
    };
    let again = codec.encode_value(&value);
    let back = codec.decode_value(&again).unwrap_or_else(|e| {
        panic!(
            "{codec}: the value of {bytes:x?} re-encodes to {again:x?}, which does not decode: {e}"
        )
    });
    assert_eq!(
        text(&value),
        text(&back),
        "{codec}: the value of {bytes:x?} changes through {again:x?}"
    );
}
