//! The few `/proc` reads the limits need: a process's threads, one field of a thread's
//! `status`, its resource limits, and the kernel's CPU list syntax (`0-3,8`).

use std::io;
use std::path::PathBuf;

/// The directory of a process in procfs.
pub(crate) fn proc_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

/// The thread ids of `pid`, sorted. Threads come and go; a caller that must reach all of them
/// lists again after acting (see `affinity::set_all_threads`).
pub(crate) fn thread_ids(pid: u32) -> io::Result<Vec<i32>> {
    let mut tids = Vec::new();
    for entry in std::fs::read_dir(proc_dir(pid).join("task"))? {
        let entry = entry?;
        if let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            tids.push(tid);
        }
    }
    tids.sort_unstable();
    Ok(tids)
}

/// One `Key:\tvalue` field of `/proc/<pid>/task/<tid>/status`; `Ok(None)` when the thread is
/// gone (it exited between listing and reading).
pub(crate) fn thread_status_field(pid: u32, tid: i32, key: &str) -> io::Result<Option<String>> {
    let path = proc_dir(pid).join(format!("task/{tid}/status"));
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(status_field(&text, key))
}

/// The value of `key` in a `status`-style text.
pub(crate) fn status_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim().to_owned())
    })
}

/// The soft and hard limit of the row `name` of `/proc/<pid>/limits` (`None` = unlimited).
pub(crate) fn proc_limit(pid: u32, name: &str) -> io::Result<(Option<u64>, Option<u64>)> {
    let text = std::fs::read_to_string(proc_dir(pid).join("limits"))?;
    parse_limit_row(&text, name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no \"{name}\" row in /proc/{pid}/limits"),
        )
    })
}

fn parse_limit_row(text: &str, name: &str) -> Option<(Option<u64>, Option<u64>)> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let mut fields = line[name.len()..].split_whitespace();
    let parse = |f: Option<&str>| match f? {
        "unlimited" => Some(None),
        n => n.parse().ok().map(Some),
    };
    let soft = parse(fields.next())?;
    let hard = parse(fields.next())?;
    Some((soft, hard))
}

/// Parses the kernel's CPU list syntax (`Cpus_allowed_list`, `/sys/devices/system/cpu/online`):
/// comma-separated CPUs and inclusive ranges. Returns the sorted CPUs.
pub(crate) fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// The CPUs the kernel has online; `None` when that cannot be read.
pub(crate) fn online_cpus() -> Option<Vec<usize>> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2-4,7"), Some(vec![0, 2, 3, 4, 7]));
        assert_eq!(parse_cpu_list("3"), Some(vec![3]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("4-2"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn limit_rows() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max address space         536870912            unlimited            bytes     \n";
        assert_eq!(
            parse_limit_row(text, "Max address space"),
            Some((Some(536_870_912), None))
        );
        assert_eq!(parse_limit_row(text, "Max cpu time"), Some((None, None)));
        assert_eq!(parse_limit_row(text, "Max nothing"), None);
    }

    #[test]
    fn status_fields() {
        let text = "Name:\tx\nCpus_allowed_list:\t0-1\n";
        assert_eq!(
            status_field(text, "Cpus_allowed_list").as_deref(),
            Some("0-1")
        );
        assert_eq!(status_field(text, "Nope"), None);
    }

    #[test]
    fn own_threads_are_listed() {
        let tids = thread_ids(std::process::id()).unwrap();
        assert!(tids.contains(&(std::process::id() as i32)));
    }
}
