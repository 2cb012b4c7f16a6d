//! The security matrix of issue 18, with real processes and real clients (autobahn-python,
//! `tests/py/security.py`):
//!
//! - application sessions of every auth method (anonymous, ticket, wampcra, cryptosign, scram,
//!   tls) over WebSocket and RawSocket cannot register or publish `wamp.*`, nor `crossbar.*`
//!   unless their role names it; they may call the meta API as Crossbar.io allows; the node's
//!   management procedures do not exist on an application realm, HELLO for realm `crossbar`
//!   is refused on every application transport, and management events never reach one;
//! - node.sock is mode 0600 and refuses other users, by its mode and, should the mode be
//!   loosened, by the peer's credentials (`SO_PEERCRED`);
//! - failed password logins are rate-limited per client address while other addresses log in
//!   quickly, and no ABORT of any failure path leaks internals or secrets;
//! - wrong PINs sent to the CDC in parallel never exceed its retry limits.
//!
//! The application-side checks also run against Crossbar.io; where it differs, the script
//! prints `DIFF` lines (and expects Crossbar.io's behaviour).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use router_core::auth::rate_limit;
use serde_json::{Value, json};
use tests::certs::TestCa;
use tests::crossbar::{Crossbar, crossbar_bin};
use tests::{Node, assert_py_ok, bin, check_config, free_port, python, run_py, workspace_root};

const ALICE_SEED: &str = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";

/// Prints a SKIPPED line outside CI; under CI (`CI` set, as `crossbar_bin` reads it) a
/// missing tool fails the test.
fn require(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} (required under CI)"
        );
        println!("SKIPPED: {what}");
    }
    ok
}

/// One line of a helper command's output.
fn py_line(args: &[&str]) -> String {
    let out = run_py("security.py", args);
    assert_py_ok(&out, &format!("security.py {}", args[0]));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Ports {
    anon_ws: u16,
    anon_rs: u16,
    auth_ws: u16,
    auth_rs: u16,
    tls: u16,
    dyn_: u16,
}

impl Ports {
    fn new() -> Ports {
        Ports {
            anon_ws: free_port(),
            anon_rs: free_port(),
            auth_ws: free_port(),
            auth_rs: free_port(),
            tls: free_port(),
            dyn_: free_port(),
        }
    }

    fn all(&self) -> [u16; 6] {
        [
            self.anon_ws,
            self.anon_rs,
            self.auth_ws,
            self.auth_rs,
            self.tls,
            self.dyn_,
        ]
    }

    /// The script's URL arguments.
    fn args(&self) -> Vec<String> {
        [
            ("--anon-ws", format!("ws://127.0.0.1:{}/ws", self.anon_ws)),
            ("--anon-rs", format!("rs://127.0.0.1:{}", self.anon_rs)),
            ("--auth-ws", format!("ws://127.0.0.1:{}/ws", self.auth_ws)),
            ("--auth-rs", format!("rs://127.0.0.1:{}", self.auth_rs)),
            ("--tls", format!("wss://127.0.0.1:{}/ws", self.tls)),
            ("--dyn", format!("ws://127.0.0.1:{}/ws", self.dyn_)),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_owned(), v])
        .collect()
    }
}

/// The CA, the server's certificate, a client that is a principal and one that is not.
fn certificates(dir: &Path) {
    let ca = TestCa::new(dir, "ca", "Security CA");
    ca.issue("server", "localhost");
    ca.issue("client-a", "client-a");
    ca.issue("client-b", "client-b");
}

