//! `key_file`: the node key files through `agent::keys::NodeKey::load`, as the node reads them
//! at start (tags, the Ed25519 seed, the Ethereum key and address, `key.pub` checked against
//! `key.priv`). The input is `key.priv`, then, after the first NUL octet, `key.pub` (no NUL:
//! no `key.pub`, which the loader then writes). The files go to a directory of this process,
//! emptied before each input.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use agent::keys::{NodeKey, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE};

pub fn key_file(data: &[u8]) {
    DIR.with(|dir| load(dir, data));
}

thread_local! {
    /// One directory per thread: libFuzzer runs one input at a time, the corpus test one
    /// target per test thread.
    static DIR: PathBuf = tempfile::Builder::new()
        .prefix("fuzz-harness-keys")
        .tempdir()
        .expect("a temporary directory")
        .keep();
}

fn load(dir: &Path, data: &[u8]) {
    let (private, public) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let (priv_path, pub_path) = (dir.join(PRIVATE_KEY_FILE), dir.join(PUBLIC_KEY_FILE));
    let _ = std::fs::remove_file(&pub_path);
    std::fs::write(&priv_path, private).expect("write key.priv");
    std::fs::set_permissions(&priv_path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod key.priv");
    if let Some(public) = public {
        std::fs::write(&pub_path, public).expect("write key.pub");
    }
    if let Ok(key) = NodeKey::load(dir) {
        // What loaded must be what the files say: the public file it wrote (or found)
        // loads again with the same key.
        let again = NodeKey::load(dir).expect("a key that loaded loads again");
        assert_eq!(key.public_key_hex(), again.public_key_hex());
        let msg = b"fuzz";
        assert_eq!(key.sign(msg), again.sign(msg));
    }
}
