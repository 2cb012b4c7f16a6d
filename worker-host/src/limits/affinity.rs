//! CPU affinity of every thread of a process.
//!
//! `sched_setaffinity` acts on one thread, and a process's threads keep what they had, so a
//! worker pinned through its main thread alone would go on running its runtime threads
//! anywhere. We set each thread in `/proc/<pid>/task` and check each one's
//! `Cpus_allowed_list` afterwards; threads started in between inherit from a thread that may
//! not have been set yet, hence a few passes.

use std::collections::BTreeMap;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

use super::procfs::{self, parse_cpu_list, thread_ids, thread_status_field};
use super::{LimitError, os_error, pid_of};

/// How often we list the threads again when new ones appeared while setting.
const PASSES: usize = 5;

/// The affinity of the process (its main thread), as the kernel reports it.
pub fn cpu_affinity(pid: u32) -> Result<Vec<usize>, LimitError> {
    let set = sched_getaffinity(Some(pid_of(pid as i32)?))
        .map_err(|e| os_error(pid, "sched_getaffinity", e.into()))?;
    Ok((0..CpuSet::MAX_CPU).filter(|c| set.is_set(*c)).collect())
}

/// The affinity of every thread of `pid`, read from `/proc/<pid>/task/<tid>/status`.
pub fn thread_affinities(pid: u32) -> Result<BTreeMap<i32, Vec<usize>>, LimitError> {
    let tids = thread_ids(pid).map_err(|e| os_error(pid, "listing threads", e))?;
    let mut out = BTreeMap::new();
    for tid in tids {
        let field = thread_status_field(pid, tid, "Cpus_allowed_list")
            .map_err(|e| os_error(pid, "reading thread status", e))?;
        if let Some(list) = field {
            let cpus = parse_cpu_list(&list).ok_or_else(|| {
                LimitError::Mismatch(format!(
                    "thread {tid}: cannot read Cpus_allowed_list {list:?}"
                ))
            })?;
            out.insert(tid, cpus);
        }
    }
    Ok(out)
}

/// Checks absolute CPU ids: at least one, each one online. Returns them sorted, deduplicated.
pub fn validate_cpus(cpus: &[usize]) -> Result<Vec<usize>, LimitError> {
    if cpus.is_empty() {
        return Err(LimitError::InvalidArgument(
            "the CPU list is empty: a process needs at least one CPU".into(),
        ));
    }
    let online = procfs::online_cpus();
    for &cpu in cpus {
        let exists = match &online {
            Some(online) => online.contains(&cpu),
            None => cpu < CpuSet::MAX_CPU,
        };
        if !exists {
            let known = online
                .as_deref()
                .map(join)
                .unwrap_or_else(|| format!("0..{}", CpuSet::MAX_CPU));
            return Err(LimitError::InvalidArgument(format!(
                "CPU {cpu} does not exist (online CPUs: {known})"
            )));
        }
    }
    let mut cpus = cpus.to_vec();
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Maps indexes into `base` (the process's CPUs when it started) to CPU ids, as Crossbar.io's
/// `set_cpu_affinity(cpus, relative=True)` does.
pub fn resolve_relative(indexes: &[usize], base: &[usize]) -> Result<Vec<usize>, LimitError> {
    indexes
        .iter()
        .map(|&i| {
            base.get(i).copied().ok_or_else(|| {
                LimitError::InvalidArgument(format!(
                    "CPU index {i} is out of range: the process may use {} CPU(s) ({}), \
                     indexes 0..{}",
                    base.len(),
                    join(base),
                    base.len()
                ))
            })
        })
        .collect()
}

/// Sets the affinity of every thread of `pid` to `cpus` (absolute ids) and returns the
/// affinity every thread has afterwards, as the kernel reports it.
pub fn set_cpu_affinity(pid: u32, cpus: &[usize]) -> Result<Vec<usize>, LimitError> {
    let cpus = validate_cpus(cpus)?;
    let mut set = CpuSet::new();
    for &c in &cpus {
        set.set(c);
    }
    let mut last_mismatch = String::new();
    for _ in 0..PASSES {
        let tids = thread_ids(pid).map_err(|e| os_error(pid, "listing threads", e))?;
        for tid in tids {
            match sched_setaffinity(Some(pid_of(tid)?), &set) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e) => return Err(os_error(pid, &format!("thread {tid}"), e.into())),
            }
        }
        let actual = thread_affinities(pid)?;
        match actual.iter().find(|(_, c)| **c != cpus) {
            None if !actual.is_empty() => return Ok(cpus),
            None => return Err(LimitError::NoSuchProcess(pid)),
            Some((tid, got)) => {
                last_mismatch = format!(
                    "thread {tid} of process {pid} has CPUs {} after setting {}",
                    join(got),
                    join(&cpus)
                );
            }
        }
    }
    Err(LimitError::Mismatch(last_mismatch))
}

pub(crate) fn join(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_indexes() {
        assert_eq!(resolve_relative(&[1, 0], &[2, 5]).unwrap(), vec![5, 2]);
        let e = resolve_relative(&[2], &[2, 5]).unwrap_err();
        assert!(matches!(e, LimitError::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn absolute_ids() {
        assert!(validate_cpus(&[]).is_err());
        assert!(validate_cpus(&[100_000]).is_err());
        assert_eq!(validate_cpus(&[0, 0]).unwrap(), vec![0]);
    }
}
