//! The node directory (cbdir): where it is and what lives in it.

use std::path::{Path, PathBuf};

/// Environment variable naming the node directory.
pub const CBDIR_ENV: &str = "CROSSBAR_DIR";

/// The node directory: `--cbdir` > `$CROSSBAR_DIR` > `./.crossbar`, made absolute. As in
/// Crossbar.io, a path naming a file (e.g. a config file) means the directory holding it.
pub fn resolve_cbdir(arg: Option<&Path>) -> PathBuf {
    let env = std::env::var_os(CBDIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    resolve_with(arg, env)
}

fn resolve_with(arg: Option<&Path>, env: Option<PathBuf>) -> PathBuf {
    let dir = arg
        .map(Path::to_path_buf)
        .or(env)
        .unwrap_or_else(|| PathBuf::from(".crossbar"));
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if dir.is_file()
        && let Some(parent) = dir.parent()
    {
        return parent.to_path_buf();
    }
    dir
}

/// Creates the node directory if it does not exist.
pub fn ensure_cbdir(cbdir: &Path) -> std::io::Result<bool> {
    if cbdir.is_dir() {
        return Ok(false);
    }
    std::fs::create_dir_all(cbdir)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(resolve_with(None, None), cwd.join(".crossbar"));
        assert_eq!(
            resolve_with(None, Some("/env/dir".into())),
            PathBuf::from("/env/dir")
        );
        assert_eq!(
            resolve_with(Some(Path::new("/arg")), Some("/env/dir".into())),
            PathBuf::from("/arg")
        );
        assert_eq!(resolve_with(Some(Path::new("rel")), None), cwd.join("rel"));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.json");
        std::fs::write(&f, "{}").unwrap();
        assert_eq!(resolve_with(Some(&f), None), dir.path());
    }
}
