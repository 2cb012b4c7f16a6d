//! One subscriber that stops reading must not hold up the others: the publisher keeps being
//! read, every other subscriber gets every event, and the stuck one is closed once its queue
//! is past its bound (real RawSocket connections on loopback).

mod transport_common;
use transport_common as common;

use std::time::{Duration, Instant};

use common::*;
use router_core::transport::rawsocket::{self, RawSocketReader, RawSocketWriter};
use router_core::transport::wire::{WireRead, WireWrite};
use router_core::{Codec, Message, Payload, Value, dict};
use serde_json::json;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;

type Reader = RawSocketReader<ReadHalf<TcpStream>, WriteHalf<TcpStream>>;
type Writer = RawSocketWriter<WriteHalf<TcpStream>>;

const TOPIC: &str = "com.example.firehose";
const CODEC: Codec = Codec::MsgPack;
/// More events than a stuck receiver may hold (its queue, its overflow and the socket
/// buffers), so it must be closed before the publisher is done.
const EVENTS: usize = 24_000;

async fn joined(port: u16) -> (Reader, Writer) {
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut c = rawsocket::connect(s, CODEC, rawsocket::MAX_LENGTH)
        .await
        .unwrap();
    join(&mut c.reader, &mut c.writer, CODEC).await;
    (c.reader, c.writer)
}

async fn subscribed(port: u16) -> (Reader, Writer) {
    let (mut r, mut w) = joined(port).await;
    let sub = Message::Subscribe {
        request: 1,
        options: dict! {},
        topic: TOPIC.into(),
    };
    w.write_frames(&[CODEC.encode(&sub)]).await.unwrap();
    match read_msg(&mut r, CODEC).await {
        Message::Subscribed { .. } => (r, w),
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_subscriber_does_not_hold_up_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let r = router();
    let t = start(
        &r,
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": 0}}),
        dir.path(),
    )
    .await;
    let port = t.local_addr().port().unwrap();

    // Subscribes, then never reads again (its connection stays open).
    let (mut stuck_r, _stuck_w) = subscribed(port).await;
    let (mut good_r, _good_w) = subscribed(port).await;
    let good = tokio::spawn(async move {
        let mut n = 0;
        while n < EVENTS {
            let frame = tokio::time::timeout(Duration::from_secs(5), good_r.read_frame())
                .await
                .unwrap_or_else(|_| panic!("no event for 5 s after {n} events"))
                .unwrap()
                .expect("the good subscriber was closed");
            match CODEC.decode(&frame).unwrap() {
                Message::Event { .. } => n += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        n
    });

    let (_pub_r, mut pub_w) = joined(port).await;
    let blob = Value::Bytes(vec![7u8; 2048].into());
    let started = Instant::now();
    for i in 0..EVENTS {
        let publish = Message::Publish {
            request: i as u64 + 1,
            options: dict! {},
            topic: TOPIC.into(),
            payload: Payload::args(vec![Value::from(i as u64), blob.clone()]),
        };
        tokio::time::timeout(
            Duration::from_secs(5),
            pub_w.write_frames(&[CODEC.encode(&publish)]),
        )
        .await
        .unwrap_or_else(|_| panic!("the router stopped reading the publisher at event {i}"))
        .unwrap();
    }
    let received = tokio::time::timeout(Duration::from_secs(30), good)
        .await
        .expect("the good subscriber did not get every event")
        .unwrap();
    assert_eq!(received, EVENTS);
    // Well below the 20 s a stuck receiver used to hold its publisher up.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(12), "took {took:?}");

    // The stuck subscriber was closed: reading what it was sent ends in ABORT/GOODBYE or EOF.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stuck_r.read_frame().await {
                Ok(Some(frame)) => match CODEC.decode(&frame) {
                    Ok(Message::Event { .. }) => continue,
                    _ => return,
                },
                _ => return,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stuck subscriber was never closed");
    assert_eq!(
        r.realm("realm1").unwrap().sessions(None).len(),
        2,
        "the publisher and the good subscriber remain"
    );
    t.stop().await;
}
