//! The process API over a real router: a worker session serves it on realm `crossbar` with the
//! worker's role, a trusted client calls it, a trusted observer watches the events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mgmt_api::procedures::process::ALL as PROCEDURES;
use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::authorization::{Allow, Disclose, Permission, RoleConfig};
use router_core::client::{CallError, CallOptions, Event, JoinOptions, Session, SubscribeOptions};
use router_core::uri::MatchPolicy;
use router_core::value::{Dict, List, Value};
use router_core::{ConnectionInfo, RealmConfig, Router};
use tokio::sync::mpsc;
use worker_host::process_api::{ProcessApi, serve_process_api};

const WAIT: Duration = Duration::from_secs(30);
const WORKER: &str = "worker1";
const PREFIX: &str = "crossbar.worker.worker1";

/// The tests change this process's limits and run profiles: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn conn(authid: &str, authrole: &str) -> ConnectionInfo {
    ConnectionInfo {
        transport: Arc::new(TransportInfo::new("test", "local", "test")),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: "crossbar".into(),
            authid: Some(authid.into()),
            authrole: authrole.into(),
        }),
    }
}

/// The management realm of the contract: `trusted`, and the worker's role confined to its
/// own prefix.
fn router() -> Arc<Router> {
    let router = Router::new();
    let mut cfg = RealmConfig::new("crossbar");
    cfg.roles = vec![RoleConfig {
        id: None,
        name: PREFIX.into(),
        permissions: vec![Permission {
            id: None,
            uri: format!("{PREFIX}."),
            match_: Some(MatchPolicy::Prefix),
            allow: Allow {
                call: true,
                register: true,
                publish: true,
                subscribe: true,
            },
            disclose: Disclose::default(),
            cache: false,
            validate: None,
        }],
        authorizer: None,
        allow_by_default: false,
    }];
    let realm = router.start_realm(cfg).expect("realm starts");
    realm.add_trusted_role("trusted");
    router
}

async fn join(router: &Arc<Router>, authid: &str, authrole: &str) -> Session {
    tokio::time::timeout(
        WAIT,
        Session::join_local(
            router,
            conn(authid, authrole),
            JoinOptions::realm("crossbar"),
        ),
    )
    .await
    .expect("join in time")
    .expect("join")
}

struct Setup {
    _router: Arc<Router>,
    _worker: Session,
    api: ProcessApi,
    client: Session,
    observer: Session,
}

async fn setup() -> Setup {
    let router = router();
    let worker = join(&router, WORKER, PREFIX).await;
    let api = serve_process_api(worker.clone(), WORKER)
        .await
        .expect("serve");
    let client = join(&router, "admin", "trusted").await;
    let observer = join(&router, "observer", "trusted").await;
    Setup {
        _router: router,
        _worker: worker,
        api,
        client,
        observer,
    }
}

async fn call(s: &Session, proc_: &str, args: List, kwargs: Dict) -> Result<Value, CallError> {
    let opts = CallOptions {
        timeout: Some(WAIT),
        ..CallOptions::default()
    };
    s.call(&format!("{PREFIX}.{proc_}"), args, kwargs, opts)
        .await
        .map(|r| r.value())
}

async fn ok(s: &Session, proc_: &str, args: List) -> Value {
    call(s, proc_, args, Dict::new())
        .await
        .unwrap_or_else(|e| panic!("{proc_}: {e}"))
}

async fn err(s: &Session, proc_: &str, args: List, kwargs: Dict) -> CallError {
    match call(s, proc_, args, kwargs).await {
        Ok(v) => panic!("{proc_} should fail, returned {v:?}"),
        Err(e) => e,
    }
}

async fn watch(s: &Session, event: &str) -> mpsc::Receiver<Event> {
    s.subscribe_stream(
        &format!("{PREFIX}.{event}"),
        SubscribeOptions::default(),
        64,
    )
    .await
    .expect("subscribe")
    .1
}

