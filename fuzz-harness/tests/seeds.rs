//! Writes the seed inputs of every target into `fuzz/corpus/<target>/seed-*`: real messages
//! of each serializer, RawSocket and WebSocket streams, HTTP requests, the configs and key
//! files of the test data. Run by hand when the targets' input formats change:
//! `cargo test -p fuzz-harness --test seeds -- --ignored`, then `fuzz/run.sh` minimizes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use fuzz_harness::support::join_frames;
use router_core::{Codec, Dict, Message, Payload, Value, dict};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = root().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
}

fn with_ctl(ctl: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![ctl];
    v.extend_from_slice(rest);
    v
}

fn codec_index(c: Codec) -> u8 {
    Codec::ALL.iter().position(|x| *x == c).unwrap() as u8
}

fn roles() -> Value {
    let mut d = Dict::new();
    for r in ["caller", "callee", "publisher", "subscriber"] {
        d.insert(
            r.into(),
            Value::Dict(dict! {"features" => Value::Dict(dict! {
            "call_canceling" => true, "progressive_call_results" => true,
            "payload_passthru_mode" => true, "subscriber_blackwhite_listing" => true})}),
        );
    }
    Value::Dict(d)
}

fn hello(extra: Dict) -> Message {
    let mut details = dict! {"roles" => roles()};
    details.extend(extra);
    Message::Hello {
        realm: Some("realm1".into()),
        details,
    }
}

fn rich_args() -> Vec<Value> {
    vec![
        Value::Int(1),
        Value::Int(-7),
        Value::UInt(u64::MAX),
        Value::Float(2.5),
        Value::from("text ü"),
        Value::Bytes(Bytes::from_static(b"\x00\x01\xff")),
        Value::List(vec![Value::Null, Value::Bool(true)]),
        Value::Dict(dict! {"z" => 1, "a" => Value::List(vec![])}),
    ]
}

/// One message of every type.
fn every_message() -> Vec<Message> {
    let p = || Payload::new(rich_args(), dict! {"k" => "v"});
    vec![
        hello(dict! {"authmethods" => Value::List(vec!["anonymous".into()])}),
        Message::Welcome {
            session: 1,
            details: dict! {"realm" => "realm1"},
        },
        Message::Abort {
            details: Dict::new(),
            reason: "wamp.error.no_such_realm".into(),
            payload: Payload::default(),
        },
        Message::Challenge {
            authmethod: "wampcra".into(),
            extra: dict! {"challenge" => "{}"},
        },
        Message::Authenticate {
            signature: "sig".into(),
            extra: Dict::new(),
        },
        Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.normal".into(),
        },
        Message::Error {
            request_type: 48,
            request: 2,
            details: Dict::new(),
            error: "com.e".into(),
            payload: p(),
        },
        Message::Publish {
            request: 3,
            options: dict! {"acknowledge" => true},
            topic: "com.t".into(),
            payload: p(),
        },
        Message::Published {
            request: 3,
            publication: 4,
        },
        Message::Subscribe {
            request: 5,
            options: dict! {"match" => "prefix"},
            topic: "com".into(),
        },
        Message::Subscribed {
            request: 5,
            subscription: 6,
        },
        Message::Unsubscribe {
            request: 7,
            subscription: 6,
        },
        Message::Unsubscribed {
            request: 7,
            details: Dict::new(),
        },
        Message::Event {
            subscription: 6,
            publication: 4,
            details: Dict::new(),
            payload: p(),
        },
        Message::Call {
            request: 8,
            options: dict! {"timeout" => 1000},
            procedure: "com.p".into(),
            payload: p(),
        },
        Message::Cancel {
            request: 8,
            options: dict! {"mode" => "kill"},
        },
        Message::Result {
            request: 8,
            details: Dict::new(),
            payload: p(),
        },
        Message::Register {
            request: 9,
            options: dict! {"invoke" => "roundrobin"},
            procedure: "com.p".into(),
        },
        Message::Registered {
            request: 9,
            registration: 10,
        },
        Message::Unregister {
            request: 11,
            registration: 10,
        },
        Message::Unregistered {
            request: 11,
            details: Dict::new(),
        },
        Message::Invocation {
            request: 12,
            registration: 10,
            details: Dict::new(),
            payload: p(),
        },
        Message::Interrupt {
            request: 12,
            options: Dict::new(),
        },
        Message::Yield {
            request: 12,
            options: dict! {"progress" => true},
            payload: p(),
        },
        Message::Publish {
            request: 13,
            options: dict! {"enc_algo" => "cryptobox", "enc_serializer" => "json"},
            topic: "com.t".into(),
            payload: Payload::transparent(Value::Bytes(Bytes::from_static(b"sealed"))),
        },
    ]
}

