//! The `crossbar-edge` binary, run as a user would: init → check → convert → keys, bad
//! configs, and the start/status/stop life cycle.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_crossbar-edge");

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("CROSSBAR_DIR")
        .env_remove("RUST_LOG");
    c
}

fn run(args: &[&str]) -> Output {
    cmd(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Polls `cond` every 50 ms for up to 15 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn init_check_convert_keys() {
    let app = tempfile::tempdir().unwrap();
    let cbdir = app.path().join(".crossbar");
    let d = cbdir.to_str().unwrap();

    let o = run(&["init", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(app.path().join("web/README.md").is_file());
    let mode = |f: &str| fs::metadata(cbdir.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        (mode("key.priv"), mode("key.pub"), mode("config.json")),
        (0o600, 0o644, 0o644)
    );
    assert_eq!(
        fs::read_to_string(cbdir.join("config.json")).unwrap(),
        fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/crossbar-init/config.json")
        )
        .unwrap(),
        "init writes what `crossbar init` writes"
    );
    let pubkey = fs::read_to_string(cbdir.join("key.pub")).unwrap();
    let pubkey = pubkey
        .lines()
        .find_map(|l| l.strip_prefix("public-key-ed25519: "))
        .unwrap()
        .to_owned();

    // A second init changes nothing.
    let before = fs::read(cbdir.join("key.priv")).unwrap();
    let o = run(&["init", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(fs::read(cbdir.join("key.priv")).unwrap(), before);

    let o = run(&["check", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("Ok, node configuration looks good!"));

    let o = run(&["convert", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(cbdir.join("config.yaml").is_file() && cbdir.join("config.json").is_file());

    // config.yaml now wins the lookup; it checks too.
    let o = run(&["check", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("config.yaml"), "{}", text(&o));

    // $CROSSBAR_DIR is used without --cbdir.
    let o = cmd(&["keys"])
        .env("CROSSBAR_DIR", d)
        .current_dir(app.path().join("web"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Node public key (ed25519, hex): {pubkey}")),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("crossbar shell pair node"),
        "{}",
        text(&o)
    );

    // --cbdir beats $CROSSBAR_DIR.
    let o = cmd(&["check", "--cbdir", d])
        .env("CROSSBAR_DIR", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));

    let o = run(&["version"]);
    assert_eq!(code(&o), 0);
    assert!(text(&o).starts_with("crossbar-edge "), "{}", text(&o));
}

#[test]
fn bad_config_exits_64_with_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    fs::write(
        dir.path().join("config.json"),
        r#"{"version": 2, "workers": [{"type": "router", "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 9}}, {"type": "smtp"}]}]}"#,
    )
    .unwrap();
    for verb in ["check", "start", "convert"] {
        let o = run(&[verb, "--cbdir", d]);
        assert_eq!(code(&o), 64, "{verb}: {}", text(&o));
        assert!(
            text(&o).contains("workers[0].transports[1].type: unknown value \"smtp\""),
            "{verb}: {}",
            text(&o)
        );
    }
    assert!(!dir.path().join("node.pid").exists());
    assert!(!dir.path().join("config.yaml").exists());

    // An explicit --config, relative to the node directory.
    fs::write(
        dir.path().join("other.yaml"),
        "version: 2\ncontroller: {id: ab}\n",
    )
    .unwrap();
    let o = run(&["check", "--cbdir", d, "--config", "other.yaml"]);
    assert_eq!(code(&o), 64, "{}", text(&o));
    assert!(
        text(&o).contains("controller.id: invalid id \"ab\""),
        "{}",
        text(&o)
    );

    let o = run(&["check", "--cbdir", d, "--config", "missing.json"]);
    assert_eq!(code(&o), 64, "{}", text(&o));
    assert!(text(&o).contains("missing.json"), "{}", text(&o));
}

#[test]
fn start_status_stop() {
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join("node");
    let d = cbdir.to_str().unwrap();

    // No config at all: the node runs the default config and creates its key.
    let mut node = cmd(&["start", "--cbdir", d, "--loglevel", "debug"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("node.pid", || cbdir.join("node.pid").is_file());
    let pid_data: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(cbdir.join("node.pid")).unwrap()).unwrap();
    assert_eq!(pid_data["pid"], serde_json::json!(node.id()));
    assert!(cbdir.join("key.priv").is_file());

    let o = run(&["status", "--cbdir", d, "--assert", "running"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("RUNNING (PID {})", node.id())),
        "{}",
        text(&o)
    );
    let o = run(&["status", "--cbdir", d, "--assert", "stopped"]);
    assert_eq!(code(&o), 69, "{}", text(&o));

    let o = run(&["start", "--cbdir", d]);
    assert_eq!(code(&o), 1, "a second node is refused: {}", text(&o));
    assert!(text(&o).contains("already running"), "{}", text(&o));

    let o = run(&["stop", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let status = wait_exit(&mut node);
    assert_eq!(status.code(), Some(0));
    let log = std::io::read_to_string(node.stderr.take().unwrap()).unwrap();
    assert!(log.contains("built-in default"), "{log}");
    assert!(log.contains("SIGINT received"), "{log}");
    assert!(!cbdir.join("node.pid").exists(), "node.pid removed on exit");

    let o = run(&["status", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("STOPPED"));
    let o = run(&["stop", "--cbdir", d]);
    assert_eq!(code(&o), 69, "{}", text(&o));
}

#[test]
fn sigterm_stops_the_node_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = run(&["init", "--cbdir", d]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Only `start_status_stop` binds the default ports (8080, 8081); this node gets free ones.
    let config = fs::read_to_string(dir.path().join("config.json")).unwrap();
    let config = config
        .replace("\"port\": 8080", &format!("\"port\": {}", free_port()))
        .replace("\"port\": 8081", &format!("\"port\": {}", free_port()));
    fs::write(dir.path().join("config.json"), config).unwrap();
    let mut node = cmd(&["start", "--cbdir", d])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("node.pid", || dir.path().join("node.pid").is_file());
    let pid = nix::unistd::Pid::from_raw(node.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(wait_exit(&mut node).code(), Some(0));
    assert!(!dir.path().join("node.pid").exists());
}

#[test]
fn stale_pid_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    fs::write(
        dir.path().join("node.pid"),
        r#"{"pid": 2147483646, "argv": [], "options": {}}"#,
    )
    .unwrap();
    let o = run(&["status", "--cbdir", d]);
    assert!(text(&o).contains("STOPPED"), "{}", text(&o));
    assert!(!dir.path().join("node.pid").exists(), "stale file removed");
}
