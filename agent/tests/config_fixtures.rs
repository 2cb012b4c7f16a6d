//! Golden fixtures: configs written by real Crossbar.io (`crossbar init`, `crossbar convert`)
//! and a hand-written config exercising every worker type and option, checked by Crossbar.io's
//! edge checkconfig when it was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agent::config::load::{self, ConfigFormat};
use agent::config::{
    EnvInherit, GuestOutput, GuestStdin, KeyringConfig, NodeConfig, ProcessEnv, ShutdownMode,
    WorkerConfig, WorkerKind, write,
};
use router_core::uri::{MatchPolicy, UriCheck};
use serde_json::{Value, json};
use worker_host::components::{RestartPolicy, ShutdownPolicy};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(name: &str) -> Value {
    let path = data(name);
    let (_, v) = load::read_file(&path).unwrap_or_else(|e| panic!("{e}"));
    v
}

fn env(name: &str) -> Option<String> {
    let vars: BTreeMap<&str, &str> = [
        ("MANHOLE_PASSWORD", "pw"),
        ("JOE_TICKET", "t1"),
        ("EDGE_PORT", "9999"),
    ]
    .into_iter()
    .collect();
    vars.get(name).map(|s| s.to_string())
}

fn full(name: &str) -> NodeConfig {
    NodeConfig::from_value_with_env(read(name), &env).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn crossbar_init_config() {
    let cfg = NodeConfig::from_value(read("crossbar-init/config.json")).unwrap();
    assert_eq!(cfg.version, 2);
    assert_eq!(cfg.controller, Default::default());
    assert_eq!(
        cfg.controller.options.shutdown_modes(),
        vec![ShutdownMode::ShutdownOnShutdownRequested]
    );
    let [WorkerConfig::Router(r)] = cfg.workers.as_slice() else {
        panic!("one router: {:?}", cfg.workers)
    };
    assert_eq!(r.id.as_deref(), Some("worker001"));
    assert_eq!(r.realms[0].name, "realm1");
    assert_eq!(r.realms[0].id.as_deref(), Some("realm001"));
    let role = &r.realms[0].roles[0];
    assert_eq!(
        (role.id.as_deref(), role.name.as_str()),
        (Some("role001"), "anonymous")
    );
    assert_eq!(role.permissions[0].uri, "");
    assert_eq!(role.permissions[0].match_, Some(MatchPolicy::Prefix));
    assert!(
        role.permissions[0].allow.call
            && role.permissions[0].allow.subscribe
            && role.permissions[0].cache
    );
    let ids: Vec<&str> = r
        .transports
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["transport001", "transport002"]);
    assert_eq!(
        r.transports[1]["paths"]["ws"]["options"]["auto_ping_interval"],
        json!(10000)
    );
}

#[test]
fn default_config_is_crossbar_init_config() {
    assert_eq!(
        load::default_config_value(),
        read("crossbar-init/config.json")
    );
}

