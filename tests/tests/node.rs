//! The `crossbar-edge` binary as a user meets it: the config `crossbar init` writes runs
//! unchanged, static files and WebSocket share one port, bad bytes close only the connection
//! that sent them, and SIGTERM stops the node cleanly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tests::{Node, assert_py_ok, free_port, run_py, workspace_root};

/// Crossbar.io's `crossbar init` config (our built-in default), with its two fixed ports
/// swapped for free ones and nothing else changed.
fn init_config(raw: u16, web: u16) -> String {
    let text =
        std::fs::read_to_string(workspace_root().join("agent/src/config/default_config.json"))
            .unwrap();
    assert!(text.contains("\"port\": 8081") && text.contains("\"port\": 8080"));
    text.replace("\"port\": 8081", &format!("\"port\": {raw}"))
        .replace("\"port\": 8080", &format!("\"port\": {web}"))
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn crossbar_init_config_serves_static_files_websocket_and_rawsocket() {
    let (raw, web) = (free_port(), free_port());
    let mut node = Node::start(&init_config(raw, web), &[]);
    node.wait_ready(&[raw, web]);

    let page = http_get(web, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "GET /: {page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{page}"
    );
    assert!(page.contains("hello from crossbar-edge"), "{page}");
    assert!(http_get(web, "/nope.txt").starts_with("HTTP/1.1 404"));

    for (url, ser) in [
        (format!("ws://127.0.0.1:{web}/ws"), "json"),
        (format!("rs://127.0.0.1:{raw}"), "cbor"),
    ] {
        let out = run_py(
            "interop.py",
            &["--url", &url, "--serializer", ser, "--scenario", "rpc"],
        );
        assert_py_ok(&out, &url);
    }

    assert_eq!(node.terminate(), Some(0), "log:\n{}", node.log_text());
    let log = node.log_text();
    assert!(log.contains("node stopped"), "log:\n{log}");
}

/// Opens a RawSocket connection with the JSON serializer and returns it after the handshake.
fn rawsocket_json(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[0x7f, 0xf1, 0, 0]).unwrap();
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 0x7f);
    assert_eq!(reply[1] & 0x0f, 1, "router accepts JSON: {reply:?}");
    s
}

fn send_frame(s: &mut TcpStream, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut frame = vec![0u8, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    frame.extend_from_slice(payload);
    s.write_all(&frame).unwrap();
}

/// Reads one RawSocket frame's payload as text.
fn read_frame(s: &mut TcpStream) -> String {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).unwrap();
    let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    String::from_utf8_lossy(&payload).into_owned()
}

