//! Crossbar.io itself, the reference router: `crossbar start` on a config of the test's, so
//! a client script can be run against both routers in the same test.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{spawn_logged, wait_port, workspace_root};

/// Crossbar.io boots a controller and Python workers: give it time on a busy machine.
pub const BOOT: Duration = Duration::from_secs(90);

/// The `crossbar` executable: `$CROSSBAR_MASTER_BIN`, else the venv `tests/run.sh` makes
/// (`target/crossbar-venv`). `None` (with a SKIPPED line) only outside CI: under `CI=true`
/// a missing Crossbar.io fails the test, since the comparison is what it is for.
pub fn crossbar_bin() -> Option<PathBuf> {
    let p = std::env::var("CROSSBAR_MASTER_BIN")
        .ok()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/crossbar-venv/bin/crossbar"));
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no Crossbar.io at {} (tests/run.sh installs it into target/crossbar-venv)",
        p.display()
    );
    println!(
        "SKIPPED: no Crossbar.io at {} (run tests/run.sh, or set CROSSBAR_MASTER_BIN)",
        p.display()
    );
    None
}

/// A running `crossbar start`; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Crossbar {
    pub dir: tempfile::TempDir,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Crossbar {
    /// Starts Crossbar.io (`bin`) with `config` in a fresh node directory and waits until it
    /// listens on every port in `ports`.
    pub fn start(bin: &PathBuf, config: &str, ports: &[u16]) -> Crossbar {
        let dir = tempfile::tempdir().expect("tempdir");
        let cbdir = dir.path().join(".crossbar");
        std::fs::create_dir_all(&cbdir).unwrap();
        std::fs::write(cbdir.join("config.json"), config).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(["start", "--cbdir"]).arg(&cbdir);
        let (child, log) = spawn_logged(cmd);
        let mut cb = Crossbar { dir, child, log };
        let deadline = Instant::now() + BOOT;
        for &p in ports {
            let left = deadline.saturating_duration_since(Instant::now());
            if !wait_port(p, left) || matches!(cb.child.try_wait(), Ok(Some(_))) {
                panic!("Crossbar.io did not listen on {p}; log:\n{}", cb.log_text());
            }
        }
        cb
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Runs `checks` against this Crossbar.io; if they fail, prints its log before the panic
    /// goes on (what Crossbar.io said is usually why).
    pub fn check<T>(&self, checks: impl FnOnce() -> T) -> T {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(checks)) {
            Ok(t) => t,
            Err(p) => {
                println!("Crossbar.io log:\n{}", self.log_text());
                std::panic::resume_unwind(p)
            }
        }
    }
}

/// Runs `script --url ws://127.0.0.1:<port>/ws` (and `args`) against Crossbar.io started on
/// `config`, printing Crossbar.io's log if it fails; see [`crate::run_ws_script_on_node`].
pub fn run_ws_script(config: &serde_json::Value, port: u16, script: &str, args: &[&str]) {
    let Some(bin) = crossbar_bin() else { return };
    let cb = Crossbar::start(&bin, &config.to_string(), &[port]);
    let url = format!("ws://127.0.0.1:{port}/ws");
    let out = crate::run_py(script, &[&["--url", url.as_str()], args].concat());
    cb.check(|| crate::assert_py_ok(&out, &format!("{script} against Crossbar.io")));
}

impl Drop for Crossbar {
    fn drop(&mut self) {
        // SIGTERM lets Crossbar.io stop its worker processes; SIGKILL if it does not exit.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
