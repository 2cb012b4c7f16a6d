//! Resident memory and CPU time of a router from `/proc`: one process, or a process and its
//! descendants (a node whose router workers are child processes).

use std::fs;

/// `VmRSS` of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The parent pid of `pid` (field 4 of `/proc/<pid>/stat`, after the parenthesised name).
fn ppid(pid: u32) -> Option<u32> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and all its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, ppid(p)?)))
        .collect();
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// RSS of `pid` alone, or summed over its process tree.
pub fn rss_total_kib(pid: u32, with_tree: bool) -> Option<u64> {
    if !with_tree {
        return rss_kib(pid);
    }
    let pids = tree(pid);
    let mut sum = 0;
    for p in pids {
        // A child that exits between the scan and the read simply does not count.
        sum += rss_kib(p).unwrap_or(0);
    }
    rss_kib(pid).map(|_| sum)
}

/// User plus system CPU time of `pid` in clock ticks (fields 14 and 15 of `/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's clock ticks per second for `/proc` times (`getconf CLK_TCK`; 100 on Linux
/// everywhere this runs).
const CLK_TCK: f64 = 100.0;

/// CPU seconds (user + system) `pid` has used so far, or its whole process tree.
pub fn cpu_seconds(pid: u32, with_tree: bool) -> Option<f64> {
    let pids = if with_tree { tree(pid) } else { vec![pid] };
    let own = cpu_ticks(pid)?;
    let others: u64 = pids[1..].iter().filter_map(|p| cpu_ticks(*p)).sum();
    Some((own + others) as f64 / CLK_TCK)
}
