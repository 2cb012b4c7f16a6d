//! `archive` service: serves the members of a ZIP file (a web site packed as one file), as
//! Crossbar.io's `RouterWebServiceArchive`: the path below the mount point names a member
//! (under `object_prefix`), a directory path gets `default_object`, `options.default_file`
//! answers what is not found (single-page applications). MIME types by extension, with the
//! config's own; members kept in memory with `cache`. GET and HEAD only.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use parking_lot::Mutex;
use sha2::Digest as _;

use super::{Body, empty, full, method_not_allowed, not_found};
use crate::transport::config::ArchiveConfig;
use crate::transport::listener::TransportError;

pub(crate) struct Archive {
    /// `None`: the archive is not there (and an `origin` was named): every request is 404.
    file: Option<PathBuf>,
    /// Member names of the archive.
    members: Vec<String>,
    prefix: String,
    default_object: Option<String>,
    default_file: Option<String>,
    mime_types: BTreeMap<String, String>,
    cache: Option<Mutex<HashMap<String, Bytes>>>,
}

impl Archive {
    pub(crate) fn new(
        c: &ArchiveConfig,
        base_dir: &Path,
        label: &str,
    ) -> Result<Archive, TransportError> {
        let invalid = |message: String| TransportError::Invalid {
            location: format!("paths.{label}.archive"),
            message,
        };
        let path = base_dir.join(&c.archive);
        let present = path.is_file();
        if !present && c.origin.is_none() {
            return Err(invalid(format!("archive {} not found", path.display())));
        }
        let mut members = Vec::new();
        if present {
            let bytes = std::fs::read(&path)
                .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
            if !c.hashes.is_empty() {
                let digest = hex::encode(sha2::Sha256::digest(&bytes));
                if !c.hashes.iter().any(|h| h.eq_ignore_ascii_case(&digest)) {
                    return Err(invalid(format!(
                        "archive {} has SHA-256 {digest}, none of the configured hashes",
                        path.display()
                    )));
                }
            }
            let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .map_err(|e| invalid(format!("{} is not a ZIP archive: {e}", path.display())))?;
            members = zip
                .file_names()
                .map(|n| n.map(|n| n.into_owned()))
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        }
        Ok(Archive {
            file: present.then_some(path),
            members,
            prefix: c.object_prefix.clone().unwrap_or_default(),
            default_object: c.default_object.clone(),
            default_file: c.options.default_file.clone(),
            mime_types: c.mime_types.clone(),
            cache: c.cache.then(|| Mutex::new(HashMap::new())),
        })
    }

    pub(crate) async fn handle(
        self: &Arc<Self>,
        req: &Request<Incoming>,
        rest: &str,
    ) -> Response<Body> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return method_not_allowed(),
        };
        let decoded = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
        let mut name = decoded.trim_start_matches('/').to_owned();
        if (name.is_empty() || name.ends_with('/'))
            && let Some(d) = &self.default_object
        {
            name.push_str(d);
        }
        let member = self.member_name(&name);
        let found = match member {
            Some(m) => Some(m),
            None => self
                .default_file
                .as_deref()
                .and_then(|f| self.member_name(f)),
        };
        let Some(member) = found else {
            return not_found(req.uri().path());
        };
        let this = self.clone();
        let m = member.clone();
        let data = match tokio::task::spawn_blocking(move || this.read(&m)).await {
            Ok(Ok(d)) => d,
            _ => return not_found(req.uri().path()),
        };
        let mut r = Response::new(if head { empty() } else { full(data.clone()) });
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.mime_type(&member)) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
        *r.status_mut() = StatusCode::OK;
        r
    }

    /// Downloads the archive from `origin` if it is missing and the config says `download`
    /// (as Crossbar.io does at the service's start): to a temporary file first, renamed into
    /// place once complete, so a failed download leaves nothing behind. A missing archive
    /// without `download` is served as 404s, with a warning, as Crossbar.io skips it.
    pub(crate) async fn fetch(
        c: &ArchiveConfig,
        base_dir: &Path,
        label: &str,
    ) -> Result<(), TransportError> {
        let invalid = |message: String| TransportError::Invalid {
            location: format!("paths.{label}.archive"),
            message,
        };
        let path = base_dir.join(&c.archive);
        if path.exists() {
            if !path.is_file() {
                return Err(invalid(format!(
                    "path \"{}\" exists but is not a file",
                    path.display()
                )));
            }
            return Ok(());
        }
        let Some(origin) = &c.origin else {
            return Ok(()); // new() refuses it: "not found"
        };
        let scheme = origin.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("http" | "https")) {
            return Err(invalid(format!(
                "invalid scheme in \"origin\" {origin}: must be http or https"
            )));
        }
        if !c.download {
            tracing::warn!(archive = %path.display(), %origin, "archive missing and \"download\" is off: not downloaded");
            return Ok(());
        }
        tracing::info!(archive = %path.display(), %origin, "downloading the archive");
        let (url, dest) = (origin.clone(), path.clone());
        let fetched = tokio::task::spawn_blocking(move || download(&url, &dest))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        match fetched {
            Ok(bytes) => {
                tracing::info!(archive = %path.display(), bytes, "archive downloaded");
                Ok(())
            }
            Err(e) => Err(invalid(format!("cannot download {origin}: {e}"))),
        }
    }

    /// The archive member a request names, if there is one.
    fn member_name(&self, name: &str) -> Option<String> {
        if name.split('/').any(|s| s == "..") {
            return None;
        }
        let full = if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix.trim_end_matches('/'))
        };
        self.members.contains(&full).then_some(full)
    }

    fn read(&self, member: &str) -> std::io::Result<Bytes> {
        if let Some(c) = &self.cache
            && let Some(b) = c.lock().get(member)
        {
            return Ok(b.clone());
        }
        let path = self
            .file
            .as_ref()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        let file = std::fs::File::open(path)?;
        let mut zip = zip::ZipArchive::new(file).map_err(std::io::Error::other)?;
        let mut entry = zip.by_name(member).map_err(std::io::Error::other)?;
        let mut data = Vec::with_capacity(entry.size() as usize);
        std::io::copy(&mut entry, &mut data)?;
        let data = Bytes::from(data);
        if let Some(c) = &self.cache {
            c.lock().insert(member.to_owned(), data.clone());
        }
        Ok(data)
    }

    fn mime_type(&self, member: &str) -> String {
        let ext = member.rsplit_once('.').map(|(_, e)| format!(".{e}"));
        if let Some(t) = ext.as_ref().and_then(|e| self.mime_types.get(e)) {
            return t.clone();
        }
        mime_guess::from_path(member)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned()
    }
}

/// The largest archive downloaded.
const MAX_DOWNLOAD: u64 = 1 << 30;
/// Bounds a whole download.
const DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// GETs `url` into `dest` (through `dest.part`); the bytes written.
fn download(url: &str, dest: &Path) -> Result<u64, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .build()
        .into();
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let written = (|| -> std::io::Result<u64> {
        let mut reader = resp.body_mut().with_config().limit(MAX_DOWNLOAD).reader();
        let mut file = std::fs::File::create(&part)?;
        let n = std::io::copy(&mut reader, &mut file)?;
        file.sync_all()?;
        std::fs::rename(&part, dest)?;
        Ok(n)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    written.map_err(|e| e.to_string())
}
