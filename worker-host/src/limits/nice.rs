//! The nice value of every thread of a process.
//!
//! On Linux `setpriority(PRIO_PROCESS, id)` changes one thread only (the id is a thread id),
//! so, as with the CPU affinity, we set each thread and read each one back.

use std::collections::BTreeMap;

use rustix::process::{getpriority_process, setpriority_process};

use super::procfs::thread_ids;
use super::{LimitError, os_error, pid_of};

/// The range of nice values Linux accepts.
pub const NICE_RANGE: std::ops::RangeInclusive<i32> = -20..=19;

const PASSES: usize = 5;

/// The nice value of the process (its main thread).
pub fn nice(pid: u32) -> Result<i32, LimitError> {
    getpriority_process(Some(pid_of(pid as i32)?))
        .map_err(|e| os_error(pid, "getpriority", e.into()))
}

/// The nice value of every thread of `pid`, as `getpriority` reports it.
pub fn thread_nices(pid: u32) -> Result<BTreeMap<i32, i32>, LimitError> {
    let tids = thread_ids(pid).map_err(|e| os_error(pid, "listing threads", e))?;
    let mut out = BTreeMap::new();
    for tid in tids {
        match getpriority_process(Some(pid_of(tid)?)) {
            Ok(n) => {
                out.insert(tid, n);
            }
            Err(rustix::io::Errno::SRCH) => {}
            Err(e) => return Err(os_error(pid, &format!("thread {tid}"), e.into())),
        }
    }
    Ok(out)
}

/// Sets the nice value of every thread of `pid`; returns it as the kernel reports it after.
/// Lowering it below the current value needs `CAP_SYS_NICE` (or `RLIMIT_NICE`).
pub fn set_nice(pid: u32, value: i32) -> Result<i32, LimitError> {
    if !NICE_RANGE.contains(&value) {
        return Err(LimitError::InvalidArgument(format!(
            "nice value {value} is out of range {}..={}",
            NICE_RANGE.start(),
            NICE_RANGE.end()
        )));
    }
    let mut last_mismatch = String::new();
    for _ in 0..PASSES {
        let tids = thread_ids(pid).map_err(|e| os_error(pid, "listing threads", e))?;
        for tid in tids {
            match setpriority_process(Some(pid_of(tid)?), value) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e @ (rustix::io::Errno::ACCESS | rustix::io::Errno::PERM)) => {
                    return Err(os_error(
                        pid,
                        &format!(
                            "setting nice {value} on thread {tid} (lowering needs CAP_SYS_NICE)"
                        ),
                        e.into(),
                    ));
                }
                Err(e) => return Err(os_error(pid, &format!("thread {tid}"), e.into())),
            }
        }
        let actual = thread_nices(pid)?;
        match actual.iter().find(|(_, n)| **n != value) {
            None if !actual.is_empty() => return Ok(value),
            None => return Err(LimitError::NoSuchProcess(pid)),
            Some((tid, got)) => {
                last_mismatch =
                    format!("thread {tid} of process {pid} has nice {got} after setting {value}");
            }
        }
    }
    Err(LimitError::Mismatch(last_mismatch))
}
