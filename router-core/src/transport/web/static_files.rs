//! `static` service: files from a directory (Crossbar.io's `StaticResource`): `index.html` for
//! directories, an optional HTML listing, MIME types by extension (plus configured overrides),
//! `Cache-Control`/`Expires` (12 hours unless configured), CORS headers, an optional fallback
//! file, and a 404 page otherwise. File bodies, ranges and conditional requests are served by
//! tower-http's `ServeFile`.
//!
//! A request path is split into segments and each one is percent-decoded; a segment that is
//! `..` or contains a slash, backslash or NUL after decoding is refused, so no request can name
//! a file outside the directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tower_http::services::ServeFile;

use super::{Body, escape_html, html_response, method_not_allowed, not_found, page, set_cors};
use crate::transport::config::StaticConfig;
use crate::transport::listener::TransportError;

/// Crossbar.io's `DEFAULT_CACHE_TIMEOUT`.
const DEFAULT_CACHE_TIMEOUT: u64 = 12 * 60 * 60;
/// A listing shows at most this many entries (a page, not a denial of service).
const MAX_LISTING_ENTRIES: usize = 10_000;
/// Crossbar.io's `EXTRA_MIME_TYPES` that guessing by extension does not cover.
const EXTRA_MIME_TYPES: &[(&str, &str)] = &[("jgz", "text/javascript"), ("svg", "image/svg+xml")];

/// Characters left as they are in listing links.
const LINK_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) struct StaticDir {
    root: PathBuf,
    listing: bool,
    cache_timeout: Option<u64>,
    /// Lowercase extension (no dot) → MIME type.
    mime_types: Vec<(String, HeaderValue)>,
    default_file: Option<PathBuf>,
    cors: bool,
}

impl StaticDir {
    pub fn new(c: &StaticConfig, base_dir: &Path, label: &str) -> Result<Self, TransportError> {
        let Some(dir) = &c.directory else {
            return Err(TransportError::UnsupportedService {
                path: label.to_owned(),
                kind: "static (Python package resources)".into(),
            });
        };
        let joined = base_dir.join(dir);
        let root = std::path::absolute(&joined).unwrap_or(joined);
        let mut mime_types: Vec<(String, HeaderValue)> = EXTRA_MIME_TYPES
            .iter()
            .map(|(e, m)| ((*e).to_owned(), HeaderValue::from_static(m)))
            .collect();
        for (ext, mime) in &c.options.mime_types {
            let v = HeaderValue::from_str(mime).map_err(|_| TransportError::Invalid {
                location: format!("paths.{label}.options.mime_types.{ext}"),
                message: format!("\"{mime}\" is not a valid MIME type"),
            })?;
            let ext = ext.trim_start_matches('.').to_ascii_lowercase();
            mime_types.retain(|(e, _)| *e != ext);
            mime_types.push((ext, v));
        }
        Ok(StaticDir {
            listing: c.options.enable_directory_listing,
            cache_timeout: match c.options.cache_timeout {
                None => Some(DEFAULT_CACHE_TIMEOUT),
                Some(t) => t,
            },
            mime_types,
            default_file: c.options.default_file.as_ref().map(|f| root.join(f)),
            cors: c.options.allow_cross_origin.unwrap_or(true),
            root,
        })
    }

