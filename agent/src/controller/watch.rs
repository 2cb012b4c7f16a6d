//! Guest `options.watch`: restart the guest when files in its watched directories change
//! (Crossbar.io's `{directories, action: "restart", timeout}`), with inotify via `notify`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::{GuestWatch, WorkerConfig};

/// Change notifications beyond this many pending are dropped: one is enough to act on.
const PENDING_CHANGES: usize = 64;
/// Crossbar.io's default wait between a change and the restart.
const DEFAULT_DELAY: Duration = Duration::from_secs(1);

/// Watches directories; [`DirWatch::changed`] resolves once something in them changed and
/// things have been quiet for the watch's delay.
pub(crate) struct DirWatch {
    _watcher: RecommendedWatcher,
    changes: mpsc::Receiver<PathBuf>,
    delay: Duration,
}

impl DirWatch {
    /// The watch of a guest worker, if it has `options.watch` (directories relative to
    /// `cbdir`).
    pub(crate) fn for_worker(config: &WorkerConfig, cbdir: &Path) -> notify::Result<Option<Self>> {
        let WorkerConfig::Guest(g) = config else {
            return Ok(None);
        };
        match &g.options.watch {
            Some(w) if !w.directories.is_empty() => DirWatch::new(w, cbdir).map(Some),
            _ => Ok(None),
        }
    }

    fn new(w: &GuestWatch, cbdir: &Path) -> notify::Result<Self> {
        let (tx, changes) = mpsc::channel(PENDING_CHANGES);
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev
                && !ev.kind.is_access()
                && let Some(p) = ev.paths.into_iter().next()
            {
                // A full queue already holds a reason to restart.
                let _ = tx.try_send(p);
            }
        })?;
        for d in &w.directories {
            watcher.watch(&cbdir.join(d), RecursiveMode::Recursive)?;
        }
        let delay = w
            .timeout
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_DELAY);
        Ok(DirWatch {
            _watcher: watcher,
            changes,
            delay,
        })
    }

    /// The first changed path of a burst of changes, once the burst is over.
    pub(crate) async fn changed(&mut self) -> PathBuf {
        let Some(first) = self.changes.recv().await else {
            // The watcher is gone (it lives as long as `self`): nothing will change.
            return std::future::pending().await;
        };
        loop {
            match tokio::time::timeout(self.delay, self.changes.recv()).await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return first,
            }
        }
    }
}