/// One router worker `router1`: realm1 with a catch-all role (`user`, `anonymous`), a role
/// that names `crossbar.app.` (`ops`) and one for `com.allowed.` only (`restricted`); realm
/// `auth` for the dynamic authenticator; a transport per auth method.
fn config(dir: &Path, p: &Ports) -> Value {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let catch_all = |name: &str| json!({"name": name, "permissions": [{"uri": "", "match": "prefix", "allow": all}]});
    let f = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let tcp = |port: u16| json!({"type": "tcp", "port": port, "interface": "127.0.0.1"});
    let sers = json!(["json", "msgpack", "cbor"]);
    let scram: Value =
        serde_json::from_str(&py_line(&["scram-principal", "sam", "scram-pass", "user"])).unwrap();
    let alice = py_line(&["pubkey", ALICE_SEED]);
    let cert_a = py_line(&["fingerprint", &f("client-a.pem")]);
    let ticket = json!({"type": "static", "principals": {
        "joe": {"ticket": "secret!!!", "role": "user"},
        "opsy": {"ticket": "ops-secret", "role": "ops"},
        "lim": {"ticket": "lim-secret", "role": "restricted"}}});
    let cryptosign = json!({"type": "static", "principals": {
        "alice": {"role": "user", "authorized_keys": [alice]}}});
    json!({"version": 2, "workers": [{
        "id": "router1", "type": "router",
        "realms": [
            {"name": "realm1", "roles": [
                catch_all("user"), catch_all("anonymous"),
                {"name": "ops", "permissions": [
                    {"uri": "crossbar.app.", "match": "prefix", "allow": all},
                    {"uri": "com.", "match": "prefix", "allow": all}]},
                {"name": "restricted", "permissions": [
                    {"uri": "com.allowed.", "match": "prefix", "allow": {"call": true}}]}
            ]},
            {"name": "auth", "roles": [catch_all("anonymous")]}
        ],
        "transports": [
            {"type": "web", "endpoint": tcp(p.anon_ws), "paths": {
                "/": {"type": "json", "value": {}},
                "ws": {"type": "websocket", "serializers": sers}}},
            {"type": "rawsocket", "endpoint": tcp(p.anon_rs), "serializers": sers},
            {"type": "websocket", "endpoint": tcp(p.auth_ws), "serializers": sers, "auth": {
                "ticket": ticket,
                "wampcra": {"type": "static", "users": {
                    "peter": {"secret": "secret1", "role": "user"},
                    "salty": {"secret": "secret2", "role": "user",
                              "salt": "salt123", "iterations": 100, "keylen": 16}}},
                "cryptosign": cryptosign,
                "scram": {"type": "static", "principals": {"sam": scram}}}},
            {"type": "rawsocket", "endpoint": tcp(p.auth_rs), "serializers": sers, "auth": {
                "ticket": ticket, "cryptosign": cryptosign}},
            {"type": "websocket", "serializers": sers,
             "endpoint": {"type": "tcp", "port": p.tls, "interface": "127.0.0.1",
                          "tls": {"certificate": f("server.pem"), "key": f("server.key"),
                                  "ca_certificates": [f("ca.pem")]}},
             "auth": {"tls": {"type": "static", "principals": {
                 "certy": {"certificate-sha1": cert_a, "role": "user"}}}}},
            {"type": "websocket", "endpoint": tcp(p.dyn_), "serializers": sers, "auth": {
                "ticket": {"type": "dynamic", "authenticator": "com.sec.authenticate",
                           "authenticator-realm": "auth", "authenticator-timeout": 1},
                "wampcra": {"type": "dynamic", "authenticator": "com.sec.nobody",
                            "authenticator-realm": "auth"}}}
        ]
    }]})
}

/// A node on [`config`], checked by `crossbar-edge check` first.
fn start_node(dir: &Path, ports: &Ports) -> Node {
    let cfg = config(dir, ports).to_string();
    let (ok, text) = check_config(&cfg);
    assert!(ok, "check refused the config: {text}");
    let mut node = Node::start(&cfg, &[]);
    node.wait_ready(&ports.all());
    node
}

fn run_script(args: &[String]) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_py("security.py", &refs)
}

fn matrix_args(dir: &Path, ports: &Ports, reference: bool) -> Vec<String> {
    let mut args = vec!["matrix".to_owned()];
    args.extend(ports.args());
    args.extend(["--dir".to_owned(), dir.to_str().unwrap().to_owned()]);
    if reference {
        args.push("--reference".into());
    }
    args
}

