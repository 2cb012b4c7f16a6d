//! Atomic config writes and JSON⇄YAML conversion.
//!
//! A write goes to a temp file in the target's directory, is fsynced, renamed over the
//! target, and the directory is fsynced: a crash leaves the old file or the new one, never a
//! mix, and a failed write leaves the old file untouched.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::load::{self, ConfigFormat, LoadError};

/// Writes `contents` to `path` atomically. A new file gets mode 0644 (as Crossbar.io's
/// files); an existing file keeps its mode.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(contents))
}

/// Removes the temp files that [`write_atomic`] leaves beside `path` when the process is
/// killed between creating and renaming one (`.<name>.<random>.tmp`); returns how many. Run
/// at node start, when nothing else writes the file.
pub fn remove_stale_temps(path: &Path) -> usize {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return 0;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".tmp"))
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Like [`write_atomic`], with the contents produced by `fill`; if `fill` fails, nothing
/// changes on disk.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("config");
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);

    // Dropping `tmp` on any error below removes the temp file.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// JSON text as Crossbar.io's `convert` writes it (`indent=3`, `": "` and `","`), UTF-8
/// unescaped.
pub fn to_json_text<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"   "),
    );
    value.serialize(&mut ser)?;
    // serde_json writes valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The source must be a valid config (Crossbar.io refuses to convert an invalid one too).
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot convert {}: {message}", path.display())]
    Encode { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// Converts a config file between JSON and YAML, as `crossbar convert` does: the source is
/// validated, then the other format is written beside it (`config.json` → `config.yaml` and
/// back), replacing that file if it exists, and the source is kept. Key order is preserved.
/// Returns the path written.
pub fn convert(path: &Path) -> Result<PathBuf, ConvertError> {
    load::load_file(path)?;
    let format = ConfigFormat::from_path(path).ok_or_else(|| LoadError::Extension {
        path: path.to_owned(),
    })?;
    let text = fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let encode_err = |message: String| ConvertError::Encode {
        path: path.to_owned(),
        message,
    };
    // serde_yaml's Value keeps mapping order, so it carries the tree both ways.
    let (target_format, out) = match format {
        ConfigFormat::Json => {
            let tree: serde_yaml::Value =
                serde_json::from_str(&text).map_err(|e| encode_err(e.to_string()))?;
            (
                ConfigFormat::Yaml,
                serde_yaml::to_string(&tree).map_err(|e| encode_err(e.to_string()))?,
            )
        }
        ConfigFormat::Yaml => {
            let tree: serde_yaml::Value =
                serde_yaml::from_str(&text).map_err(|e| encode_err(e.to_string()))?;
            (
                ConfigFormat::Json,
                to_json_text(&tree).map_err(|e| encode_err(e.to_string()))?,
            )
        }
    };
    let target = path.with_extension(target_format.extension());
    write_atomic(&target, out.as_bytes()).map_err(|source| ConvertError::Write {
        path: target.clone(),
        source,
    })?;
    Ok(target)
}

/// Writes a config tree as JSON (Crossbar.io's layout), atomically; for `save_config` and
/// `upload_config`. Pass the tree as written ([`super::LoadedConfig::raw`] or what was
/// uploaded), not [`super::NodeConfig::to_value`]: the typed config has `${VAR}` references resolved,
/// and writing it would put secrets from the environment into the file.
pub fn save_json<T: Serialize + ?Sized>(path: &Path, config: &T) -> io::Result<()> {
    let text = to_json_text(config).map_err(io::Error::other)?;
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temps_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{}").unwrap();
        fs::write(dir.path().join(".config.json.abc123.tmp"), "partial").unwrap();
        fs::write(dir.path().join(".other.json.x.tmp"), "keep").unwrap();
        assert_eq!(remove_stale_temps(&path), 1);
        assert!(path.exists() && dir.path().join(".other.json.x.tmp").exists());
        assert_eq!(remove_stale_temps(&path), 0);
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();

        let err = write_atomic_with(&p, |w| {
            w.write_all(b"half of the new con")?;
            Err(io::Error::other("disk on fire"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert_eq!(fs::read_to_string(&p).unwrap(), "old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("config.json")],
            "no temp file left behind"
        );

        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600,
            "mode kept"
        );
    }

    #[test]
    fn new_file_mode_and_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.json");
        write_atomic(&p, b"{}").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert!(write_atomic(&dir.path().join("no/such/dir.json"), b"{}").is_err());
    }

    #[test]
    fn json_layout_like_crossbar() {
        let v = serde_json::json!({"a": [1, {"b": "ü"}], "c": {}});
        assert_eq!(
            to_json_text(&v).unwrap(),
            "{\n   \"a\": [\n      1,\n      {\n         \"b\": \"ü\"\n      }\n   ],\n   \"c\": {}\n}"
        );
    }
}