#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_seeds() {
    codec_seeds();
    rawsocket_seeds();
    session_seeds();
    websocket_seeds();
    web_seeds();
    config_seeds();
    key_seeds();
    cdc_seeds();
}

fn codec_seeds() {
    for c in Codec::ALL {
        let i = codec_index(c);
        for (n, m) in every_message().iter().enumerate() {
            write(
                "codec_decode",
                &format!("{c}-{n:02}"),
                &with_ctl(i, &c.encode(m)),
            );
        }
        let mut batch = bytes::BytesMut::new();
        for m in every_message().iter().take(4) {
            c.encode_batched_into(m, &mut batch);
        }
        write(
            "codec_decode",
            &format!("{c}-batched"),
            &with_ctl(i | 4, &batch),
        );
    }
    let j = codec_index(Codec::Json);
    for (n, text) in [
        &br#"[48,7,{},"com.p",[NaN,Infinity,-Infinity,1606938044258990275541962092341162602522202993782792835301376,-0.0,1e308],{"k":"\u0000AAE="}]"#[..],
        br#"[16,1,{},"t",[ 1 , 2 ] , { "a" : null }]"#,
        br#"{"not":"a list"}"#,
    ]
    .iter()
    .enumerate()
    {
        write("codec_decode", &format!("json-special-{n}"), &with_ctl(j, text));
    }
    let cb = codec_index(Codec::Cbor);
    // Bignum tags, a typed array, a half float, indefinite lengths.
    write(
        "codec_decode",
        "cbor-tags",
        &with_ctl(
            cb,
            &[
                0x86, 0x18, 48, 1, 0xa0, 0x61, b'p', 0x9f, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                0xc3, 0x42, 1, 0, 0xd8, 0x40, 0x43, 1, 2, 3, 0xf9, 0x3e, 0x00, 0xff, 0xbf, 0x61,
                b'k', 0x5f, 0x41, 1, 0xff, 0xff,
            ],
        ),
    );
    let mp = codec_index(Codec::MsgPack);
    write(
        "codec_decode",
        "msgpack-ext",
        &with_ctl(mp, &[0x95, 48, 1, 0x80, 0xa1, b'p', 0x91, 0xd4, 1, 2]),
    );
    let ub = codec_index(Codec::Ubjson);
    // A high-precision number and a strongly typed byte array.
    write(
        "codec_decode",
        "ubjson-special",
        &with_ctl(ub, b"[U\x10U\x01{}SU\x01p[H\x0212[$U#U\x02\x01\x02]"),
    );
}

fn rs_frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let l = payload.len();
    let mut v = vec![kind, (l >> 16) as u8, (l >> 8) as u8, l as u8];
    v.extend_from_slice(payload);
    v
}

