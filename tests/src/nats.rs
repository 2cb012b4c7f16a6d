//! A cluster of real NATS servers (Debian's `nats-server`) on loopback for the cluster tests:
//! each server with its client, route and monitoring ports, routed to the others, ready once
//! every server reports a route to every other one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// The `nats-server` executable; a missing one fails the test (`.ci/run` installs it).
pub fn nats_server() -> &'static str {
    let found = Command::new("nats-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "nats-server not found: install Debian's nats-server (apt-get install nats-server)"
    );
    "nats-server"
}

pub struct NatsServer {
    pub client_port: u16,
    pub monitor_port: u16,
    child: Option<Child>,
}

impl NatsServer {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    /// Kills the server (SIGKILL); the others go on.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn routes(&self) -> Option<usize> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.monitor_port)).ok()?;
        use std::io::{Read, Write};
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET /routez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let body = out.split("\r\n\r\n").nth(1)?;
        let v: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
        v["num_routes"].as_u64().map(|n| n as usize)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` NATS servers routed to each other (one cluster).
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    pub fn start(n: usize) -> NatsCluster {
        let exe = nats_server();
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut servers = Vec::new();
        for (i, &(client, route, monitor)) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| format!("nats://127.0.0.1:{}", p.1))
                .collect();
            let child = Command::new(exe)
                .args(["-a", "127.0.0.1", "-p", &client.to_string()])
                .args(["-m", &monitor.to_string()])
                .args(["--server_name", &format!("edge-test-{i}")])
                .args(["--cluster_name", "edge-test"])
                .args(["--cluster", &format!("nats://127.0.0.1:{route}")])
                .args(["--routes", &routes.join(",")])
                // Clients keep to the servers they were given.
                .arg("--no_advertise=true")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nats-server");
            servers.push(NatsServer {
                client_port: client,
                monitor_port: monitor,
                child: Some(child),
            });
        }
        let cluster = NatsCluster { servers };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster
            .servers
            .iter()
            .all(|s| s.routes().is_some_and(|r| r + 1 >= n))
        {
            assert!(
                Instant::now() < deadline,
                "the NATS servers did not route to each other within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// The client URLs of every server.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }
}
