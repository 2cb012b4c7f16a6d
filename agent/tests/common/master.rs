//! The real Crossbar.io master (`$CROSSBAR_MASTER_BIN`, else `/work/venvs/crossbar`), started
//! as `shared/reference/crossbar-master.md` describes, and `tests/py/crossbar_master.py`
//! driving it as a management client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{capture, python};

/// The master boots a controller, a router and two containers (Python): give it time on a
/// busy machine.
pub const BOOT: Duration = Duration::from_secs(120);

/// The `crossbar` executable: `$CROSSBAR_MASTER_BIN`, else the venv `tests/run.sh` makes
/// (`target/crossbar-venv`). `None` (the caller prints SKIPPED) only outside CI: under
/// `CI=true` a missing Crossbar.io fails the test.
pub fn crossbar_bin() -> Option<PathBuf> {
    let p = std::env::var("CROSSBAR_MASTER_BIN")
        .ok()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/crossbar-venv/bin/crossbar")
        });
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no Crossbar.io at {} (tests/run.sh installs it into target/crossbar-venv)",
        p.display()
    );
    None
}

pub struct Master {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Master {
    pub fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its worker processes; SIGKILL if it does not exit.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_master(exe: &Path, dir: &Path, port: u16, superuser_seed: [u8; 32]) -> Master {
    let cbdir = dir.join("master");
    std::fs::create_dir_all(&cbdir).unwrap();
    let config = serde_json::json!({
        "controller": {"blockchain": null, "ipfs": null},
        "workers": [{"transports": ["COPY", "COPY",
            {"endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
             "paths": {"autobahn": null}}]},
            "COPY"]
    });
    std::fs::write(cbdir.join("config.json"), config.to_string()).unwrap();
    let su = dir.join("superuser.pub");
    let pubkey = ed25519_dalek::SigningKey::from_bytes(&superuser_seed).verifying_key();
    std::fs::write(
        &su,
        format!("public-key-ed25519: {}\n", hex::encode(pubkey.as_bytes())),
    )
    .unwrap();
    let mut child = Command::new(exe)
        .args(["master", "start", "--cbdir"])
        .arg(&cbdir)
        .env("CROSSBAR_FABRIC_SUPERUSER", &su)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = capture(&mut child);
    let mut m = Master { child, log };
    let deadline = Instant::now() + BOOT;
    while !m.text().contains("booted and ready") {
        if let Ok(Some(status)) = m.child.try_wait() {
            panic!("the master exited with {status}:\n{}", m.text());
        }
        assert!(
            Instant::now() < deadline,
            "the master did not boot:\n{}",
            m.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    m
}

pub fn script(url: &str, seed: [u8; 32], args: &[&str]) -> Result<String, String> {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/crossbar_master.py"))
        .args(["--url", url, "--seed", &hex::encode(seed)])
        .args(args)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("--- {}\n{text}", args[0]);
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}
