//! Commands that work on the node directory's files: `init`, `check`, `convert`, `keys`,
//! `version`.

use std::path::Path;

use super::{ConfigArgs, DirArgs, LogLevel, exit, init_tracing};
use crate::config::load::{self, DEFAULT_CONFIG_JSON, LoadError};
use crate::config::write;
use crate::keys::NodeKey;
use crate::nodedir;

const WEB_README: &str = "Put your Web files here. Eg a \"index.html\" file would automatically render (and hide this otherwise generated directory listing.)\n\nOther URLs and Web services configured in this example node configuration:\n\n* `/ws`: WAMP-over-WebSocket endpoint with default \"realm1\" (anonymous authentication and everything allowed!)\n* `/info`: Node info page\n";

/// `init`: the default config (unless a config exists), `../web` for its static `/` path, and
/// the node key pair.
pub(super) fn init(args: &DirArgs) -> u8 {
    init_tracing(LogLevel::Warn);
    let cbdir = nodedir::resolve_cbdir(args.cbdir.as_deref());
    if let Err(e) = nodedir::ensure_cbdir(&cbdir) {
        eprintln!(
            "Error: cannot create node directory {}: {e}",
            cbdir.display()
        );
        return exit::FAILURE;
    }
    match load::find_config_file(&cbdir, None) {
        Some(existing) => println!("Config {} exists - left unchanged", existing.display()),
        None => {
            let path = cbdir.join("config.json");
            if let Err(e) = write::write_atomic(&path, DEFAULT_CONFIG_JSON.as_bytes()) {
                eprintln!("Error: cannot write {}: {e}", path.display());
                return exit::FAILURE;
            }
            println!("Default config written to {}", path.display());
            if let Some(web) = cbdir.parent().map(|p| p.join("web"))
                && !web.exists()
            {
                let made = std::fs::create_dir(&web)
                    .and_then(|_| std::fs::write(web.join("README.md"), WEB_README));
                if let Err(e) = made {
                    eprintln!("Warning: cannot create {}: {e}", web.display());
                }
            }
        }
    }
    match NodeKey::load_or_generate(&cbdir) {
        Ok((key, generated)) => {
            let what = if generated {
                "New node key pair generated"
            } else {
                "Node key pair exists"
            };
            println!("{what}: public key {}", key.public_key_hex());
        }
        Err(e) => {
            eprintln!("Error: {e}");
            return exit::FAILURE;
        }
    }
    println!(
        "To start your node, run 'crossbar-edge start --cbdir {}'",
        cbdir.display()
    );
    0
}

/// `check`: validates the config file and prints OK or the error with its key path.
pub(super) fn check(args: &ConfigArgs) -> u8 {
    init_tracing(LogLevel::Error);
    let cbdir = nodedir::resolve_cbdir(args.dir.cbdir.as_deref());
    let Some(path) = load::find_config_file(&cbdir, args.config.as_deref()) else {
        eprintln!(
            "Error: no config file in {} (config.yaml or config.json)",
            cbdir.display()
        );
        return exit::USAGE;
    };
    println!("Checking node configuration file: {}", path.display());
    match load::load_file(&path) {
        Ok(_) => {
            println!("Ok, node configuration looks good!");
            0
        }
        Err(e) => report_load_error(&e),
    }
}

/// Prints a config load error; every one (unreadable, unparsable, invalid) is a usage error.
pub(super) fn report_load_error(e: &LoadError) -> u8 {
    eprintln!("Error: {e}");
    exit::USAGE
}

/// `convert`: writes the config in the other format beside it.
pub(super) fn convert(args: &ConfigArgs) -> u8 {
    init_tracing(LogLevel::Error);
    let cbdir = nodedir::resolve_cbdir(args.dir.cbdir.as_deref());
    let Some(path) = load::find_config_file(&cbdir, args.config.as_deref()) else {
        eprintln!(
            "Error: no config file in {} (config.yaml or config.json)",
            cbdir.display()
        );
        return exit::USAGE;
    };
    println!("Converting local configuration file {}", path.display());
    match write::convert(&path) {
        Ok(target) => {
            println!("Ok, configuration written to {}", target.display());
            0
        }
        Err(write::ConvertError::Load(e)) => report_load_error(&e),
        Err(e) => {
            eprintln!("Error: {e}");
            exit::FAILURE
        }
    }
}

/// `keys`: the node's public key (generating the pair if needed) and how to pair the node.
pub(super) fn keys(args: &DirArgs) -> u8 {
    init_tracing(LogLevel::Warn);
    let cbdir = nodedir::resolve_cbdir(args.cbdir.as_deref());
    if !cbdir.is_dir() {
        eprintln!(
            "Error: node directory {} does not exist (run `crossbar-edge init`)",
            cbdir.display()
        );
        return exit::FAILURE;
    }
    match NodeKey::load_or_generate(&cbdir) {
        Ok((key, _)) => {
            print_key(&cbdir, &key);
            0
        }
        Err(e) => {
            eprintln!("Error: {e}");
            exit::FAILURE
        }
    }
}

fn print_key(cbdir: &Path, key: &NodeKey) {
    let pubkey = key.public_key_hex();
    let authid = key
        .info()
        .node_authid
        .as_deref()
        .filter(|a| *a != "unknown")
        .unwrap_or("<node_id>");
    println!("Node public key (ed25519, hex): {pubkey}");
    println!(
        "Key files: {}",
        cbdir.join(crate::keys::PUBLIC_KEY_FILE).display()
    );
    println!(
        "To pair this node, on the master run: crossbar shell pair node {pubkey} <mrealm> {authid}"
    );
    println!(
        "To pair it with a crossbar-cdc, run: crossbar-edge pair --cbdir {}",
        cbdir.display()
    );
}

/// `version`.
pub(super) fn version() -> u8 {
    println!("crossbar-edge {}", env!("CARGO_PKG_VERSION"));
    println!(
        "Crossbar.io config version {}",
        crate::config::CONFIG_VERSION
    );
    0
}
