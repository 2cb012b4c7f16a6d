//! The node key pair in the node directory: `key.pub` / `key.priv`, byte-compatible with
//! Crossbar.io's `common/key.py`, loaded and checked as it does, generated when missing.
//!
//! One deliberate difference: Crossbar.io silently `chmod`s a `key.priv` that group or
//! others may read back to 0600. Here such a file is refused with a message saying how to
//! fix it (as OpenSSH does): the key may already have leaked, and the operator, not the node,
//! should decide whether to keep it.

pub mod eth;
pub mod tagfile;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer as _, SigningKey};

pub const PRIVATE_KEY_FILE: &str = "key.priv";
pub const PUBLIC_KEY_FILE: &str = "key.pub";

const PUBLIC_HEADER: &str = "Crossbar.io node public key";
const PRIVATE_HEADER: &str = "Crossbar.io node private key - KEEP THIS SAFE!";

const PUBLIC_TAGS: &[&str] = &[
    "public-key-ed25519",
    "public-adr-eth",
    "machine-id",
    "node-authid",
    "node-cluster-ip",
    "created-at",
    "creator",
];
const PRIVATE_TAGS: &[&str] = &[
    "public-key-ed25519",
    "public-adr-eth",
    "machine-id",
    "node-authid",
    "node-cluster-ip",
    "created-at",
    "creator",
    "private-key-ed25519",
    "private-key-eth",
];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file '{}' exists, but isn't a file", path.display())]
    NotAFile { path: PathBuf },
    #[error("key file {}: {source}", path.display())]
    Format {
        path: PathBuf,
        source: tagfile::TagError,
    },
    #[error("corrupt node key file {} - {tag} tag not found", path.display())]
    MissingTag { path: PathBuf, tag: &'static str },
    #[error("corrupt node key file {} - invalid {tag}: {message}", path.display())]
    BadValue {
        path: PathBuf,
        tag: &'static str,
        message: String,
    },
    #[error("inconsistent node key file {} - {message}", path.display())]
    Inconsistent { path: PathBuf, message: String },
    #[error(
        "node private key file {} is accessible by group or others (mode {mode:04o}); it may have leaked. \
         If you still trust it, run `chmod 600 {}`; otherwise remove key.priv and key.pub to create a new node key",
        path.display(), path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error(
        "{} exists but {} does not: restore the private key, or remove the public key to create a new node key",
        public.display(), private.display()
    )]
    OrphanPublicKey { public: PathBuf, private: PathBuf },
    #[error("no entropy for key generation: {0}")]
    Random(getrandom::Error),
}

/// Descriptive tags of a key pair (Crossbar.io's, all informational except the keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// `user@host` that created the key.
    pub creator: String,
    /// ISO-8601 UTC, e.g. `2026-11-26T23:30:53.131Z`.
    pub created_at: String,
    pub machine_id: String,
    /// The node's name suggested for pairing (`$CROSSBAR_NODE_ID` or the host name).
    pub node_authid: Option<String>,
    pub node_cluster_ip: Option<String>,
    /// EIP-55 address of the node's Ethereum key.
    pub public_adr_eth: Option<String>,
}

/// The node's Ed25519 identity (WAMP-cryptosign key for the uplink).
#[derive(Clone, Debug)]
pub struct NodeKey {
    signing: SigningKey,
    info: KeyInfo,
    /// Hex seed of the Ethereum key, kept to write it back unchanged.
    private_key_eth: Option<String>,
}