fn rawsocket_seeds() {
    for c in Codec::ALL {
        let mut s = vec![0x7f, 0xf0 | c.rawsocket_id(), 0, 0];
        for m in every_message().iter().take(3) {
            s.extend(rs_frame(0, &c.encode(m)));
        }
        s.extend(rs_frame(1, b"ping!"));
        s.extend(rs_frame(2, b"pong"));
        s.extend(rs_frame(0, b""));
        for (ctl, name) in [
            (0u8, "whole"),
            (0x21, "bytes"),
            (0x62, "3s"),
            (0xe3, "1000s"),
        ] {
            write(
                "rawsocket_frames",
                &format!("{c}-{name}"),
                &with_ctl(ctl, &s),
            );
        }
    }
    let cases: [(&str, &[u8]); 8] = [
        ("bad-magic", b"GET / HTTP/1.1\r\n\r\n"),
        ("reserved", &[0x7f, 0xf1, 0, 1]),
        ("unknown-serializer", &[0x7f, 0xf9, 0, 0]),
        ("short", &[0x7f, 0xf1]),
        (
            "small-peer",
            &[0x7f, 0x01, 0, 0, 0, 0, 0, 3, b'[', b'1', b']'],
        ),
        ("bad-frame-type", &[0x7f, 0xf1, 0, 0, 0x03, 0, 0, 0]),
        ("x-bit", &[0x7f, 0xf1, 0, 0, 0x08, 0, 0, 1, 0]),
        ("truncated", &[0x7f, 0xf2, 0, 0, 0, 0, 0, 9, 1, 2]),
    ];
    for (name, s) in cases {
        write("rawsocket_frames", name, &with_ctl(0, s));
    }
    // Over a 512-byte maximum, and UBJSON to a router without it.
    let mut big = vec![0x7f, 0xf1, 0, 0];
    big.extend(rs_frame(0, &[b' '; 600]));
    write("rawsocket_frames", "too-large", &with_ctl(0, &big));
    write(
        "rawsocket_frames",
        "ubjson-refused",
        &with_ctl(4, &[0x7f, 0xf4, 0, 0]),
    );
}

fn call(request: u64, procedure: &str, args: Vec<Value>) -> Message {
    Message::Call {
        request,
        options: Dict::new(),
        procedure: procedure.into(),
        payload: Payload::args(args),
    }
}

