//! `type: exec` components: a native executable speaking WAMP itself, over RawSocket on its
//! stdin/stdout (router components, the default) or by connecting to the URL the worker puts
//! in its environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::config::{ClientSecret, ComponentConfig, ExecSpec};

/// Environment variables an `exec` component reads when it connects by URL.
pub mod env {
    pub const ROUTER_URL: &str = "CROSSBAR_ROUTER_URL";
    pub const REALM: &str = "CROSSBAR_REALM";
    pub const AUTHID: &str = "CROSSBAR_AUTHID";
    pub const AUTHROLE: &str = "CROSSBAR_AUTHROLE";
    /// A ticket: the one-time ticket of a router component, or a container's configured one.
    pub const TICKET: &str = "CROSSBAR_TICKET";
    pub const WAMPCRA_SECRET: &str = "CROSSBAR_WAMPCRA_SECRET";
    /// The Ed25519 seed, hex.
    pub const CRYPTOSIGN_PRIVKEY: &str = "CROSSBAR_CRYPTOSIGN_PRIVKEY";
    /// The serializer to use (`msgpack`, `cbor`, `json`), when the transport names one.
    pub const SERIALIZER: &str = "CROSSBAR_SERIALIZER";
    /// The component's id (always set, also for stdio components).
    pub const COMPONENT_ID: &str = "CROSSBAR_COMPONENT_ID";
    /// `stdio` or `url`: how to reach the router.
    pub const LINK: &str = "CROSSBAR_LINK";
}

/// The command for an exec component: the executable (a relative path with a `/` resolves
/// against the base directory, a bare name goes through PATH), its arguments, the workdir
/// (default: the base directory), the inherited environment plus `env` plus `CROSSBAR_*`.
pub fn command(spec: &ExecSpec, component_id: &str, base_dir: &Path) -> Command {
    let exe = PathBuf::from(&spec.executable);
    let exe = if exe.is_relative() && spec.executable.contains('/') {
        base_dir.join(exe)
    } else {
        exe
    };
    let mut cmd = Command::new(exe);
    cmd.args(&spec.arguments)
        .current_dir(match &spec.workdir {
            Some(w) => base_dir.join(w),
            None => base_dir.to_path_buf(),
        })
        .envs(&spec.env)
        .env(env::COMPONENT_ID, component_id);
    cmd
}

/// `CROSSBAR_*` for a process that connects by URL.
pub fn url_env(
    url: &str,
    config: &ComponentConfig,
    authid: Option<&str>,
    ticket: Option<&str>,
) -> BTreeMap<&'static str, String> {
    let mut e = BTreeMap::new();
    e.insert(env::LINK, "url".to_owned());
    e.insert(env::ROUTER_URL, url.to_owned());
    e.insert(env::REALM, config.realm.clone());
    if let Some(a) = authid {
        e.insert(env::AUTHID, a.to_owned());
    }
    if let Some(t) = ticket {
        e.insert(env::TICKET, t.to_owned());
    }
    if let Some(t) = &config.transport
        && let [one] = t.serializers.as_slice()
    {
        e.insert(env::SERIALIZER, one.clone());
    }
    if let Some(auth) = &config.auth {
        if let Some(r) = &auth.authrole {
            e.insert(env::AUTHROLE, r.clone());
        }
        match &auth.secret {
            ClientSecret::Ticket(t) => {
                e.insert(env::TICKET, t.clone());
            }
            ClientSecret::WampCra(s) => {
                e.insert(env::WAMPCRA_SECRET, s.clone());
            }
            ClientSecret::Cryptosign(k) => {
                e.insert(env::CRYPTOSIGN_PRIVKEY, k.clone());
            }
        }
    }
    e
}
