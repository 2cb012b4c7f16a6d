//! `cgi` service: runs the CGI scripts of a directory (RFC 3875) through a `processor`, as
//! Crossbar.io's `CgiDirectory` does with Twisted's CGI support: the path below the mount point
//! walks the directory, the first file found is the script (run as `processor script`, in the
//! script's directory) and the rest of the path is `PATH_INFO`; a directory itself answers 404
//! (no listings). The request body goes to the script's stdin; its output's header block sets
//! the response (`Status:`, `Location:` → 302, any other header), the rest is streamed as the
//! body.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tracing::warn;

use super::{Body, ConnMeta, html_response, not_found, page};
use crate::transport::config::CgiConfig;

/// The largest request body a script is given.
const MAX_BODY: usize = 16 << 20;
/// The largest header block a script may write.
const MAX_HEADERS: usize = 64 << 10;

pub(crate) struct Cgi {
    directory: PathBuf,
    processor: PathBuf,
}

impl Cgi {
    pub(crate) fn new(c: &CgiConfig, base_dir: &Path) -> Cgi {
        Cgi {
            directory: base_dir.join(&c.directory),
            processor: PathBuf::from(&c.processor),
        }
    }

    /// Serves `rest`, the request path below `prefix`, the service's mount point.
    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        prefix: &str,
        rest: &str,
        meta: &ConnMeta,
    ) -> Response<Body> {
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let mut here = self.directory.clone();
        let mut script_name = prefix.to_owned();
        let mut found = None;
        for (i, seg) in segments.iter().enumerate() {
            if seg == "." || seg == ".." || seg.contains('\0') {
                return not_found(req.uri().path());
            }
            here.push(seg);
            script_name.push('/');
            script_name.push_str(seg);
            match tokio::fs::metadata(&here).await {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    found = Some(i);
                    break;
                }
                Err(_) => return not_found(req.uri().path()),
            }
        }
        let Some(i) = found else {
            return html_response(
                StatusCode::NOT_FOUND,
                page(
                    "404 - No Such Resource",
                    "<p>CGI directories do not support directory listing.</p>",
                ),
            );
        };
        let path_info =
            (i + 1 < segments.len()).then(|| format!("/{}", segments[i + 1..].join("/")));
        self.run(req, &here, &script_name, path_info, meta).await
    }

    async fn run(
        &self,
        req: Request<Incoming>,
        script: &Path,
        script_name: &str,
        path_info: Option<String>,
        meta: &ConnMeta,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return html_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    page(
                        "413 - Request Entity Too Large",
                        "<p>The request body is too large for a CGI script.</p>",
                    ),
                );
            }
        };
        let uri = &parts.uri;
        let query = uri.query().unwrap_or("");
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let (server_name, server_port) = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
                (name, port.to_owned())
            }
            _ => (host, if meta.tls.secure { "443" } else { "80" }.to_owned()),
        };
        let mut cmd = Command::new(&self.processor);
        // As Crossbar.io runs it: the script is the only argument (no query words, RFC 3875
        // 4.4, which Twisted's own CGIScript would add).
        cmd.arg(script);
        if let Some(dir) = script.parent() {
            cmd.current_dir(dir);
        }
        cmd.env(
            "SERVER_SOFTWARE",
            concat!("crossbar-edge/", env!("CARGO_PKG_VERSION")),
        )
        .env("SERVER_NAME", server_name)
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("SERVER_PORT", server_port)
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("SCRIPT_NAME", script_name)
        .env("SCRIPT_FILENAME", script)
        .env(
            "REQUEST_URI",
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        )
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("QUERY_STRING", query);
        if let Some(addr) = remote_addr(&meta.peer) {
            cmd.env("REMOTE_ADDR", addr);
        }
        if let Some(p) = &path_info {
            cmd.env("PATH_INFO", p);
        }
        for (name, value) in &parts.headers {
            let Ok(value) = value.to_str() else { continue };
            let var = name.as_str().replace('-', "_").to_ascii_uppercase();
            match name.as_str() {
                "content-type" | "content-length" => {
                    if name == header::CONTENT_TYPE {
                        cmd.env(var, value);
                    }
                }
                "proxy" => {} // httpoxy: never HTTP_PROXY from a client
                _ => {
                    cmd.env(format!("HTTP_{var}"), value);
                }
            }
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                warn!(processor = %self.processor.display(), script = %script.display(), error = %e, "cannot run a CGI script");
                return script_error("the CGI processor could not be started");
            }
        };
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        // The body is written while the output is read, so a script that answers before it
        // has read all its input does not deadlock.
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
        let script_shown = script.display().to_string();
        tokio::spawn(async move {
            let mut err = Vec::new();
            let _ = (&mut stderr).take(64 << 10).read_to_end(&mut err).await;
            if !err.is_empty() {
                warn!(script = %script_shown, stderr = %String::from_utf8_lossy(&err).trim_end(), "CGI script error output");
            }
        });

        let mut head = Vec::new();
        let (header_end, delimiter) = loop {
            if let Some(found) = header_end(&head) {
                break found;
            }
            if head.len() > MAX_HEADERS {
                return script_error("the CGI script's header block is too long");
            }
            let mut chunk = [0u8; 8192];
            match stdout.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    let _ = child.wait().await;
                    return script_error("Premature end of script headers.");
                }
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        };
        let rest = Bytes::copy_from_slice(&head[header_end + delimiter..]);
        let mut resp = Response::new(super::empty());
        let linebreak: &[u8] = match delimiter {
            4 => b"\r\n",
            3 => b"\n", // "\n\r\n": a "\n" line break with a stray "\r"
            _ if head[header_end] == b'\r' => b"\r",
            _ => b"\n",
        };
        let mut status_set = false;
        for line in split(&head[..header_end], linebreak) {
            let Some(colon) = find(line, b": ") else {
                warn!(line = %String::from_utf8_lossy(line), "ignoring a malformed CGI header");
                continue;
            };
            let (name, value) = (&line[..colon], line[colon + 2..].trim_ascii());
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            if name == "status" {
                match std::str::from_utf8(&value[..value.len().min(3)])
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
                    .and_then(|c| StatusCode::from_u16(c).ok())
                {
                    Some(code) => {
                        *resp.status_mut() = code;
                        status_set = true;
                    }
                    None => warn!("malformed CGI Status header"),
                }
                continue;
            }
            if name == "location" && !status_set {
                *resp.status_mut() = StatusCode::FOUND;
            }
            if name == "server" || name == "date" {
                continue;
            }
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                (Ok(n), Ok(v)) => {
                    resp.headers_mut().append(n, v);
                }
                _ => warn!(header = %name, "ignoring an invalid CGI header"),
            }
        }
        let script_shown = script.display().to_string();
        let tail = tokio_util::io::ReaderStream::new(stdout);
        let body = futures_util::stream::once(async move { Ok(rest) })
            .chain(tail)
            .filter(|r| std::future::ready(!matches!(r, Ok(b) if b.is_empty())))
            .map(|r| r.map(Frame::data));
        tokio::spawn(async move {
            match child.wait().await {
                Ok(s) if !s.success() => {
                    warn!(script = %script_shown, status = %s, "CGI script failed");
                }
                _ => {}
            }
        });
        *resp.body_mut() = StreamBody::new(body).boxed_unsync();
        resp
    }
}

