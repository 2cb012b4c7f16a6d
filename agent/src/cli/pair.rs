//! `pair`: everything an operator needs to pair this host with a `crossbar-cdc` by PIN — the
//! node's public key, a node id, the exact `cdc.manage.register_node@1` call, and the commands
//! around it (where the PIN arrives, how the node finds the CDC).
//!
//! Only the public key is read (`key.pub`), so any user who can read the node directory can
//! run it, and it never creates keys: a root-owned key in a service's node directory would
//! stop the service from starting.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::{DirArgs, LogLevel, exit, init_tracing};
use crate::config::load;
use crate::keys::{NodeKey, PUBLIC_KEY_FILE};
use crate::nodedir;

/// Where the Debian package puts the CDC's directory (`crossbar-cdc.service`).
const PACKAGED_CDC_DIR: &str = "/var/lib/crossbar-cdc";

#[derive(Debug, Args)]
pub struct PairArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// The management realm to register the node with (default: a placeholder to fill in).
    #[arg(long, value_name = "REALM")]
    pub realm: Option<String>,
    /// The node id to register (default: `controller.id` from the config, else one made from
    /// the host name).
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// The CDC's WebSocket URL, for the uplink line (default: a placeholder).
    #[arg(long, value_name = "URL")]
    pub cdc_url: Option<String>,
    /// Print one JSON object (public key, node id, the call) instead of instructions.
    #[arg(long)]
    pub json: bool,
}

/// `pair`.
pub(super) fn pair(args: &PairArgs) -> u8 {
    init_tracing(LogLevel::Error);
    let cbdir = nodedir::resolve_cbdir(args.dir.cbdir.as_deref());
    let pubkey = match read_public_key(&cbdir) {
        Ok(k) => k,
        Err(message) => {
            eprintln!("Error: {message}");
            return exit::FAILURE;
        }
    };
    let (node_id, origin) = match &args.node_id {
        Some(id) if is_seed_id(id) => (id.clone(), "--node-id".to_owned()),
        Some(id) => {
            eprintln!("Error: invalid node id \"{id}\": must match ^[a-z][a-z0-9_]{{2,11}}$");
            return exit::USAGE;
        }
        None => default_node_id(&cbdir),
    };
    let realm = args.realm.as_deref().unwrap_or("<management_realm>");
    let cdc_url = args.cdc_url.as_deref().unwrap_or("ws://<cdc-host>:9000/ws");
    if args.json {
        let out = json!({
            "node_dir": cbdir,
            "pubkey": pubkey,
            "node_id": node_id,
            "node_id_from": origin,
            "call": {
                "procedure": "cdc.manage.register_node@1",
                "args": [realm, pubkey, node_id, null],
            },
            "fabric_url": cdc_url,
        });
        println!("{out}");
        return 0;
    }
    let cbdir_arg = cbdir.display();
    println!("Node directory:    {cbdir_arg}");
    println!("Node public key:   {pubkey}");
    println!("Suggested node id: {node_id} (from {origin}; change it with --node-id)");
    println!();
    println!("To pair this node with a crossbar-cdc:");
    println!();
    println!("1. On the CDC host, run the CDC (the Debian package ships a unit for it):");
    println!("     sudo systemctl enable --now crossbar-cdc");
    println!("   or by hand:");
    println!("     crossbar-cdc init --cbdir {PACKAGED_CDC_DIR}");
    println!("     crossbar-cdc start --cbdir {PACKAGED_CDC_DIR}");
    println!();
    println!(
        "2. As the owner of the management realm, in a cryptosign session on the CDC's global realm"
    );
    println!("   com.crossbario.cdc, call:");
    println!();
    println!("     cdc.manage.register_node@1(\"{realm}\", \"{pubkey}\", \"{node_id}\", null)");
    println!();
    println!(
        "   It returns a verification_id and mails a PIN to the realm owner (without SMTP, the PIN is"
    );
    println!("   in {PACKAGED_CDC_DIR}/outbox/*.eml, on a line \"PIN: <token>\").");
    println!();
    println!("3. Confirm with the PIN:");
    println!();
    println!("     cdc.manage.verify@1(\"<verification_id>\", \"<PIN>\")");
    println!();
    println!("4. Point this node at the CDC and restart it:");
    println!();
    println!("     echo 'CROSSBAR_FABRIC_URL={cdc_url}' | sudo tee -a /etc/default/crossbar-edge");
    println!("     sudo systemctl restart crossbar-edge");
    println!();
    println!(
        "   (Not under systemd: CROSSBAR_FABRIC_URL={cdc_url} crossbar-edge start --cbdir {cbdir_arg})"
    );
    0
}

