//! Web services that are Python code: `wsgi` (Crossbar.io's WSGI host) and `resource` (a
//! Twisted Web resource, `classname` called with `extra`). Each runs in a Python child of this
//! worker (`python_web_host.py`: the worker's `options.python` and `options.pythonpath`, as
//! `class` components), serving HTTP on a loopback port, and the service's path becomes a
//! `reverseproxy` to it. A WSGI app sees its mount point as `SCRIPT_NAME`; a resource is
//! mounted at the same URL path in the child as in the router, so `request.prepath` and
//! `request.path` are what they are under Crossbar.io. A module, object or class that cannot
//! be imported fails the transport's start with Crossbar.io's message. Children end with their
//! transport (and with the worker: they exit when their stdin closes).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;

use crate::components::class::PythonSettings;

const HOST_SCRIPT: &str = include_str!("python_web_host.py");
/// Bounds importing the app and opening its port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One running app: the child, and its stdin, kept open (the child exits when it closes).
struct Host {
    child: Child,
    _stdin: ChildStdin,
}

/// The Python web children of a worker, by transport and by the URL path they serve.
#[derive(Default)]
pub struct PythonWebHosts {
    children: Mutex<HashMap<String, HashMap<String, Host>>>,
}

impl PythonWebHosts {
    /// Starts a child for every `wsgi` and `resource` service in a transport item and returns
    /// the item the router serves: each of them replaced by a `reverseproxy` to its child.
    pub async fn host_transport(
        &self,
        transport_id: &str,
        config: &Value,
        python: &PythonSettings,
        base_dir: &Path,
    ) -> Result<Value, String> {
        let mut served = config.clone();
        let kind = config
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let paths = match kind {
            "web" => served.get_mut("paths"),
            "universal" => served.get_mut("web").and_then(|w| w.get_mut("paths")),
            _ => None,
        };
        let mut started = Vec::new();
        let hosted = match paths {
            Some(Value::Object(paths)) => {
                host_paths(paths, "", python, base_dir, &mut started).await
            }
            _ => Ok(()),
        };
        self.keep(transport_id, started).await;
        hosted.map(|()| served)
    }

    /// The same for one service started on `path` of a running transport.
    pub async fn host_service(
        &self,
        transport_id: &str,
        path: &str,
        service: &Value,
        python: &PythonSettings,
        base_dir: &Path,
    ) -> Result<Value, String> {
        let mut paths = Map::new();
        paths.insert(path.to_owned(), service.clone());
        let mut started = Vec::new();
        let hosted = host_paths(&mut paths, "", python, base_dir, &mut started).await;
        self.keep(transport_id, started).await;
        hosted.map(|()| paths.remove(path).unwrap_or_default())
    }

    async fn keep(&self, transport_id: &str, started: Vec<(String, Host)>) {
        if started.is_empty() {
            return;
        }
        self.children
            .lock()
            .await
            .entry(transport_id.to_owned())
            .or_default()
            .extend(started);
    }

    /// Ends the children of a stopped transport.
    pub async fn stop(&self, transport_id: &str) {
        let children = self.children.lock().await.remove(transport_id);
        for (_, mut h) in children.into_iter().flatten() {
            let _ = h.child.kill().await;
        }
    }

    /// Ends the children of a stopped service on `path` (`/` is the root service): the one
    /// mounted there and those of `path` services below it.
    pub async fn stop_service(&self, transport_id: &str, path: &str) {
        let mount = if path == "/" {
            String::new()
        } else {
            format!("/{path}")
        };
        let below =
            |k: &str| k == mount || (!mount.is_empty() && k.starts_with(&format!("{mount}/")));
        let mut gone = Vec::new();
        if let Some(hosts) = self.children.lock().await.get_mut(transport_id) {
            let keys: Vec<String> = hosts.keys().filter(|k| below(k)).cloned().collect();
            gone.extend(keys.iter().filter_map(|k| hosts.remove(k)));
        }
        for mut h in gone {
            let _ = h.child.kill().await;
        }
    }
}

/// The `wsgi` and `resource` services of one `paths` map (and of nested `path` services),
/// `mount` the URL path of the map itself.
async fn host_paths(
    paths: &mut Map<String, Value>,
    mount: &str,
    python: &PythonSettings,
    base_dir: &Path,
    started: &mut Vec<(String, Host)>,
) -> Result<(), String> {
    for (key, service) in paths.iter_mut() {
        let here = if key == "/" {
            mount.to_owned()
        } else {
            format!("{mount}/{key}")
        };
        match service.get("type").and_then(Value::as_str) {
            Some(kind @ ("wsgi" | "resource")) => {
                let (host, port) = start(kind, service, &here, python, base_dir)
                    .await
                    .map_err(|e| format!("paths.{key}: {e}"))?;
                started.push((here.clone(), host));
                // A WSGI app gets the path below its mount point (and the mount point as
                // SCRIPT_NAME), a resource the whole path, as it is mounted there in the child.
                let upstream_path = if kind == "resource" {
                    here
                } else {
                    String::new()
                };
                *service = json!({"type": "reverseproxy", "host": "127.0.0.1", "port": port,
                                  "path": upstream_path});
            }
            Some("path") => {
                if let Some(Value::Object(nested)) = service.get_mut("paths") {
                    Box::pin(host_paths(nested, &here, python, base_dir, started)).await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Starts one app (`kind`: `wsgi` or `resource`); its host and port.
async fn start(
    kind: &str,
    service: &Value,
    mount: &str,
    python: &PythonSettings,
    base_dir: &Path,
) -> Result<(Host, u16), String> {
    let field = |k: &str| {
        service
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing {kind} service attribute {k}"))
    };
    let (request, what) = if kind == "wsgi" {
        let (module, object) = (field("module")?, field("object")?);
        let request = json!({"kind": kind, "module": module, "object": object,
                             "script_name": mount});
        (request, format!("WSGI app {module}.{object}"))
    } else {
        let classname = field("classname")?;
        let extra = service.get("extra").cloned().unwrap_or_else(|| json!({}));
        let request = json!({"kind": kind, "classname": classname, "extra": extra,
                             "mount": mount});
        (request, format!("resource {classname}"))
    };
    let interpreter = python.interpreter();
    let mut child = Command::new(&interpreter)
        .arg("-u")
        .arg("-c")
        .arg(HOST_SCRIPT)
        .current_dir(base_dir)
        .env("PYTHONPATH", python.env_pythonpath(base_dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", interpreter.display()))?;
    let mut request = request;
    request["pythonpath"] = json!(python.resolved_pythonpath(base_dir));
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    stdin
        .write_all(format!("{request}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    let mut stdout = BufReader::new(stdout);
    let read = stdout.read_line(&mut line);
    match tokio::time::timeout(START_TIMEOUT, read).await {
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => return Err(format!("the Python web host exited ({what})")),
        Err(_) => return Err(format!("the {what} did not start in time")),
    }
    let answer: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
    if let Some(e) = answer.get("error").and_then(Value::as_str) {
        return Err(e.to_owned());
    }
    let port = answer
        .get("listening")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("unexpected answer from the Python web host: {line}"))?;
    Ok((
        Host {
            child,
            _stdin: stdin,
        },
        port as u16,
    ))
}
