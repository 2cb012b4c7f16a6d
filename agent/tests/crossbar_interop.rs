//! Files written by crossbar-edge, read by the real Crossbar.io (Python): `CROSSBAR_PYTHON`,
//! else the Python of the venv `tests/run.sh` makes (`target/crossbar-venv`). Skipped when
//! there is none, except under `CI=true`, where that fails the test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_crossbar-edge");

fn crossbar_python() -> Option<PathBuf> {
    let p = std::env::var_os("CROSSBAR_PYTHON")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/crossbar-venv/bin/python")
        });
    let in_ci = std::env::var_os("CI").is_some();
    if !p.is_file() {
        assert!(
            !in_ci,
            "no Crossbar.io Python at {} (tests/run.sh installs it)",
            p.display()
        );
        eprintln!("skipped: no Crossbar.io Python at {}", p.display());
        return None;
    }
    let ok = Command::new(&p)
        .args(["-c", "import crossbar"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!in_ci, "{} cannot import crossbar", p.display());
        eprintln!("skipped: {} cannot import crossbar", p.display());
        return None;
    }
    Some(p)
}

fn python(py: &Path, script: &str, arg: &Path) -> String {
    let o = Command::new(py)
        .args(["-c", script])
        .arg(arg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "Crossbar.io failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn crossbar_loads_our_keys_unchanged() {
    let Some(py) = crossbar_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["init", "--cbdir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let before: Vec<Vec<u8>> = ["key.pub", "key.priv"]
        .iter()
        .map(|f| fs::read(dir.path().join(f)).unwrap())
        .collect();
    let out = python(
        &py,
        "import sys\nfrom crossbar.common.key import _maybe_generate_node_key\n\
         was_new, key = _maybe_generate_node_key(sys.argv[1])\nassert not was_new\nprint('PUBKEY', key.public_key())",
        dir.path(),
    );
    let ours = agent::keys::NodeKey::load(dir.path())
        .unwrap()
        .public_key_hex();
    assert!(out.contains(&format!("PUBKEY {ours}")), "{out}");
    let after: Vec<Vec<u8>> = ["key.pub", "key.priv"]
        .iter()
        .map(|f| fs::read(dir.path().join(f)).unwrap())
        .collect();
    assert_eq!(before, after, "Crossbar.io found nothing to migrate or fix");
}

#[test]
fn crossbar_checks_our_converted_configs() {
    let Some(py) = crossbar_python() else { return };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let check = "import sys\nfrom crossbar.edge.personality import Personality as P\n\
                 P.check_config_file(P, sys.argv[1])\nprint('CONFIG OK')";
    for fixture in ["full.json", "crossbar-init/config.json"] {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("config.json");
        let text = fs::read_to_string(data.join(fixture)).unwrap();
        fs::write(
            &json_path,
            text.replace("${MANHOLE_PASSWORD}", "pw")
                .replace("${JOE_TICKET}", "t1"),
        )
        .unwrap();
        let yaml_path = agent::config::write::convert(&json_path).unwrap();
        fs::remove_file(&json_path).unwrap();
        assert!(
            python(&py, check, &yaml_path).contains("CONFIG OK"),
            "{fixture} as YAML"
        );
        let back = agent::config::write::convert(&yaml_path).unwrap();
        assert!(
            python(&py, check, &back).contains("CONFIG OK"),
            "{fixture} back as JSON"
        );
    }
}
