//! The seed flow end to end (issue 5, "Done when"): a real `crossbar-cdc` and a real
//! `crossbar-edge start` on loopback, driven by autobahn-python (`tests/py/cdc_e2e.py`).
//!
//! The node's key is made first and refused while unregistered; then create user → PIN from the
//! outbox → verify → create realm → verify → register node → verify (plus the PIN rules); the
//! node is started with `CROSSBAR_FABRIC_URL` and goes online by itself; every `cdc.remote.*@1`
//! procedure is called with the seed's signature and its effect on the node is checked (a
//! transport started through the CDC serves a client under the grants, a stopped grant denies,
//! …), every `on_*_status@1` event is observed, a guest and another realm's owner are refused;
//! the CDC restarts with its registry intact and the node reconnects by itself; `stop_node@1`
//! takes it offline and the node process exits.
//!
//! Needs the test venv's Python with autobahn (`EDGE_TEST_PYTHON`).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tests::{Node, bin, free_port, python, workspace_root};

/// How long one scenario script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(100);

/// Streams `r`'s lines into `tx` (and `log`).
fn pump(
    r: impl Read + Send + 'static,
    tx: Option<mpsc::Sender<String>>,
    log: Arc<Mutex<Vec<String>>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            log.lock().unwrap().push(line.clone());
            if let Some(tx) = &tx {
                let _ = tx.send(line);
            }
        }
    });
}

