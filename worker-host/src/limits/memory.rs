//! The memory limit of a process: cgroup v2 `memory.max` where the process has a cgroup of its
//! own that we may write, else its `RLIMIT_AS` soft limit.
//!
//! A cgroup limit counts what the process really uses (RSS, page cache) and is what one wants;
//! but `memory.max` limits every process of the cgroup, so we only use it when the process is
//! alone in a non-root cgroup (as under a per-worker systemd scope). Otherwise limiting the
//! worker would limit its siblings, the controller, or the whole container. `RLIMIT_AS` limits
//! the address space instead: allocations beyond it fail inside the process (no OOM kill).

use std::io;
use std::path::{Path, PathBuf};

use rustix::process::{Resource, Rlimit, prlimit};

use super::procfs::{proc_dir, proc_limit, status_field};
use super::{LimitError, os_error, pid_of};

/// The `/proc/<pid>/limits` row of `RLIMIT_AS`.
const AS_ROW: &str = "Max address space";

/// How a memory limit is enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryMechanism {
    /// `memory.max` of the process's own cgroup (the directory).
    Cgroup(PathBuf),
    /// The soft `RLIMIT_AS` of the process.
    RlimitAs,
}

impl MemoryMechanism {
    pub fn as_str(&self) -> &'static str {
        match self {
            MemoryMechanism::Cgroup(_) => "cgroup",
            MemoryMechanism::RlimitAs => "rlimit_as",
        }
    }
}

/// A memory limit as the kernel reports it; `bytes: None` is no limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: Option<u64>,
    pub mechanism: MemoryMechanism,
}

/// The memory limit of `pid`: its cgroup's `memory.max` if it has a cgroup of its own, else
/// its soft `RLIMIT_AS`.
pub fn memory_limit(pid: u32) -> Result<MemoryLimit, LimitError> {
    if let Some(dir) = dedicated_cgroup(pid) {
        let bytes = read_memory_max(&dir).map_err(|e| os_error(pid, "reading memory.max", e))?;
        return Ok(MemoryLimit {
            bytes,
            mechanism: MemoryMechanism::Cgroup(dir),
        });
    }
    let (soft, _) = proc_limit(pid, AS_ROW).map_err(|e| os_error(pid, "reading limits", e))?;
    Ok(MemoryLimit {
        bytes: soft,
        mechanism: MemoryMechanism::RlimitAs,
    })
}

