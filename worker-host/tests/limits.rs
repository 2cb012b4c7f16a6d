//! Limits set by pid — on this test process (every thread) and on a child process — checked
//! against what the kernel shows in `/proc`, independently of the code under test.

use std::process::{Child, Command};
use std::sync::{Arc, Barrier, Mutex};

use serde_json::json;
use worker_host::limits::{LimitError, MemoryMechanism, ProcessLimits};

/// Tests that change this process's limits must not overlap (they share its threads).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `sleep` child, killed on drop.
struct Sleeper(Child);

impl Sleeper {
    /// A `sleep` child, returned once it sleeps in `sleep` (not the forked copy of this test,
    /// and not mid-exec: the name changes before the program is mapped, when the new address
    /// space is a single page and a 4 KiB memory limit would look acceptable).
    fn start() -> Sleeper {
        let child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let stat = format!("/proc/{}/stat", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // `<pid> (sleep) S …`: the name and the state (S: sleeping in nanosleep).
        while std::fs::read_to_string(&stat)
            .map(|s| !s.contains("(sleep) S "))
            .unwrap_or(true)
        {
            assert!(std::time::Instant::now() < deadline, "sleep did not start");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Sleeper(child)
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Parked threads, released on drop.
struct Threads {
    release: Arc<Barrier>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Threads {
    fn spawn(n: usize) -> Threads {
        let started = Arc::new(Barrier::new(n + 1));
        let release = Arc::new(Barrier::new(n + 1));
        let handles = (0..n)
            .map(|_| {
                let (s, r) = (started.clone(), release.clone());
                std::thread::spawn(move || {
                    s.wait();
                    r.wait();
                })
            })
            .collect();
        started.wait();
        Threads { release, handles }
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.release.wait();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn parse_cpus(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

/// `Cpus_allowed_list` of every thread of `pid`, straight from procfs.
fn kernel_affinities(pid: u32) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid = e.unwrap().file_name().into_string().unwrap();
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")) else {
            continue;
        };
        let line = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap();
        out.push((tid, parse_cpus(line.split_once(':').unwrap().1)));
    }
    out
}

/// The nice value of every thread of `pid` (field 19 of `/proc/<pid>/task/<tid>/stat`).
fn kernel_nices(pid: u32) -> Vec<i64> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid = e.unwrap().file_name().into_string().unwrap();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else {
            continue;
        };
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        out.push(after_comm.split(' ').nth(16).unwrap().parse().unwrap());
    }
    out
}

/// Soft `Max address space` of `pid` from `/proc/<pid>/limits` (`None`: unlimited).
fn kernel_rlimit_as(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .unwrap();
    let soft = line["Max address space".len()..]
        .split_whitespace()
        .next()
        .unwrap();
    (soft != "unlimited").then(|| soft.parse().unwrap())
}

#[test]
fn affinity_of_this_process_reaches_every_thread() {
    let _s = serial();
    let _threads = Threads::spawn(6);
    let me = std::process::id();
    let limits = ProcessLimits::of_self().unwrap();
    let base = limits.base_cpus().to_vec();
    assert!(!base.is_empty());
    assert!(kernel_affinities(me).len() >= 7, "threads are running");

    // The last allowed CPU, as a relative index (Crossbar.io's default).
    let target = vec![*base.last().unwrap()];
    let got = limits.set_cpu_affinity(&[base.len() - 1], true).unwrap();
    assert_eq!(got, target);
    for (tid, cpus) in kernel_affinities(me) {
        assert_eq!(cpus, target, "thread {tid}");
    }
    assert_eq!(limits.cpu_affinity().unwrap(), target);

    // A thread started now inherits it; absolute CPU 0-style call works too.
    let first = vec![base[0]];
    assert_eq!(limits.set_cpu_affinity(&first, false).unwrap(), first);
    let _more = Threads::spawn(2);
    for (tid, cpus) in kernel_affinities(me) {
        assert_eq!(cpus, first, "thread {tid}");
    }

    // null restores the CPUs the process started with, on every thread.
    let change = limits.set_limit("cpu_affinity", &json!(null)).unwrap();
    assert_eq!(change.old, json!(first));
    assert_eq!(change.new, json!(base));
    for (tid, cpus) in kernel_affinities(me) {
        assert_eq!(cpus, base, "thread {tid}");
    }
}

#[test]
fn bad_cpus_are_refused_clearly() {
    let _s = serial();
    let limits = ProcessLimits::of_self().unwrap();
    let n = limits.base_cpus().len();
    let e = limits.set_cpu_affinity(&[n], true).unwrap_err();
    assert!(matches!(e, LimitError::InvalidArgument(_)), "{e}");
    assert_eq!(e.error_uri(), "crossbar.error.invalid_argument");
    assert!(e.to_string().contains("out of range"), "{e}");
    let e = limits.set_cpu_affinity(&[100_000], false).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = limits.set_cpu_affinity(&[], false).unwrap_err();
    assert!(matches!(e, LimitError::InvalidArgument(_)), "{e}");
    let e = limits.set_limit("cpu_affinity", &json!("0-1")).unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.invalid_argument");
    let e = limits.get_limit("cpu_speed").unwrap_err();
    assert_eq!(e.error_uri(), "crossbar.error.no_such_object");
    // Nothing changed.
    assert_eq!(limits.cpu_affinity().unwrap(), limits.base_cpus());
}

#[test]
fn affinity_of_a_child_process() {
    let child = Sleeper::start();
    let limits = ProcessLimits::of_pid(child.pid()).unwrap();
    let base = limits.base_cpus().to_vec();
    let target = vec![*base.last().unwrap()];
    let change = limits.set_limit("cpu_affinity", &json!(target)).unwrap();
    assert_eq!(change.old, json!(base));
    assert_eq!(change.new, json!(target));
    for (tid, cpus) in kernel_affinities(child.pid()) {
        assert_eq!(cpus, target, "thread {tid}");
    }
    let change = limits
        .set_limit("cpu_affinity", &json!({"cpus": [0], "relative": true}))
        .unwrap();
    assert_eq!(change.new, json!([base[0]]));
    assert_eq!(kernel_affinities(child.pid())[0].1, vec![base[0]]);
    assert_eq!(
        limits.get_limits().unwrap()["cpu_affinity"],
        json!([base[0]])
    );
}

#[test]
fn nice_round_trip_on_a_child() {
    let child = Sleeper::start();
    let limits = ProcessLimits::of_pid(child.pid()).unwrap();
    let base = limits.nice().unwrap();
    let target = (base + 5).min(19);
    let change = limits.set_limit("nice", &json!(target)).unwrap();
    assert_eq!((change.old, change.new), (json!(base), json!(target)));
    assert_eq!(kernel_nices(child.pid()), vec![i64::from(target)]);
    assert_eq!(limits.get_limit("nice").unwrap(), json!(target));

    for bad in [json!(20), json!(-21), json!("5"), json!(2.5)] {
        let e = limits.set_limit("nice", &bad).unwrap_err();
        assert_eq!(
            e.error_uri(),
            "crossbar.error.invalid_argument",
            "{bad}: {e}"
        );
    }
    assert_eq!(limits.get_limit("nice").unwrap(), json!(target));

    // null: back to the nice value the child had (lowering it needs CAP_SYS_NICE).
    match limits.set_limit("nice", &json!(null)) {
        Ok(change) => {
            assert_eq!(change.new, json!(base));
            assert_eq!(kernel_nices(child.pid()), vec![i64::from(base)]);
        }
        Err(e) => assert!(e.to_string().contains("CAP_SYS_NICE"), "{e}"),
    }
}

#[test]
fn nice_reaches_every_thread_of_this_process() {
    let _s = serial();
    let _threads = Threads::spawn(4);
    let me = std::process::id();
    let limits = ProcessLimits::of_self().unwrap();
    let base = limits.nice().unwrap();
    let target = (base + 2).min(19);
    assert_eq!(limits.set_nice(Some(target)).unwrap(), target);
    let nices = kernel_nices(me);
    assert!(nices.len() >= 5);
    assert!(nices.iter().all(|n| *n == i64::from(target)), "{nices:?}");
    let _ = limits.set_nice(None); // needs CAP_SYS_NICE; harmless if refused
}

#[test]
fn memory_limit_round_trip_on_a_child() {
    let child = Sleeper::start();
    let limits = ProcessLimits::of_pid(child.pid()).unwrap();
    let before = limits.memory().unwrap();
    assert_eq!(
        before.mechanism,
        MemoryMechanism::RlimitAs,
        "sleep shares our cgroup"
    );

    let change = limits.set_limit("memory", &json!("512M")).unwrap();
    assert_eq!(change.old, json!(before.bytes));
    assert_eq!(change.new, json!(512u64 << 20));
    assert_eq!(kernel_rlimit_as(child.pid()), Some(512 << 20));
    assert_eq!(limits.get_limit("memory").unwrap(), json!(512u64 << 20));

    let change = limits.set_limit("memory", &json!(1u64 << 30)).unwrap();
    assert_eq!(change.new, json!(1u64 << 30));
    assert_eq!(kernel_rlimit_as(child.pid()), Some(1 << 30));

    for bad in [json!(-1), json!(0), json!("lots"), json!(4096)] {
        let e = limits.set_limit("memory", &bad).unwrap_err();
        assert_eq!(
            e.error_uri(),
            "crossbar.error.invalid_argument",
            "{bad}: {e}"
        );
    }
    assert_eq!(kernel_rlimit_as(child.pid()), Some(1 << 30));

    let change = limits.set_limit("memory", &json!(null)).unwrap();
    assert_eq!(change.new, json!(before.bytes));
    assert_eq!(kernel_rlimit_as(child.pid()), before.bytes);
}

#[test]
fn a_process_that_is_gone() {
    let e = ProcessLimits::of_pid(0x3fff_fff0).unwrap_err();
    assert!(matches!(e, LimitError::NoSuchProcess(_)), "{e}");
    assert_eq!(e.error_uri(), "crossbar.error.not_running");

    let mut child = Sleeper::start();
    let limits = ProcessLimits::of_pid(child.pid()).unwrap();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let e = limits.set_limit("nice", &json!(3)).unwrap_err();
    assert!(matches!(e, LimitError::NoSuchProcess(_)), "{e}");
}
