//! A realm shared by two routers over an in-memory bus (`router_core::cluster`): events
//! published on one reach the subscribers of the other with the broker's own matching,
//! black/white lists, disclosure and retention, in order; testaments travel too; frames that
//! cannot be read are dropped and counted.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{bounded, join, next_event, router};
use router_core::Value;
use router_core::client::{PublishOptions, SubscribeOptions};
use router_core::cluster::{ClusterBus, ClusterLink};
use router_core::uri::MatchPolicy;
use router_core::{Router, dict};
use tokio::sync::mpsc;

/// Frames of one member, delivered to the other's link by a task (in order).
struct MemBus(mpsc::UnboundedSender<Bytes>);

impl ClusterBus for MemBus {
    fn broadcast(&self, frame: Bytes) {
        let _ = self.0.send(frame);
    }
}

/// Two routers sharing `realm1`, each delivering what the other publishes.
fn pair() -> (Arc<Router>, Arc<Router>, Arc<ClusterLink>, Arc<ClusterLink>) {
    let (a, b) = (router(), router());
    let (to_b, mut at_b) = mpsc::unbounded_channel();
    let (to_a, mut at_a) = mpsc::unbounded_channel();
    let realm = |r: &Arc<Router>| r.realm("realm1").expect("realm1");
    let link_a = realm(&a)
        .attach_cluster("a".into(), Arc::new(MemBus(to_b)))
        .unwrap();
    let link_b = realm(&b)
        .attach_cluster("b".into(), Arc::new(MemBus(to_a)))
        .unwrap();
    for (link, rx) in [(link_b.clone(), &mut at_b), (link_a.clone(), &mut at_a)] {
        let mut rx = std::mem::replace(rx, mpsc::unbounded_channel().1);
        tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                link.on_frame(f).await;
            }
        });
    }
    (a, b, link_a, link_b)
}

