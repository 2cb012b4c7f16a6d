//! A table of invalid configs, each with the exact key path its error must name.

use agent::config::NodeConfig;
use serde_json::{Value, json};

/// A valid base: a router (workers[0]) and a container (workers[1]).
fn base() -> Value {
    json!({
        "version": 2,
        "controller": {"id": "node1"},
        "workers": [
            {
                "id": "router1",
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
                    {"uri": "", "match": "prefix", "allow": {"call": true}}]}]}],
                "transports": [
                    {"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}},
                    {"type": "rawsocket", "endpoint": {"type": "tcp", "port": 8081}}
                ],
                "components": [{"type": "class", "classname": "a.B", "realm": "realm1"}]
            },
            {
                "id": "container1",
                "type": "container",
                "components": [{"type": "class", "classname": "a.B", "realm": "realm1",
                    "transport": {"type": "websocket", "url": "ws://127.0.0.1:8080",
                                  "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": 8080}}}]
            }
        ]
    })
}

fn env(name: &str) -> Option<String> {
    (name == "SET").then(|| "value".to_string())
}

/// Sets the value at a JSON pointer (creating the last key), or removes it when `v` is None.
fn set(mut doc: Value, pointer: &str, v: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut doc
    } else {
        doc.pointer_mut(parent)
            .unwrap_or_else(|| panic!("{parent}"))
    };
    match (target, v) {
        (Value::Object(m), Some(v)) => {
            m.insert(key.to_owned(), v);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (Value::Array(a), Some(v)) => a[key.parse::<usize>().unwrap()] = v,
        (t, _) => panic!("cannot set {pointer} in {t}"),
    }
    doc
}

#[test]
fn base_is_valid() {
    NodeConfig::from_value_with_env(base(), &env).unwrap();
}