fn ratelimit_args(ports: &Ports, reference: bool) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "ratelimit".into(),
        "--auth-ws".into(),
        format!("ws://127.0.0.1:{}/ws", ports.auth_ws),
        "--anon-ws".into(),
        format!("ws://127.0.0.1:{}/ws", ports.anon_ws),
        "--threshold".into(),
        rate_limit::THRESHOLD.to_string(),
    ];
    if reference {
        args.push("--reference".into());
    }
    args
}

fn assert_node_ok(out: &Output, node: &Node, what: &str) {
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(out, what);
}

#[test]
fn application_sessions_cannot_use_management_uris_with_any_auth_method() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let ports = Ports::new();
    let node = start_node(dir.path(), &ports);
    let out = run_script(&matrix_args(dir.path(), &ports, false));
    assert_node_ok(&out, &node, "security.py matrix");
}

#[test]
fn the_application_side_matrix_against_crossbar_io() {
    let Some(bin) = crossbar_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let ports = Ports::new();
    let cb = Crossbar::start(&bin, &config(dir.path(), &ports).to_string(), &ports.all());
    let out = run_script(&matrix_args(dir.path(), &ports, true));
    cb.check(|| assert_py_ok(&out, "security.py matrix against Crossbar.io"));
}

#[test]
fn failed_password_logins_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let ports = Ports::new();
    let node = start_node(dir.path(), &ports);
    let out = run_script(&ratelimit_args(&ports, false));
    assert_node_ok(&out, &node, "security.py ratelimit");
    // The operator learns about it, once per address.
    let log = node.log_text();
    let warnings = log
        .lines()
        .filter(|l| l.contains("refusing password logins from an address"))
        .collect::<Vec<_>>();
    for addr in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        assert_eq!(
            warnings.iter().filter(|l| l.contains(addr)).count(),
            1,
            "one warning for {addr}:\n{log}"
        );
    }
    assert!(
        !warnings
            .iter()
            .any(|l| l.contains("127.0.0.1") || l.contains("127.0.0.5")),
        "{log}"
    );
}

#[test]
fn crossbar_io_does_not_rate_limit_failed_logins() {
    let Some(bin) = crossbar_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let ports = Ports::new();
    let cb = Crossbar::start(&bin, &config(dir.path(), &ports).to_string(), &ports.all());
    let out = run_script(&ratelimit_args(&ports, true));
    cb.check(|| assert_py_ok(&out, "security.py ratelimit against Crossbar.io"));
}

#[test]
fn management_events_stay_on_the_management_realm() {
    let port = free_port();
    let mut cfg = tests::realm_node_config(port, json!({}));
    cfg["workers"][0]["id"] = json!("router1");
    let mut node = Node::start(&cfg.to_string(), &[]);
    node.wait_ready(&[port]);
    let sock = node.cbdir().join("node.sock");
    let out = run_py(
        "security.py",
        &[
            "mgmt",
            "--anon-ws",
            &format!("ws://127.0.0.1:{port}/ws"),
            "--node-sock",
            sock.to_str().unwrap(),
        ],
    );
    assert_node_ok(&out, &node, "security.py mgmt");
}

/// `security.py nodesock-probe` as `uid` (through setpriv for another user).
fn probe(sock: &Path, uid: Option<u32>) -> String {
    let script = workspace_root().join("tests/py/security.py");
    let mut cmd = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
            ])
            .arg(python());
            c
        }
        None => Command::new(python()),
    };
    let out = cmd
        .arg("-B")
        .arg(&script)
        .args(["nodesock-probe", "--path"])
        .arg(sock)
        .output()
        .expect("run the probe");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "probe as {uid:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Waits (bounded) until `pred` holds for the node's log.