/// A running `crossbar-cdc start`; killed on drop.
struct Cdc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Cdc {
    fn start(cbdir: &Path, port: u16) -> Cdc {
        if !cbdir.join("config.json").exists() {
            let out = Command::new(bin("crossbar-cdc"))
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
            std::fs::write(&path, c.to_string()).unwrap();
        }
        let mut child = Command::new(bin("crossbar-cdc"))
            .args(["start", "--loglevel", "info", "--cbdir"])
            .arg(cbdir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        pump(child.stdout.take().unwrap(), None, log.clone());
        pump(child.stderr.take().unwrap(), None, log.clone());
        let cdc = Cdc { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
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

    fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM; it must exit successfully.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "CDC exited with {status}:\n{}",
                    self.text()
                );
                return;
            }
            assert!(Instant::now() < deadline, "CDC did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Cdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `tests/py/cdc_e2e.py` scenario, its output lines on a channel.
struct Script {
    what: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    started: Instant,
}

impl Script {
    fn start(url: &str, args: &[&str]) -> Script {
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/py/cdc_e2e.py"))
            .args(["--url", url])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python");
        let (tx, lines) = mpsc::channel();
        let sink = Arc::new(Mutex::new(Vec::new()));
        pump(child.stdout.take().unwrap(), Some(tx.clone()), sink.clone());
        pump(child.stderr.take().unwrap(), Some(tx), sink);
        Script {
            what: args[0].to_owned(),
            child,
            lines,
            seen: Vec::new(),
            started: Instant::now(),
        }
    }

    /// The next line, or `None` once the script's output ended; panics past the deadline.
    fn next(&mut self, context: &dyn Fn() -> String) -> Option<String> {
        let left = SCRIPT_TIMEOUT.saturating_sub(self.started.elapsed());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                println!("{}: {line}", self.what);
                self.seen.push(line.clone());
                Some(line)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                panic!(
                    "{}: timed out; output:\n{}\n{}",
                    self.what,
                    self.seen.join("\n"),
                    context()
                );
            }
        }
    }

    fn wait_line(&mut self, want: &str, context: &dyn Fn() -> String) {
        while let Some(line) = self.next(context) {
            if line == want {
                return;
            }
            if line.starts_with("FAIL") {
                break;
            }
        }
        panic!(
            "{}: no {want:?}; output:\n{}\n{}",
            self.what,
            self.seen.join("\n"),
            context()
        );
    }

    /// Reads to the end; the script must exit 0 after printing DONE. Returns its output.
    fn finish(mut self, context: &dyn Fn() -> String) -> Vec<String> {
        while self.next(context).is_some() {}
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{}: did not exit", self.what);
            std::thread::sleep(Duration::from_millis(20));
        };
        // The script's own lines last: a CI log that keeps only the head and the tail of a
        // long failure still shows what failed.
        let failed: Vec<&String> = self.seen.iter().filter(|l| l.starts_with("FAIL")).collect();
        assert!(
            status.success() && self.seen.iter().any(|l| l == "DONE"),
            "{} failed ({status})\n{}\n--- {} output\n{}\n=> {} failed: {failed:?}",
            self.what,
            context(),
            self.what,
            self.seen.join("\n"),
            self.what,
        );
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tag: value` line of a Crossbar.io key file.
fn key_tag(path: &Path, tag: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{tag}: ")))
        .unwrap_or_else(|| panic!("no {tag} in {}", path.display()))
        .trim()
        .to_owned()
}

/// The node's config: no workers (the CDC starts them), quick heartbeats.
const NODE_CONFIG: &str = r#"{"version": 2, "controller": {"fabric": {"heartbeat":
    {"startup_delay": 0.2, "heartbeat_period": 1}}}}"#;

fn tail(lines: &str, n: usize) -> String {
    let v: Vec<&str> = lines.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

#[test]
fn seed_flow_against_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let cdc_dir = dir.path().join("cdc");
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let cdc = Cdc::start(&cdc_dir, port);
    let outbox = cdc_dir.join("outbox");

    // The node's key pair, made before the node first starts.
    let node_dir = tempfile::tempdir().unwrap();
    let cbdir: PathBuf = node_dir.path().join(".crossbar");
    std::fs::create_dir_all(&cbdir).unwrap();
    let out = Command::new(bin("crossbar-edge"))
        .args(["keys", "--cbdir"])
        .arg(&cbdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "crossbar-edge keys: {out:?}");
    let node_seed = key_tag(&cbdir.join("key.priv"), "private-key-ed25519");
    let node_pubkey = key_tag(&cbdir.join("key.pub"), "public-key-ed25519");

    let cdc_log = |c: &Cdc| {
        let text = c.text();
        let alarms: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
            .collect();
        format!(
            "--- CDC log (tail)\n{}\n--- CDC warnings and errors\n{}",
            tail(&text, 60),
            alarms.join("\n")
        )
    };
    Script::start(
        &url,
        &[
            "onboard",
            "--outbox",
            outbox.to_str().unwrap(),
            "--node-seed",
            &node_seed,
            "--node-pubkey",
            &node_pubkey,
        ],
    )
    .finish(&|| cdc_log(&cdc));

    // The walk subscribes to every event first, then the node starts and comes online.
    let node_config = cbdir.join("config.json");
    let web_port = free_port().to_string();
    let mut walk = Script::start(
        &url,
        &[
            "walk",
            "--node-config",
            node_config.to_str().unwrap(),
            "--web-port",
            &web_port,
            "--component-exe",
            tests::bin("echo-component").to_str().unwrap(),
        ],
    );
    walk.wait_line("SUBSCRIBED", &|| cdc_log(&cdc));
    let mut node = Node::start_in(
        node_dir,
        NODE_CONFIG,
        &[("CROSSBAR_FABRIC_URL", url.clone())],
    );
    let node_log = |n: &Node| format!("--- node log (tail)\n{}", tail(&n.log_text(), 80));
    let walked = walk.finish(&|| format!("{}\n{}", cdc_log(&cdc), node_log(&node)));
    // Shown only when a later step fails (the harness captures it otherwise).
    println!("after the walk:\n{}\n{}", cdc_log(&cdc), node_log(&node));
    for l in walked.iter().filter(|l| l.starts_with("EVENTS_MISSING")) {
        println!("NOTE {l}");
    }

    // The CDC restarts: users, realms and nodes are kept; the node reconnects by itself, and
    // stop_node@1 takes it offline.
    cdc.stop();
    let cdc = Cdc::start(&cdc_dir, port);
    Script::start(&url, &["final"]).finish(&|| format!("{}\n{}", cdc_log(&cdc), node_log(&node)));
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = node.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not exit after stop_node@1\n{}",
            node_log(&node)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "node exited with {status}\n{}",
        node_log(&node)
    );
    cdc.stop();
}
