//! Processes of a node as the tests see them through `/proc`: alive or not, by process group,
//! gone within a bound (no orphans).

use std::time::{Duration, Instant};

/// Is the process alive (not gone, not a zombie)?
pub fn alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Live processes whose process group is `pgid`.
pub fn group_members(pgid: u64) -> Vec<u64> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // state ppid pgrp …
        if f.len() > 2 && f[0] != "Z" && f[2].parse::<u64>().ok() == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

/// Waits (bounded) until none of `pids` runs and none has group members left; panics otherwise.
pub fn wait_gone(pids: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if pids
            .iter()
            .all(|&p| !alive(p) && group_members(p).is_empty())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = pids
        .iter()
        .map(|&p| (p, alive(p), group_members(p)))
        .collect();
    panic!("worker processes left behind: {left:?}");
}
