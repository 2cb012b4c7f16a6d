//! A `crossbar-cdc` process of this workspace on loopback, onboarding a node by PIN, and a
//! management client of the CDC.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use router_core::auth::client::Credentials;
use router_core::client::{JoinOptions, Session, TransportDialer, connect_with};
use router_core::codec::Codec;

use super::{WAIT, capture, python, workspace};

/// `crossbar-cdc` from this workspace's target dir (built if missing).
pub fn cdc_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("crossbar-cdc");
    if !path.exists() {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "-p", "cdc", "--bin", "crossbar-cdc"])
            .current_dir(workspace())
            .status()
            .unwrap()
            .success();
        assert!(ok, "building crossbar-cdc failed");
    }
    path
}

pub struct Cdc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Cdc {
    pub fn start(cbdir: &Path, port: u16) -> Cdc {
        Self::start_with(cbdir, port, |_| {})
    }

    /// Starts the CDC of `cbdir` (made with `init` first) with a change to its config.
    pub fn start_with(cbdir: &Path, port: u16, edit: impl FnOnce(&mut serde_json::Value)) -> Cdc {
        if !cbdir.join("config.json").exists() {
            let out = Command::new(cdc_bin())
                .args(["init", "--cbdir"])
                .arg(cbdir)
                .output()
                .unwrap();
            assert!(out.status.success(), "cdc init: {out:?}");
            let path = cbdir.join("config.json");
            let mut c: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            c["listen"]["port"] = port.into();
            c["nodes"]["status_poll_secs"] = 1.into();
            edit(&mut c);
            std::fs::write(&path, c.to_string()).unwrap();
        }
        let mut child = Command::new(cdc_bin())
            .args(["start", "--loglevel", "info", "--cbdir"])
            .arg(cbdir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = capture(&mut child);
        let cdc = Cdc { child, log };
        let deadline = Instant::now() + WAIT;
        while !cdc.text().contains("listening on") {
            assert!(
                Instant::now() < deadline,
                "CDC did not start:\n{}",
                cdc.text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        cdc
    }

    pub fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates user alice (owner of `mrealm1`) and pairs `node_pubkey` as `node1`, by PIN.
pub fn onboard(url: &str, outbox: &Path, owner_seed: &str, node_pubkey: &str) {
    let out = Command::new(python())
        .arg(workspace().join("cdc/tests/py/cdc_scenarios.py"))
        .args(["--url", url, "onboard", "--outbox"])
        .arg(outbox)
        .args([
            "--owner-seed",
            owner_seed,
            "--owner-name",
            "alice",
            "--realm",
            "mrealm1",
            "--node-pubkey",
            node_pubkey,
            "--node-id",
            "node1",
        ])
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("--- onboard\n{text}");
    assert!(out.status.success(), "onboarding failed:\n{text}");
}

/// A management client: the owner on `mrealm1`.
pub async fn manager(url: &str, seed: [u8; 32]) -> Session {
    let creds = Credentials::Cryptosign {
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
    };
    let opts = JoinOptions {
        realm: Some("mrealm1".into()),
        authmethods: creds.authmethods(),
        authextra: creds.authextra(),
        ..Default::default()
    }
    .on_challenge(move |m, e| creds.respond(m, e).map_err(|e| e.to_string()));
    connect_with(&TransportDialer::default(), url, Codec::Json, opts)
        .await
        .expect("manager joins mrealm1")
}