fn wait_log(node: &Node, what: &str, pred: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred(&node.log_text()) {
        assert!(
            Instant::now() < deadline,
            "no {what} in the node log:\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn node_sock_refuses_other_users() {
    const NOBODY: u32 = 65534;
    let uid = current_uid();
    let root = uid == 0;
    let setpriv = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(root, "node.sock test needs root (to act as another user)")
        || !require(setpriv, "node.sock test needs setpriv (util-linux)")
    {
        return;
    }
    let port = free_port();
    let mut node = Node::start(&tests::realm_node_config(port, json!({})).to_string(), &[]);
    node.wait_ready(&[port]);
    let sock = node.cbdir().join("node.sock");
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "node.sock's mode");
    assert_eq!(meta.uid(), uid, "node.sock belongs to the node's user");

    // Only the socket's own mode stands in the way (its directories are open to all).
    for d in [node.dir.path().to_path_buf(), node.cbdir()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert_eq!(probe(&sock, None), "answered", "root reaches node.sock");
    assert_eq!(
        probe(&sock, Some(NOBODY)),
        "refused: PermissionError",
        "the mode refuses nobody"
    );

    // A loosened mode: the peer's credentials still refuse it, with one warning per interval.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    for _ in 0..3 {
        assert_eq!(
            probe(&sock, Some(NOBODY)),
            "closed",
            "SO_PEERCRED refuses nobody"
        );
    }
    let refused = "node.sock: refused a connection from another user";
    wait_log(&node, "warning about the refused peer", |l| {
        l.contains(refused)
    });
    // The node's user still gets in after them (and after the warning was written).
    assert_eq!(probe(&sock, None), "answered");
    let log = node.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(refused)).collect();
    assert_eq!(lines.len(), 1, "one warning per interval:\n{log}");
    assert!(
        lines[0].contains(&NOBODY.to_string()) && lines[0].contains("WARN"),
        "{}",
        lines[0]
    );
    let rt = tests::mgmt::runtime();
    rt.block_on(async {
        let s = tests::mgmt::connect(&node.cbdir()).await;
        let status = tests::mgmt::call_ok(&s, "crossbar.get_status", vec![]).await;
        assert!(status.is_object(), "{status}");
    });
}

fn current_uid() -> u32 {
    // The tests crate has no libc binding of its own: `id -u` answers.
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A running `crossbar-cdc start`; killed on drop.
struct Cdc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Cdc {
    fn start(cbdir: &Path, port: u16) -> (Cdc, Value) {
        let out = Command::new(bin("crossbar-cdc"))
            .args(["init", "--cbdir"])
            .arg(cbdir)
            .output()
            .unwrap();
        assert!(out.status.success(), "cdc init: {out:?}");
        let path = cbdir.join("config.json");
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        c["listen"]["port"] = port.into();
        std::fs::write(&path, c.to_string()).unwrap();
        let mut child = Command::new(bin("crossbar-cdc"))
            .args(["start", "--loglevel", "info", "--cbdir"])
            .arg(cbdir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
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
        (cdc, c)
    }

    fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Cdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn wrong_pins_in_parallel_never_exceed_the_cdc_retry_limits() {
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join("cdc");
    let port = free_port();
    let (cdc, config) = Cdc::start(&cbdir, port);
    // The limits `crossbar-cdc init` writes (the documented defaults: 5 and 5).
    let per_id = config["verification"]["max_tries_per_id"].as_u64().unwrap();
    let per_token = config["verification"]["max_tries_per_token"]
        .as_u64()
        .unwrap();
    assert_eq!((per_id, per_token), (5, 5));
    let out = run_py(
        "security.py",
        &[
            "cdc-pins",
            "--url",
            &format!("ws://127.0.0.1:{port}/ws"),
            "--outbox",
            cbdir.join("outbox").to_str().unwrap(),
            "--max-per-id",
            &per_id.to_string(),
            "--max-per-token",
            &per_token.to_string(),
        ],
    );
    if !out.status.success() {
        println!("CDC log:\n{}", cdc.text());
    }
    assert_py_ok(&out, "security.py cdc-pins");
}
