//! Publish and subscribe through the client library against an in-process router: pattern
//! subscriptions, publisher exclusion, acknowledgements, black/white listing, unsubscribing,
//! and a flood that must not deadlock an in-process session.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{bounded, join, next_event, router};
use router_core::client::{Event, PublishOptions, Session, SubscribeOptions};
use router_core::uri::MatchPolicy;
use router_core::{Dict, Value};
use tokio::sync::{Notify, mpsc};

async fn stream(s: &Session, topic: &str, policy: MatchPolicy) -> mpsc::Receiver<Event> {
    let opts = SubscribeOptions {
        match_: policy,
        ..Default::default()
    };
    bounded(s.subscribe_stream(topic, opts, 64))
        .await
        .unwrap()
        .1
}

async fn publish(s: &Session, topic: &str, n: i64, opts: PublishOptions) {
    let opts = PublishOptions {
        acknowledge: true,
        ..opts
    };
    bounded(s.publish(topic, vec![Value::Int(n)], Dict::new(), opts))
        .await
        .unwrap();
}

/// The first argument of the next events, up to and including `last`.
async fn numbers_until(rx: &mut mpsc::Receiver<Event>, last: i64) -> Vec<i64> {
    let mut out = Vec::new();
    loop {
        let ev = next_event(rx).await;
        let n = ev.args.first().and_then(Value::as_i64).unwrap_or(-1);
        out.push(n);
        if n == last {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_prefix_and_wildcard_subscriptions() {
    let router = router();
    let sub = join(&router, "sub", "app").await;
    let publ = join(&router, "pub", "app").await;
    let mut exact = stream(&sub, "com.t.x", MatchPolicy::Exact).await;
    let mut prefix = stream(&sub, "com.t.", MatchPolicy::Prefix).await;
    let mut wild = stream(&sub, "com..x", MatchPolicy::Wildcard).await;
    publish(&publ, "com.t.x", 1, PublishOptions::default()).await;
    publish(&publ, "com.t.y", 2, PublishOptions::default()).await;
    publish(&publ, "com.q.x", 3, PublishOptions::default()).await;
    publish(&publ, "com.t.x", 4, PublishOptions::default()).await;
    let e = next_event(&mut exact).await;
    assert_eq!(e.topic(), None, "exact subscriptions get no topic detail");
    assert_eq!(e.publisher(), Some(publ.session_id()));
    assert_eq!(numbers_until(&mut exact, 4).await, vec![4]);
    let e = next_event(&mut prefix).await;
    assert_eq!(e.topic(), Some("com.t.x"));
    let e = next_event(&mut prefix).await;
    assert_eq!(e.topic(), Some("com.t.y"));
    assert_eq!(numbers_until(&mut prefix, 4).await, vec![4]);
    let e = next_event(&mut wild).await;
    assert_eq!(e.topic(), Some("com.t.x"));
    let e = next_event(&mut wild).await;
    assert_eq!(e.topic(), Some("com.q.x"));
    assert_eq!(numbers_until(&mut wild, 4).await, vec![4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_exclusion() {
    let router = router();
    let a = join(&router, "a", "app").await;
    let b = join(&router, "b", "app").await;
    let mut a_rx = stream(&a, "com.ex", MatchPolicy::Exact).await;
    let mut b_rx = stream(&b, "com.ex", MatchPolicy::Exact).await;
    publish(&a, "com.ex", 1, PublishOptions::default()).await;
    let me_too = PublishOptions {
        exclude_me: false,
        ..Default::default()
    };
    publish(&a, "com.ex", 2, me_too).await;
    assert_eq!(numbers_until(&mut a_rx, 2).await, vec![2]);
    assert_eq!(numbers_until(&mut b_rx, 2).await, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_publish() {
    let router = router();
    let a = join(&router, "a", "app").await;
    let b = join(&router, "b", "app").await;
    let mut rx = stream(&b, "com.ack", MatchPolicy::Exact).await;
    let id = bounded(a.publish(
        "com.ack",
        vec!["x".into()],
        router_core::dict! {"k" => 1},
        PublishOptions::acknowledged(),
    ))
    .await
    .unwrap()
    .expect("a publication id");
    let ev = next_event(&mut rx).await;
    assert_eq!(ev.publication, id);
    assert_eq!(ev.args, vec![Value::from("x")]);
    assert_eq!(ev.kwargs, router_core::dict! {"k" => 1});
    // Unacknowledged publications report nothing.
    let none = bounded(a.publish("com.ack", vec![], Dict::new(), PublishOptions::default()))
        .await
        .unwrap();
    assert_eq!(none, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_and_white_listing() {
    let router = router();
    let s1 = join(&router, "alice", "app").await;
    let s2 = join(&router, "bob", "app").await;
    let s3 = join(&router, "carol", "app2").await;
    let p = join(&router, "publisher", "app").await;
    let mut r1 = stream(&s1, "com.bw", MatchPolicy::Exact).await;
    let mut r2 = stream(&s2, "com.bw", MatchPolicy::Exact).await;
    let mut r3 = stream(&s3, "com.bw", MatchPolicy::Exact).await;
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases = [
        PublishOptions {
            exclude: vec![s1.session_id()],
            ..Default::default()
        },
        PublishOptions {
            eligible: Some(vec![s1.session_id()]),
            ..Default::default()
        },
        PublishOptions {
            exclude_authid: strs(&["bob"]),
            ..Default::default()
        },
        PublishOptions {
            eligible_authid: Some(strs(&["bob"])),
            ..Default::default()
        },
        PublishOptions {
            exclude_authrole: strs(&["app2"]),
            ..Default::default()
        },
        PublishOptions {
            eligible_authrole: Some(strs(&["app2"])),
            ..Default::default()
        },
        PublishOptions::default(),
    ];
    for (i, opts) in cases.into_iter().enumerate() {
        publish(&p, "com.bw", i as i64 + 1, opts).await;
    }
    assert_eq!(numbers_until(&mut r1, 7).await, vec![2, 3, 5, 7]);
    assert_eq!(numbers_until(&mut r2, 7).await, vec![1, 4, 5, 7]);
    assert_eq!(numbers_until(&mut r3, 7).await, vec![1, 3, 6, 7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_handlers_and_errors() {
    let router = router();
    let s = join(&router, "s", "app").await;
    let p = join(&router, "p", "app").await;
    let opts = SubscribeOptions::default();
    let (sub1, mut rx1) = bounded(s.subscribe_stream("com.u", opts, 8)).await.unwrap();
    let (sub2, mut rx2) = bounded(s.subscribe_stream("com.u", opts, 8)).await.unwrap();
    assert_eq!(sub1.id, sub2.id, "one router subscription, two handlers");
    publish(&p, "com.u", 1, PublishOptions::default()).await;
    assert_eq!(numbers_until(&mut rx1, 1).await, vec![1]);
    assert_eq!(numbers_until(&mut rx2, 1).await, vec![1]);
    bounded(s.unsubscribe(&sub1)).await.unwrap();
    publish(&p, "com.u", 2, PublishOptions::default()).await;
    assert_eq!(numbers_until(&mut rx2, 2).await, vec![2]);
    // The first handler is gone: its stream ended.
    assert!(bounded(rx1.recv()).await.is_none());
    bounded(s.unsubscribe(&sub2)).await.unwrap();
    let e = bounded(s.unsubscribe(&sub2)).await.unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.no_such_subscription"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_flood_does_not_deadlock_in_process_sessions() {
    const N: usize = 30_000;
    let router = router();
    let sub = join(&router, "sub", "app").await;
    let publ = join(&router, "pub", "app").await;
    let count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let (c, d) = (count.clone(), done.clone());
    bounded(
        sub.subscribe("com.flood", SubscribeOptions::default(), move |_ev| {
            if c.fetch_add(1, Ordering::Relaxed) + 1 == N {
                d.notify_one();
            }
        }),
    )
    .await
    .unwrap();
    // Both ways at once: the subscriber publishes back while it is flooded.
    let back = tokio::spawn({
        let sub = sub.clone();
        async move {
            for i in 0..2_000 {
                sub.publish(
                    "com.back",
                    vec![Value::Int(i)],
                    Dict::new(),
                    Default::default(),
                )
                .await
                .unwrap();
            }
        }
    });
    bounded(async {
        for i in 0..N {
            publ.publish(
                "com.flood",
                vec![Value::Int(i as i64)],
                Dict::new(),
                PublishOptions::default(),
            )
            .await
            .unwrap();
        }
    })
    .await;
    bounded(done.notified()).await;
    assert_eq!(count.load(Ordering::Relaxed), N);
    bounded(back).await.unwrap();
}
