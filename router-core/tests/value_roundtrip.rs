//! Property tests of values across the serializers (docs/features.md, section Serializers):
//! any `Value` tree — integers of every width including bignums, every float (NaN, the
//! infinities, -0.0, subnormals), text, bytes, lists, dicts in insertion order, CBOR tags —
//! survives a round trip through each serializer that can carry it; what one cannot carry
//! (MessagePack: integers beyond 64 bits) is reported by `refused_by`, and nothing else is.
//! The same holds for the arguments of a routed message, kept as the sender's bytes
//! (`Codec::decode_routed`): their `refused_by` agrees with that of the decoded arguments,
//! and what a receiver of another serializer gets is what the sender sent.
//!
//! What the serializers do to a value by convention, and so by design, is the expected
//! outcome here: a receiver other than CBOR gets a CBOR tag's value without the tag (a
//! bignum stays the integer it is). Strings that begin with NUL are left out of the
//! generator: in JSON such a string followed by base64 *is* binary (autobahn's convention), so
//! no JSON peer can tell them apart.

use bytes::Bytes;
use proptest::prelude::*;
use router_core::{Codec, Dict, Message, Payload, Value};

/// A CBOR bignum as every decoder builds one: tag 2 holds n ≥ 2⁶⁴, tag 3 holds -1 - n for n ≤
/// -2⁶³ - 1, as minimal big-endian bytes (smaller integers are `Int` or `UInt`).
fn bignum() -> impl Strategy<Value = Value> {
    (any::<bool>(), 8usize..=24, any::<[u8; 24]>()).prop_map(|(negative, len, bytes)| {
        let mut m = bytes[..len].to_vec();
        // At least 2⁶⁴ for a positive one, 2⁶³ for a negative one; no leading zero.
        if negative && len == 8 {
            m[0] |= 0x80;
        } else if len == 8 {
            m.insert(0, 1);
        } else if m[0] == 0 {
            m[0] = 1;
        }
        Value::Tagged(
            if negative { 3 } else { 2 },
            Box::new(Value::Bytes(Bytes::from(m))),
        )
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
        // Near the edges of the 64-bit ranges, where a reader picks a wider or narrower type.
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1), Just(0)].prop_map(Value::Int),
        bignum(),
        any::<f64>().prop_map(Value::Float),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(f64::MIN_POSITIVE / 2.0),
            Just(1e300),
            Just(0.1),
        ]
        .prop_map(Value::Float),
        "[^\u{0}].{0,12}|".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(|b| Value::Bytes(Bytes::from(b))),
    ]
}

/// Any value: lists and dicts nested a few levels; with `tags`, CBOR tags other than the
/// bignum ones (a typed array, a date) around any value.
fn value(tags: bool) -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, move |inner| {
        let tagged = inner
            .clone()
            .prop_map(|v| Value::Tagged(64, Box::new(v)))
            .boxed();
        let mut options = vec![
            proptest::collection::vec(inner.clone(), 0..6)
                .prop_map(Value::List)
                .boxed(),
            proptest::collection::vec((".{0,8}", inner.clone()), 0..6)
                .prop_map(|kv| Value::Dict(kv.into_iter().collect()))
                .boxed(),
        ];
        if tags {
            options.push(tagged);
        }
        proptest::strategy::Union::new(options)
    })
}

/// Equality as the protocol sees it: every NaN is the same NaN.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        (Value::Tagged(t, x), Value::Tagged(u, y)) => t == u && same(x, y),
        _ => a == b,
    }
}

