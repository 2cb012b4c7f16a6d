//! Node keys against files written by real Crossbar.io.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use agent::keys::NodeKey;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/crossbar-init")
}

/// Copies the Crossbar.io-written key files into a fresh node directory (git does not keep
/// the 0600 mode of key.priv).
fn node_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["key.pub", "key.priv"] {
        fs::copy(fixture_dir().join(f), dir.path().join(f)).unwrap();
    }
    fs::set_permissions(
        dir.path().join("key.priv"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    dir
}

#[test]
fn loads_crossbar_written_keys() {
    let dir = node_dir();
    let (key, generated) = NodeKey::load_or_generate(dir.path()).unwrap();
    assert!(!generated);
    assert_eq!(
        key.public_key_hex(),
        "a21707583e88814f2c5af5fcba8dafe107c31b324cdb5cff4114251054da0c7a"
    );
    let info = key.info();
    assert_eq!(info.creator, "root@vm");
    assert_eq!(info.created_at, "2026-11-26T23:30:53.131Z");
    assert_eq!(info.node_authid.as_deref(), Some("vm"));
    assert_eq!(info.node_cluster_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        info.public_adr_eth.as_deref(),
        Some("0x66392a9F0A4420eFc9ca23464626559cDeFEEfA5")
    );

    // A signature verifies with the public key from key.pub.
    let sig = key.sign(b"challenge");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key()).unwrap();
    vk.verify_strict(b"challenge", &ed25519_dalek::Signature::from_bytes(&sig))
        .unwrap();

    // The files are left exactly as they were.
    for f in ["key.pub", "key.priv"] {
        assert_eq!(
            fs::read(dir.path().join(f)).unwrap(),
            fs::read(fixture_dir().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn recreated_public_key_is_byte_identical() {
    let dir = node_dir();
    fs::remove_file(dir.path().join("key.pub")).unwrap();
    NodeKey::load(dir.path()).unwrap();
    assert_eq!(
        fs::read(dir.path().join("key.pub")).unwrap(),
        fs::read(fixture_dir().join("key.pub")).unwrap()
    );
}

#[test]
fn group_readable_private_key_is_made_private_and_kept() {
    // A project checked out from git: key.priv committed with mode 0644. Crossbar.io fixes
    // the mode, warns and starts with the same key; so do we.
    let dir = node_dir();
    let before = fs::read(dir.path().join("key.priv")).unwrap();
    fs::set_permissions(
        dir.path().join("key.priv"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (_key, generated) = NodeKey::load_or_generate(dir.path()).unwrap();
    assert!(!generated);
    assert_eq!(fs::read(dir.path().join("key.priv")).unwrap(), before);
    assert_eq!(
        fs::metadata(dir.path().join("key.priv"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn tampered_files_are_rejected() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "key.priv",
            "node-authid: vm\n",
            "node-authid: vm\nfavourite-colour: blue\n",
        ),
        (
            "key.priv",
            "node-authid: vm\n",
            "node-authid: vm\nnode-authid: vm2\n",
        ),
        (
            "key.priv",
            "public-key-ed25519: a2",
            "public-key-ed25519: b2",
        ),
        ("key.priv", "private-key-eth: 4776", "private-key-eth: 5776"),
        ("key.priv", "creator: root@vm\n", ""),
        (
            "key.pub",
            "public-adr-eth: 0x66392a9F",
            "public-adr-eth: 0x66392A9F",
        ),
        (
            "key.pub",
            "public-key-ed25519: a2",
            "public-key-ed25519: b2",
        ),
        (
            "key.pub",
            "node-authid: vm\n",
            "node-authid: vm\nprivate-key-ed25519: 00\n",
        ),
    ];
    for (file, from, to) in cases {
        let dir = node_dir();
        let p = dir.path().join(file);
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{from}");
        fs::write(&p, text.replacen(from, to, 1)).unwrap();
        let e = NodeKey::load(dir.path()).expect_err(&format!("{file}: {from} -> {to}"));
        assert!(!e.to_string().is_empty());
    }
}
