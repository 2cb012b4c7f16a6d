//! A short soak (the 10-minute one is `bench/soak.sh`): 2,000 sessions with mixed RPC and
//! pub/sub against a node for 40 s after a 10 s warm-up; the node's RSS must stay within 5 %
//! of where the warm-up left it, its descriptors must not grow and go back to the idle count
//! once the clients are gone, and no call may fail (`wamp-bench soak` decides and exits
//! non-zero otherwise).

use std::process::Command;

use tests::{Node, free_port, workspace_root};

#[test]
fn two_thousand_sessions_of_mixed_traffic_keep_memory_and_descriptors_flat() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 4096 {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    let (raw, web) = (free_port(), free_port());
    let config =
        std::fs::read_to_string(workspace_root().join("agent/src/config/default_config.json"))
            .unwrap()
            .replace("\"port\": 8081", &format!("\"port\": {raw}"))
            .replace("\"port\": 8080", &format!("\"port\": {web}"));
    let mut node = Node::start(&config, &[]);
    node.wait_ready(&[raw, web]);
    let out = Command::new(env!("CARGO_BIN_EXE_wamp-bench"))
        .args(["--url", &format!("rs://127.0.0.1:{raw}")])
        .args(["--router-pid", &node.child.id().to_string(), "--tree"])
        .args(["--warmup", "10", "--duration", "40", "soak"])
        .args(["--sessions", "2000", "--callers", "20", "--topics", "20"])
        .args(["--publish-rate", "100", "--sample", "10"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(
        out.status.success(),
        "the soak failed:\n{stderr}\nnode log:\n{}",
        node.log_text()
    );
    assert_eq!(node.terminate(), Some(0), "{}", node.log_text());
}