/// The public key from `key.pub`; if only `key.priv` exists, from the key pair.
fn read_public_key(cbdir: &Path) -> Result<String, String> {
    let path: PathBuf = cbdir.join(PUBLIC_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => public_key_from_text(&text)
            .ok_or_else(|| format!("{} has no valid public-key-ed25519 line", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !cbdir.join(crate::keys::PRIVATE_KEY_FILE).exists() {
                return Err(format!(
                    "no node key in {} (run `crossbar-edge init --cbdir {}` first)",
                    cbdir.display(),
                    cbdir.display()
                ));
            }
            NodeKey::load(cbdir)
                .map(|k| k.public_key_hex())
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// `public-key-ed25519: <64 hex>` from a Crossbar.io key file.
fn public_key_from_text(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (tag, value) = line.split_once(':')?;
        let value = value.trim();
        (tag.trim().eq_ignore_ascii_case("public-key-ed25519")
            && value.len() == 64
            && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
    })
}

/// `controller.id` of the node's config when it is a valid seed id, else one from the host name.
fn default_node_id(cbdir: &Path) -> (String, String) {
    if let Ok(loaded) = load::load(cbdir, None)
        && let Some(id) = loaded.config.controller.id.as_deref()
        && is_seed_id(id)
    {
        return (id.to_owned(), "controller.id in the config".to_owned());
    }
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    (
        node_id_from_hostname(&host),
        format!("host name \"{host}\""),
    )
}

/// The CDC's node id rule: `^[a-z][a-z0-9_]{2,11}$`.
pub(super) fn is_seed_id(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=12).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A node id from a host name: its first label, lowercased, other characters as `_`, starting
/// with a letter, cut to 12 characters and padded to 3.
fn node_id_from_hostname(host: &str) -> String {
    let label = host.split('.').next().unwrap_or("");
    let mapped: String = label
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '_',
        })
        .collect();
    let mut id: String = mapped
        .trim_start_matches(|c: char| !c.is_ascii_lowercase())
        .chars()
        .take(12)
        .collect();
    while id.ends_with('_') {
        id.pop();
    }
    if id.is_empty() {
        id.push_str("node");
    }
    while id.len() < 3 {
        id.push('_');
        id.push_str("node");
        id.truncate(12);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_from_host_names_follow_the_seed_rule() {
        for (host, want) in [
            ("edge-01.example.com", "edge_01"),
            ("EdgeHost", "edgehost"),
            ("123abc", "abc"),
            ("a-very-long-host-name-indeed", "a_very_long"),
            ("db", "db_node"),
            ("x", "x_node"),
            ("", "node"),
            ("42", "node"),
            ("höst", "h_st"),
        ] {
            let id = node_id_from_hostname(host);
            assert_eq!(id, want, "{host}");
            assert!(is_seed_id(&id), "{host} → {id}");
        }
    }

    #[test]
    fn public_key_line_is_found_and_checked() {
        let k = "a".repeat(64);
        let text = format!("Crossbar.io node public key\n\npublic-key-ed25519: {k}\n");
        assert_eq!(public_key_from_text(&text), Some(k));
        assert_eq!(public_key_from_text("public-key-ed25519: abc"), None);
        assert_eq!(public_key_from_text(""), None);
    }
}
