//! What `get_process_info` reports about a process, read from procfs: Crossbar.io's keys
//! (`descriptors`, `threads`, `files`, `sockets`) plus memory and CPU times.

use std::io;

use serde_json::{Value, json};

/// Process information of `pid` (any process we may read, so the controller can use it for
/// guest workers too).
pub fn process_info(pid: u32) -> io::Result<Value> {
    let dir = format!("/proc/{pid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
    let status = std::fs::read_to_string(format!("{dir}/status"))?;
    let fields = stat_fields(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot read {dir}/stat"),
        )
    })?;
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let secs = |i: usize| field(i).map(|t| t as f64 / ticks);
    let kb = |key: &str| {
        status_value(&status, key)
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|k| k * 1024)
    };

    let mut files = Vec::new();
    let mut sockets = Vec::new();
    let mut descriptors = 0u64;
    if let Ok(entries) = std::fs::read_dir(format!("{dir}/fd")) {
        for entry in entries.flatten() {
            descriptors += 1;
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            let fd: Option<u64> = entry.file_name().to_str().and_then(|s| s.parse().ok());
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                sockets.push(json!({"fd": fd, "inode": inode.parse::<u64>().ok()}));
            } else if target.starts_with('/')
                && !target.starts_with("/dev/")
                && std::fs::metadata(&target).is_ok_and(|m| m.is_file())
            {
                files.push(target);
            }
        }
    }
    files.sort();
    files.dedup();

    Ok(json!({
        "pid": pid,
        "name": status_value(&status, "Name"),
        "status": status_value(&status, "State"),
        "ppid": status_value(&status, "PPid").and_then(|p| p.parse::<u64>().ok()),
        "threads": status_value(&status, "Threads").and_then(|t| t.parse::<u64>().ok()),
        "descriptors": descriptors,
        "files": files,
        "sockets": sockets,
        "resident": kb("VmRSS"),
        "virtual": kb("VmSize"),
        "cpu_user": secs(STAT_UTIME),
        "cpu_system": secs(STAT_STIME),
        "nice": fields.get(STAT_NICE).and_then(|n| n.parse::<i64>().ok()),
        "cpus_allowed": status_value(&status, "Cpus_allowed_list"),
    }))
}

// Indexes into the fields after `comm` (field 3 of stat(5) is index 0).
const STAT_UTIME: usize = 11;
const STAT_STIME: usize = 12;
const STAT_NICE: usize = 16;

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and
/// parentheses, hence the last `)`).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

fn status_value(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process() {
        let info = process_info(std::process::id()).unwrap();
        assert_eq!(info["pid"], json!(std::process::id()));
        assert!(info["threads"].as_u64().unwrap() >= 1);
        assert!(info["resident"].as_u64().unwrap() > 0);
        assert!(info["descriptors"].as_u64().unwrap() >= 1);
        assert!(info["cpu_user"].as_f64().is_some());
    }

    #[test]
    fn stat_with_odd_names() {
        let f = stat_fields("12 (a) b (c)) S 1 2 3").unwrap();
        assert_eq!(f, vec!["S", "1", "2", "3"]);
    }
}