fn session_seeds() {
    let list = |v: &[&str]| Value::List(v.iter().map(|s| Value::from(*s)).collect());
    let big = Value::Tagged(
        2,
        Box::new(Value::Bytes(Bytes::from_static(&[
            1, 0, 0, 0, 0, 0, 0, 0, 0,
        ]))),
    );
    let scripts: Vec<(&str, Vec<Message>)> = vec![
        (
            "anonymous-all",
            vec![
                hello(dict! {"authmethods" => list(&["anonymous"])}),
                Message::Subscribe {
                    request: 1,
                    options: dict! {"get_retained" => true},
                    topic: "com.fuzz.x".into(),
                },
                Message::Publish {
                    request: 2,
                    options: dict! {"acknowledge" => true, "retain" => true, "exclude_me" => false},
                    topic: "com.fuzz.x".into(),
                    payload: Payload::new(rich_args(), dict! {"k" => 1}),
                },
                call(3, "com.fuzz.echo", rich_args()),
                Message::Register {
                    request: 4,
                    options: dict! {"match" => "prefix", "invoke" => "random"},
                    procedure: "com.me".into(),
                },
                call(5, "com.me.x", vec![Value::Int(1)]),
                Message::Yield {
                    request: 1,
                    options: dict! {"progress" => true},
                    payload: Payload::args(vec![Value::Int(2)]),
                },
                Message::Yield {
                    request: 1,
                    options: Dict::new(),
                    payload: Payload::args(vec![Value::Int(3)]),
                },
                Message::Call {
                    request: 6,
                    options: dict! {"receive_progress" => true, "timeout" => 5},
                    procedure: "com.fuzz.queued".into(),
                    payload: Payload::default(),
                },
                Message::Cancel {
                    request: 6,
                    options: dict! {"mode" => "killnowait"},
                },
                Message::Unsubscribe {
                    request: 7,
                    subscription: 1,
                },
                Message::Unregister {
                    request: 8,
                    registration: 1,
                },
                Message::Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.normal".into(),
                },
                hello(Dict::new()),
            ],
        ),
        (
            "ticket-meta",
            vec![
                hello(dict! {"authmethods" => list(&["ticket"]), "authid" => "joe"}),
                Message::Authenticate {
                    signature: "secret!!!".into(),
                    extra: Dict::new(),
                },
                call(1, "wamp.session.count", vec![]),
                call(2, "wamp.session.list", vec![]),
                call(3, "wamp.registration.list", vec![]),
                call(4, "wamp.registration.match", vec!["com.fuzz.echo".into()]),
                call(
                    5,
                    "wamp.subscription.lookup",
                    vec!["com.fuzz.".into(), Value::Dict(dict! {"match" => "prefix"})],
                ),
                call(
                    6,
                    "wamp.subscription.get_events",
                    vec![Value::Int(1), Value::Int(3)],
                ),
                call(7, "wamp.session.get", vec![Value::Int(1)]),
                call(
                    8,
                    "wamp.session.add_testament",
                    vec![
                        "com.fuzz.will".into(),
                        Value::List(vec![]),
                        Value::Dict(Dict::new()),
                    ],
                ),
                call(9, "wamp.session.kill_by_authid", vec!["nobody".into()]),
            ],
        ),
        (
            "ticket-limited",
            vec![
                hello(dict! {"authmethods" => list(&["ticket"]), "authid" => "limited"}),
                Message::Authenticate {
                    signature: "x".into(),
                    extra: Dict::new(),
                },
                call(1, "com.fuzz.echo", vec![]),
                Message::Register {
                    request: 2,
                    options: Dict::new(),
                    procedure: "com.allowed.p".into(),
                },
                Message::Publish {
                    request: 3,
                    options: dict! {"acknowledge" => true},
                    topic: "com.denied".into(),
                    payload: Payload::default(),
                },
            ],
        ),
        (
            "wampcra",
            vec![
                hello(dict! {"authmethods" => list(&["wampcra"]), "authid" => "salty"}),
                Message::Authenticate {
                    signature: "AAAA".into(),
                    extra: Dict::new(),
                },
            ],
        ),
        (
            "cryptosign",
            vec![
                hello(
                    dict! {"authmethods" => list(&["cryptosign"]), "authid" => "dev1",
                    "authextra" => Value::Dict(dict! {"pubkey" => router_core::auth::cryptosign::public_key_hex(&ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])), "channel_binding" => Value::Null, "challenge" => "00".repeat(32)})},
                ),
                Message::Authenticate {
                    signature: "00".repeat(96),
                    extra: Dict::new(),
                },
            ],
        ),
        (
            "scram",
            vec![
                hello(
                    dict! {"authmethods" => list(&["scram"]), "authid" => "scram",
                    "authextra" => Value::Dict(dict! {"nonce" => "AAAAAAAAAAAAAAAA", "channel_binding" => Value::Null})},
                ),
                Message::Authenticate {
                    signature: "AAAA".into(),
                    extra: dict! {"nonce" => "AAAA", "channel_binding" => Value::Null, "cbind_data" => ""},
                },
            ],
        ),
        (
            "violations",
            vec![Message::Welcome {
                session: 1,
                details: Dict::new(),
            }],
        ),
        (
            "violations-joined",
            vec![
                hello(Dict::new()),
                Message::Event {
                    subscription: 1,
                    publication: 2,
                    details: Dict::new(),
                    payload: Payload::default(),
                },
            ],
        ),
        (
            "bignum-to-peer",
            vec![
                hello(Dict::new()),
                call(1, "com.fuzz.echo", vec![big.clone()]),
                Message::Publish {
                    request: 2,
                    options: dict! {"acknowledge" => true},
                    topic: "com.fuzz.big".into(),
                    payload: Payload::args(vec![big]),
                },
            ],
        ),
        (
            "ppt",
            vec![
                hello(Dict::new()),
                Message::Call {
                    request: 1,
                    options: dict! {"ppt_scheme" => "x_custom", "ppt_serializer" => "cbor"},
                    procedure: "com.fuzz.echo".into(),
                    payload: Payload::transparent(Value::Bytes(Bytes::from_static(b"\x01\x02"))),
                },
                Message::Publish {
                    request: 2,
                    options: dict! {"enc_algo" => "cryptobox", "acknowledge" => true},
                    topic: "com.fuzz.e2e".into(),
                    payload: Payload::transparent(Value::Bytes(Bytes::from_static(b"sealed"))),
                },
            ],
        ),
    ];
    for c in Codec::ALL {
        let i = codec_index(c);
        let peer = (i + 1) % 4;
        for (name, script) in &scripts {
            let frames: Vec<Bytes> = script.iter().map(|m| c.encode(m)).collect();
            write(
                "session_messages",
                &format!("{c}-{name}"),
                &with_ctl(i | peer << 2, &join_frames(&frames)),
            );
        }
    }
    // JSON integers beyond 64 bits from a JSON caller to a MessagePack callee (refused).
    let json = br#"[1,"realm1",{"roles":{"caller":{}}}]"#;
    let big_call = br#"[48,1,{},"com.fuzz.echo",[18446744073709551616]]"#;
    write(
        "session_messages",
        "json-bignum-to-msgpack",
        &with_ctl(
            codec_index(Codec::Json) | codec_index(Codec::MsgPack) << 2,
            &join_frames(&[&json[..], &big_call[..]]),
        ),
    );
}