#[test]
fn each_error_names_its_key_path() {
    let guest = json!({"id": "guest1", "type": "guest", "executable": "/bin/true"});
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        // (what, config, expected path, expected message fragment)
        ("top level not an object", json!([1]), "", "must be an object"),
        ("version missing", set(base(), "/version", None), "version", "please upgrade"),
        ("version 1", set(base(), "/version", Some(json!(1))), "version", "configuration too old: version 1"),
        ("version 3", set(base(), "/version", Some(json!(3))), "version", "reads version 2"),
        ("version as string", set(base(), "/version", Some(json!("2"))), "version", "invalid type: string"),
        ("unknown top-level key", set(base(), "/extra", Some(json!(1))), "extra", "unknown field `extra`"),
        ("controller id pattern", set(base(), "/controller/id", Some(json!("Node-1"))), "controller.id", "^[a-z][a-z0-9_]{2,63}$"),
        ("controller unknown key", set(base(), "/controller/cdc", Some(json!({}))), "controller.cdc", "unknown field"),
        ("shutdown mode", set(base(), "/controller/options", Some(json!({"shutdown": "bogus"}))), "controller.options.shutdown", "unknown variant `bogus`"),
        ("shutdown mode in list", set(base(), "/controller/options", Some(json!({"shutdown": ["shutdown_on_worker_exit", 7]}))), "controller.options.shutdown[1]", "invalid type: integer"),
        ("heartbeat type", set(base(), "/controller/fabric", Some(json!({"heartbeat": {"heartbeat_period": "x"}}))), "controller.fabric.heartbeat.heartbeat_period", "invalid type: string \"x\""),
        ("heartbeat zero", set(base(), "/controller/fabric", Some(json!({"heartbeat": {"heartbeat_period": 0}}))), "controller.fabric.heartbeat.heartbeat_period", "positive"),
        ("heartbeat unknown", set(base(), "/controller/fabric", Some(json!({"heartbeat": {"period": 1}}))), "controller.fabric.heartbeat.period", "unknown field"),
        ("fabric transport type", set(base(), "/controller/fabric", Some(json!({"transport": {"type": "mqtt", "endpoint": {"type": "tcp", "host": "m", "port": 1}}}))), "controller.fabric.transport.type", "unknown value \"mqtt\""),
        ("fabric transport endpoint", set(base(), "/controller/fabric", Some(json!({"transport": {"type": "websocket", "url": "ws://m:1/ws"}}))), "controller.fabric.transport", "missing field `endpoint`"),
        ("fabric transport port", set(base(), "/controller/fabric", Some(json!({"transport": {"type": "websocket", "endpoint": {"type": "tcp", "host": "m"}}}))), "controller.fabric.transport.endpoint.port", "missing required key"),
        ("fabric transport tls key", set(base(), "/controller/fabric", Some(json!({"transport": {"type": "websocket", "endpoint": {"type": "tcp", "host": "m", "port": 1, "tls": {"ca_certs": []}}}}))), "controller.fabric.transport.endpoint.tls.ca_certs", "unknown field"),
        ("keyring type", set(base(), "/controller/keyring", Some(json!({"type": "vault"}))), "controller.keyring.type", "expected one of: file, hsm"),
        ("keyring unknown key", set(base(), "/controller/keyring", Some(json!({"type": "file", "dir": "x"}))), "controller.keyring.dir", "unknown field"),
        ("manhole without users", set(base(), "/controller/manhole", Some(json!({"endpoint": {"type": "tcp", "port": 1}}))), "controller.manhole", "missing field `users`"),
        ("manhole endpoint type", set(base(), "/controller/manhole", Some(json!({"endpoint": {"type": "udp"}, "users": []}))), "controller.manhole.endpoint.type", "unknown value \"udp\""),
        ("worker without type", set(base(), "/workers/0/type", None), "workers[0].type", "missing required key"),
        ("worker type", set(base(), "/workers/0/type", Some(json!("proxy"))), "workers[0].type", "expected one of: router, container, guest"),
        ("worker not an object", set(base(), "/workers/1", Some(json!("router"))), "workers[1]", "expected an object"),
        ("worker id pattern", set(base(), "/workers/0/id", Some(json!("Router-1"))), "workers[0].id", "invalid id \"Router-1\""),
        ("worker id reserved", set(base(), "/workers/0/id", Some(json!("controller"))), "workers[0].id", "reserved"),
        ("duplicate worker id", set(base(), "/workers/1/id", Some(json!("router1"))), "workers[1].id", "duplicate worker id"),
        ("router unknown key", set(base(), "/workers/0/executable", Some(json!("x"))), "workers[0].executable", "unknown field"),
        ("cpu affinity item", set(base(), "/workers/0/options", Some(json!({"cpu_affinity": ["a"]}))), "workers[0].options.cpu_affinity[0]", "invalid type: string"),
        ("env inherit", set(base(), "/workers/0/options", Some(json!({"env": {"inherit": "yes"}}))), "workers[0].options.env.inherit", "a boolean or a list"),
        ("env var value", set(base(), "/workers/0/options", Some(json!({"env": {"vars": {"X": 1}}}))), "workers[0].options.env.vars.X", "invalid type: integer"),
        ("env unknown key", set(base(), "/workers/0/options", Some(json!({"env": {"set": {}}}))), "workers[0].options.env.set", "unknown field"),
        ("shutdown on a router", set(base(), "/workers/0/options", Some(json!({"shutdown": "shutdown-manual"}))), "workers[0].options.shutdown", "only container workers"),
        ("restart policy", set(base(), "/workers/0/options", Some(json!({"restart": "sometimes"}))), "workers[0].options.restart", "unknown variant `sometimes`"),
        ("disabled type", set(base(), "/workers/0/options", Some(json!({"disabled": 1}))), "workers[0].options.disabled", "a boolean or a string"),
        ("options unknown key", set(base(), "/workers/0/options", Some(json!({"reactor": {}}))), "workers[0].options.reactor", "unknown field `reactor`"),
        ("realm without name", set(base(), "/workers/0/realms/0/name", None), "workers[0].realms[0]", "missing field `name`"),
        ("realm name", set(base(), "/workers/0/realms/0/name", Some(json!("r1"))), "workers[0].realms[0].name", "invalid realm name"),
        ("realm unknown key", set(base(), "/workers/0/realms/0/auth", Some(json!({}))), "workers[0].realms[0].auth", "unknown field"),
        ("realm option unknown", set(base(), "/workers/0/realms/0/options", Some(json!({"foo": 1}))), "workers[0].realms[0].options.foo", "unknown field"),
        ("chunk size zero", set(base(), "/workers/0/realms/0/options", Some(json!({"event_dispatching_chunk_size": 0}))), "workers[0].realms[0].options.event_dispatching_chunk_size", "positive"),
        ("uri_check", set(base(), "/workers/0/realms/0/options", Some(json!({"uri_check": "medium"}))), "workers[0].realms[0].options.uri_check", "unknown variant `medium`"),
        ("meta api type", set(base(), "/workers/0/realms/0/options", Some(json!({"enable_meta_api": "yes"}))), "workers[0].realms[0].options.enable_meta_api", "invalid type: string"),
        ("duplicate realm name", base().pipe(|mut v| { let r = v["workers"][0]["realms"][0].clone(); v["workers"][0]["realms"].as_array_mut().unwrap().push(r); v }), "workers[0].realms[1].name", "duplicate realm name"),
        ("duplicate realm id", set(base(), "/workers/0/realms/0/id", Some(json!("r_one"))).pipe(|mut v| { v["workers"][0]["realms"].as_array_mut().unwrap().push(json!({"id": "r_one", "name": "realm2"})); v }), "workers[0].realms[1].id", "duplicate realm id"),
        ("realm id with dot", set(base(), "/workers/0/realms/0/id", Some(json!("a.b"))), "workers[0].realms[0].id", "invalid id"),
        ("role without name", set(base(), "/workers/0/realms/0/roles/0/name", None), "workers[0].realms[0].roles[0]", "missing field `name`"),
        ("role unknown key", set(base(), "/workers/0/realms/0/roles/0/grants", Some(json!([]))), "workers[0].realms[0].roles[0].grants", "unknown field"),
        ("authorizer and permissions", set(base(), "/workers/0/realms/0/roles/0/authorizer", Some(json!("com.x.authorize"))), "workers[0].realms[0].roles[0]", "both 'authorizer' and 'permissions'"),
        ("dynamic auth without authenticator", set(base(), "/workers/0/transports/0/auth", Some(json!({"ticket": {"type": "dynamic"}}))), "workers[0].transports[0].auth.ticket", "missing field `authenticator`"),
        ("dynamic auth unknown key", set(base(), "/workers/0/transports/1/auth", Some(json!({"wampcra": {"type": "dynamic", "authenticator": "com.x.auth", "users": {}}}))), "workers[0].transports[1].auth.wampcra.users", "unknown field"),
        ("auth type", set(base(), "/workers/0/transports/0/auth", Some(json!({"cryptosign": {"type": "ldap"}}))), "workers[0].transports[0].auth.cryptosign.type", "expected one of: static, dynamic"),
        ("allow-by-default type", set(base(), "/workers/0/realms/0/roles/0/allow-by-default", Some(json!("yes"))), "workers[0].realms[0].roles[0].allow-by-default", "invalid type: string"),
        ("publisher without realm", set(base(), "/workers/0/transports/0", Some(json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": {"pub": {"type": "publisher", "role": "anonymous"}}}))), "workers[0].transports[0].paths.pub", "missing field `realm`"),
        ("publisher option", set(base(), "/workers/0/transports/0", Some(json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": {"pub": {"type": "publisher", "realm": "realm1", "options": {"post_body_limit": 5000000}}}}))), "workers[0].transports[0].paths.pub.options.post_body_limit", "must be from [0, 1048576]"),
        ("webhook without topic", set(base(), "/workers/0/transports/0", Some(json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": {"hook": {"type": "webhook", "realm": "realm1", "options": {}}}}))), "workers[0].transports[0].paths.hook.options", "missing field `topic`"),
        ("webhook without options", set(base(), "/workers/0/transports/0", Some(json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": {"hook": {"type": "webhook", "realm": "realm1"}}}))), "workers[0].transports[0].paths.hook.options.topic", "needs the topic"),
        ("caller require_ip", set(base(), "/workers/0/transports/0", Some(json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": {"call": {"type": "caller", "realm": "realm1", "options": {"require_ip": ["10.0.0.300/8"]}}}}))), "workers[0].transports[0].paths.call.options.require_ip[0]", "invalid IP address"),
        ("permission match", set(base(), "/workers/0/realms/0/roles/0/permissions/0/match", Some(json!("regex"))), "workers[0].realms[0].roles[0].permissions[0].match", "unknown variant `regex`"),
        ("permission allow type", set(base(), "/workers/0/realms/0/roles/0/permissions/0/allow", Some(json!({"call": "yes"}))), "workers[0].realms[0].roles[0].permissions[0].allow.call", "invalid type: string"),
        ("permission allow key", set(base(), "/workers/0/realms/0/roles/0/permissions/0/allow", Some(json!({"invoke": true}))), "workers[0].realms[0].roles[0].permissions[0].allow.invoke", "unknown field"),
        ("permission uri", set(base(), "/workers/0/realms/0/roles/0/permissions/0/uri", Some(json!("com example"))), "workers[0].realms[0].roles[0].permissions[0].uri", "invalid URI"),
        ("permission without uri", set(base(), "/workers/0/realms/0/roles/0/permissions/0/uri", None), "workers[0].realms[0].roles[0].permissions[0]", "missing field `uri`"),
        ("transport type", set(base(), "/workers/0/transports/1/type", Some(json!("http"))), "workers[0].transports[1].type", "unknown value \"http\", expected one of: websocket, rawsocket, web, universal, mqtt, flashpolicy"),
        ("mqtt without realm", set(base(), "/workers/0/transports/1", Some(json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": {}}))), "workers[0].transports[1].options", "missing field `realm`"),
        ("mqtt payload serializer", set(base(), "/workers/0/transports/1", Some(json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": {"realm": "realm1", "payload_mapping": {"com.": {"type": "native", "serializer": "flatbuffers"}}}}))), "workers[0].transports[1].options.payload_mapping.com..serializer", "not supported by crossbar-edge"),
        ("mqtt payload type", set(base(), "/workers/0/transports/1", Some(json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": {"realm": "realm1", "payload_mapping": {"": {"type": "zip"}}}}))), "workers[0].transports[1].options.payload_mapping..type", "unknown variant `zip`"),
        ("transport type not a string", set(base(), "/workers/0/transports/1/type", Some(json!(5))), "workers[0].transports[1].type", "expected a string"),
        ("transport without type", set(base(), "/workers/0/transports/1/type", None), "workers[0].transports[1]", "missing field `type`"),
        ("transport not an object", set(base(), "/workers/0/transports/0", Some(json!("ws"))), "workers[0].transports[0]", "must be an object"),
        ("transport id pattern", set(base(), "/workers/0/transports/0/id", Some(json!("Web-1"))), "workers[0].transports[0].id", "invalid id \"Web-1\""),
        ("transport id type", set(base(), "/workers/0/transports/0/id", Some(json!(1))), "workers[0].transports[0].id", "expected a string"),
        ("duplicate transport id", set(set(base(), "/workers/0/transports/0/id", Some(json!("web1"))), "/workers/0/transports/1/id", Some(json!("web1"))), "workers[0].transports[1].id", "duplicate transport id"),
        ("unset $PORT", set(base(), "/workers/0/transports/1/endpoint/port", Some(json!("$NOT_SET_PORT"))), "workers[0].transports[1].endpoint.port", "'$NOT_SET_PORT' not set"),
        ("component type", set(base(), "/workers/0/components/0/type", Some(json!("module"))), "workers[0].components[0].type", "expected one of: class, function, exec"),
        ("component without classname", set(base(), "/workers/0/components/0/classname", None), "workers[0].components[0].classname", "missing required key"),
        ("component without realm", set(base(), "/workers/0/components/0/realm", None), "workers[0].components[0]", "missing field `realm`"),
        ("router component with a transport", set(base(), "/workers/0/components/0/transport", Some(json!({"type": "websocket"}))), "workers[0].components[0].transport", "attaches to the router's realm directly"),
        ("container component url", set(base(), "/workers/1/components/0/transport/url", Some(json!("http://x"))), "workers[1].components[0].transport.url", "is not a ws:// or wss:// URL"),
        ("container component transport", set(base(), "/workers/1/components/0/transport/type", Some(json!("web"))), "workers[1].components[0].transport.type", "expected one of: websocket, rawsocket"),
        ("container restart vs shutdown", set(base(), "/workers/1/options", Some(json!({"restart": "restart-always", "shutdown": "shutdown-on-any-component-stopped"}))), "workers[1].options.restart", "won't work with"),
        ("container shutdown value", set(base(), "/workers/1/options", Some(json!({"shutdown": "shutdown-never"}))), "workers[1].options.shutdown", "unknown variant `shutdown-never`"),
        ("container has no realms", set(base(), "/workers/1/realms", Some(json!([]))), "workers[1].realms", "unknown field `realms`"),
        ("guest without executable", set(base(), "/workers/1", Some(json!({"type": "guest"}))), "workers[1]", "missing field `executable`"),
        ("guest argument type", set(base(), "/workers/1", Some(json!({"type": "guest", "executable": "x", "arguments": [1]}))), "workers[1].arguments[0]", "invalid type: integer"),
        ("guest stdin", set(set(base(), "/workers/1", Some(guest.clone())), "/workers/1/options", Some(json!({"stdin": "open"}))), "workers[1].options.stdin", "invalid value: string \"open\""),
        ("guest stdin json", set(set(base(), "/workers/1", Some(guest.clone())), "/workers/1/options", Some(json!({"stdin": {"type": "json"}}))), "workers[1].options.stdin", "missing field `value`"),
        ("guest stdin type", set(set(base(), "/workers/1", Some(guest.clone())), "/workers/1/options", Some(json!({"stdin": {"type": "cbor", "value": 1}}))), "workers[1].options.stdin.type", "unknown variant `cbor`"),
        ("guest stdout", set(set(base(), "/workers/1", Some(guest.clone())), "/workers/1/options", Some(json!({"stdout": "file"}))), "workers[1].options.stdout", "unknown variant `file`"),
        ("guest watch action", set(set(base(), "/workers/1", Some(guest.clone())), "/workers/1/options", Some(json!({"watch": {"action": "reload"}}))), "workers[1].options.watch.action", "unknown variant `reload`"),
        ("guest native option", set(set(base(), "/workers/1", Some(guest.clone())), "/workers/1/options", Some(json!({"cpu_affinity": [0]}))), "workers[1].options.cpu_affinity", "unknown field"),
        ("guest empty executable", set(base(), "/workers/1", Some(json!({"type": "guest", "executable": " "}))), "workers[1].executable", "must not be empty"),
        ("unset ${VAR} where required", set(base(), "/controller/manhole", Some(json!({"endpoint": {"type": "tcp", "port": 1}, "users": [{"user": "a", "password": "${NOT_SET}"}]}))), "controller.manhole.users[0].password", "environment variable NOT_SET is not set"),
    ];

    let mut failures = Vec::new();
    for (what, cfg, path, fragment) in &cases {
        match NodeConfig::from_value_with_env(cfg.clone(), &env) {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(e) if e.path != *path || !e.message.contains(fragment) => failures.push(format!(
                "{what}: got `{e}` (path `{}`), want path `{path}` with `{fragment}`",
                e.path
            )),
            Err(e) => {
                // The rendered error starts with the path, as users see it.
                if !path.is_empty() {
                    assert!(
                        e.to_string().starts_with(&format!("{path}: ")),
                        "{what}: {e}"
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl Pipe for Value {}