    /// Serves `rest` (the request path below the mount point `prefix`).
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        prefix: String,
        rest: String,
    ) -> Response<Body> {
        let rest = rest.as_str();
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return method_not_allowed();
        }
        let full_path = format!("{prefix}{rest}");
        let Some(segments) = decode_segments(rest) else {
            return not_found(&full_path);
        };
        let mut fs_path = self.root.clone();
        for s in &segments {
            fs_path.push(s);
        }
        match tokio::fs::metadata(&fs_path).await {
            Ok(m) if m.is_dir() => {
                if !rest.ends_with('/') {
                    // Like Twisted: a directory URL gets its trailing slash by redirect, so
                    // relative links in its index resolve below it.
                    let mut target = format!("{full_path}/");
                    if let Some(q) = req.uri().query() {
                        target.push('?');
                        target.push_str(q);
                    }
                    return redirect(&target);
                }
                let index = fs_path.join("index.html");
                if tokio::fs::metadata(&index).await.is_ok_and(|m| m.is_file()) {
                    self.serve_file(req, &index).await
                } else if self.listing {
                    let mut r = listing(&fs_path, &full_path).await;
                    self.decorate(req.headers(), &mut r, None);
                    r
                } else {
                    self.missing(req, &full_path).await
                }
            }
            Ok(m) if m.is_file() && !rest.ends_with('/') => self.serve_file(req, &fs_path).await,
            _ => self.missing(req, &full_path).await,
        }
    }

    async fn missing(&self, req: Request<Incoming>, full_path: &str) -> Response<Body> {
        match &self.default_file {
            Some(f) => self.serve_file(req, f).await,
            None => not_found(full_path),
        }
    }

    async fn serve_file(&self, req: Request<Incoming>, path: &Path) -> Response<Body> {
        let req_headers = req.headers().clone();
        let mut resp = match ServeFile::new(path).try_call(req).await {
            Ok(r) => r.map(|b| b.boxed_unsync()),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "static file read failed");
                return super::text_response(StatusCode::INTERNAL_SERVER_ERROR, "read error\n");
            }
        };
        self.decorate(&req_headers, &mut resp, Some(path));
        resp
    }

    /// Adds the MIME override, caching and CORS headers.
    fn decorate(&self, req: &http::HeaderMap, resp: &mut Response<Body>, file: Option<&Path>) {
        let ok = resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED;
        let h = resp.headers_mut();
        if let Some(ext) = file.and_then(|f| f.extension()).and_then(|e| e.to_str()) {
            let ext = ext.to_ascii_lowercase();
            if let Some((_, mime)) = self.mime_types.iter().find(|(e, _)| *e == ext) {
                h.insert(header::CONTENT_TYPE, mime.clone());
            }
        }
        if ok && let Some(secs) = self.cache_timeout {
            if let Ok(v) = HeaderValue::from_str(&format!("max-age={secs}, public")) {
                h.insert(header::CACHE_CONTROL, v);
            }
            let expires = SystemTime::now() + Duration::from_secs(secs);
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(expires)) {
                h.insert(header::EXPIRES, v);
            }
        }
        if self.cors {
            set_cors(req, h);
        }
    }
}

/// Splits and percent-decodes a request path; `None` if a segment would leave the directory.
fn decode_segments(rest: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for raw in rest.split('/') {
        if raw.is_empty() {
            continue;
        }
        let seg = percent_decode_str(raw).decode_utf8().ok()?;
        if seg == "." {
            continue;
        }
        if seg == ".." || seg.contains(['/', '\\', '\0']) {
            return None;
        }
        out.push(seg.into_owned());
    }
    Some(out)
}

fn redirect(target: &str) -> Response<Body> {
    let body = format!(
        "<p>Moved to <a href=\"{t}\">{t}</a>.</p>",
        t = escape_html(target)
    );
    let mut r = html_response(
        StatusCode::MOVED_PERMANENTLY,
        page("Moved Permanently", &body),
    );
    if let Ok(v) = HeaderValue::from_str(target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// An HTML directory listing (Twisted's `DirectoryLister`: name, size, type).
async fn listing(dir: &Path, url_path: &str) -> Response<Body> {
    let mut entries: Vec<(String, bool, u64)> = Vec::new();
    if let Ok(mut rd) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            if entries.len() >= MAX_LISTING_ENTRIES {
                break;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let (is_dir, size) = match e.metadata().await {
                Ok(m) => (m.is_dir(), m.len()),
                Err(_) => (false, 0),
            };
            entries.push((name, is_dir, size));
        }
    }
    entries.sort();
    let mut rows =
        String::from("<table><tr><th>Filename</th><th>Size</th><th>Content type</th></tr>");
    for (name, is_dir, size) in &entries {
        let href = utf8_percent_encode(name, LINK_SAFE).to_string();
        let (href, shown, size, kind) = if *is_dir {
            (
                format!("{href}/"),
                format!("{name}/"),
                String::new(),
                "[Directory]".to_owned(),
            )
        } else {
            let mime = mime_guess::from_path(name)
                .first()
                .map(|m| m.essence_str().to_owned())
                .unwrap_or_default();
            (href, name.clone(), size.to_string(), mime)
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            escape_html(&href),
            escape_html(&shown),
            size,
            escape_html(&kind)
        ));
    }
    rows.push_str("</table>");
    html_response(
        StatusCode::OK,
        page(&format!("Directory listing for {url_path}"), &rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        assert_eq!(
            decode_segments("/a/b.txt"),
            Some(vec!["a".into(), "b.txt".into()])
        );
        assert_eq!(
            decode_segments("/a//./b/"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(decode_segments("/%61%20b"), Some(vec!["a b".into()]));
        assert_eq!(decode_segments(""), Some(vec![]));
        for bad in [
            "/../x",
            "/a/..",
            "/%2e%2e/x",
            "/a%2fb",
            "/a%5cb",
            "/a%00",
            "/%ff",
        ] {
            assert_eq!(decode_segments(bad), None, "{bad}");
        }
    }
}
