//! `node.pid`: marks a running node in its node directory, in Crossbar.io's format
//! (`{"pid": …, "argv": […], "options": {…}}`), and finds out whether a node is running.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde_json::Value;

pub const PID_FILE: &str = "node.pid";

/// The file's content; `pid` first, as Crossbar.io writes it.
#[derive(serde::Serialize)]
struct PidData<'a> {
    pid: u32,
    argv: &'a [String],
    options: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum PidError {
    #[error("a node is already running from {} (PID {pid})", cbdir.display())]
    AlreadyRunning { cbdir: PathBuf, pid: i32 },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// The pid file of this process; removed by [`PidFile::remove`] or when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    removed: bool,
}

impl PidFile {
    /// Writes `node.pid` for this process, unless another node runs from `cbdir`. A stale or
    /// corrupt file is replaced.
    pub fn create(cbdir: &Path, argv: &[String], options: Value) -> Result<PidFile, PidError> {
        if let Some(pid) = running_pid(cbdir) {
            return Err(PidError::AlreadyRunning {
                cbdir: cbdir.to_owned(),
                pid,
            });
        }
        let path = cbdir.join(PID_FILE);
        let io_err = |source| PidError::Io {
            path: path.clone(),
            source,
        };
        // Still there: it names a live process that is not a node (a reused PID).
        if path.is_file() {
            fs::remove_file(&path).map_err(io_err)?;
        }
        let data = PidData {
            pid: std::process::id(),
            argv,
            options,
        };
        let text =
            serde_json::to_string_pretty(&data).map_err(|e| io_err(io::Error::other(e)))? + "\n";
        // create_new: of two nodes starting at once, only one gets the file.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    let pid = read_pid(&path).unwrap_or(0);
                    PidError::AlreadyRunning {
                        cbdir: cbdir.to_owned(),
                        pid,
                    }
                } else {
                    io_err(e)
                }
            })?;
        f.write_all(text.as_bytes()).map_err(io_err)?;
        Ok(PidFile {
            path,
            removed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn remove(mut self) -> io::Result<()> {
        self.removed = true;
        remove_if_ours(&self.path)
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if !self.removed {
            let _ = remove_if_ours(&self.path);
        }
    }
}

/// Removes the pid file only if it still names this process.
fn remove_if_ours(path: &Path) -> io::Result<()> {
    match read_pid(path) {
        Some(pid) if pid == std::process::id() as i32 => fs::remove_file(path),
        _ => Ok(()),
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    let text = fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get("pid")?.as_i64().and_then(|p| i32::try_from(p).ok())
}

/// The PID of the node running from `cbdir`, if any. As Crossbar.io's `_check_is_running`:
/// a corrupt file or one naming a dead process is removed; our own PID (a container restarted
/// uncleanly) does not count; a live process that is not a crossbar node does not count.
pub fn running_pid(cbdir: &Path) -> Option<i32> {
    let path = cbdir.join(PID_FILE);
    if !path.is_file() {
        return None;
    }
    let Some(pid) = read_pid(&path) else {
        tracing::info!(path = %path.display(), "removing corrupt pid file");
        let _ = fs::remove_file(&path);
        return None;
    };
    if pid == std::process::id() as i32 {
        return None;
    }
    if !is_alive(pid) {
        tracing::info!(path = %path.display(), pid, "removing stale pid file");
        let _ = fs::remove_file(&path);
        return None;
    }
    if !is_crossbar_process(pid) {
        tracing::info!(path = %path.display(), pid, "pid file names a process that is not a crossbar node");
        return None;
    }
    Some(pid)
}

/// Does the process exist and has it not exited? A zombie (exited, not yet reaped by its
/// parent) counts as gone.
pub fn is_alive(pid: i32) -> bool {
    if pid <= 0 || signal::kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => true,
    }
}

/// Crossbar.io's check, widened to our binary: argv[0] or argv[1] mentions `crossbar`.
fn is_crossbar_process(pid: i32) -> bool {
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => raw
            .split(|&b| b == 0)
            .take(2)
            .any(|a| String::from_utf8_lossy(a).contains("crossbar")),
        // Without /proc, trust the pid file.
        Err(_) => true,
    }
}

/// How [`stop`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Exited after SIGINT (orderly shutdown).
    Gracefully,
    /// Needed SIGTERM.
    Terminated,
    /// Needed SIGKILL.
    Killed,
}

/// Stops a node as `crossbar stop` does: SIGINT and wait, then SIGTERM and wait, then
/// SIGKILL; `grace` is each wait.
pub fn stop(pid: i32, grace: Duration) -> io::Result<Stopped> {
    let target = Pid::from_raw(pid);
    for (sig, outcome) in [
        (Signal::SIGINT, Stopped::Gracefully),
        (Signal::SIGTERM, Stopped::Terminated),
    ] {
        signal::kill(target, sig).map_err(io::Error::from)?;
        if wait_gone(pid, grace) {
            return Ok(outcome);
        }
    }
    signal::kill(target, Signal::SIGKILL).map_err(io::Error::from)?;
    wait_gone(pid, grace);
    Ok(Stopped::Killed)
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !is_alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_detects_and_cleans() {
        let dir = tempfile::tempdir().unwrap();
        let pf = PidFile::create(dir.path(), &["x".into()], json!({})).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(pf.path()).unwrap()).unwrap();
        assert_eq!(v["pid"], json!(std::process::id()));
        // Our own pid does not count as running (as Crossbar.io).
        assert_eq!(running_pid(dir.path()), None);
        pf.remove().unwrap();
        assert!(!dir.path().join(PID_FILE).exists());

        fs::write(dir.path().join(PID_FILE), "garbage").unwrap();
        assert_eq!(running_pid(dir.path()), None);
        assert!(!dir.path().join(PID_FILE).exists(), "corrupt file removed");

        // A pid that cannot exist.
        fs::write(dir.path().join(PID_FILE), r#"{"pid": 2147483646}"#).unwrap();
        assert_eq!(running_pid(dir.path()), None);
        assert!(!dir.path().join(PID_FILE).exists(), "stale file removed");
    }
}
