//! How a worker becomes a process: the command line, environment, working directory and
//! stdio of native workers (`crossbar-edge _exec_worker`) and guests (their executable).

use std::path::{Path, PathBuf};

use worker_host::supervisor::{ProcessSpec, StdinMode};

use super::Controller;
use super::workers::WorkerSpec;
use crate::config::{GuestOutput, GuestStdin, ProcessEnv, WorkerConfig};

/// What the controller does with a guest's output stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    Log,
    /// Read and thrown away (the guest must not block on a full pipe).
    Drop,
    /// Not connected (`/dev/null`).
    Closed,
}

/// A process to spawn and what to do with its stdio.
pub(crate) struct Launch {
    pub process: ProcessSpec,
    /// Native: stderr carries tracing JSON, stdin/stdout the control pipe.
    pub native: bool,
    pub stdout: Output,
    pub stderr: Output,
    /// A guest's `stdin: {type: json, value, close}`.
    pub stdin_json: Option<(serde_json::Value, bool)>,
}

pub(crate) fn launch(ctl: &Controller, spec: &WorkerSpec) -> Launch {
    match &spec.config {
        WorkerConfig::Router(w) => native(ctl, spec, w.options.env.as_ref()),
        WorkerConfig::Container(w) => native(ctl, spec, w.options.env.as_ref()),
        WorkerConfig::Guest(g) => {
            let workdir = match &g.options.workdir {
                Some(d) => ctl.cbdir.join(d),
                None => ctl.cbdir.clone(),
            };
            let output = |o: Option<GuestOutput>| match o {
                Some(GuestOutput::Close) => Output::Closed,
                Some(GuestOutput::Drop) => Output::Drop,
                Some(GuestOutput::Log) | None => Output::Log,
            };
            let (stdout, stderr) = (output(g.options.stdout), output(g.options.stderr));
            let stdin_json = match &g.options.stdin {
                Some(GuestStdin::Json { value, close }) => Some((value.clone(), *close)),
                Some(GuestStdin::Close) | None => None,
            };
            Launch {
                process: ProcessSpec {
                    program: guest_program(&g.executable, &ctl.cbdir),
                    args: g.arguments.iter().map(Into::into).collect(),
                    env: ProcessEnv::resolve(g.options.env.as_ref(), std::env::vars()),
                    workdir: Some(workdir),
                    stdin: if stdin_json.is_some() {
                        StdinMode::Piped
                    } else {
                        StdinMode::Null
                    },
                    capture_stdout: stdout != Output::Closed,
                    capture_stderr: stderr != Output::Closed,
                },
                native: false,
                stdout,
                stderr,
                stdin_json,
            }
        }
    }
}

fn native(ctl: &Controller, spec: &WorkerSpec, env: Option<&ProcessEnv>) -> Launch {
    let args = [
        "_exec_worker".into(),
        "--cbdir".into(),
        ctl.cbdir.clone().into_os_string(),
        "--worker".into(),
        spec.id.clone().into(),
        "--type".into(),
        spec.kind.as_str().into(),
        "--loglevel".into(),
        ctl.loglevel.into(),
    ];
    Launch {
        process: ProcessSpec {
            program: ctl.exe.clone(),
            args: args.into(),
            env: ProcessEnv::resolve(env, std::env::vars()),
            workdir: Some(ctl.cbdir.clone()),
            stdin: StdinMode::Piped,
            capture_stdout: true,
            capture_stderr: true,
        },
        native: true,
        stdout: Output::Log,
        stderr: Output::Log,
        stdin_json: None,
    }
}

/// Crossbar.io resolves a guest executable with a path relative to the node directory and
/// looks a bare name up on the node's `PATH` — the node's, not the guest's, which may have
/// none (`env.inherit: false`). A name not found is left as it is, so the start fails
/// with that name.
fn guest_program(executable: &str, cbdir: &Path) -> PathBuf {
    let p = Path::new(executable);
    if p.is_absolute() {
        p.to_path_buf()
    } else if !executable.contains('/') {
        which::which(executable).unwrap_or_else(|_| p.to_path_buf())
    } else {
        cbdir.join(p)
    }
}