/// What a receiver of `codec` gets for `v` by the documented conventions: CBOR keeps every
/// tag; the others drop the tags that are not bignums.
fn expected(v: &Value, codec: Codec) -> Value {
    match v {
        Value::Tagged(2 | 3, _) => v.clone(),
        Value::Tagged(t, inner) if codec == Codec::Cbor => {
            Value::Tagged(*t, Box::new(expected(inner, codec)))
        }
        Value::Tagged(_, inner) => expected(inner, codec),
        Value::List(l) => Value::List(l.iter().map(|x| expected(x, codec)).collect()),
        Value::Dict(d) => Value::Dict(
            d.iter()
                .map(|(k, x)| (k.clone(), expected(x, codec)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn call(v: &Value) -> Message {
    let mut kwargs = Dict::new();
    kwargs.insert("k".into(), v.clone());
    Message::Call {
        request: 1,
        options: Dict::new(),
        procedure: "com.example.p".into(),
        payload: Payload::new(vec![v.clone(), Value::Int(7)], kwargs),
    }
}

fn args_of(m: &Message) -> Value {
    let p = m
        .payload()
        .expect("a CALL has a payload")
        .clone()
        .into_decoded();
    Value::List(vec![Value::List(p.args), Value::Dict(p.kwargs)])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Each serializer carries every value it does not refuse, unaltered; it refuses exactly
    /// the values it would alter.
    #[test]
    fn a_value_survives_every_serializer_that_does_not_refuse_it(v in value(true)) {
        for codec in Codec::ALL {
            let refused = v.refused_by(codec);
            let back = codec.decode_value(&codec.encode_value(&v));
            let want = expected(&v, codec);
            match (refused, back) {
                (None, Ok(back)) => prop_assert!(
                    same(&back, &want), "{codec} altered {v:?} into {back:?}"),
                (None, Err(e)) => prop_assert!(false, "{codec} cannot read back {v:?}: {e}"),
                (Some(why), Ok(back)) => prop_assert!(
                    !same(&back, &want), "{codec} refuses {v:?} ({why}) but carries it"),
                (Some(_), Err(_)) => {}
            }
        }
    }

    /// A message's arguments, decoded or kept as the sender's bytes, reach a receiver of any
    /// serializer as sent, or the payload's `refused_by` names what that one cannot carry.
    #[test]
    fn routed_arguments_reach_every_receiver_or_are_refused(v in value(true)) {
        for from in Codec::ALL {
            // What the sender's serializer itself carries (a tag from a non-CBOR sender is
            // already gone): the other test covers that step.
            if v.refused_by(from).is_some() {
                continue;
            }
            let sent = expected(&v, from);
            let frame = from.encode(&call(&sent));
            let routed = from.decode_routed(&frame).expect("the sender's frame decodes");
            let decoded = routed.clone().into_decoded();
            let raw = routed.payload().expect("payload");
            for to in Codec::ALL {
                let by_raw = raw.refused_by(to);
                let by_value = decoded.payload().expect("payload").refused_by(to);
                prop_assert_eq!(by_raw.is_some(), by_value.is_some(),
                    "{} -> {}: refused_by disagrees for raw and decoded {:?}", from, to, sent);
                if by_raw.is_some() {
                    continue;
                }
                let out = to.encode(&routed);
                let got = to.decode(&out).map_err(|e| TestCaseError::fail(format!(
                    "{from} -> {to}: {sent:?} is written as {out:x?}, which does not decode: {e}")))?;
                let want = expected(&args_of(&call(&sent)), to);
                let got = args_of(&got);
                prop_assert!(same(&got, &want), "{} -> {}: {:?} arrives as {:?}", from, to, want, got);
            }
        }
    }
}

/// The documented cases by name, so a regression says which rule it broke.
#[test]
fn documented_cases() {
    // MessagePack refuses integers beyond 64 bits, from every other serializer.
    let big = Value::Tagged(
        3,
        Box::new(Value::Bytes(Bytes::from_static(&[
            0x80, 0, 0, 0, 0, 0, 0, 0,
        ]))),
    );
    assert_eq!(
        big.refused_by(Codec::MsgPack),
        Some("an integer beyond 64 bits")
    );
    for c in [Codec::Json, Codec::Cbor, Codec::Ubjson] {
        assert_eq!(big.refused_by(c), None);
        let back = c.decode_value(&c.encode_value(&big)).unwrap();
        assert!(same(&back, &big), "{c}: {back:?}");
    }
    // -2⁶³ - 1 in JSON (19 digits) is the integer, as Python's json reads it.
    let v = Codec::Json.decode_value(b"[-9223372036854775809]").unwrap();
    assert!(same(&v, &Value::List(vec![big])), "{v:?}");
}

/// Found by the property tests above: ciborium turns a bignum of at most 16 bytes into a
/// 128-bit integer before the value visitor sees it, and refused -1 - n for n ≥ 2¹²⁷
/// ("integer too large"), so a CBOR peer's -2¹²⁷ - 1 … -2¹²⁸ (a valid bignum, which this
/// router itself writes for a JSON sender's integer) closed its session (`cbor::from_item`).
#[test]
fn cbor_reads_negative_bignums_of_128_bits() {
    let mut frame = vec![0x81, 0xc3, 0x50, 0x80];
    frame.extend_from_slice(&[0u8; 15]);
    let v = Codec::Cbor
        .decode_value(&frame)
        .expect("-2^127 - 1 decodes");
    let json = Codec::Json
        .decode_value(b"[-170141183460469231731687303715884105729]")
        .unwrap();
    assert!(same(&v, &json), "{v:?} / {json:?}");
}