#[test]
fn full_config_every_option() {
    let cfg = full("full.json");
    let c = &cfg.controller;
    assert_eq!(c.id.as_deref(), Some("node1"));
    assert_eq!(c.options.title.as_deref(), Some("crossbar-controller"));
    assert_eq!(
        c.options.shutdown_modes(),
        [
            ShutdownMode::ShutdownOnShutdownRequested,
            ShutdownMode::ShutdownOnLastWorkerExit
        ]
    );
    assert_eq!(c.options.enable_parallel_worker_start, Some(true));
    let fabric = c.fabric.as_ref().unwrap();
    assert_eq!(
        fabric.transport.as_ref().unwrap()["url"],
        json!("ws://127.0.0.1:9000/ws")
    );
    let hb = fabric.heartbeat.as_ref().unwrap();
    assert_eq!((hb.startup_delay(), hb.heartbeat_period()), (2.0, 7.5));
    assert!(
        hb.include_system_stats()
            && !hb.send_workers_heartbeats()
            && !hb.aggregate_workers_heartbeats()
    );
    let manhole = c.manhole.as_ref().unwrap();
    assert_eq!(
        manhole.users[0].password, "pw",
        "${{MANHOLE_PASSWORD}} substituted"
    );
    assert_eq!(
        c.keyring,
        Some(KeyringConfig::File(
            agent::config::controller::KeyringFile {
                path: Some("key.priv".into())
            }
        ))
    );
    assert_eq!(c.enable_docker, Some(false));

    let ids: Vec<(&str, WorkerKind)> = cfg.workers.iter().map(|w| (w.id(), w.kind())).collect();
    assert_eq!(
        ids,
        [
            ("router1", WorkerKind::Router),
            ("container1", WorkerKind::Container),
            ("worker001", WorkerKind::Container),
            ("guest1", WorkerKind::Guest),
            ("worker002", WorkerKind::Guest),
        ]
    );

    let WorkerConfig::Router(r) = &cfg.workers[0] else {
        panic!()
    };
    let o = &r.options;
    assert_eq!(o.title.as_deref(), Some("router one"));
    assert_eq!(o.extra, Some(json!({"anything": [1, 2, 3]})));
    assert_eq!(o.python.as_deref(), Some("/usr/bin/python3"));
    assert_eq!(o.pythonpath, Some(vec!["..".to_string()]));
    assert_eq!(o.cpu_affinity, Some(vec![0]));
    let env = o.env.as_ref().unwrap();
    assert_eq!(
        env.inherit,
        Some(EnvInherit::Only(vec!["PATH".into(), "HOME".into()]))
    );
    let resolved = ProcessEnv::resolve(
        Some(env),
        [
            ("PATH".into(), "/bin".into()),
            ("SECRET".into(), "x".into()),
        ],
    );
    assert_eq!(
        resolved.into_iter().collect::<Vec<_>>(),
        [
            ("LANG".to_string(), "C.UTF-8".to_string()),
            ("PATH".into(), "/bin".into()),
            ("PYTHONUNBUFFERED".into(), "1".into())
        ]
    );
    assert!(o.expose_controller() && o.expose_shared == Some(false) && !o.disabled);
    assert_eq!(r.manhole.as_ref().unwrap().users[0].user, "ops");

    let realm_ids: Vec<&str> = r.realms.iter().filter_map(|x| x.id.as_deref()).collect();
    assert_eq!(realm_ids, ["realm001", "realm_two"]);
    let role_ids: Vec<&str> = r.realms[0]
        .roles
        .iter()
        .map(|x| x.id.as_deref().unwrap())
        .collect();
    assert_eq!(role_ids, ["role001", "role002", "role003"]);
    assert_eq!(r.realms[1].roles[0].id.as_deref(), Some("role_admin"));
    let backend = &r.realms[0].roles[1];
    assert_eq!(backend.permissions.len(), 4);
    assert_eq!(
        backend.permissions[1].effective(),
        ("com.example.".into(), MatchPolicy::Prefix)
    );
    assert_eq!(
        backend.permissions[3].validate,
        Some(json!({"call": "uint64_t"}))
    );
    assert_eq!(
        r.realms[0].roles[2].authorizer.as_deref(),
        Some("com.example.authorize")
    );
    let ro = &r.realms[0].options;
    assert_eq!(ro.event_dispatching_chunk_size, Some(100));
    assert_eq!(ro.uri_check, UriCheck::Strict);
    assert_eq!((ro.enable_meta_api, ro.bridge_meta_api), (true, true));
    let store = r.realms[1].store.as_ref().expect("realm store");
    assert_eq!((store.kind.as_str(), store.limit), ("memory", Some(1000)));

    let t_ids: Vec<&str> = r
        .transports
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(t_ids, ["ws1", "transport001", "transport002", "uni1"]);
    assert_eq!(
        r.transports[0]["auth"]["ticket"]["principals"]["joe"]["ticket"],
        json!("t1")
    );
    assert_eq!(r.components[0]["id"], json!("component001"));

    let WorkerConfig::Container(c1) = &cfg.workers[1] else {
        panic!()
    };
    assert_eq!(c1.options.shutdown, Some(ShutdownPolicy::Manual));
    assert_eq!(
        c1.options.restart,
        Some(RestartPolicy::OnFailure),
        "Crossbar.io's restart-on-failed"
    );
    assert!(
        !c1.options.disabled,
        "unset ${{CONTAINER_DISABLED}} means enabled"
    );
    let c_ids: Vec<&str> = c1
        .components
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(c_ids, ["component002", "client_two"]);

    let WorkerConfig::Guest(g) = &cfg.workers[3] else {
        panic!()
    };
    assert_eq!(
        (g.executable.as_str(), g.arguments.as_slice()),
        ("/usr/bin/env", &["node".to_string(), "app.js".into()][..])
    );
    assert_eq!(g.options.workdir.as_deref(), Some("../app"));
    assert_eq!(
        g.options.stdin,
        Some(GuestStdin::Json {
            value: json!({"x": 1}),
            close: true
        })
    );
    assert_eq!(
        (g.options.stdout, g.options.stderr),
        (Some(GuestOutput::Log), Some(GuestOutput::Drop))
    );
    let watch = g.options.watch.as_ref().unwrap();
    assert_eq!(
        (watch.directories.as_slice(), watch.timeout),
        (&["../app".to_string()][..], Some(2.0))
    );
    let WorkerConfig::Guest(g2) = &cfg.workers[4] else {
        panic!()
    };
    assert_eq!(g2.options.stdin, Some(GuestStdin::Close));
    assert_eq!(
        g2.options.env.as_ref().unwrap().inherit,
        Some(EnvInherit::Nothing)
    );
    assert_eq!(cfg.workers[4].restart(), RestartPolicy::Never);
}

