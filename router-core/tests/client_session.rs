//! Session life cycle through the client library: WELCOME details, handshake failures and
//! challenge/response, leaving and being closed, the meta API, testaments, and sessions over
//! a serialized wire (against the router and against a scripted fake router).

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use common::{OnDrop, bounded, conn, join, next_event, router, wire_pair};
use router_core::auth::{
    AuthDenied, AuthStep, Authenticator, HelloInfo, Identity, PendingAuth, TransportInfo,
};
use router_core::client::{
    CallError, CallOptions, ClientError, JoinOptions, RegisterOptions, Session, SubscribeOptions,
};
use router_core::message::code;
use router_core::{Codec, ConnectionInfo, Dict, Message, Payload, Value, dict};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_details() {
    let router = router();
    let s = join(&router, "alice", "app").await;
    let d = s.details();
    assert_eq!(d.session, s.session_id());
    assert!(d.session > 0);
    assert_eq!(d.realm, "realm1");
    assert_eq!(d.authid, "alice");
    assert_eq!(d.authrole, "app");
    assert_eq!(d.authmethod, "trusted");
    assert!(d.authextra.contains_key("x_cb_peer"));
    assert!(d.roles.contains_key("dealer"));
    assert!(!s.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_unknown_realm() {
    let router = router();
    let e = bounded(Session::join_local(
        &router,
        conn("x", "app"),
        JoinOptions::realm("nope"),
    ))
    .await
    .unwrap_err();
    match e {
        ClientError::Aborted { reason, .. } => assert_eq!(reason, "wamp.error.no_such_realm"),
        other => panic!("expected ABORT, got {other:?}"),
    }
}

/// Challenges every HELLO with `ticket`; the ticket is "secret".
struct TicketAuth;

struct TicketPending {
    authid: String,
}

#[async_trait]
impl Authenticator for TicketAuth {
    async fn hello(&self, hello: &HelloInfo) -> AuthStep {
        assert_eq!(hello.authmethods, vec!["ticket".to_owned()]);
        AuthStep::Challenge {
            method: "ticket".into(),
            extra: dict! {"hint" => "the ticket"},
            pending: Box::new(TicketPending {
                authid: hello.authid.clone().unwrap_or_default(),
            }),
        }
    }
}

#[async_trait]
impl PendingAuth for TicketPending {
    async fn authenticate(
        self: Box<Self>,
        signature: &str,
        _extra: &Dict,
    ) -> Result<Identity, AuthDenied> {
        if signature != "secret" {
            return Err(AuthDenied::new("wamp.error.not_authorized", "bad ticket"));
        }
        Ok(Identity {
            realm: "realm1".into(),
            authid: self.authid,
            authrole: "app".into(),
            authmethod: "ticket".into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_response() {
    let router = router();
    let ticket_conn = || ConnectionInfo {
        transport: Arc::new(TransportInfo::default()),
        authenticator: Arc::new(TicketAuth),
    };
    let opts = |ticket: &'static str| {
        JoinOptions {
            authid: Some("joe".into()),
            authmethods: vec!["ticket".into()],
            ..JoinOptions::realm("realm1")
        }
        .on_challenge(move |method, extra| {
            assert_eq!(method, "ticket");
            assert_eq!(extra.get("hint"), Some(&Value::from("the ticket")));
            Ok(ticket.to_owned())
        })
    };
    let s = bounded(Session::join_local(&router, ticket_conn(), opts("secret")))
        .await
        .unwrap();
    assert_eq!(s.details().authid, "joe");
    assert_eq!(s.details().authmethod, "ticket");
    let e = bounded(Session::join_local(&router, ticket_conn(), opts("wrong")))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ClientError::Aborted {
            reason: "wamp.error.not_authorized".into(),
            message: "bad ticket".into()
        }
    );
    let no_handler = JoinOptions {
        authmethods: vec!["ticket".into()],
        ..JoinOptions::realm("realm1")
    };
    let e = bounded(Session::join_local(&router, ticket_conn(), no_handler))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Authentication(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_and_use_after_close() {
    let router = router();
    let s = join(&router, "s", "app").await;
    let closed = tokio::spawn({
        let s = s.clone();
        async move { s.closed().await }
    });
    let r = bounded(s.leave("wamp.close.normal")).await.unwrap();
    assert_eq!(r.reason, "wamp.close.goodbye_and_out");
    assert_eq!(bounded(closed).await.unwrap(), r);
    assert!(s.is_closed());
    let e = bounded(s.call_simple("wamp.session.count", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.close.goodbye_and_out");
    let e = bounded(s.subscribe("com.x", SubscribeOptions::default(), |_| {}))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Closed(_)), "{e:?}");
    assert!(bounded(s.leave("wamp.close.normal")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_by_the_router() {
    let router = router();
    let admin = join(&router, "admin", "app").await;
    let victim = join(&router, "victim", "app").await;
    let (tx, mut dropped) = mpsc::channel(4);
    bounded(victim.register(
        "com.example.hang",
        RegisterOptions::default(),
        move |_inv| {
            let tx = tx.clone();
            async move {
                let _g = OnDrop(tx.clone());
                let _ = tx.send("started").await;
                std::future::pending::<Result<Payload, CallError>>().await
            }
        },
    ))
    .await
    .unwrap();
    let call = tokio::spawn({
        let admin = admin.clone();
        async move { admin.call_simple("com.example.hang", vec![]).await }
    });
    assert_eq!(bounded(dropped.recv()).await, Some("started"));
    bounded(admin.call(
        "wamp.session.kill",
        vec![Value::from(victim.session_id())],
        dict! {"reason" => "com.example.kicked", "message" => "bye"},
        CallOptions::default(),
    ))
    .await
    .unwrap();
    let r = bounded(victim.closed()).await;
    assert_eq!(r.reason, "com.example.kicked");
    assert_eq!(r.message, "bye");
    // The victim's handler task ended with its session; the caller was told.
    assert_eq!(bounded(dropped.recv()).await, Some("dropped"));
    let e = bounded(call).await.unwrap().unwrap_err();
    assert_eq!(e.error, "wamp.error.canceled");
    // Stopping the realm closes the remaining sessions.
    router.stop_realm("realm1").unwrap();
    assert_eq!(
        bounded(admin.closed()).await.reason,
        "wamp.close.close_realm"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testament_is_published_when_a_session_is_dropped() {
    let router = router();
    let a = join(&router, "a", "app").await;
    let b = join(&router, "b", "app").await;
    let (_, mut rx) = bounded(b.subscribe_stream("com.testament", SubscribeOptions::default(), 8))
        .await
        .unwrap();
    bounded(a.call(
        "wamp.session.add_testament",
        vec![
            "com.testament".into(),
            Value::List(vec!["gone".into()]),
            Value::Dict(dict! {"who" => "a"}),
        ],
        Dict::new(),
        CallOptions::default(),
    ))
    .await
    .unwrap();
    drop(a);
    let ev = next_event(&mut rx).await;
    assert_eq!(ev.args, vec![Value::from("gone")]);
    assert_eq!(ev.kwargs, dict! {"who" => "a"});
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_list()
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_api() {
    let router = router();
    let w = join(&router, "watcher", "app").await;
    let opts = SubscribeOptions::default();
    let mut joins = bounded(w.subscribe_stream("wamp.session.on_join", opts, 16))
        .await
        .unwrap()
        .1;
    let mut leaves = bounded(w.subscribe_stream("wamp.session.on_leave", opts, 16))
        .await
        .unwrap()
        .1;
    let mut reg_created = bounded(w.subscribe_stream("wamp.registration.on_create", opts, 16))
        .await
        .unwrap()
        .1;
    let mut reg_deleted = bounded(w.subscribe_stream("wamp.registration.on_delete", opts, 16))
        .await
        .unwrap()
        .1;
    let mut sub_created = bounded(w.subscribe_stream("wamp.subscription.on_create", opts, 16))
        .await
        .unwrap()
        .1;

    let a = join(&router, "alice", "app").await;
    let ev = next_event(&mut joins).await;
    let info = ev.args[0].as_dict().unwrap();
    assert_eq!(info["session"], Value::from(a.session_id()));
    assert_eq!(info["authid"], Value::from("alice"));

    let call = |p: &'static str, args: Vec<Value>| {
        let w = w.clone();
        async move { bounded(w.call_simple(p, args)).await }
    };
    assert_eq!(
        call("wamp.session.count", vec![]).await.unwrap(),
        Value::Int(2)
    );
    let mut list = ids(&call("wamp.session.list", vec![]).await.unwrap());
    list.sort();
    let mut expected = vec![w.session_id(), a.session_id()];
    expected.sort();
    assert_eq!(list, expected);
    let got = call("wamp.session.get", vec![a.session_id().into()])
        .await
        .unwrap();
    assert_eq!(got.as_dict().unwrap()["authrole"], Value::from("app"));
    let e = call("wamp.session.get", vec![Value::Int(1)])
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_session");

    let reg = bounded(
        a.register("com.meta.proc", RegisterOptions::default(), |_inv| async {
            Ok::<_, CallError>(Payload::default())
        }),
    )
    .await
    .unwrap();
    let ev = next_event(&mut reg_created).await;
    assert_eq!(ev.args[0], Value::from(a.session_id()));
    let rd = ev.args[1].as_dict().unwrap();
    assert_eq!(rd["id"], Value::from(reg.id));
    assert_eq!(rd["uri"], Value::from("com.meta.proc"));
    let regs = call("wamp.registration.list", vec![]).await.unwrap();
    assert_eq!(ids(&regs.as_dict().unwrap()["exact"]), vec![reg.id]);
    let got = call("wamp.registration.get", vec![reg.id.into()])
        .await
        .unwrap();
    assert_eq!(got.as_dict().unwrap()["match"], Value::from("exact"));
    let id = Value::from(reg.id);
    assert_eq!(
        call("wamp.registration.lookup", vec!["com.meta.proc".into()])
            .await
            .unwrap(),
        id
    );
    assert_eq!(
        call("wamp.registration.lookup", vec!["com.none".into()])
            .await
            .unwrap(),
        Value::Null
    );
    assert_eq!(
        call("wamp.registration.match", vec!["com.meta.proc".into()])
            .await
            .unwrap(),
        id
    );
    let callees = call("wamp.registration.list_callees", vec![reg.id.into()])
        .await
        .unwrap();
    assert_eq!(ids(&callees), vec![a.session_id()]);
    let e = call("wamp.registration.get", vec![Value::Int(1)])
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_registration");

    let sub = bounded(a.subscribe("com.meta.topic", opts, |_| {}))
        .await
        .unwrap();
    let ev = next_event(&mut sub_created).await;
    assert_eq!(
        ev.args[1].as_dict().unwrap()["uri"],
        Value::from("com.meta.topic")
    );
    let subs = call("wamp.subscription.list", vec![]).await.unwrap();
    assert!(ids(&subs.as_dict().unwrap()["exact"]).contains(&sub.id));
    let id = Value::from(sub.id);
    assert_eq!(
        call("wamp.subscription.lookup", vec!["com.meta.topic".into()])
            .await
            .unwrap(),
        id
    );
    let matched = call("wamp.subscription.match", vec!["com.meta.topic".into()])
        .await
        .unwrap();
    assert_eq!(ids(&matched), vec![sub.id]);
    let got = call("wamp.subscription.get", vec![sub.id.into()])
        .await
        .unwrap();
    assert_eq!(got.as_dict().unwrap()["uri"], Value::from("com.meta.topic"));
    let n = call("wamp.subscription.count_subscribers", vec![sub.id.into()])
        .await
        .unwrap();
    assert_eq!(n, Value::Int(1));

    bounded(a.unregister(&reg)).await.unwrap();
    let ev = next_event(&mut reg_deleted).await;
    assert_eq!(
        ev.args,
        vec![Value::from(a.session_id()), Value::from(reg.id)]
    );

    let a_id = a.session_id();
    bounded(a.leave("wamp.close.normal")).await.unwrap();
    let ev = next_event(&mut leaves).await;
    assert_eq!(ev.args[0], Value::from(a_id));
    assert_eq!(
        call("wamp.session.count", vec![]).await.unwrap(),
        Value::Int(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_over_a_wire_with_every_codec() {
    let router = router();
    let local = join(&router, "local", "app").await;
    for codec in Codec::ALL {
        let ((cr, cw), (sr, sw)) = wire_pair();
        let served = tokio::spawn({
            let router = router.clone();
            async move {
                router
                    .serve_wire(codec, sr, sw, conn("remote", "app"))
                    .await
            }
        });
        let s = bounded(Session::join_wire(
            codec,
            cr,
            cw,
            JoinOptions::realm("realm1"),
        ))
        .await
        .unwrap();
        assert_eq!(s.details().authid, "remote");
        bounded(s.register(
            "com.wire.echo",
            RegisterOptions::default(),
            |inv: router_core::client::Invocation| async move {
                Ok::<_, CallError>(Payload::new(inv.args, inv.kwargs))
            },
        ))
        .await
        .unwrap();
        let blob = Value::Bytes(Bytes::from_static(b"\x00\x01binary"));
        let r = bounded(local.call(
            "com.wire.echo",
            vec![blob.clone(), Value::Int(-7)],
            dict! {"codec" => codec.name()},
            CallOptions::default(),
        ))
        .await
        .unwrap();
        assert_eq!(r.args, vec![blob, Value::Int(-7)], "{codec}");
        assert_eq!(r.kwargs, dict! {"codec" => codec.name()});
        let (_, mut rx) = bounded(s.subscribe_stream("com.wire.t", SubscribeOptions::default(), 4))
            .await
            .unwrap();
        bounded(local.publish(
            "com.wire.t",
            vec![Value::Int(1)],
            Dict::new(),
            Default::default(),
        ))
        .await
        .unwrap();
        assert_eq!(next_event(&mut rx).await.args, vec![Value::Int(1)]);
        let r = bounded(s.leave("wamp.close.normal")).await.unwrap();
        assert_eq!(r.reason, "wamp.close.goodbye_and_out");
        // The connection closes after GOODBYE, so the router's side of it ends.
        bounded(served).await.unwrap();
    }
}

async fn recv(codec: Codec, sr: &mut common::ChanRead) -> Message {
    let frame = bounded(sr.0.recv()).await.expect("client frame");
    codec.decode(&frame).unwrap()
}

async fn send(codec: Codec, sw: &common::ChanWrite, m: Message) {
    let tx = sw.0.clone().unwrap();
    tx.send(codec.encode(&m)).await.unwrap()
}

/// A scripted router on the far end of a wire: checks what the client sends and sends it
/// garbage the client must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_and_unexpected_messages() {
    let codec = Codec::Json;
    let ((cr, cw), (mut sr, sw)) = wire_pair();
    let join = tokio::spawn(Session::join_wire(
        codec,
        cr,
        cw,
        JoinOptions::realm("realm1"),
    ));
    let Message::Hello { realm, details } = recv(codec, &mut sr).await else {
        panic!("expected HELLO");
    };
    assert_eq!(realm.as_deref(), Some("realm1"));
    let roles = details["roles"].as_dict().unwrap();
    for role in ["caller", "callee", "publisher", "subscriber"] {
        assert!(roles.contains_key(role), "{role}");
    }
    let callee_features = roles["callee"].as_dict().unwrap()["features"]
        .as_dict()
        .unwrap();
    assert_eq!(callee_features["call_canceling"], Value::Bool(true));
    send(
        codec,
        &sw,
        Message::Welcome {
            session: 77,
            details: dict! {"realm" => "realm1"},
        },
    )
    .await;
    let s = bounded(join).await.unwrap().unwrap();
    assert_eq!(s.session_id(), 77);

    let c1 = tokio::spawn({
        let s = s.clone();
        async move { s.call_simple("com.a", vec![]).await }
    });
    let Message::Call { request, .. } = recv(codec, &mut sr).await else {
        panic!("expected CALL");
    };
    assert_eq!(request, 1, "request IDs count from 1");
    let c2 = tokio::spawn({
        let s = s.clone();
        async move {
            s.publish("com.t", vec![], Dict::new(), Default::default())
                .await
        }
    });
    let Message::Publish { request, .. } = recv(codec, &mut sr).await else {
        panic!("expected PUBLISH");
    };
    assert_eq!(request, 2);
    bounded(c2).await.unwrap().unwrap();

    // Answers to nothing: all ignored.
    let garbage = [
        Message::Result {
            request: 999,
            details: Dict::new(),
            payload: Payload::default(),
        },
        Message::Registered {
            request: 5,
            registration: 1,
        },
        Message::Unsubscribed {
            request: 6,
            details: Dict::new(),
        },
        Message::Event {
            subscription: 3,
            publication: 4,
            details: Dict::new(),
            payload: Payload::default(),
        },
        Message::Interrupt {
            request: 8,
            options: Dict::new(),
        },
        Message::error(code::SUBSCRIBE, 1, "wamp.error.x", vec![]),
    ];
    for m in garbage {
        send(codec, &sw, m).await;
    }
    // An INVOCATION for a registration the client does not have is refused.
    send(
        codec,
        &sw,
        Message::Invocation {
            request: 9,
            registration: 42,
            details: Dict::new(),
            payload: Payload::default(),
        },
    )
    .await;
    let Message::Error {
        request_type,
        request,
        error,
        ..
    } = recv(codec, &mut sr).await
    else {
        panic!("expected ERROR");
    };
    assert_eq!((request_type, request), (code::INVOCATION, 9));
    assert_eq!(error, "wamp.error.no_such_registration");
    send(
        codec,
        &sw,
        Message::Result {
            request: 1,
            details: Dict::new(),
            payload: Payload::args(vec!["ok".into()]),
        },
    )
    .await;
    assert_eq!(bounded(c1).await.unwrap().unwrap(), Value::from("ok"));

    // Undecodable bytes end the session with ABORT.
    sw.0.clone()
        .unwrap()
        .send(Bytes::from_static(b"[1, {"))
        .await
        .unwrap();
    let Message::Abort { reason, .. } = recv(codec, &mut sr).await else {
        panic!("expected ABORT");
    };
    assert_eq!(reason, "wamp.error.protocol_violation");
    assert_eq!(
        bounded(s.closed()).await.reason,
        "wamp.error.protocol_violation"
    );
    // The client closed its side of the wire.
    assert!(bounded(sr.0.recv()).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_transport_fails_pending_calls() {
    let codec = Codec::MsgPack;
    let ((cr, cw), (mut sr, sw)) = wire_pair();
    let join = tokio::spawn(Session::join_wire(
        codec,
        cr,
        cw,
        JoinOptions::realm("realm1"),
    ));
    let _hello = bounded(sr.0.recv()).await.unwrap();
    let welcome = Message::Welcome {
        session: 5,
        details: Dict::new(),
    };
    sw.0.clone()
        .unwrap()
        .send(codec.encode(&welcome))
        .await
        .unwrap();
    let s = bounded(join).await.unwrap().unwrap();
    let call = tokio::spawn({
        let s = s.clone();
        async move { s.call_simple("com.a", vec![]).await }
    });
    let _call = bounded(sr.0.recv()).await.unwrap();
    drop(sw);
    let e = bounded(call).await.unwrap().unwrap_err();
    assert_eq!(e.error, "wamp.close.transport_lost");
    assert_eq!(
        bounded(s.closed()).await.reason,
        "wamp.close.transport_lost"
    );
    let e = bounded(s.publish("com.t", vec![], Dict::new(), Default::default()))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::TransportLost(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_events_and_kills() {
    let router = router();
    let w = join(&router, "watcher", "app").await;
    let opts = SubscribeOptions::default();
    let stream = |topic: &'static str| {
        let w = w.clone();
        async move {
            bounded(w.subscribe_stream(topic, opts, 16))
                .await
                .unwrap()
                .1
        }
    };
    let mut on_register = stream("wamp.registration.on_register").await;
    let mut on_unregister = stream("wamp.registration.on_unregister").await;
    let mut on_subscribe = stream("wamp.subscription.on_subscribe").await;
    let mut on_unsubscribe = stream("wamp.subscription.on_unsubscribe").await;
    let mut sub_deleted = stream("wamp.subscription.on_delete").await;

    let a = join(&router, "alice", "app").await;
    let a_id = Value::from(a.session_id());
    let reg = bounded(
        a.register("com.m.p", RegisterOptions::default(), |_inv| async {
            Ok::<_, CallError>(Payload::default())
        }),
    )
    .await
    .unwrap();
    let ev = next_event(&mut on_register).await;
    assert_eq!(ev.args, vec![a_id.clone(), Value::from(reg.id)]);
    let sub = bounded(a.subscribe("com.m.t", opts, |_| {})).await.unwrap();
    let ev = next_event(&mut on_subscribe).await;
    assert_eq!(ev.args, vec![a_id.clone(), Value::from(sub.id)]);
    bounded(a.unsubscribe(&sub)).await.unwrap();
    let ev = next_event(&mut on_unsubscribe).await;
    assert_eq!(ev.args, vec![a_id.clone(), Value::from(sub.id)]);
    let ev = next_event(&mut sub_deleted).await;
    assert_eq!(ev.args, vec![a_id.clone(), Value::from(sub.id)]);

    // Killing by authid unregisters along the way.
    let b = join(&router, "alice", "app").await;
    let killed = bounded(w.call(
        "wamp.session.kill_by_authid",
        vec!["alice".into()],
        dict! {"reason" => "wamp.close.killed"},
        CallOptions::default(),
    ))
    .await
    .unwrap();
    let mut killed = ids(&killed.value());
    killed.sort();
    let mut expected = vec![a.session_id(), b.session_id()];
    expected.sort();
    assert_eq!(killed, expected);
    assert_eq!(bounded(a.closed()).await.reason, "wamp.close.killed");
    assert_eq!(bounded(b.closed()).await.reason, "wamp.close.killed");
    let ev = next_event(&mut on_unregister).await;
    assert_eq!(ev.args, vec![a_id, Value::from(reg.id)]);
    // Killing by authrole takes every session of that role and no other.
    let c = join(&router, "carol", "app2").await;
    let d = join(&router, "dave", "app2").await;
    let e = join(&router, "erin", "app").await;
    let killed = bounded(w.call(
        "wamp.session.kill_by_authrole",
        vec!["app2".into()],
        dict! {"reason" => "com.example.maintenance", "message" => "back soon"},
        CallOptions::default(),
    ))
    .await
    .unwrap();
    let mut killed = ids(&killed.value());
    killed.sort();
    let mut expected = vec![c.session_id(), d.session_id()];
    expected.sort();
    assert_eq!(killed, expected);
    for s in [&c, &d] {
        let closed = bounded(s.closed()).await;
        assert_eq!(closed.reason, "com.example.maintenance");
        assert_eq!(closed.message, "back soon");
    }
    assert!(!e.is_closed());
    bounded(e.leave("wamp.close.normal")).await.unwrap();
    // The caller is never killed by its own kill call.
    let n = bounded(w.call_simple("wamp.session.kill_all", vec![])).await;
    assert_eq!(n.unwrap(), Value::Int(0));
    assert!(!w.is_closed());
    let e = bounded(w.call_simple("wamp.session.kill", vec![w.session_id().into()]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_testaments_are_not_published() {
    let router = router();
    let a = join(&router, "a", "app").await;
    let b = join(&router, "b", "app").await;
    let (_, mut rx) = bounded(b.subscribe_stream("com.will", SubscribeOptions::default(), 8))
        .await
        .unwrap();
    let add = |n: i64| {
        let a = a.clone();
        async move {
            bounded(a.call_simple(
                "wamp.session.add_testament",
                vec!["com.will".into(), Value::List(vec![Value::Int(n)])],
            ))
            .await
            .unwrap()
        }
    };
    let publication = add(1).await;
    assert!(
        publication.as_u64().is_some(),
        "the publication id: {publication:?}"
    );
    let flushed = bounded(a.call_simple("wamp.session.flush_testaments", vec![])).await;
    assert_eq!(flushed.unwrap(), Value::Int(1));
    // Scopes as Crossbar.io has them: flushing one leaves the other.
    bounded(a.call_simple(
        "wamp.session.add_testament",
        vec![
            "com.will".into(),
            Value::List(vec![Value::Int(3)]),
            Value::Dict(Dict::new()),
            Value::Dict(Dict::new()),
            "detached".into(),
        ],
    ))
    .await
    .unwrap();
    let flushed = bounded(a.call_simple("wamp.session.flush_testaments", vec![])).await;
    assert_eq!(flushed.unwrap(), Value::Int(0));
    let e = bounded(a.call_simple("wamp.session.flush_testaments", vec!["forever".into()]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.testament_error");
    add(2).await;
    bounded(a.leave("wamp.close.normal")).await.unwrap();
    let mut got = vec![
        next_event(&mut rx).await.args,
        next_event(&mut rx).await.args,
    ];
    got.sort_by_key(|a| a[0].as_i64());
    assert_eq!(got, vec![vec![Value::Int(2)], vec![Value::Int(3)]]);
}