fn ws_frame(opcode: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![(if fin { 0x80 } else { 0 }) | (if rsv1 { 0x40 } else { 0 }) | opcode];
    let l = payload.len();
    if l < 126 {
        v.push(0x80 | l as u8);
    } else {
        v.push(0x80 | 126);
        v.extend_from_slice(&(l as u16).to_be_bytes());
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

fn upgrade(path: &str, protocols: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\nOrigin: http://localhost\r\n{extra}\r\n"
    )
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    let mut out = e.finish().unwrap();
    // RFC 7692: the sender removes the final empty block's 00 00 ff ff.
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

/// A WebSocket session: the upgrade, then HELLO, a call, a ping, a close.
fn ws_stream(c: Codec, batched: bool, compressed: bool) -> Vec<u8> {
    let ext = if compressed {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    let mut s = upgrade("/ws", c.subprotocol(batched), ext).into_bytes();
    let opcode = if c.is_binary() { 2 } else { 1 };
    for m in [hello(Dict::new()), call(1, "com.fuzz.echo", rich_args())] {
        let mut body = bytes::BytesMut::new();
        if batched {
            c.encode_batched_into(&m, &mut body);
        } else {
            c.encode_into(&m, &mut body);
        }
        let body = if compressed {
            deflate(&body)
        } else {
            body.to_vec()
        };
        s.extend(ws_frame(opcode, true, compressed, &body));
    }
    s.extend(ws_frame(9, true, false, b"ping"));
    s.extend(ws_frame(8, true, false, &[0x03, 0xe8]));
    s
}

fn websocket_seeds() {
    for c in Codec::ALL {
        for (batched, compressed) in [(false, false), (true, false), (false, true)] {
            let name = format!(
                "{c}{}{}",
                if batched { "-batched" } else { "" },
                if compressed { "-deflate" } else { "" }
            );
            write(
                "websocket_handshake",
                &name,
                &with_ctl(0, &ws_stream(c, batched, compressed)),
            );
        }
    }
    let mut fragmented = upgrade("/", "wamp.2.json", "").into_bytes();
    let hello = Codec::Json.encode(&hello(Dict::new()));
    let (a, b) = hello.split_at(5);
    fragmented.extend(ws_frame(1, false, false, a));
    fragmented.extend(ws_frame(9, true, false, b""));
    fragmented.extend(ws_frame(0, true, false, b));
    write(
        "websocket_handshake",
        "fragmented-bytes",
        &with_ctl(1, &fragmented),
    );
    for (name, req) in [
        ("plain-get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned()),
        ("no-protocol", upgrade("/", "", "")),
        (
            "unknown-protocol",
            upgrade("/", "wamp.2.flatbuffers, mqtt", ""),
        ),
        (
            "bad-version",
            upgrade("/", "wamp.2.json", "Sec-WebSocket-Version: 8\r\n"),
        ),
        (
            "deflate-params",
            upgrade(
                "/",
                "wamp.2.cbor",
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=9, permessage-deflate\r\n",
            ),
        ),
        (
            "cookie",
            upgrade("/", "wamp.2.json", "Cookie: cbtid=abc; other=1\r\n"),
        ),
    ] {
        write("websocket_handshake", name, &with_ctl(0, req.as_bytes()));
    }
}

fn http(method: &str, path: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn web_seeds() {
    let json = "Content-Type: application/json\r\n";
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("root", http("GET", "/", "", "")),
        ("index", http("GET", "/index.html", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n", "")),
        ("listing", http("GET", "/sub/", "", "")),
        ("encoded", http("GET", "/a%20b.txt", "Range: bytes=1-3\r\n", "")),
        ("traversal", http("GET", "/../../etc/passwd", "", "")),
        ("spa", http("GET", "/spa/some/route?x=1", "", "")),
        ("json", http("GET", "/json", "", "")),
        ("redirect", http("GET", "/go", "", "")),
        ("info", http("GET", "/info", "", "")),
        ("nested", http("GET", "/nested/deep", "", "")),
        ("none", http("GET", "/none", "", "")),
        ("publish", http("POST", "/publish", json, r#"{"topic": "com.fuzz.t", "args": [1, "x"], "kwargs": {"a": null}, "options": {"exclude_me": true}}"#)),
        ("call", http("POST", "/call", json, r#"{"procedure": "com.fuzz.echo", "args": [2, 3], "kwargs": {"k": [1]}}"#)),
        ("call-missing", http("POST", "/call", json, r#"{"procedure": "com.fuzz.nope"}"#)),
        ("signed", http("POST", "/signed?key=key1&timestamp=2011-10-14T16:59:51.123Z&seq=1&nonce=2&signature=abc", json, r#"{"procedure": "com.fuzz.echo"}"#)),
        ("hook", http("POST", "/hook", "X-Hub-Signature: sha1=00\r\n", "payload")),
        ("preflight", http("OPTIONS", "/call", "Origin: http://x\r\nAccess-Control-Request-Method: POST\r\n", "")),
        ("lp-open", http("POST", "/lp/open", json, r#"{"protocols": ["wamp.2.json"]}"#)),
        ("lp-send", http("POST", "/lp/abcdefabcdef/send", json, r#"[1,"realm1",{"roles":{"caller":{}}}]"#)),
        ("wap", http("GET", "/app/hello/joe/3", "Accept: text/html\r\n", "")),
        ("wap-float", http("GET", "/app/f/1.5/a/b", "", "")),
        ("wap-post", http("POST", "/app/post", "Content-Type: application/x-www-form-urlencoded\r\n", "name=x&n=2")),
        ("proxy", http("GET", "/proxy/x?y=1", "", "")),
        ("chunked", b"POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"top\r\n0\r\n\r\n".to_vec()),
        ("pipelined", [http("GET", "/json", "", ""), http("HEAD", "/", "", ""), http("DELETE", "/call", "", "")].concat()),
        ("ws-path", ws_stream(Codec::Json, false, false)),
    ];
    for (name, req) in requests {
        write("web_request", name, &with_ctl(0, &req));
    }
    // The universal transport: RawSocket, MQTT, a WebSocket item, HTTP.
    let mut rs = vec![0x7f, 0xf2, 0, 0];
    rs.extend(rs_frame(0, &Codec::MsgPack.encode(&hello(Dict::new()))));
    write("web_request", "universal-rawsocket", &with_ctl(0x80, &rs));
    let mqtt: &[u8] = &[
        0x10, 0x0f, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 3, b'a', b'b',
        b'c', // CONNECT
        0x82, 0x0a, 0, 1, 0, 5, b'a', b'/', b'b', b'/', b'c', 1, // SUBSCRIBE a/b/c QoS 1
        0x32, 0x0b, 0, 5, b'a', b'/', b'b', b'/', b'c', 0, 2, b'h', b'i', // PUBLISH QoS 1
        0xc0, 0, // PINGREQ
        0xe0, 0, // DISCONNECT
    ];
    write("web_request", "universal-mqtt", &with_ctl(0x80, mqtt));
    let mut ws = ws_stream(Codec::Cbor, false, false);
    let at = b"GET /ws ".len();
    ws.splice(..at, b"GET /ws2 ".iter().copied());
    write("web_request", "universal-ws", &with_ctl(0x80, &ws));
    write(
        "web_request",
        "universal-http",
        &with_ctl(0x80, &http("GET", "/json", "", "")),
    );
}

fn config_seeds() {
    let files = [
        "agent/src/config/default_config.json",
        "agent/tests/data/full.json",
        "agent/tests/data/edge-extensions.json",
        "agent/tests/data/crossbar-init/config.json",
        "router-core/tests/data/cbinit_config.json",
        "tests/data/interop-config.json",
        "tests/data/mqtt-config.json",
    ];
    for f in files {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        let name = f.replace('/', "_");
        write("config_json", &name, text.as_bytes());
        let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
        write(
            "config_yaml",
            &name.replace(".json", ".yaml"),
            serde_yaml::to_string(&tree).unwrap().as_bytes(),
        );
    }
    let yaml = std::fs::read(root().join("agent/tests/data/full.yaml")).unwrap();
    write("config_yaml", "agent_tests_data_full.yaml", &yaml);
    write("config_json", "env", br#"{"version": 2, "controller": {"id": "${FUZZ_NODE:-node1}"}, "workers": [{"type": "router", "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": "${FUZZ_PORT}"}, "auth": {"ticket": {"type": "static", "principals": {"u": {"ticket": "${FUZZ_SECRET}", "role": "r"}}}}}]}]}"#);
    write("config_yaml", "anchors", b"version: 2\ncontroller: &c {id: node1}\nworkers:\n  - type: guest\n    executable: /bin/true\n    options: {env: {vars: {A: '1'}}}\n");
}

fn key_seeds() {
    let dir = root().join("agent/tests/data/crossbar-init");
    let private = std::fs::read(dir.join("key.priv")).unwrap();
    let public = std::fs::read(dir.join("key.pub")).unwrap();
    write(
        "key_file",
        "crossbar-init",
        &[&private[..], b"\0", &public[..]].concat(),
    );
    write("key_file", "crossbar-init-no-pub", &private);
    let text = String::from_utf8(private).unwrap();
    let legacy: String = text
        .lines()
        .filter(|l| !l.contains("eth"))
        .map(|l| format!("{l}\n"))
        .collect();
    write("key_file", "legacy-no-eth", legacy.as_bytes());
    write(
        "key_file",
        "duplicate",
        format!("{text}creator: again\n").as_bytes(),
    );
}

fn cdc_seeds() {
    let cases = [
        serde_json::json!([["node1", "worker1", "realm1"], {"role_id": "role1"}]),
        serde_json::json!([["node1"], {"worker_id": "w1", "config": {"type": "router"}, "limit": 5, "kill": true}]),
        serde_json::json!([["node1", "router1", "transport1", "/ws", {"type": "websocket"}], {}]),
        serde_json::json!([[null, "", 1.5, -1, 18446744073709551615u64], {"node_id": "x y", "path": "a/b"}]),
        serde_json::json!(["node1", "worker1"]),
    ];
    for (n, v) in cases.iter().enumerate() {
        let v = Value::from(v.clone());
        for c in Codec::ALL {
            write(
                "cdc_args",
                &format!("{c}-{n}"),
                &with_ctl(codec_index(c), &c.encode_value(&v)),
            );
        }
    }
}