#[test]
fn yaml_written_by_crossbar_equals_json() {
    assert_eq!(full("full.yaml"), full("full.json"));
}

#[test]
fn typed_config_round_trips() {
    for name in [
        "full.json",
        "crossbar-init/config.json",
        "edge-extensions.json",
    ] {
        let cfg = full(name);
        let again = NodeConfig::from_value_with_env(cfg.to_value(), &env)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, cfg, "{name}");
    }
}

#[test]
fn edge_extensions() {
    let cfg = full("edge-extensions.json");
    assert_eq!(cfg.workers[0].restart(), RestartPolicy::OnFailure);
    assert!(
        !cfg.workers[0].is_disabled(),
        "\"false\" enables (Crossbar.io would disable)"
    );
    assert_eq!(cfg.workers[1].restart(), RestartPolicy::Always);
    assert_eq!(cfg.workers[2].restart(), RestartPolicy::Never);
    let WorkerConfig::Router(r) = &cfg.workers[0] else {
        panic!()
    };
    assert_eq!(
        r.transports[0]["endpoint"]["port"],
        json!(9999),
        "$EDGE_PORT resolved"
    );
    let WorkerConfig::Container(c) = &cfg.workers[1] else {
        panic!()
    };
    assert_eq!(c.components[0]["type"], json!("exec"));
}

#[test]
fn our_convert_round_trips_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("config.json");
    // convert validates against the process environment: use literal values.
    let text = std::fs::read_to_string(data("full.json")).unwrap();
    let text = text
        .replace("${MANHOLE_PASSWORD}", "pw")
        .replace("${JOE_TICKET}", "t1");
    std::fs::write(&json_path, &text).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    let yaml_path = write::convert(&json_path).unwrap();
    assert_eq!(yaml_path, dir.path().join("config.yaml"));
    assert!(json_path.exists(), "the source is kept");
    let (fmt, from_yaml) = load::read_file(&yaml_path).unwrap();
    assert_eq!(fmt, ConfigFormat::Yaml);
    assert_eq!(from_yaml, original);

    std::fs::remove_file(&json_path).unwrap();
    let back = write::convert(&yaml_path).unwrap();
    assert_eq!(back, json_path);
    let text = std::fs::read_to_string(&json_path).unwrap();
    assert!(
        text.starts_with("{\n   \"$schema\": "),
        "Crossbar.io's layout, key order kept: {}",
        &text[..40]
    );
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), original);
}

#[test]
fn convert_refuses_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.json");
    std::fs::write(
        &p,
        r#"{"version": 2, "workers": [{"type": "router", "realms": [{"name": "x"}]}]}"#,
    )
    .unwrap();
    let e = write::convert(&p).unwrap_err();
    assert!(e.to_string().contains("workers[0].realms[0].name"), "{e}");
    assert!(!dir.path().join("config.yaml").exists());
}

#[test]
fn routers_and_containers_restart_on_failure_by_default() {
    let cfg = full("crossbar-init/config.json");
    let WorkerConfig::Router(_) = &cfg.workers[0] else {
        panic!()
    };
    assert_eq!(cfg.workers[0].restart(), RestartPolicy::OnFailure);
    let container = NodeConfig::from_value_with_env(
        serde_json::json!({"version": 2, "workers": [{"type": "container"}, {"type": "guest", "executable": "true"}]}),
        &env,
    )
    .unwrap();
    assert_eq!(container.workers[0].restart(), RestartPolicy::OnFailure);
    assert_eq!(container.workers[1].restart(), RestartPolicy::Never);
}
