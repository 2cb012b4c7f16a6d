//! The real `crossbar-cdc` binary on a loopback port, driven by autobahn-python clients
//! (`tests/py/cdc_scenarios.py`): the seed's registration flow and its refusals, and a restart
//! that keeps users, realms and nodes.
//!
//! Needs the test venv's Python with autobahn (`EDGE_TEST_PYTHON`, set by `tests/run.sh`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("EDGE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python");
    assert!(
        p.exists(),
        "no Python with autobahn: run `bash tests/run.sh` (it creates the venv) or set EDGE_TEST_PYTHON"
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn seed(n: u8) -> String {
    hex::encode([n; 32])
}

fn pubkey(n: u8) -> String {
    hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[n; 32])
            .verifying_key()
            .as_bytes(),
    )
}

/// A running `crossbar-cdc start`; killed on drop.
struct CdcProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    url: String,
}

impl CdcProcess {
    /// Starts the CDC of `cbdir` (created with `init` first if needed) on `port`.
    fn start(cbdir: &Path, port: u16) -> CdcProcess {
        Self::start_with(cbdir, port, |_| {})
    }

    /// Like [`start`](Self::start), with a change to the configuration.
    fn start_with(
        cbdir: &Path,
        port: u16,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> CdcProcess {
        let exe = env!("CARGO_BIN_EXE_crossbar-cdc");
        if !cbdir.join("config.json").exists() {
            let out = Command::new(exe)
                .args(["init", "--cbdir"])
                .arg(cbdir)
                .output()
                .unwrap();
            assert!(out.status.success(), "init: {out:?}");
        }
        let path = cbdir.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["listen"]["port"] = port.into();
        config["nodes"]["status_poll_secs"] = 1.into();
        edit(&mut config);
        std::fs::write(&path, config.to_string()).unwrap();
        let mut child = Command::new(exe)
            .args(["start", "--loglevel", "info", "--cbdir"])
            .arg(cbdir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        // The test certificate names localhost.
        let (scheme, host) = if config["listen"]["tls"].is_object() {
            ("wss", "localhost")
        } else {
            ("ws", "127.0.0.1")
        };
        let p = CdcProcess {
            child,
            log,
            url: format!("{scheme}://{host}:{port}/ws"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !p
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("listening on"))
        {
            assert!(
                Instant::now() < deadline,
                "CDC did not start:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        p
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, and the exit status must be success.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "CDC exited with {status}:\n{}",
                    self.log_text()
                );
                return;
            }
            assert!(Instant::now() < deadline, "CDC did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for CdcProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scenario(url: &str, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/cdc_scenarios.py");
    Command::new(python())
        .arg(script)
        .args(["--url", url])
        .args(args)
        .output()
        .expect("run python")
}

fn assert_ok(out: &Output, cdc: &CdcProcess, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {what}\n{stdout}{stderr}");
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{stderr}\n--- CDC log\n{}",
        cdc.log_text()
    );
}

#[test]
fn seed_registration_flow_refusals_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join("cdc");
    let outbox = cbdir.join("outbox");
    let outbox = outbox.to_str().unwrap();
    let port = free_port();
    let cdc = CdcProcess::start(&cbdir, port);
    let url = cdc.url.clone();

    let (alice, bob, carol, dave, node1, node2, stranger) = (1, 2, 3, 4, 10, 20, 77);
    let out = scenario(
        &url,
        &[
            "onboard",
            "--outbox",
            outbox,
            "--owner-seed",
            &seed(alice),
            "--owner-name",
            "alice",
            "--realm",
            "mrealm1",
            "--node-pubkey",
            &pubkey(node1),
            "--node-id",
            "node1",
            "--guest-seed",
            &seed(bob),
            "--guest-name",
            "bob",
        ],
    );
    assert_ok(&out, &cdc, "onboard alice / mrealm1 / node1 / guest bob");
    let out = scenario(
        &url,
        &[
            "onboard",
            "--outbox",
            outbox,
            "--owner-seed",
            &seed(carol),
            "--owner-name",
            "carol",
            "--realm",
            "mrealm2",
            "--node-pubkey",
            &pubkey(node2),
            "--node-id",
            "node2",
        ],
    );
    assert_ok(&out, &cdc, "onboard carol / mrealm2 / node2");
    let out = scenario(
        &url,
        &[
            "pins",
            "--outbox",
            outbox,
            "--seed",
            &seed(dave),
            "--name",
            "dave",
        ],
    );
    assert_ok(&out, &cdc, "PIN rules");
    let out = scenario(
        &url,
        &[
            "guest",
            "--seed",
            &seed(bob),
            "--realm",
            "mrealm1",
            "--node-id",
            "node1",
        ],
    );
    assert_ok(&out, &cdc, "a guest may not start workers");
    let out = scenario(
        &url,
        &[
            "isolation",
            "--seed",
            &seed(alice),
            "--realm",
            "mrealm1",
            "--other-realm",
            "mrealm2",
            "--other-node",
            "node2",
        ],
    );
    assert_ok(&out, &cdc, "realms are isolated");
    let out = scenario(&url, &["unpaired", "--seed", &seed(stranger)]);
    assert_ok(&out, &cdc, "an unpaired node is refused");
    // The remote API end to end, against a stand-in for a node's uplink (autobahn, CBOR).
    let out = scenario(
        &url,
        &[
            "remote",
            "--seed",
            &seed(alice),
            "--realm",
            "mrealm1",
            "--node-id",
            "node1",
            "--fake-node-seed",
            &seed(node1),
        ],
    );
    assert_ok(&out, &cdc, "every remote procedure and event");

    // A restart keeps users, realms, memberships and nodes.
    cdc.stop();
    let cdc = CdcProcess::start(&cbdir, port);
    let out = scenario(
        &url,
        &[
            "persisted",
            "--seed",
            &seed(alice),
            "--realm",
            "mrealm1",
            "--node-id",
            "node1",
            "--guest-seed",
            &seed(bob),
        ],
    );
    assert_ok(&out, &cdc, "state after a restart");
    cdc.stop();
}

#[test]
fn tls_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join("cdc");
    std::fs::create_dir_all(&cbdir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(cbdir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(cbdir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crossbar-cdc"))
        .args(["init", "--cbdir"])
        .arg(&cbdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {out:?}");
    let cdc = CdcProcess::start_with(&cbdir, free_port(), |c| {
        c["listen"]["tls"] = serde_json::json!({"certificate": "cert.pem", "key": "key.pem"});
    });
    assert!(cdc.url.starts_with("wss://"), "{}", cdc.url);
    let cafile = cbdir.join("cert.pem");
    let out = scenario(
        &cdc.url,
        &[
            "--cafile",
            cafile.to_str().unwrap(),
            "unpaired",
            "--seed",
            &seed(77),
        ],
    );
    assert_ok(
        &out,
        &cdc,
        "a node over wss:// is answered (and refused as unpaired)",
    );
    cdc.stop();
}