fn opts(policy: MatchPolicy) -> SubscribeOptions {
    SubscribeOptions {
        match_: policy,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_members_with_matching_filters_and_disclosure() {
    let (a, b, link_a, link_b) = pair();
    let publisher = join(&a, "alice", "app").await;
    let bob = join(&b, "bob", "app2").await;
    let carol = join(&b, "carol", "app").await;
    let sub = |s: &router_core::client::Session, topic: &'static str, p: MatchPolicy| {
        let s = s.clone();
        async move {
            bounded(s.subscribe_stream(topic, opts(p), 64))
                .await
                .unwrap()
                .1
        }
    };
    let mut exact = sub(&bob, "com.example.topic", MatchPolicy::Exact).await;
    let mut prefix = sub(&bob, "com.ex", MatchPolicy::Prefix).await;
    let mut wildcard = sub(&bob, "com..topic", MatchPolicy::Wildcard).await;
    let mut carols = sub(&carol, "com.example.topic", MatchPolicy::Exact).await;

    bounded(publisher.publish(
        "com.example.topic",
        vec![1.into(), "two".into()],
        dict! {"k" => Value::from(3)},
        PublishOptions::default(),
    ))
    .await
    .unwrap();
    for rx in [&mut exact, &mut prefix, &mut wildcard, &mut carols] {
        let ev = next_event(rx).await;
        assert_eq!(ev.args, vec![Value::from(1), Value::from("two")]);
        assert_eq!(ev.kwargs.get("k"), Some(&Value::from(3)));
        // The role discloses publishers: the publisher on the other member is named.
        assert_eq!(
            ev.details.get("publisher_authid"),
            Some(&Value::from("alice"))
        );
        assert_eq!(
            ev.details.get("publisher_authrole"),
            Some(&Value::from("app"))
        );
    }
    // Eligible by authid, on the other member: only carol.
    bounded(publisher.publish(
        "com.example.topic",
        vec!["for carol".into()],
        dict! {},
        PublishOptions {
            eligible_authid: Some(vec!["carol".into()]),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        next_event(&mut carols).await.args,
        vec![Value::from("for carol")]
    );
    // Excluded by authrole: bob's role.
    bounded(publisher.publish(
        "com.example.topic",
        vec!["not for app2".into()],
        dict! {},
        PublishOptions {
            exclude_authrole: vec!["app2".into()],
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        next_event(&mut carols).await.args,
        vec![Value::from("not for app2")]
    );
    // The next event bob sees is a later one: the two above never reached him.
    bounded(publisher.publish(
        "com.example.topic",
        vec!["all".into()],
        dict! {},
        PublishOptions::default(),
    ))
    .await
    .unwrap();
    assert_eq!(next_event(&mut exact).await.args, vec![Value::from("all")]);
    assert_eq!(link_a.counters().events_out, 4);
    assert_eq!(link_b.counters().events_in, 4);
    assert_eq!(link_b.counters().events_lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_retention_and_testaments_cross_members() {
    let (a, b, _link_a, link_b) = pair();
    let publisher = join(&a, "alice", "app").await;
    let bob = join(&b, "bob", "app").await;
    let (_, mut rx) = bounded(bob.subscribe_stream("com.seq", opts(MatchPolicy::Exact), 4096))
        .await
        .unwrap();
    for i in 0..2000i64 {
        bounded(publisher.publish(
            "com.seq",
            vec![i.into()],
            dict! {},
            PublishOptions::default(),
        ))
        .await
        .unwrap();
    }
    for i in 0..2000i64 {
        assert_eq!(next_event(&mut rx).await.args, vec![Value::from(i)]);
    }

    // A retained event on one member is retained on the other.
    bounded(publisher.publish(
        "com.kept",
        vec!["latest".into()],
        dict! {},
        PublishOptions {
            retain: true,
            acknowledge: true,
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    // Delivered (and so retained) on b once an event published after it arrives there.
    bounded(publisher.publish(
        "com.seq",
        vec!["marker".into()],
        dict! {},
        PublishOptions::default(),
    ))
    .await
    .unwrap();
    assert_eq!(next_event(&mut rx).await.args, vec![Value::from("marker")]);
    let late = join(&b, "late", "app").await;
    let (_, mut kept) = bounded(late.subscribe_stream(
        "com.kept",
        SubscribeOptions {
            get_retained: true,
            ..Default::default()
        },
        8,
    ))
    .await
    .unwrap();
    let ev = next_event(&mut kept).await;
    assert_eq!(ev.args, vec![Value::from("latest")]);
    assert_eq!(ev.details.get("retained"), Some(&Value::Bool(true)));

    // A testament of a session on a goes to subscribers on b when that session goes away.
    let (_, mut wills) = bounded(bob.subscribe_stream("com.will", opts(MatchPolicy::Exact), 8))
        .await
        .unwrap();
    let dying = join(&a, "dying", "app").await;
    bounded(dying.call_simple(
        "wamp.session.add_testament",
        vec![
            "com.will".into(),
            Value::List(vec!["gone".into()]),
            Value::Dict(dict! {}),
        ],
    ))
    .await
    .unwrap();
    drop(dying);
    assert_eq!(next_event(&mut wills).await.args, vec![Value::from("gone")]);
    assert_eq!(link_b.counters().frames_bad, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_cannot_be_read_are_dropped_and_counted() {
    let (_a, b, _link_a, link_b) = pair();
    let bob = join(&b, "bob", "app").await;
    for junk in [
        &b""[..],
        b"\x01\x01\x00\x00\x00\x10",
        b"\x02\x01\x00\x00\x00\x00xx",
        b"\x01\x01\xff\xff\xff\xff",
        b"\x01\x01\x00\x00\x00\x01\x90\x02\x91",
    ] {
        link_b.on_frame(Bytes::copy_from_slice(junk)).await;
    }
    assert_eq!(link_b.counters().frames_bad, 5);
    assert_eq!(link_b.counters().events_in, 0);
    assert!(!bob.is_closed());
}

/// Polls `f` until it holds, for at most `limit`.
async fn until(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    f()
}

fn names(link: &ClusterLink) -> Vec<(String, bool)> {
    link.members()
        .into_iter()
        .map(|m| (m.member, m.local))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_known_by_heartbeat_and_forgotten_on_leave_or_silence() {
    use router_core::cluster::MEMBER_TIMEOUT;
    let (a, b, link_a, link_b) = pair();
    // Alone until the other says something.
    assert_eq!(names(&link_a), vec![("a".to_owned(), true)]);
    let _alice = join(&a, "alice", "app").await;
    let _s1 = join(&b, "bob", "app").await;
    let _s2 = join(&b, "carol", "app").await;
    link_a.tick();
    link_b.tick();
    let both = vec![("a".to_owned(), true), ("b".to_owned(), false)];
    assert!(
        until(MEMBER_TIMEOUT, || names(&link_a) == both).await,
        "{:?}",
        link_a.members()
    );
    assert!(until(MEMBER_TIMEOUT, || names(&link_b).len() == 2).await);
    let b_seen_by_a = link_a.members().into_iter().find(|m| !m.local).unwrap();
    assert_eq!(b_seen_by_a.sessions, 2);
    assert!(!b_seen_by_a.started.is_empty());

    // b leaves: a forgets it at once.
    link_a.on_frame(link_b.leave_frame()).await;
    assert_eq!(names(&link_a), vec![("a".to_owned(), true)]);

    // b is heard again, then falls silent (it died, or lost the bus): forgotten after the
    // timeout, by a's next heartbeat.
    link_b.tick();
    assert!(until(MEMBER_TIMEOUT, || names(&link_a).len() == 2).await);
    let silent_since = std::time::Instant::now();
    assert!(
        until(MEMBER_TIMEOUT * 2, || {
            link_a.tick();
            names(&link_a).len() == 1
        })
        .await,
        "{:?}",
        link_a.members()
    );
    assert!(silent_since.elapsed() >= MEMBER_TIMEOUT - std::time::Duration::from_millis(100));
    // A frame that is not a known kind is dropped and counted.
    let before = link_a.counters().frames_bad;
    link_a
        .on_frame(Bytes::from_static(&[1, 9, 0, 0, 0, 1, 0x90]))
        .await;
    assert_eq!(link_a.counters().frames_bad, before + 1);

    // Another router under a's own name: its frames are dropped and counted, never taken for
    // a's (or listed as a member).
    let c = router();
    let (to_a, mut from_c) = mpsc::unbounded_channel();
    let link_c = c
        .realm("realm1")
        .unwrap()
        .attach_cluster("a".into(), Arc::new(MemBus(to_a)))
        .unwrap();
    link_c.tick();
    link_a.on_frame(from_c.recv().await.unwrap()).await;
    assert_eq!(link_a.counters().member_conflicts, 1);
    assert_eq!(names(&link_a), vec![("a".to_owned(), true)]);
}
