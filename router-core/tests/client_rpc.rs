//! Remote procedure calls through the client library against an in-process router: results,
//! errors, progressive results, timeouts, cancellation, pattern and shared registrations,
//! authorization.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{OnDrop, bounded, join, router};
use router_core::client::{
    CallError, CallOptions, CallResult, CancelMode, Invocation, RegisterOptions,
};
use router_core::dealer::InvokePolicy;
use router_core::uri::MatchPolicy;
use router_core::{Dict, Payload, Value, dict};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

fn opts() -> RegisterOptions {
    RegisterOptions::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn args_and_kwargs_round_trip() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    bounded(
        callee.register("com.example.echo", opts(), |inv: Invocation| async move {
            let mut kwargs = inv.kwargs.clone();
            let who = inv.caller_authid().unwrap_or("?").to_owned();
            kwargs.insert("caller_authid".into(), Value::from(who));
            Ok::<_, CallError>(Payload::new(inv.args, kwargs))
        }),
    )
    .await
    .unwrap();
    let r = bounded(caller.call(
        "com.example.echo",
        vec![
            Value::Int(1),
            "two".into(),
            Value::List(vec![Value::Bool(true)]),
        ],
        dict! {"k" => "v", "n" => 2.5},
        CallOptions::default(),
    ))
    .await
    .unwrap();
    assert_eq!(
        r.args,
        vec![
            Value::Int(1),
            "two".into(),
            Value::List(vec![Value::Bool(true)])
        ]
    );
    assert_eq!(r.kwargs.get("k"), Some(&Value::from("v")));
    assert_eq!(r.kwargs.get("n"), Some(&Value::Float(2.5)));
    // The role discloses callers.
    assert_eq!(r.kwargs.get("caller_authid"), Some(&Value::from("caller")));
    let v = bounded(caller.call_simple("com.example.echo", vec![Value::Int(5)])).await;
    assert_eq!(v.unwrap(), Value::Int(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_errors_and_panics() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    bounded(callee.register("com.example.fail", opts(), |_inv| async {
        Err::<Payload, _>(CallError::with_args(
            "com.example.error.bad",
            vec!["bad".into(), Value::Int(42)],
            dict! {"x" => 1},
        ))
    }))
    .await
    .unwrap();
    bounded(
        callee.register("com.example.panic", opts(), |inv: Invocation| async move {
            if inv.args.is_empty() {
                panic!("handler bug");
            }
            Ok(Payload::default())
        }),
    )
    .await
    .unwrap();
    let e = bounded(caller.call_simple("com.example.fail", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "com.example.error.bad");
    assert_eq!(e.args, vec![Value::from("bad"), Value::Int(42)]);
    assert_eq!(e.kwargs, dict! {"x" => 1});
    let e = bounded(caller.call_simple("com.example.panic", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.runtime_error");
    // The callee survives its handler's panic.
    let ok = bounded(caller.call_simple("com.example.panic", vec![Value::Int(1)])).await;
    assert_eq!(ok.unwrap(), Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_such_procedure_and_already_exists() {
    let router = router();
    let a = join(&router, "a", "app").await;
    let b = join(&router, "b", "app").await;
    let e = bounded(a.call_simple("com.example.nothing", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_procedure");
    let handler = |_inv| async { Ok::<_, CallError>(Payload::default()) };
    bounded(a.register("com.example.once", opts(), handler))
        .await
        .unwrap();
    for s in [&a, &b] {
        let e = bounded(s.register("com.example.once", opts(), handler))
            .await
            .unwrap_err();
        assert_eq!(e.error_uri(), Some("wamp.error.procedure_already_exists"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progressive_results() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    bounded(callee.register(
        "com.example.progress",
        opts(),
        |inv: Invocation| async move {
            let p = inv
                .progress
                .clone()
                .ok_or_else(|| CallError::new("com.example.no_progress"))?;
            for i in 0..3 {
                p.send(vec![Value::Int(i)], Dict::new()).await?;
            }
            Ok(Payload::args(vec!["done".into()]))
        },
    ))
    .await
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let opts = CallOptions {
        on_progress: Some(Arc::new(move |r: CallResult| {
            assert_eq!(r.details.get("progress"), Some(&Value::Bool(true)));
            seen2.lock().unwrap().push(r.value());
        })),
        ..Default::default()
    };
    let r = bounded(caller.call("com.example.progress", vec![], Dict::new(), opts))
        .await
        .unwrap();
    assert_eq!(r.value(), Value::from("done"));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Value::Int(0), Value::Int(1), Value::Int(2)]
    );
    // Without receive_progress the handler gets no progress sender.
    let e = bounded(caller.call_simple("com.example.progress", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "com.example.no_progress");
}

/// Registers `proc` on `callee`: it reports "started" on `events`, then never answers; its
/// future reports "dropped" when it is dropped (aborted).
async fn register_hanging(
    callee: &router_core::client::Session,
    proc_: &str,
) -> mpsc::Receiver<&'static str> {
    let (tx, rx) = mpsc::channel(16);
    bounded(callee.register(proc_, opts(), move |_inv| {
        let tx = tx.clone();
        async move {
            let _guard = OnDrop(tx.clone());
            let _ = tx.send("started").await;
            std::future::pending::<Result<Payload, CallError>>().await
        }
    }))
    .await
    .unwrap();
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_timeout_interrupts_the_callee() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let mut events = register_hanging(&callee, "com.example.hang").await;
    let opts = CallOptions {
        timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let e = bounded(caller.call("com.example.hang", vec![], Dict::new(), opts))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.canceled");
    assert_eq!(bounded(events.recv()).await, Some("started"));
    assert_eq!(bounded(events.recv()).await, Some("dropped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kill_interrupts_and_waits_for_the_callee() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let mut events = register_hanging(&callee, "com.example.hang").await;
    let token = CancellationToken::new();
    let opts = CallOptions {
        cancel: Some(token.clone()),
        cancel_mode: CancelMode::Kill,
        ..Default::default()
    };
    let call = tokio::spawn({
        let caller = caller.clone();
        async move {
            caller
                .call("com.example.hang", vec![], Dict::new(), opts)
                .await
        }
    });
    assert_eq!(bounded(events.recv()).await, Some("started"));
    token.cancel();
    let e = bounded(call).await.unwrap().unwrap_err();
    assert_eq!(e.error, "wamp.error.canceled");
    assert_eq!(bounded(events.recv()).await, Some("dropped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_skip_leaves_the_callee_running() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let release = Arc::new(Notify::new());
    let (tx, mut events) = mpsc::channel(16);
    let rel = release.clone();
    bounded(callee.register("com.example.slow", opts(), move |_inv| {
        let (tx, rel) = (tx.clone(), rel.clone());
        async move {
            let _ = tx.send("started").await;
            rel.notified().await;
            let _ = tx.send("finished").await;
            Ok::<_, CallError>(Payload::args(vec!["late".into()]))
        }
    }))
    .await
    .unwrap();
    let token = CancellationToken::new();
    let opts = CallOptions {
        cancel: Some(token.clone()),
        cancel_mode: CancelMode::Skip,
        ..Default::default()
    };
    let call = tokio::spawn({
        let caller = caller.clone();
        async move {
            caller
                .call("com.example.slow", vec![], Dict::new(), opts)
                .await
        }
    });
    assert_eq!(bounded(events.recv()).await, Some("started"));
    token.cancel();
    let e = bounded(call).await.unwrap().unwrap_err();
    assert_eq!(e.error, "wamp.error.canceled");
    release.notify_one();
    assert_eq!(bounded(events.recv()).await, Some("finished"));
    // The late YIELD is dropped by the router; the session carries on.
    let e = bounded(caller.call_simple("com.example.nothing", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_procedure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_call_future_cancels() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let mut events = register_hanging(&callee, "com.example.hang").await;
    let call = tokio::spawn({
        let caller = caller.clone();
        async move { caller.call_simple("com.example.hang", vec![]).await }
    });
    assert_eq!(bounded(events.recv()).await, Some("started"));
    call.abort();
    assert_eq!(bounded(events.recv()).await, Some("dropped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_registrations_precedence() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let named = |name: &'static str| {
        move |inv: Invocation| async move {
            let procedure = inv.procedure().map(str::to_owned);
            Ok::<_, CallError>(Payload::args(vec![name.into(), procedure.into()]))
        }
    };
    let exact = bounded(callee.register("com.a.b.c", opts(), named("exact")))
        .await
        .unwrap();
    let prefix = RegisterOptions {
        match_: MatchPolicy::Prefix,
        ..Default::default()
    };
    bounded(callee.register("com.a.", prefix, named("prefix")))
        .await
        .unwrap();
    let wildcard = RegisterOptions {
        match_: MatchPolicy::Wildcard,
        ..Default::default()
    };
    bounded(callee.register("com..b.c", wildcard, named("wildcard")))
        .await
        .unwrap();
    let call = |uri: &'static str| {
        let caller = caller.clone();
        async move { bounded(caller.call_simple_args(uri)).await }
    };
    assert_eq!(call("com.a.b.c").await, vec!["exact".into(), Value::Null]);
    assert_eq!(
        call("com.a.x").await,
        vec!["prefix".into(), "com.a.x".into()]
    );
    assert_eq!(
        call("com.z.b.c").await,
        vec!["wildcard".into(), "com.z.b.c".into()]
    );
    bounded(callee.unregister(&exact)).await.unwrap();
    // Prefix beats wildcard.
    assert_eq!(
        call("com.a.b.c").await,
        vec!["prefix".into(), "com.a.b.c".into()]
    );
}

trait CallArgs {
    async fn call_simple_args(&self, uri: &str) -> Vec<Value>;
}

impl CallArgs for router_core::client::Session {
    async fn call_simple_args(&self, uri: &str) -> Vec<Value> {
        self.call(uri, vec![], Dict::new(), CallOptions::default())
            .await
            .unwrap()
            .args
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_registration_roundrobin() {
    let router = router();
    let caller = join(&router, "caller", "app").await;
    let rr = RegisterOptions {
        invoke: InvokePolicy::RoundRobin,
        ..Default::default()
    };
    let mut callees = Vec::new();
    for name in ["c1", "c2", "c3"] {
        let s = join(&router, name, "app").await;
        bounded(s.register("com.example.rr", rr, move |_inv| async move {
            Ok::<_, CallError>(Payload::args(vec![name.into()]))
        }))
        .await
        .unwrap();
        callees.push(s);
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(
            bounded(caller.call_simple("com.example.rr", vec![]))
                .await
                .unwrap(),
        );
    }
    for name in ["c1", "c2", "c3"] {
        assert_eq!(seen.iter().filter(|v| **v == Value::from(name)).count(), 2);
    }
    assert_eq!(seen[..3], seen[3..]);
    let random = RegisterOptions {
        invoke: InvokePolicy::Random,
        ..Default::default()
    };
    let e = bounded(caller.register("com.example.rr", random, |_inv| async {
        Ok::<_, CallError>(Payload::default())
    }))
    .await
    .unwrap_err();
    assert_eq!(
        e.error_uri(),
        Some("wamp.error.procedure_exists_with_different_invocation_policy")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_twice_is_an_error() {
    let router = router();
    let s = join(&router, "s", "app").await;
    let reg = bounded(s.register("com.example.x", opts(), |_inv| async {
        Ok::<_, CallError>(Payload::default())
    }))
    .await
    .unwrap();
    bounded(s.unregister(&reg)).await.unwrap();
    let e = bounded(s.unregister(&reg)).await.unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.no_such_registration"));
    let e = bounded(s.call_simple("com.example.x", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_procedure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_leaving_mid_call_cancels_the_call() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let mut events = register_hanging(&callee, "com.example.hang").await;
    let call = tokio::spawn({
        let caller = caller.clone();
        async move { caller.call_simple("com.example.hang", vec![]).await }
    });
    assert_eq!(bounded(events.recv()).await, Some("started"));
    let reason = bounded(callee.leave("wamp.close.normal")).await.unwrap();
    assert_eq!(reason.reason, "wamp.close.goodbye_and_out");
    assert_eq!(bounded(events.recv()).await, Some("dropped"));
    let e = bounded(call).await.unwrap().unwrap_err();
    assert_eq!(e.error, "wamp.error.canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_is_enforced() {
    let router = router();
    let limited = join(&router, "l", "limited").await;
    let ok = |_inv| async { Ok::<_, CallError>(Payload::default()) };
    bounded(limited.register("com.allowed.proc", opts(), ok))
        .await
        .unwrap();
    bounded(limited.call_simple("com.allowed.proc", vec![]))
        .await
        .unwrap();
    let e = bounded(limited.register("com.other.proc", opts(), ok))
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.not_authorized"));
    let e = bounded(limited.call_simple("com.other.proc", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.not_authorized");
    let e = bounded(limited.subscribe("com.other.topic", Default::default(), |_| {}))
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.not_authorized"));
    let e = bounded(limited.publish(
        "com.other.topic",
        vec![],
        Dict::new(),
        router_core::client::PublishOptions::acknowledged(),
    ))
    .await
    .unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.not_authorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_uris_are_refused_to_application_roles() {
    let router = router();
    let app = join(&router, "app", "app").await;
    let ok = |_inv| async { Ok::<_, CallError>(Payload::default()) };
    let e = bounded(app.register("wamp.session.count", opts(), ok))
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.invalid_uri"));
    let e = bounded(app.register("crossbar.get_status", opts(), ok))
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.not_authorized"));
    let ack = router_core::client::PublishOptions::acknowledged;
    let e = bounded(app.publish("wamp.session.on_join", vec![], Dict::new(), ack()))
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.invalid_uri"));
    let e = bounded(app.publish("crossbar.on_x", vec![], Dict::new(), ack()))
        .await
        .unwrap_err();
    assert_eq!(e.error_uri(), Some("wamp.error.not_authorized"));
    // The built-in trusted role may.
    let trusted = join(&router, "t", "trusted").await;
    bounded(trusted.register("crossbar.get_status", opts(), ok))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_and_slow_handlers() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let _hang = register_hanging(&callee, "com.example.hang").await;
    bounded(
        callee.register("com.example.double", opts(), |inv: Invocation| async move {
            tokio::task::yield_now().await;
            let n = inv.args.first().and_then(Value::as_i64).unwrap_or(0);
            Ok::<_, CallError>(Payload::args(vec![Value::Int(n * 2)]))
        }),
    )
    .await
    .unwrap();
    // A handler that never answers holds up nobody.
    let hanging = tokio::spawn({
        let caller = caller.clone();
        async move { caller.call_simple("com.example.hang", vec![]).await }
    });
    let mut tasks = Vec::new();
    for t in 0..20i64 {
        let caller = caller.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20i64 {
                let n = t * 100 + i;
                let v = caller
                    .call_simple("com.example.double", vec![Value::Int(n)])
                    .await
                    .unwrap();
                assert_eq!(v, Value::Int(n * 2));
            }
        }));
    }
    for t in tasks {
        bounded(t).await.unwrap();
    }
    hanging.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_caller_interrupts_the_callee_which_survives() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let other = join(&router, "other", "app").await;
    let mut events = register_hanging(&callee, "com.example.hang").await;
    bounded(callee.register("com.example.ping", opts(), |_inv| async {
        Ok::<_, CallError>(Payload::args(vec!["pong".into()]))
    }))
    .await
    .unwrap();
    let call = tokio::spawn({
        let caller = caller.clone();
        async move { caller.call_simple("com.example.hang", vec![]).await }
    });
    assert_eq!(bounded(events.recv()).await, Some("started"));
    // The caller goes away without a word (its call task holds the last other clone).
    call.abort();
    let _ = call.await;
    drop(caller);
    assert_eq!(bounded(events.recv()).await, Some("dropped"));
    let v = bounded(other.call_simple("com.example.ping", vec![])).await;
    assert_eq!(v.unwrap(), Value::from("pong"));
    assert!(!callee.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_callee_takes_its_registrations_along() {
    let router = router();
    let watcher = join(&router, "watcher", "app").await;
    let (_, mut leaves) =
        bounded(watcher.subscribe_stream("wamp.session.on_leave", Default::default(), 8))
            .await
            .unwrap();
    let callee = join(&router, "callee", "app").await;
    bounded(callee.register("com.example.gone", opts(), |_inv| async {
        Ok::<_, CallError>(Payload::default())
    }))
    .await
    .unwrap();
    bounded(watcher.call_simple("com.example.gone", vec![]))
        .await
        .unwrap();
    let id = callee.session_id();
    drop(callee);
    let ev = common::next_event(&mut leaves).await;
    assert_eq!(ev.args[0], Value::from(id));
    let e = bounded(watcher.call_simple("com.example.gone", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_procedure");
    // Another session may take the URI over.
    bounded(watcher.register("com.example.gone", opts(), |_inv| async {
        Ok::<_, CallError>(Payload::default())
    }))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_leaving_during_progressive_results() {
    let router = router();
    let callee = join(&router, "callee", "app").await;
    let caller = join(&router, "caller", "app").await;
    let (tx, mut events) = mpsc::channel(64);
    bounded(
        callee.register("com.example.stream", opts(), move |inv: Invocation| {
            let tx = tx.clone();
            async move {
                let _guard = OnDrop(tx.clone());
                let p = inv.progress.clone().expect("progress asked for");
                loop {
                    p.send(vec![Value::Int(1)], Dict::new()).await?;
                    let _ = tx.send("progress").await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }),
    )
    .await
    .unwrap();
    let got_one = Arc::new(Notify::new());
    let g = got_one.clone();
    let opts = CallOptions {
        on_progress: Some(Arc::new(move |_r: CallResult| g.notify_one())),
        ..Default::default()
    };
    let call = tokio::spawn({
        let caller = caller.clone();
        async move {
            caller
                .call("com.example.stream", vec![], Dict::new(), opts)
                .await
        }
    });
    bounded(got_one.notified()).await;
    bounded(caller.leave("wamp.close.normal")).await.unwrap();
    let e = bounded(call).await.unwrap().unwrap_err();
    assert_eq!(e.error, "wamp.close.goodbye_and_out");
    // The callee is interrupted and stays up.
    loop {
        match bounded(events.recv()).await {
            Some("progress") => continue,
            other => {
                assert_eq!(other, Some("dropped"));
                break;
            }
        }
    }
    assert!(!callee.is_closed());
    let other = join(&router, "other", "app").await;
    let e = bounded(other.call_simple("com.example.nothing", vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.error, "wamp.error.no_such_procedure");
}