/// Where the header block ends and the length of its delimiter: the earliest of the blank
/// lines Twisted accepts.
fn header_end(buf: &[u8]) -> Option<(usize, usize)> {
    [&b"\n\n"[..], b"\r\n\r\n", b"\r\r", b"\n\r\n"]
        .iter()
        .filter_map(|d| find(buf, d).map(|i| (i, d.len())))
        .min()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(buf: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(buf);
    std::iter::from_fn(move || {
        let r = rest?;
        match find(r, sep) {
            Some(i) => {
                rest = Some(&r[i + sep.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
    .filter(|l| !l.is_empty())
}

/// The IP address of a peer in Crossbar.io's notation (`tcp4:127.0.0.1:52364`).
fn remote_addr(peer: &str) -> Option<&str> {
    let rest = peer
        .strip_prefix("tcp4:")
        .or_else(|| peer.strip_prefix("tcp6:"))?;
    rest.rsplit_once(':').map(|(ip, _)| ip)
}

fn script_error(message: &str) -> Response<Body> {
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            "500 - CGI Script Error",
            &format!("<p>{}</p>", super::escape_html(message)),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blocks_end_at_the_first_blank_line() {
        assert_eq!(header_end(b"A: 1\n\nbody\r\n\r\n"), Some((4, 2)));
        assert_eq!(header_end(b"A: 1\r\nB: 2\r\n\r\nbody"), Some((10, 4)));
        assert_eq!(header_end(b"A: 1\r\n"), None);
        let lines: Vec<&[u8]> = split(b"A: 1\r\nB: 2", b"\r\n").collect();
        assert_eq!(lines, vec![&b"A: 1"[..], b"B: 2"]);
    }

    #[test]
    fn remote_addresses() {
        assert_eq!(remote_addr("tcp4:127.0.0.1:5000"), Some("127.0.0.1"));
        assert_eq!(remote_addr("tcp6:::1:5000"), Some("::1"));
        assert_eq!(remote_addr("unix"), None);
    }
}