/// A TCP connection to `/ws` on `port` after a WebSocket upgrade (`wamp.2.json`).
fn websocket_upgraded(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// Reads frames until the router closes the connection; returns their payloads as text.
fn read_until_closed(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn malformed_input_closes_only_that_connection() {
    let (raw, web) = (free_port(), free_port());
    let mut node = Node::start(&init_config(raw, web), &[]);
    node.wait_ready(&[raw, web]);

    // A session that is open while the others misbehave.
    let mut alive = rawsocket_json(raw);
    send_frame(
        &mut alive,
        br#"[1, "realm1", {"roles": {"publisher": {}}}]"#,
    );
    let welcome = read_frame(&mut alive);
    assert!(welcome.starts_with("[2,"), "{welcome}");

    // A bad RawSocket handshake: the connection is dropped.
    let mut s = TcpStream::connect(("127.0.0.1", raw)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let _ = read_until_closed(&mut s);

    // Malformed WAMP after a good handshake: ABORT with protocol_violation, then close.
    // HELLOs that autobahn's (and so Crossbar.io's) parser refuses are refused too.
    let bad: [&[u8]; 11] = [
        b"[1, \"realm1\"]",
        b"{\"not\": \"a list\"}",
        b"[1, \"realm1\", {\"roles\": {\"caller\": {}}}",
        &[0xff, 0xfe, 0x00, 0x80],
        b"[48, 1, {}, \"com.x\"]",
        b"[1, \"realm1\", {}]",
        b"[1, \"realm1\", {\"roles\": \"caller\"}]",
        b"[1, \"realm1\", {\"roles\": {}}]",
        b"[1, \"realm1\", {\"roles\": {\"dealer\": {}}}]",
        b"[1, \"realm1\", {\"roles\": {\"caller\": []}}]",
        b"[1, \"realm1\", {\"roles\": {\"caller\": {}}, \"authid\": 5}]",
    ];
    for payload in bad {
        let mut s = rawsocket_json(raw);
        send_frame(&mut s, payload);
        let reply = read_until_closed(&mut s);
        assert!(
            reply.contains("wamp.error.protocol_violation"),
            "{:?} -> {reply:?}",
            String::from_utf8_lossy(payload)
        );
    }

    // Each close is a warning in the node log, with the peer and the reason.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = node.log_text();
        let warned = log.lines().any(|l| {
            l.contains("closing session for a protocol violation")
                && l.contains("expected HELLO, got CALL")
                && l.contains("tcp4:127.0.0.1:")
                && l.to_ascii_uppercase().contains("WARN")
        });
        // So is a connection that fails its RawSocket handshake (HTTP sent to the port).
        let warned = warned
            && log.lines().any(|l| {
                l.contains("connection closed in its transport handshake")
                    && l.contains("rawsocket handshake failed")
                    && l.to_ascii_uppercase().contains("WARN")
            });
        if warned {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no warning for the protocol violation in the node log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A frame longer than the transport's max_message_size (1 MiB) closes the connection.
    let mut s = rawsocket_json(raw);
    s.write_all(&[0, 0x20, 0, 0]).unwrap();
    let _ = read_until_closed(&mut s);

    // WebSocket frame headers that break RFC 6455 close the connection when the header
    // arrives, though the payload they announce never does: reserved bits, no mask.
    for header in [[0x82u8 | 0x40, 0xfe, 0xff, 0xff], [0x82, 0x7e, 0xff, 0xff]] {
        let mut s = websocket_upgraded(web);
        let started = std::time::Instant::now();
        s.write_all(&header).unwrap();
        let _ = read_until_closed(&mut s);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{header:x?}: closed after {:?}",
            started.elapsed()
        );
    }

    // Garbage on the web port is an HTTP error, not a crash.
    let mut s = TcpStream::connect(("127.0.0.1", web)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"\x00\x01\x02garbage\r\n\r\n").unwrap();
    let _ = read_until_closed(&mut s);

    // The open session is unaffected, and new sessions work.
    send_frame(
        &mut alive,
        br#"[16, 7, {"acknowledge": true}, "com.still.alive"]"#,
    );
    let published = read_frame(&mut alive);
    assert!(published.starts_with("[17,7,"), "{published}");

    let out = run_py(
        "interop.py",
        &[
            "--url",
            &format!("ws://127.0.0.1:{web}/ws"),
            "--serializer",
            "msgpack",
            "--scenario",
            "all",
        ],
    );
    assert_py_ok(&out, "after malformed input");
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "node exited:\n{}",
        node.log_text()
    );
    assert_eq!(node.terminate(), Some(0));
}

#[test]
fn invalid_transport_config_is_refused_with_its_key_path() {
    let config = init_config(free_port(), free_port()).replace(
        "\"serializers\": [\"cbor\", \"msgpack\", \"json\"]",
        "\"serializers\": \"cbor\"",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    let out = std::process::Command::new(tests::bin("crossbar-edge"))
        .args(["check", "--cbdir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(64), "{text}");
    assert!(
        text.contains("workers[0].transports[0].serializers"),
        "{text}"
    );
}

/// The soft limit of open files is raised to the hard limit at start (a router's connections
/// are file descriptors), also when the node was started with a low one; workers inherit it.
#[test]
fn the_open_files_soft_limit_is_raised_to_the_hard_limit() {
    let (raw, web) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let cbdir = dir.path().join(".crossbar");
    std::fs::create_dir_all(&cbdir).unwrap();
    std::fs::write(cbdir.join("config.json"), init_config(raw, web)).unwrap();
    let mut child = std::process::Command::new("sh")
        .args(["-c", "ulimit -S -n 256 && exec \"$0\" start --cbdir \"$1\""])
        .arg(tests::bin("crossbar-edge"))
        .arg(&cbdir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        tests::wait_port(raw, Duration::from_secs(20)),
        "node did not start"
    );
    let limits = |pid: u32| -> (String, String) {
        let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap()
            .to_owned();
        let f: Vec<&str> = line.split_whitespace().collect();
        (f[3].to_owned(), f[4].to_owned())
    };
    let (soft, hard) = limits(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(soft, hard, "soft {soft}, hard {hard}");
    assert_ne!(soft, "256");
}

/// A HELLO flood: 500 connections at once, each with a hostile HELLO (1 MiB of details,
/// 100,000-deep nesting, a realm that does not exist, a HELLO that is not one), while a
/// normal client keeps joining: every hostile one is refused (ABORT or closed), the normal
/// joins are answered all along, and the router worker is never restarted.
#[test]
fn a_hello_flood_leaves_normal_joins_served() {
    let (raw, web) = (free_port(), free_port());
    let mut node = Node::start(&init_config(raw, web), &[]);
    node.wait_ready(&[raw, web]);
    let hostile: Vec<Vec<u8>> = vec![
        format!(
            r#"[1, "realm1", {{"roles": {{"caller": {{}}}}, "x": "{}"}}]"#,
            "y".repeat(1 << 20)
        )
        .into_bytes(),
        format!(r#"[1, "realm1", {{"roles": {}}}]"#, "[".repeat(100_000)).into_bytes(),
        br#"[1, "no.such.realm", {"roles": {"caller": {}}}]"#.to_vec(),
        br#"[1, 1, 2, 3]"#.to_vec(),
        br#"[1, "realm1", {"roles": "everything"}]"#.to_vec(),
    ];
    let flood: Vec<_> = (0..20)
        .map(|t| {
            let hostile = hostile.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut s = rawsocket_json(raw);
                    let frame = &hostile[(t + i) % hostile.len()];
                    let mut bytes = (frame.len() as u32).to_be_bytes().to_vec();
                    bytes.extend_from_slice(frame);
                    // The router may refuse a frame before it has all arrived (too large) and
                    // close: a write that fails then is a refusal too.
                    if s.write_all(&bytes).is_err() {
                        continue;
                    }
                    let answer = read_until_closed(&mut s);
                    assert!(
                        !answer.contains("[2,"),
                        "a hostile HELLO was welcomed: {}",
                        &answer[..answer.len().min(200)]
                    );
                }
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let mut s = rawsocket_json(raw);
        send_frame(&mut s, br#"[1, "realm1", {"roles": {"caller": {}}}]"#);
        let welcome = read_frame(&mut s);
        assert!(welcome.starts_with("[2,"), "{welcome}");
        slowest = slowest.max(t.elapsed());
    }
    for f in flood {
        f.join().unwrap();
    }
    println!("normal joins during the flood: the slowest took {slowest:?}");
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");
    let log = node.log_text();
    assert!(!log.contains("restarting"), "{log}");
    assert_eq!(node.terminate(), Some(0), "log:\n{log}");
}
