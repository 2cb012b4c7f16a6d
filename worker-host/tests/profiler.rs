//! Profiles of this test process while a thread burns CPU in a known function.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mgmt_api::vocabulary::Status;
use pprof::protos::Message as _;
use tokio::sync::mpsc;
use worker_host::profiler::{ProfileError, ProfileEvent, Profiler};

const WAIT: Duration = Duration::from_secs(30);

#[inline(never)]
fn busy_spin_for_profile(stop: &AtomicBool) -> u64 {
    let mut x = 1u64;
    while !stop.load(Ordering::Relaxed) {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    x
}

/// A thread spinning in [`busy_spin_for_profile`] until dropped.
struct Burner(Arc<AtomicBool>, Option<std::thread::JoinHandle<u64>>);

impl Burner {
    fn start() -> Burner {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let h = std::thread::Builder::new()
            .name("burner".into())
            .spawn(move || busy_spin_for_profile(&s))
            .unwrap();
        Burner(stop, Some(h))
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<ProfileEvent>) -> ProfileEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("event in time")
        .expect("events go on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_of_a_busy_loop() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let profiler = Profiler::new(Some(tx));
    let _burner = Burner::start();

    let info = profiler
        .start("vmprof", Duration::from_millis(1500))
        .unwrap();
    assert_eq!(info.profiler, "pprof");
    assert_eq!(info.status, Status::Starting);
    assert_eq!(profiler.profilers()[0]["state"], "running");

    // One profile at a time.
    let e = profiler.start("pprof", Duration::from_secs(1)).unwrap_err();
    assert!(
        matches!(e, ProfileError::AlreadyRunning(ref id) if *id == info.id),
        "{e}"
    );
    assert_eq!(e.error_uri(), "crossbar.error.already_running");
    assert_eq!(profiler.list(true).len(), 1);
    // In the whole process: the sampler is a process-wide signal handler.
    let e = Profiler::default()
        .start("pprof", Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.already_running");

    let t0 = Instant::now();
    let done = tokio::time::timeout(WAIT, profiler.wait(&info.id))
        .await
        .expect("profile ends in time")
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(1000),
        "it ran for its runtime"
    );
    assert_eq!(done.status, Status::Stopped, "{:?}", done.error);
    assert!(done.ended.is_some());
    // 100 Hz of CPU time; the machine may be busy with other work, so only a few are certain.
    assert!(done.samples >= 5, "samples: {}", done.samples);

    let mut seen = Vec::new();
    for _ in 0..4 {
        let ev = next(&mut events).await;
        assert_eq!(ev.info.id, info.id);
        seen.push((ev.old, ev.new));
    }
    assert_eq!(
        seen,
        vec![
            (None, Status::Starting),
            (Some(Status::Starting), Status::Started),
            (Some(Status::Started), Status::Stopping),
            (Some(Status::Stopping), Status::Stopped),
        ]
    );

    let (_, output) = profiler.get(&info.id).unwrap();
    let output = output.expect("a stopped profile has its data");
    assert!(
        output.folded.contains("busy_spin_for_profile"),
        "folded stacks:\n{}",
        &output.folded[..output.folded.len().min(3000)]
    );
    assert!(output.folded.lines().any(|l| l.starts_with("burner;")));
    assert!(!output.folded.contains("perf_signal_handler"));
    assert!(output.flamegraph.contains("<svg"), "an SVG");
    assert!(output.flamegraph.contains("busy_spin_for_profile"));
    let proto = pprof::protos::Profile::decode(output.pprof.as_slice()).expect("pprof protobuf");
    assert!(!proto.sample.is_empty());
    assert!(
        proto
            .string_table
            .iter()
            .any(|s| s.contains("busy_spin_for_profile"))
    );

    assert!(profiler.list(true).is_empty());
    assert_eq!(profiler.list(false).len(), 1);
    assert_eq!(profiler.profilers()[0]["state"], "stopped");
    let e = profiler.stop(&info.id).unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.not_running");

    // A long profile stopped early ends at once, with what it sampled.
    let long = profiler.start("pprof", Duration::from_secs(600)).unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    profiler.stop(&long.id).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(20), profiler.wait(&long.id))
        .await
        .expect("a stopped profile ends")
        .unwrap();
    assert_eq!(done.status, Status::Stopped);
    assert!(done.samples > 0);
    let (_, output) = profiler.get(&long.id).unwrap();
    assert!(output.unwrap().folded.contains("busy_spin_for_profile"));
}

#[test]
fn bad_requests() {
    let profiler = Profiler::default();
    let e = profiler.start("yappi", Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.invalid_argument");
    let e = profiler
        .start("pprof", Duration::from_secs(7200))
        .unwrap_err();
    assert!(e.to_string().contains("runtime"), "{e}");
    let e = profiler.start("pprof", Duration::ZERO).unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.invalid_argument");
    let e = profiler.get("nope").unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.no_such_object");
    let e = profiler.stop("nope").unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.no_such_object");
    assert!(profiler.list(false).is_empty());
}