/// Limits the memory of `pid` to `bytes` (`None`: removes the limit; with `RLIMIT_AS` that
/// restores `rlimit_default`, the soft limit the process had when we first saw it). Returns
/// the limit as read back from the kernel.
pub fn set_memory_limit(
    pid: u32,
    bytes: Option<u64>,
    rlimit_default: Option<u64>,
) -> Result<MemoryLimit, LimitError> {
    if bytes == Some(0) {
        return Err(LimitError::InvalidArgument(
            "a memory limit of 0 bytes would stop the process at once".into(),
        ));
    }
    if let Some(dir) = dedicated_cgroup(pid) {
        match set_cgroup(pid, &dir, bytes) {
            Ok(limit) => return Ok(limit),
            // Not ours to write (read-only cgroupfs, no delegation): fall back to the rlimit.
            Err(LimitError::Os { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) => {}
            Err(e) => return Err(e),
        }
    }
    set_rlimit_as(pid, bytes.or(rlimit_default), bytes.is_some())
}

fn set_cgroup(pid: u32, dir: &Path, bytes: Option<u64>) -> Result<MemoryLimit, LimitError> {
    if let Some(b) = bytes {
        let current = read_u64(&dir.join("memory.current")).unwrap_or(0);
        if b < current {
            return Err(LimitError::InvalidArgument(format!(
                "memory limit {b} bytes is below what the process uses now ({current} bytes)"
            )));
        }
    }
    let got = write_memory_max(dir, bytes).map_err(|e| os_error(pid, "writing memory.max", e))?;
    if got != bytes {
        return Err(LimitError::Mismatch(format!(
            "{}/memory.max reads {} after writing {}",
            dir.display(),
            show(got),
            show(bytes)
        )));
    }
    Ok(MemoryLimit {
        bytes: got,
        mechanism: MemoryMechanism::Cgroup(dir.to_owned()),
    })
}

fn set_rlimit_as(
    pid: u32,
    soft: Option<u64>,
    check_usage: bool,
) -> Result<MemoryLimit, LimitError> {
    let (_, hard) = proc_limit(pid, AS_ROW).map_err(|e| os_error(pid, "reading limits", e))?;
    if let Some(b) = soft.filter(|_| check_usage) {
        // Fail closed: a limit that cannot be checked against the usage is not set.
        let used = virtual_size(pid).ok_or_else(|| {
            LimitError::InvalidArgument(format!(
                "cannot read the address space of process {pid} to check the limit against it"
            ))
        })?;
        if b < used {
            return Err(LimitError::InvalidArgument(format!(
                "memory limit {b} bytes is below the process's address space now ({used} bytes)"
            )));
        }
    }
    // The soft limit may not exceed the hard one: "no limit" under a finite hard limit is the
    // hard limit, and a soft limit above it raises it (which needs privileges; the kernel
    // says so if we lack them).
    let soft = soft.or(hard);
    let maximum = match (hard, soft) {
        (Some(h), Some(s)) if s > h => Some(s),
        (h, _) => h,
    };
    prlimit(
        Some(pid_of(pid as i32)?),
        Resource::As,
        Rlimit {
            current: soft,
            maximum,
        },
    )
    .map_err(|e| os_error(pid, "prlimit(RLIMIT_AS)", e.into()))?;
    let (got, _) = proc_limit(pid, AS_ROW).map_err(|e| os_error(pid, "reading limits", e))?;
    if got != soft {
        return Err(LimitError::Mismatch(format!(
            "RLIMIT_AS of process {pid} is {} after setting {}",
            show(got),
            show(soft)
        )));
    }
    Ok(MemoryLimit {
        bytes: got,
        mechanism: MemoryMechanism::RlimitAs,
    })
}

fn show(b: Option<u64>) -> String {
    b.map_or_else(|| "unlimited".into(), |b| b.to_string())
}

/// `VmSize` of `pid` in bytes.
fn virtual_size(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(proc_dir(pid).join("status")).ok()?;
    let kb: u64 = status_field(&text, "VmSize")?
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The cgroup v2 directory of `pid` if the process is alone in it and it has `memory.max`.
pub(crate) fn dedicated_cgroup(pid: u32) -> Option<PathBuf> {
    let mount = cgroup2_mount()?;
    let cgroup = std::fs::read_to_string(proc_dir(pid).join("cgroup")).ok()?;
    let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    dedicated_cgroup_in(&mount, rel, pid)
}

/// [`dedicated_cgroup`] below a given cgroup2 mount point.
pub(crate) fn dedicated_cgroup_in(mount: &Path, rel: &str, pid: u32) -> Option<PathBuf> {
    let rel = rel.trim().trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        return None; // the root cgroup has no memory.max
    }
    let dir = mount.join(rel);
    if !dir.join("memory.max").is_file() {
        return None;
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).ok()?;
    let mut members = procs.split_whitespace();
    (members.next() == Some(pid.to_string().as_str()) && members.next().is_none()).then_some(dir)
}

/// Where cgroup v2 is mounted (its root, not a bind-mounted subtree), from our mountinfo.
fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        let fstype = right.split(' ').next()?;
        (fstype == "cgroup2" && fields.get(3) == Some(&"/")).then(|| PathBuf::from(fields[4]))
    })
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `memory.max` of a cgroup: `None` for `max`.
pub(crate) fn read_memory_max(dir: &Path) -> io::Result<Option<u64>> {
    let text = std::fs::read_to_string(dir.join("memory.max"))?;
    match text.trim() {
        "max" => Ok(None),
        n => n.parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("memory.max holds {n:?}"),
            )
        }),
    }
}

/// Writes `memory.max` and reads it back.
pub(crate) fn write_memory_max(dir: &Path, bytes: Option<u64>) -> io::Result<Option<u64>> {
    let value = bytes.map_or_else(|| "max".to_owned(), |b| b.to_string());
    std::fs::write(dir.join("memory.max"), format!("{value}\n"))?;
    read_memory_max(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_cgroup(procs: &str) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("workers/w1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        std::fs::write(dir.join("cgroup.procs"), procs).unwrap();
        (root, dir)
    }

    #[test]
    fn only_a_cgroup_of_its_own_is_used() {
        let (root, dir) = fake_cgroup("42\n");
        assert_eq!(
            dedicated_cgroup_in(root.path(), "/workers/w1\n", 42),
            Some(dir)
        );
        assert_eq!(dedicated_cgroup_in(root.path(), "/workers/w1", 43), None);
        assert_eq!(dedicated_cgroup_in(root.path(), "/", 42), None);
        assert_eq!(dedicated_cgroup_in(root.path(), "/workers/../x", 42), None);
        let (root, _) = fake_cgroup("42\n43\n");
        assert_eq!(dedicated_cgroup_in(root.path(), "/workers/w1", 42), None);
    }

    #[test]
    fn memory_max_round_trip() {
        let (_root, dir) = fake_cgroup("1\n");
        assert_eq!(read_memory_max(&dir).unwrap(), None);
        assert_eq!(
            write_memory_max(&dir, Some(1 << 30)).unwrap(),
            Some(1 << 30)
        );
        assert_eq!(write_memory_max(&dir, None).unwrap(), None);
        std::fs::write(dir.join("memory.max"), "bogus").unwrap();
        assert!(read_memory_max(&dir).is_err());
    }
}