impl NodeKey {
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Lowercase hex, as in `key.pub` and in the uplink HELLO's `authextra.pubkey`.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    pub fn info(&self) -> &KeyInfo {
        &self.info
    }

    /// Loads the key pair from `cbdir`, or generates one if there is none. Returns the key
    /// and whether it was generated. A missing `key.pub` is re-created from `key.priv`.
    pub fn load_or_generate(cbdir: &Path) -> Result<(NodeKey, bool), KeyError> {
        let priv_path = cbdir.join(PRIVATE_KEY_FILE);
        if fs::symlink_metadata(&priv_path).is_ok() {
            return NodeKey::load(cbdir).map(|k| (k, false));
        }
        let pub_path = cbdir.join(PUBLIC_KEY_FILE);
        if fs::symlink_metadata(&pub_path).is_ok() {
            return Err(KeyError::OrphanPublicKey {
                public: pub_path,
                private: priv_path,
            });
        }
        NodeKey::generate(cbdir, KeyInfo::for_this_host()).map(|k| (k, true))
    }

    /// Loads and checks the key pair in `cbdir` (as Crossbar.io's `_maybe_generate_node_key`
    /// when `key.priv` exists).
    pub fn load(cbdir: &Path) -> Result<NodeKey, KeyError> {
        let priv_path = cbdir.join(PRIVATE_KEY_FILE);
        let meta = fs::metadata(&priv_path).map_err(|source| KeyError::Io {
            path: priv_path.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile { path: priv_path });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            // As Crossbar.io does (a project checked out from git has key.priv 0644): take
            // the access away, warn, and go on. Only a file we cannot fix is refused.
            let fixed = mode & 0o700;
            if fs::set_permissions(&priv_path, fs::Permissions::from_mode(fixed)).is_err() {
                return Err(KeyError::InsecurePermissions {
                    path: priv_path,
                    mode,
                });
            }
            tracing::warn!(
                path = %priv_path.display(),
                "node private key file was accessible by group or others (mode {mode:04o}); \
                 changed it to {fixed:04o}. If the key may have leaked, remove key.priv and \
                 key.pub to create a new node key"
            );
        }
        let tags = read_tags(&priv_path, PRIVATE_TAGS)?;
        let require = |tag: &'static str| {
            tagfile::get(&tags, tag).ok_or_else(|| KeyError::MissingTag {
                path: priv_path.clone(),
                tag,
            })
        };
        for tag in ["creator", "created-at", "machine-id"] {
            require(tag)?;
        }
        let seed =
            decode_32(require("private-key-ed25519")?).map_err(|message| KeyError::BadValue {
                path: priv_path.clone(),
                tag: "private-key-ed25519",
                message,
            })?;
        let signing = SigningKey::from_bytes(&seed);
        let pubkey_hex = hex::encode(signing.verifying_key().to_bytes());
        if !require("public-key-ed25519")?.eq_ignore_ascii_case(&pubkey_hex) {
            return Err(KeyError::Inconsistent {
                path: priv_path,
                message: "public-key-ed25519 doesn't correspond to private-key-ed25519".into(),
            });
        }

        // Legacy (Crossbar.io ≤ 21.x) files have no Ethereum key; Crossbar.io adds one when
        // it loads them. We leave them as they are.
        let private_key_eth = tagfile::get(&tags, "private-key-eth").map(str::to_owned);
        let derived_eth = match &private_key_eth {
            Some(h) => {
                let seed = decode_32(h).map_err(|message| KeyError::BadValue {
                    path: priv_path.clone(),
                    tag: "private-key-eth",
                    message,
                })?;
                let adr = eth::address(&seed).ok_or_else(|| KeyError::BadValue {
                    path: priv_path.clone(),
                    tag: "private-key-eth",
                    message: "not a valid secp256k1 private key".into(),
                })?;
                if tagfile::get(&tags, "public-adr-eth").is_some_and(|a| a != adr) {
                    return Err(KeyError::Inconsistent {
                        path: priv_path,
                        message: "public-adr-eth doesn't correspond to private-key-eth".into(),
                    });
                }
                Some(adr)
            }
            None => None,
        };

        let opt = |tag: &str| tagfile::get(&tags, tag).map(str::to_owned);
        let info = KeyInfo {
            creator: opt("creator").unwrap_or_default(),
            created_at: opt("created-at").unwrap_or_default(),
            machine_id: opt("machine-id").unwrap_or_default(),
            node_authid: opt("node-authid"),
            node_cluster_ip: opt("node-cluster-ip"),
            public_adr_eth: derived_eth.clone().or_else(|| opt("public-adr-eth")),
        };
        let key = NodeKey {
            signing,
            info,
            private_key_eth,
        };

        let pub_path = cbdir.join(PUBLIC_KEY_FILE);
        if fs::symlink_metadata(&pub_path).is_ok() {
            check_public_file(&pub_path, &pubkey_hex, derived_eth.as_deref())?;
        } else {
            tracing::info!(path = %pub_path.display(), "node public key file not found - re-creating it from the private key file");
            write_new(&pub_path, key.public_file_text().as_bytes(), 0o644)?;
        }
        Ok(key)
    }

    /// Creates a new key pair in `cbdir` (which must exist). Never overwrites a file.
    pub fn generate(cbdir: &Path, info: KeyInfo) -> Result<NodeKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Random)?;
        let eth_seed = eth::generate().map_err(KeyError::Random)?;
        let key = NodeKey {
            signing: SigningKey::from_bytes(&seed),
            info: KeyInfo {
                public_adr_eth: eth::address(&eth_seed),
                ..info
            },
            private_key_eth: Some(hex::encode(eth_seed)),
        };
        // Public first, as Crossbar.io: a crash in between leaves an orphan key.pub, which
        // load_or_generate reports instead of silently replacing.
        write_new(
            &cbdir.join(PUBLIC_KEY_FILE),
            key.public_file_text().as_bytes(),
            0o644,
        )?;
        write_new(
            &cbdir.join(PRIVATE_KEY_FILE),
            key.private_file_text().as_bytes(),
            0o600,
        )?;
        tracing::info!(pubkey = %key.public_key_hex(), node_authid = ?key.info.node_authid, "new node key pair generated");
        Ok(key)
    }

    fn public_tags(&self) -> Vec<(&'static str, Option<String>)> {
        let i = &self.info;
        vec![
            ("creator", Some(i.creator.clone())),
            ("created-at", Some(i.created_at.clone())),
            ("machine-id", Some(i.machine_id.clone())),
            ("node-authid", i.node_authid.clone()),
            ("node-cluster-ip", i.node_cluster_ip.clone()),
            ("public-key-ed25519", Some(self.public_key_hex())),
            ("public-adr-eth", i.public_adr_eth.clone()),
        ]
    }

    /// The text of `key.pub`.
    pub fn public_file_text(&self) -> String {
        let tags = self.public_tags();
        let refs: Vec<(&str, Option<&str>)> =
            tags.iter().map(|(t, v)| (*t, v.as_deref())).collect();
        tagfile::format(PUBLIC_HEADER, &refs)
    }

    /// The text of `key.priv`. Tags absent from a loaded legacy file stay absent.
    fn private_file_text(&self) -> String {
        let mut tags = self.public_tags();
        tags.push((
            "private-key-ed25519",
            Some(hex::encode(self.signing.to_bytes())),
        ));
        if let Some(e) = &self.private_key_eth {
            tags.push(("private-key-eth", Some(e.clone())));
        }
        let refs: Vec<(&str, Option<&str>)> =
            tags.iter().map(|(t, v)| (*t, v.as_deref())).collect();
        tagfile::format(PRIVATE_HEADER, &refs)
    }
}