async fn next(rx: &mut mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("event in time")
        .expect("subscription open")
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_list()
        .unwrap_or_else(|| panic!("a list: {v:?}"))
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect()
}

/// `Cpus_allowed_list` of every thread of this process, straight from procfs.
fn thread_cpus() -> Vec<String> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{me}/task")).unwrap() {
        let tid = e.unwrap().file_name().into_string().unwrap();
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{me}/task/{tid}/status")) {
            let l = s
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .unwrap();
            out.push(l.split_once(':').unwrap().1.trim().to_owned());
        }
    }
    out
}

fn kw(pairs: &[(&str, Value)]) -> Dict {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn limits_over_wamp() {
    let _s = SERIAL.lock().await;
    let t = setup().await;
    assert_eq!(t.api.registrations().len(), PROCEDURES.len());
    let mut affinity_events = watch(&t.observer, "on_cpu_affinity_set").await;
    let mut limit_events = watch(&t.observer, "on_limit_set").await;

    let base = ints(&ok(&t.client, "get_cpu_affinity", vec![]).await);
    assert!(!base.is_empty());

    // Crossbar.io's call: relative index 0 by default.
    let got = ints(
        &ok(
            &t.client,
            "set_cpu_affinity",
            vec![Value::List(vec![0.into()])],
        )
        .await,
    );
    assert_eq!(got, vec![base[0]]);
    let expect = base[0].to_string();
    let cpus = thread_cpus();
    assert!(cpus.len() > 3, "a multi-threaded process");
    assert!(cpus.iter().all(|c| *c == expect), "every thread: {cpus:?}");
    let ev = next(&mut affinity_events).await;
    let info = ev.args[0].as_dict().unwrap();
    assert_eq!(ints(&info["affinity"]), vec![base[0]]);
    assert_eq!(info["relative"], Value::Bool(true));
    assert!(info["who"].as_u64().is_some(), "the caller: {info:?}");
    let ev = next(&mut limit_events).await;
    assert_eq!(ev.args[0], Value::from("cpu_affinity"));
    assert_eq!(ints(&ev.args[1]), base);
    assert_eq!(ints(&ev.args[2]), vec![base[0]]);

    // Out of range, by index and by id.
    let n = base.len() as u64;
    let e = err(
        &t.client,
        "set_cpu_affinity",
        vec![Value::List(vec![n.into()])],
        Dict::new(),
    )
    .await;
    assert_eq!(e.error, "crossbar.error.invalid_argument", "{e}");
    let e = err(
        &t.client,
        "set_cpu_affinity",
        vec![Value::List(vec![4096.into()]), false.into()],
        Dict::new(),
    )
    .await;
    assert_eq!(e.error, "crossbar.error.invalid_argument", "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = err(&t.client, "set_cpu_affinity", vec!["0".into()], Dict::new()).await;
    assert_eq!(e.error, "crossbar.error.invalid_argument", "{e}");

    // get_limits / set_limit: nice, memory, and the CPUs back to where they were.
    let limits = ok(&t.client, "get_limits", vec![]).await;
    let limits = limits.as_dict().unwrap();
    assert_eq!(limits.len(), 3, "{limits:?}");
    let nice = limits["nice"].as_i64().unwrap();
    let target = (nice + 1).min(19);
    let new = ok(&t.client, "set_limit", vec!["nice".into(), target.into()]).await;
    assert_eq!(new.as_i64(), Some(target));
    assert_eq!(
        ok(&t.client, "get_limit", vec!["nice".into()])
            .await
            .as_i64(),
        Some(target)
    );
    let ev = next(&mut limit_events).await;
    assert_eq!(ev.args, vec!["nice".into(), nice.into(), target.into()]);

    let tib = 1u64 << 40;
    let new = call(
        &t.client,
        "set_limit",
        vec![],
        kw(&[("limit_id", "memory".into()), ("setting", "1T".into())]),
    )
    .await
    .unwrap();
    assert_eq!(new.as_u64(), Some(tib));
    let ev = next(&mut limit_events).await;
    assert_eq!(ev.args[0], Value::from("memory"));
    assert_eq!(ev.args[2].as_u64(), Some(tib));
    let new = ok(&t.client, "set_limit", vec!["memory".into(), Value::Null]).await;
    assert_eq!(new, limits["memory"], "null restores the limit it had");

    let e = err(
        &t.client,
        "set_limit",
        vec!["memory".into(), (-5).into()],
        Dict::new(),
    )
    .await;
    assert_eq!(e.error, "crossbar.error.invalid_argument", "{e}");
    assert!(e.to_string().contains("negative"), "{e}");
    let e = err(&t.client, "set_limit", vec!["nice".into()], Dict::new()).await;
    assert_eq!(e.error, "crossbar.error.invalid_argument", "{e}");
    let e = err(
        &t.client,
        "set_limit",
        vec!["bogus".into(), 1.into()],
        Dict::new(),
    )
    .await;
    assert_eq!(e.error, "crossbar.error.no_such_object", "{e}");
    let e = err(&t.client, "get_limit", vec![], Dict::new()).await;
    assert_eq!(e.error, "crossbar.error.invalid_argument", "{e}");

    let back = ok(
        &t.client,
        "set_limit",
        vec!["cpu_affinity".into(), Value::Null],
    )
    .await;
    assert_eq!(ints(&back), base);
    let _ = t.api.set_limit("nice", serde_json::json!(null)).await; // needs CAP_SYS_NICE

    let info = ok(&t.client, "get_process_info", vec![]).await;
    let info = info.as_dict().unwrap();
    assert_eq!(info["pid"].as_u64(), Some(u64::from(std::process::id())));
    assert!(info["threads"].as_u64().unwrap() > 3);
    assert!(info["resident"].as_u64().unwrap() > 0);
    assert!(info["descriptors"].as_u64().unwrap() > 0);
    assert!(info["files"].as_list().is_some() && info["sockets"].as_list().is_some());
}

#[inline(never)]
fn spin_for_process_api_profile(stop: &AtomicBool) -> u64 {
    let mut x = 7u64;
    while !stop.load(Ordering::Relaxed) {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.rotate_left(5) ^ i);
        }
    }
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_over_wamp() {
    let _s = SERIAL.lock().await;
    let t = setup().await;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let burner = std::thread::spawn(move || spin_for_process_api_profile(&s));

    let mut status = watch(&t.observer, "on_profile_status").await;
    let mut started = watch(&t.observer, "on_profile_started").await;
    let mut finished = watch(&t.observer, "on_profile_finished").await;

    let profilers = ok(&t.client, "get_profilers", vec![]).await;
    assert_eq!(
        profilers.as_list().unwrap()[0].as_dict().unwrap()["id"],
        "pprof".into()
    );

    // Crossbar.io's defaults by keyword: vmprof, asynchronous.
    let r = call(
        &t.client,
        "start_profiler",
        vec![],
        kw(&[("runtime", 1.into())]),
    )
    .await
    .unwrap();
    let r = r.as_dict().unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["async"], Value::Bool(true));
    assert_eq!(r["profiler"], "pprof".into());

    let e = err(
        &t.client,
        "start_profiler",
        vec!["pprof".into(), 1.into()],
        Dict::new(),
    )
    .await;
    assert_eq!(e.error, "crossbar.error.already_running", "{e}");
    let running = ok(&t.client, "get_profiles", vec![true.into()]).await;
    let running = running.as_list().unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].as_list().unwrap()[0], id.as_str().into());

    let mut seen = Vec::new();
    for _ in 0..4 {
        let ev = next(&mut status).await;
        assert_eq!(ev.args[0], id.as_str().into());
        seen.push((ev.args[1].clone(), ev.args[2].clone()));
    }
    assert_eq!(
        seen,
        vec![
            (Value::Null, "starting".into()),
            ("starting".into(), "started".into()),
            ("started".into(), "stopping".into()),
            ("stopping".into(), "stopped".into()),
        ]
    );
    let ev = next(&mut started).await;
    assert_eq!(ev.args[0].as_dict().unwrap()["id"], id.as_str().into());
    let ev = next(&mut finished).await;
    let fin = ev.args[0].as_dict().unwrap();
    assert_eq!(fin["id"], id.as_str().into());
    assert_eq!(fin["error"], Value::Null);

    let listed = ok(&t.client, "get_profiles", vec![]).await;
    let entry = listed.as_list().unwrap()[0].as_list().unwrap().clone();
    assert_eq!(entry[1], "stopped".into());
    assert!(entry[2].as_str().is_some(), "ended: {entry:?}");
    assert!(
        ok(&t.client, "get_profiles", vec![true.into()])
            .await
            .as_list()
            .unwrap()
            .is_empty()
    );

    let p = ok(&t.client, "get_profile", vec![id.as_str().into()]).await;
    let p = p.as_dict().unwrap();
    assert_eq!(p["status"], "stopped".into());
    let folded = p["folded"].as_str().unwrap();
    assert!(folded.contains("spin_for_process_api_profile"), "{folded}");
    assert!(p["flamegraph"].as_str().unwrap().contains("<svg"));
    match &p["pprof"] {
        Value::Bytes(b) => assert!(!b.is_empty()),
        other => panic!("pprof bytes, got {}", other.type_name()),
    }

    // Synchronous: the result is the profile.
    let p = ok(
        &t.client,
        "start_profiler",
        vec!["vmprof".into(), 1.into(), false.into()],
    )
    .await;
    let p = p.as_dict().unwrap();
    assert_eq!(p["status"], "stopped".into());
    assert!(
        p["folded"]
            .as_str()
            .unwrap()
            .contains("spin_for_process_api_profile")
    );

    // A long one, stopped early.
    let r = ok(
        &t.client,
        "start_profiler",
        vec!["pprof".into(), 600.into()],
    )
    .await;
    let long = r.as_dict().unwrap()["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    ok(&t.client, "stop_profiler", vec![long.as_str().into()]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let p = ok(&t.client, "get_profile", vec![long.as_str().into()]).await;
        if p.as_dict().unwrap()["status"] == "stopped".into() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stopped in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for (args, uri) in [
        (vec!["yappi".into()], "crossbar.error.invalid_argument"),
        (
            vec!["pprof".into(), 0.into()],
            "crossbar.error.invalid_argument",
        ),
        (
            vec!["pprof".into(), 7200.into()],
            "crossbar.error.invalid_argument",
        ),
        (
            vec!["pprof".into(), "ten".into()],
            "crossbar.error.invalid_argument",
        ),
    ] {
        let e = err(&t.client, "start_profiler", args.clone(), Dict::new()).await;
        assert_eq!(e.error, uri, "{args:?}: {e}");
    }
    let e = err(&t.client, "get_profile", vec!["nope".into()], Dict::new()).await;
    assert_eq!(e.error, "crossbar.error.no_such_object");
    let e = err(
        &t.client,
        "stop_profiler",
        vec![id.as_str().into()],
        Dict::new(),
    )
    .await;
    assert_eq!(e.error, "crossbar.error.not_running");

    stop.store(true, Ordering::Relaxed);
    burner.join().unwrap();
}

#[tokio::test]
async fn the_worker_role_confines_the_api_to_its_prefix() {
    let router = router();
    let worker = join(&router, WORKER, PREFIX).await;
    // Another worker's id is outside this session's role: registering is refused.
    let e = serve_process_api(worker, "worker2")
        .await
        .err()
        .expect("refused");
    assert_eq!(e.error_uri(), Some("wamp.error.not_authorized"), "{e}");
}
