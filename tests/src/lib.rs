//! Test harness for cross-crate integration tests: runs the real `crossbar-edge` binary on
//! loopback ports and drives it with real clients (autobahn-python from the test venv).
#![forbid(unsafe_code)]

pub mod certs;
pub mod crossbar;
pub mod mgmt;
pub mod nats;
pub mod procs;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A binary of the workspace (`crossbar-edge`, `crossbar-cdc`), built by the test script
/// before `cargo test` runs (`tests/run.sh`); built here if it is missing.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--bin", name])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building {name} failed");
    }
    path
}

/// The Python interpreter of the test venv (autobahn-python installed). `tests/run.sh` makes it
/// and exports `EDGE_TEST_PYTHON`; without it, the default location is tried. A missing venv is
/// a test failure, not a skip: interop is what these tests are for.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("EDGE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join("target/test-venv/bin/python");
    assert!(
        p.exists(),
        "no test venv at {}: run `bash tests/run.sh` (it creates the venv with autobahn) or set EDGE_TEST_PYTHON",
        p.display()
    );
    p
}

/// Runs a script from `tests/py/` with the test venv's Python.
pub fn run_py(script: &str, args: &[&str]) -> Output {
    Command::new(python())
        .arg(workspace_root().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("run python")
}

/// Runs `crossbar-edge check` on `config` (JSON text); whether it passed, and what it printed.
pub fn check_config(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(bin("crossbar-edge"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run crossbar-edge check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A long-running `tests/py/` script (an outside authenticator, a service client, a load
/// generator); its output lines are kept; killed when dropped.
pub struct PyService {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PyService {
    /// Starts `script args` and waits (bounded) for it to print a line `ready`; its output is
    /// echoed with the script's name.
    pub fn start(script: &str, args: &[&str]) -> PyService {
        Self::start_when(script, args, "ready", Duration::from_secs(30))
    }

    /// Starts `script args` and waits up to `within` for it to print the line `when`.
    pub fn start_when(script: &str, args: &[&str], when: &str, within: Duration) -> PyService {
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/py").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("run {script}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let name = script.to_owned();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{name}: {line}");
                kept.lock().unwrap().push(line);
            }
        });
        let mut service = PyService { child, lines };
        let deadline = Instant::now() + within;
        while service
            .wait_line(|l| l.trim() == when, Duration::from_millis(100))
            .is_none()
        {
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!("{script} {args:?} ended ({status}) before printing \"{when}\"");
            }
            assert!(
                Instant::now() < deadline,
                "{script} {args:?} did not print \"{when}\" within {within:?}"
            );
        }
        service
    }

    /// The first line (so far or within `timeout`) that `pred` accepts.
    pub fn wait_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last line starting with `prefix`, without the prefix.
    pub fn last(&self, prefix: &str) -> Option<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    }

    /// Waits (bounded) for the script to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // The reader thread may still be taking the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for PyService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts a script run succeeded, printing its output either way.
/// Runs `tests/js/<script>` with Node and the npm packages of `tests/js` (autobahn-js, which
/// `tests/run.sh` installs), printing its output; passes when it exits 0 and says `all ok`.
pub fn run_js(script: &str, args: &[&str]) -> Result<(), String> {
    let dir = workspace_root().join("tests/js");
    assert!(
        dir.join("node_modules/autobahn").exists() && dir.join("node_modules/xhr2").exists(),
        "tests/js/node_modules has no autobahn: run `bash tests/run.sh` (it runs npm ci there)"
    );
    let out = Command::new("node")
        .current_dir(&dir)
        .arg(script)
        .args(args)
        .output()
        .expect("node (Node.js) is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    if out.status.success() && stdout.contains("all ok") {
        Ok(())
    } else {
        Err(format!(
            "{script} failed: {}",
            stdout.lines().last().unwrap_or("")
        ))
    }
}

pub fn assert_py_ok(out: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {what}\n{stdout}{stderr}");
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
}

/// Runs `script --url ws://127.0.0.1:<port>/ws` (and `args`) against a node started on
/// `config`, which `crossbar-edge check` must accept first; the node's log is printed if the
/// script fails. The usual first half of a test whose second half runs the same script
/// against Crossbar.io ([`crossbar::run_ws_script`]).
pub fn run_ws_script_on_node(config: &serde_json::Value, port: u16, script: &str, args: &[&str]) {
    let config = config.to_string();
    let (ok, text) = check_config(&config);
    assert!(ok, "check refused the config: {text}");
    let mut node = Node::start(&config, &[]);
    node.wait_ready(&[port]);
    let url = format!("ws://127.0.0.1:{port}/ws");
    let out = run_py(script, &[&["--url", url.as_str()], args].concat());
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(&out, script);
}

/// A node config with one router worker: realm `realm1` whose `anonymous` role may do
/// everything, and a Web transport on `port` with a JSON root, WAMP on `/ws` and the services
/// of `paths` (an object of path → service).
pub fn web_node_config(port: u16, paths: serde_json::Value) -> serde_json::Value {
    let all =
        serde_json::json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let mut all_paths = serde_json::json!({
        "/": {"type": "json", "value": {}},
        "ws": {"type": "websocket"}
    });
    if let (Some(base), serde_json::Value::Object(extra)) = (all_paths.as_object_mut(), paths) {
        base.extend(extra);
    }
    serde_json::json!({"version": 2, "workers": [{
        "type": "router",
        "realms": [{"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": all}]}]}],
        "transports": [{
            "type": "web",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
            "paths": all_paths
        }]
    }]})
}

