//! `type: class` components: an autobahn-python `ApplicationSession` subclass run by the
//! embedded bootstrap script in a child Python process.
//!
//! Before anything starts, the interpreter is asked to `import autobahn`, so a missing Python or
//! a missing autobahn is a clear `invalid_configuration` error instead of a child that dies.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::process::{ChildStdin, Command};

use super::config::{
    ClientAuth, ComponentConfig, ComponentKind, ConnectingEndpoint, ConnectingTransport,
    TransportKind,
};

/// The bootstrap run with `python -u -c`.
pub const BOOTSTRAP: &str = include_str!("bootstrap.py");
/// The interpreter used when the worker's `options.python` is not set.
pub const DEFAULT_PYTHON: &str = "python3";
/// Bounds the `import autobahn` check (a cold interpreter on a slow disk takes a second).
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The worker's Python settings (`options.python`, `options.pythonpath`), relative paths
/// resolved against the worker's base directory.
#[derive(Clone, Debug, Default)]
pub struct PythonSettings {
    pub python: Option<PathBuf>,
    pub pythonpath: Vec<PathBuf>,
}

impl PythonSettings {
    pub fn interpreter(&self) -> PathBuf {
        self.python
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PYTHON))
    }

    pub(crate) fn resolved_pythonpath(&self, base_dir: &Path) -> Vec<PathBuf> {
        self.pythonpath.iter().map(|p| base_dir.join(p)).collect()
    }

    /// `PYTHONPATH` with the worker's entries first.
    pub(crate) fn env_pythonpath(&self, base_dir: &Path) -> OsString {
        let mut parts = self.resolved_pythonpath(base_dir);
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            parts.extend(std::env::split_paths(&existing));
        }
        std::env::join_paths(parts).unwrap_or_default()
    }
}

/// Checks that the interpreter runs and imports autobahn. The error is the readable message
/// for `crossbar.error.invalid_configuration`.
pub async fn check_python(settings: &PythonSettings, base_dir: &Path) -> Result<(), String> {
    let python = settings.interpreter();
    let mut cmd = Command::new(&python);
    cmd.args(["-c", "import autobahn"])
        .env("PYTHONPATH", settings.env_pythonpath(base_dir))
        .current_dir(base_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(CHECK_TIMEOUT, cmd.output()).await {
        Err(_) => {
            return Err(format!(
                "Python interpreter \"{}\" did not answer within {}s",
                python.display(),
                CHECK_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "Python interpreter \"{}\" not found (set the worker's options.python to a Python with autobahn-python installed)",
                python.display()
            ));
        }
        Ok(Err(e)) => {
            return Err(format!(
                "cannot run Python interpreter \"{}\": {e}",
                python.display()
            ));
        }
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no error output");
    Err(format!(
        "autobahn-python is not installed for Python interpreter \"{}\" (import autobahn failed: {last})",
        python.display()
    ))
}

/// How the bootstrap reaches the router.
pub enum ClassLink<'a> {
    /// A router component: the worker's private socket, with its one-time ticket.
    Private {
        socket: &'a Path,
        authid: &'a str,
        ticket: &'a str,
    },
    /// A container component: its configured transport and credentials.
    Transport {
        transport: &'a ConnectingTransport,
        auth: Option<&'a ClientAuth>,
    },
}

/// The bootstrap's built-in class that runs a `function` component.
pub const FUNCTION_COMPONENT: &str = "crossbar_edge_builtin.FunctionComponent";

/// The JSON the bootstrap reads from stdin.
pub fn bootstrap_config(
    component_id: &str,
    config: &ComponentConfig,
    settings: &PythonSettings,
    base_dir: &Path,
    link: ClassLink<'_>,
) -> Value {
    let mut extra = config.extra.clone();
    // Crossbar.io hands components the node directory this way.
    extra
        .entry("cbdir")
        .or_insert_with(|| Value::String(base_dir.display().to_string()));
    let (link, auth) = match link {
        ClassLink::Private {
            socket,
            authid,
            ticket,
        } => (
            json!({"type": "rawsocket", "path": socket, "serializers": ["msgpack", "cbor", "json"]}),
            json!({"method": "ticket", "authid": authid, "authrole": null, "secret": ticket}),
        ),
        ClassLink::Transport { transport, auth } => {
            let mut l = json!({
                "type": match transport.kind {
                    TransportKind::WebSocket => "websocket",
                    TransportKind::RawSocket => "rawsocket",
                },
                "url": transport.url,
                "serializers": transport.serializers,
            });
            match &transport.endpoint {
                ConnectingEndpoint::Tcp {
                    host,
                    port,
                    timeout,
                } => {
                    l["host"] = json!(host);
                    l["port"] = json!(port);
                    l["timeout"] = json!(timeout);
                }
                ConnectingEndpoint::Unix { path, timeout } => {
                    l["path"] = json!(base_dir.join(path));
                    l["timeout"] = json!(timeout);
                }
            }
            if let Some(tls) = &transport.tls {
                let cas: Vec<_> = tls
                    .ca_certificates
                    .iter()
                    .map(|c| base_dir.join(c))
                    .collect();
                l["tls"] = json!({
                    "ca_certificates": cas,
                    "hostname": tls.hostname,
                    "certificate": tls.client_certificate.as_ref().map(|(c, _)| base_dir.join(c)),
                    "key": tls.client_certificate.as_ref().map(|(_, k)| base_dir.join(k)),
                });
            }
            let a = auth.map_or(Value::Null, |a| {
                json!({"method": a.method(), "authid": a.authid, "authrole": a.authrole,
                       "secret": a.secret_str()})
            });
            (l, a)
        }
    };
    // A `function` component runs as the bootstrap's built-in session class.
    let (classname, callbacks) = match &config.kind {
        ComponentKind::Class { classname } => (classname.as_str(), Value::Null),
        ComponentKind::Function { callbacks } => (FUNCTION_COMPONENT, json!(callbacks)),
        ComponentKind::Exec(_) => ("", Value::Null),
    };
    json!({
        "component_id": component_id,
        "classname": classname,
        "callbacks": callbacks,
        "realm": config.realm,
        "extra": extra,
        "pythonpath": settings.resolved_pythonpath(base_dir),
        "link": link,
        "auth": auth,
    })
}

/// The command that runs the bootstrap (it reads its config from stdin).
pub fn command(settings: &PythonSettings, base_dir: &Path) -> Command {
    let mut cmd = Command::new(settings.interpreter());
    cmd.args(["-u", "-c", BOOTSTRAP])
        .env("PYTHONPATH", settings.env_pythonpath(base_dir))
        .env("PYTHONUNBUFFERED", "1")
        .current_dir(base_dir);
    cmd
}

/// Hands the bootstrap its config and closes stdin.
pub async fn send_config(mut stdin: ChildStdin, config: &Value) -> std::io::Result<()> {
    stdin.write_all(config.to_string().as_bytes()).await?;
    stdin.shutdown().await
}