impl KeyInfo {
    /// Tags for a key generated on this host now, as Crossbar.io fills them:
    /// `node-authid` from `$CROSSBAR_NODE_ID` or the host name, `node-cluster-ip` from
    /// `$CROSSBAR_NODE_CLUSTER_IP` or 127.0.0.1.
    pub fn for_this_host() -> KeyInfo {
        let host = hostname();
        let env_nonblank = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        KeyInfo {
            creator: match (username(), &host) {
                (Some(u), Some(h)) => format!("{u}@{h}"),
                _ => "unknown".into(),
            },
            created_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            machine_id: machine_id()
                .or_else(|| host.clone())
                .unwrap_or_else(|| "unknown".into()),
            node_authid: env_nonblank("CROSSBAR_NODE_ID").or_else(|| host.clone()),
            node_cluster_ip: Some(
                env_nonblank("CROSSBAR_NODE_CLUSTER_IP").unwrap_or_else(|| "127.0.0.1".into()),
            ),
            public_adr_eth: None,
        }
    }
}

fn read_tags(path: &Path, allowed: &[&str]) -> Result<Vec<(String, String)>, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    tagfile::parse(&text, allowed).map_err(|source| KeyError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Checks `key.pub` against the private key, as Crossbar.io does.
fn check_public_file(path: &Path, pubkey_hex: &str, eth_adr: Option<&str>) -> Result<(), KeyError> {
    if !fs::metadata(path)
        .map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?
        .is_file()
    {
        return Err(KeyError::NotAFile {
            path: path.to_owned(),
        });
    }
    let tags = read_tags(path, PUBLIC_TAGS)?;
    for tag in ["creator", "created-at", "machine-id", "public-key-ed25519"] {
        if tagfile::get(&tags, tag).is_none() {
            return Err(KeyError::MissingTag {
                path: path.to_owned(),
                tag,
            });
        }
    }
    if !tagfile::get(&tags, "public-key-ed25519")
        .is_some_and(|p| p.eq_ignore_ascii_case(pubkey_hex))
    {
        return Err(KeyError::Inconsistent {
            path: path.to_owned(),
            message: "public-key-ed25519 doesn't correspond to private-key-ed25519 in key.priv"
                .into(),
        });
    }
    if let Some(adr) = eth_adr
        && tagfile::get(&tags, "public-adr-eth") != Some(adr)
    {
        return Err(KeyError::Inconsistent {
            path: path.to_owned(),
            message: "public-adr-eth doesn't correspond to private-key-eth in key.priv".into(),
        });
    }
    Ok(())
}

fn decode_32(h: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(h.trim()).map_err(|e| e.to_string())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 32 bytes, found {}", b.len()))
}

/// Writes a new file with `mode`, never replacing an existing one: written to a temp file in
/// the same directory (created 0600), then hard-linked into place.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let io_err = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".key.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err)?;
    tmp.write_all(contents).map_err(io_err)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist_noclobber(path).map_err(|e| io_err(e.error))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err)
}

fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
}

/// Python's `getpass.getuser()`: `$LOGNAME`, `$USER`, `$LNAME`, `$USERNAME`, then the
/// password database.
fn username() -> Option<String> {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
}

fn machine_id() -> Option<String> {
    ["/var/lib/dbus/machine-id", "/etc/machine-id"]
        .iter()
        .find_map(|p| {
            fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> KeyInfo {
        KeyInfo {
            creator: "me@host".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            machine_id: "m1".into(),
            node_authid: Some("node1".into()),
            node_cluster_ip: None,
            public_adr_eth: None,
        }
    }

    #[test]
    fn generate_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let k = NodeKey::generate(dir.path(), info()).unwrap();
        let priv_mode = fs::metadata(dir.path().join("key.priv"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        let pub_mode = fs::metadata(dir.path().join("key.pub"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!((priv_mode, pub_mode), (0o600, 0o644));

        let text = fs::read_to_string(dir.path().join("key.pub")).unwrap();
        assert!(
            text.starts_with("Crossbar.io node public key\n\ncreator: me@host\n"),
            "{text}"
        );
        assert!(text.contains("node-cluster-ip: unknown\n"));
        assert!(text.contains(&format!("public-key-ed25519: {}\n", k.public_key_hex())));

        let (l, generated) = NodeKey::load_or_generate(dir.path()).unwrap();
        assert!(!generated);
        assert_eq!(l.public_key(), k.public_key());
        assert_eq!(l.info().public_adr_eth, k.info().public_adr_eth);
        assert_eq!(l.info().node_cluster_ip.as_deref(), Some("unknown"));
        assert!(
            NodeKey::generate(dir.path(), info()).is_err(),
            "never overwrites"
        );
    }

    #[test]
    fn a_readable_private_key_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let made = NodeKey::generate(dir.path(), info()).unwrap();
        let p = dir.path().join("key.priv");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let k = NodeKey::load(dir.path()).unwrap();
        assert_eq!(k.public_key(), made.public_key());
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o400)).unwrap();
        NodeKey::load(dir.path()).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o400
        );
    }

    #[test]
    fn recreates_missing_public_key_and_rejects_orphan() {
        let dir = tempfile::tempdir().unwrap();
        let k = NodeKey::generate(dir.path(), info()).unwrap();
        let pub_text = fs::read_to_string(dir.path().join("key.pub")).unwrap();
        fs::remove_file(dir.path().join("key.pub")).unwrap();
        NodeKey::load(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("key.pub")).unwrap(),
            pub_text
        );

        fs::remove_file(dir.path().join("key.priv")).unwrap();
        let e = NodeKey::load_or_generate(dir.path()).unwrap_err();
        assert!(matches!(e, KeyError::OrphanPublicKey { .. }), "{e}");
        let _ = k;
    }

    #[test]
    fn crossbar_written_files_reproduce_byte_for_byte() {
        let priv_text = include_str!("../../tests/data/crossbar-init/key.priv");
        let pub_text = include_str!("../../tests/data/crossbar-init/key.pub");
        let dir = tempfile::tempdir().unwrap();
        write_new(&dir.path().join("key.priv"), priv_text.as_bytes(), 0o600).unwrap();
        write_new(&dir.path().join("key.pub"), pub_text.as_bytes(), 0o644).unwrap();
        let k = NodeKey::load(dir.path()).unwrap();
        assert_eq!(k.private_file_text(), priv_text);
        assert_eq!(k.public_file_text(), pub_text);
    }

    #[test]
    fn detects_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        NodeKey::generate(dir.path(), info()).unwrap();
        let other = tempfile::tempdir().unwrap();
        NodeKey::generate(other.path(), info()).unwrap();
        fs::copy(other.path().join("key.pub"), dir.path().join("key.pub")).unwrap();
        let e = NodeKey::load(dir.path()).unwrap_err();
        assert!(matches!(e, KeyError::Inconsistent { .. }), "{e}");
    }
}