/// [`web_node_config`] without extra paths, with `extra` (a `store`, `stats`, …) merged into
/// the realm.
pub fn realm_node_config(port: u16, extra: serde_json::Value) -> serde_json::Value {
    let mut config = web_node_config(port, serde_json::json!({}));
    if let (Some(realm), serde_json::Value::Object(extra)) =
        (config["workers"][0]["realms"][0].as_object_mut(), extra)
    {
        realm.extend(extra);
    }
    config
}

/// A free TCP port on 127.0.0.1 (bound and released; the OS does not hand it out again soon).
pub fn free_port() -> u16 {
    // The kernel may hand the same ephemeral port out again once its listener is closed, so a
    // test asking for several would get two equal ones (CI saw it): never return one twice.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A running `crossbar-edge start` in a temporary node directory; killed on drop.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// The node directory (`<tmp>/.crossbar`); `<tmp>/web` holds static files.
    pub fn cbdir(&self) -> PathBuf {
        self.dir.path().join(".crossbar")
    }

    /// Writes `config` into a fresh node directory and starts the node with `env` set.
    pub fn start(config: &str, env: &[(&str, String)]) -> Node {
        Self::start_in(tempfile::tempdir().expect("tempdir"), config, env)
    }

    /// Like [`Node::start`] in `dir`, which may already hold `.crossbar/` (e.g. the node's
    /// keys, made beforehand to pair the node before it first starts).
    pub fn start_in(dir: tempfile::TempDir, config: &str, env: &[(&str, String)]) -> Node {
        let cbdir = dir.path().join(".crossbar");
        std::fs::create_dir_all(&cbdir).unwrap();
        std::fs::create_dir_all(dir.path().join("web")).unwrap();
        std::fs::write(
            dir.path().join("web/index.html"),
            "<h1>hello from crossbar-edge</h1>",
        )
        .unwrap();
        std::fs::write(cbdir.join("config.json"), config).unwrap();
        let (child, log) = spawn_node(&cbdir, env);
        Node { dir, child, log }
    }

    /// Starts the node again in the same node directory (after [`Node::terminate`]).
    pub fn restart(&mut self, env: &[(&str, String)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, log) = spawn_node(&self.cbdir(), env);
        self.child = child;
        self.log = log;
    }

    /// Waits until the node accepts connections on every port in `ports` and has booted every
    /// worker of its config ("node started"): a Web transport listens before its paths are
    /// all installed, as in Crossbar.io.
    pub fn wait_ready(&mut self, ports: &[u16]) {
        for &p in ports {
            if !wait_port(p, Duration::from_secs(20)) {
                let _ = self.child.kill();
                panic!("node did not listen on {p}; log:\n{}", self.log_text());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log_text().contains("node started") {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("node did not finish booting; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

/// Runs `crossbar-edge start` on `cbdir`, collecting its stdout and stderr lines.
fn spawn_node(cbdir: &Path, env: &[(&str, String)]) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut cmd = Command::new(bin("crossbar-edge"));
    cmd.args(["start", "--cbdir"]).arg(cbdir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn_logged(cmd)
}

/// Spawns `cmd`, collecting its stdout and stderr lines.
pub(crate) fn spawn_logged(mut cmd: Command) -> (Child, Arc<Mutex<Vec<String>>>) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
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
    (child, log)
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
