//! WAMP-TLS: clients authenticated by their TLS client certificate, with unmodified
//! autobahn-python clients (`tests/py/tls_auth.py`): static principals by SHA-1
//! fingerprint over WebSocket and RawSocket, a dynamic authenticator that reads
//! `details.transport.peer_cert`, a certificate of the CA that is no principal, and one from
//! another CA, and (crossbar-edge only) a `function` authenticator; WAMP-cryptosign bound to
//! the TLS channel (`tls-unique`), a signature for another channel, and the binding asked for
//! over plain WebSocket. The same client checks
//! run against Crossbar.io.

use std::path::Path;

use serde_json::{Value, json};
use tests::certs::TestCa;
use tests::crossbar::{Crossbar, crossbar_bin};
use tests::{
    Node, PyService, assert_py_ok, check_config, free_port, python, run_py, workspace_root,
};

/// The CA, the server's certificate, two clients of the CA and one of another CA.
fn certificates(dir: &Path) {
    // The CA's common name is what the dynamic check reads as the issuer.
    let ca = TestCa::new(dir, "ca", "Test CA");
    ca.issue("server", "localhost");
    ca.issue("client-a", "client-a");
    ca.issue("client-b", "client-b");
    TestCa::new(dir, "other-ca", "Other CA").issue("stranger", "client-a");
}

fn fingerprint(cert: &Path) -> String {
    let out = run_py("tls_auth.py", &["fingerprint", cert.to_str().unwrap()]);
    assert_py_ok(&out, "tls_auth.py fingerprint");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn cryptosign_pubkey() -> String {
    let out = run_py("tls_auth.py", &["cryptosign-pubkey"]);
    assert_py_ok(&out, "tls_auth.py cryptosign-pubkey");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Ports {
    web: u16,
    st: u16,
    rs: u16,
    dy: u16,
    /// WAMP-cryptosign over TLS (no client certificate), for channel binding.
    cs: u16,
    /// The transport with a `function` authenticator, crossbar-edge only (Crossbar.io
    /// accepts the config and denies every login).
    func: Option<u16>,
}

fn config(dir: &Path, p: &Ports) -> Value {
    let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
    let role = |name: &str| json!({"name": name, "permissions": [{"uri": "", "match": "prefix", "allow": all}]});
    let f = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let endpoint = |port: u16| {
        json!({"type": "tcp", "port": port, "interface": "127.0.0.1",
               "tls": {"certificate": f("server.pem"), "key": f("server.key"),
                       "ca_certificates": [f("ca.pem")]}})
    };
    let principals = json!({"alice": {"certificate-sha1": fingerprint(&dir.join("client-a.pem")),
                                      "role": "user"}});
    let cryptosign = json!({"type": "static", "principals": {"carol": {
        "realm": "realm1", "role": "user", "authorized_keys": [cryptosign_pubkey()]}}});
    let mut transports = json!([
            {"type": "websocket", "endpoint": {"type": "tcp", "port": p.web, "interface": "127.0.0.1"},
             "auth": {"anonymous": {"type": "static", "role": "anonymous"}, "cryptosign": cryptosign}},
            {"type": "websocket",
             "endpoint": {"type": "tcp", "port": p.cs, "interface": "127.0.0.1",
                          "tls": {"certificate": f("server.pem"), "key": f("server.key")}},
             "auth": {"cryptosign": cryptosign}},
            {"type": "websocket", "endpoint": endpoint(p.st),
             "auth": {"tls": {"type": "static", "principals": principals}}},
            {"type": "rawsocket", "serializers": ["msgpack", "json"], "endpoint": endpoint(p.rs),
             "auth": {"tls": {"type": "static", "principals": principals}}},
            {"type": "websocket", "endpoint": endpoint(p.dy),
             "auth": {"tls": {"type": "dynamic", "authenticator": "com.example.tls",
                              "authenticator-realm": "auth"}}}
    ]);
    if let Some(port) = p.func {
        transports.as_array_mut().unwrap().push(json!(
            {"type": "websocket", "endpoint": endpoint(port),
             "auth": {"tls": {"type": "function", "create": "dyn_auth_functions.create_tls_authenticator",
                              "config": {"users": {"client-b": "bob"}}}}}
        ));
    }
    json!({"version": 2, "workers": [{
        "type": "router",
        "options": {"python": python(), "pythonpath": [workspace_root().join("tests/py")]},
        "realms": [
            {"name": "realm1", "roles": [role("user")]},
            {"name": "auth", "roles": [role("anonymous")]}
        ],
        "transports": transports
    }]})
}

fn run_clients(dir: &Path, p: &Ports) -> std::process::Output {
    let url = format!("ws://127.0.0.1:{}/ws", p.web);
    let _authenticator = PyService::start("tls_auth.py", &["authenticator", "--url", &url]);
    let st = format!("wss://localhost:{}/ws", p.st);
    let rs = format!("rss://localhost:{}", p.rs);
    let dy = format!("wss://localhost:{}/ws", p.dy);
    let mut args = vec![
        "clients".to_owned(),
        "--dir".to_owned(),
        dir.to_str().unwrap().to_owned(),
        "--static".to_owned(),
        st,
        "--rawsocket".to_owned(),
        rs,
        "--dynamic".to_owned(),
        dy,
        "--bound".to_owned(),
        format!("wss://localhost:{}/ws", p.cs),
        "--plain".to_owned(),
        url.clone(),
    ];
    if let Some(port) = p.func {
        args.extend([
            "--function".to_owned(),
            format!("wss://localhost:{port}/ws"),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_py("tls_auth.py", &args)
}

fn ports(function: bool) -> Ports {
    Ports {
        web: free_port(),
        st: free_port(),
        rs: free_port(),
        dy: free_port(),
        cs: free_port(),
        func: function.then(free_port),
    }
}

#[test]
fn client_certificate_logins_with_autobahn() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let p = ports(true);
    let cfg = config(certs.path(), &p).to_string();
    let (ok, text) = check_config(&cfg);
    assert!(ok, "check refused the config: {text}");
    let mut node = Node::start(&cfg, &[]);
    node.wait_ready(&[p.web, p.st, p.rs, p.dy, p.cs, p.func.unwrap()]);
    let out = run_clients(certs.path(), &p);
    if !out.status.success() {
        println!("node log:\n{}", node.log_text());
    }
    assert_py_ok(&out, "tls_auth.py clients");
}

#[test]
fn the_same_tls_checks_pass_against_crossbar_io() {
    let Some(bin) = crossbar_bin() else { return };
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let p = ports(false);
    let cfg = config(certs.path(), &p);
    let cb = Crossbar::start(&bin, &cfg.to_string(), &[p.web, p.st, p.rs, p.dy, p.cs]);
    let out = run_clients(certs.path(), &p);
    cb.check(|| assert_py_ok(&out, "tls_auth.py clients against Crossbar.io"));
}
