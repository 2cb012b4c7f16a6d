//! `reverseproxy` service: forwards each request below its path to an HTTP upstream, as
//! Crossbar.io's `ExtReverseProxyResource` does: the path below the mount point appended
//! to `path`, the query kept, `Host` rewritten to the upstream, `X-Forwarded-Host`,
//! `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Port` and `X-Forwarded-Proto` set, one
//! connection per request (`Connection: close`). The request and response bodies are
//! streamed, not buffered. An upstream that cannot be reached answers
//! `501 <H1>Could not connect</H1>`, Crossbar.io's answer.

use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tracing::debug;

use super::{Body, ConnMeta, html_response};
use crate::transport::config::ReverseProxyConfig;

/// Time to connect to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Hop-by-hop headers, which describe one connection and are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

pub(crate) struct ReverseProxy {
    host: String,
    port: u16,
    path: String,
    forwarded_port: HeaderValue,
    forwarded_proto: HeaderValue,
}

impl ReverseProxy {
    pub(crate) fn new(c: &ReverseProxyConfig) -> ReverseProxy {
        ReverseProxy {
            host: c.host.clone(),
            port: c.port,
            path: c.path.trim_end_matches('/').to_owned(),
            forwarded_port: HeaderValue::from(c.forwarded_port),
            forwarded_proto: HeaderValue::from_static(c.forwarded_proto.as_str()),
        }
    }

    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        rest: &str,
        meta: &ConnMeta,
    ) -> Response<Body> {
        match self.forward(req, rest, meta).await {
            Ok(r) => r,
            Err(e) => {
                debug!(upstream = %format!("{}:{}", self.host, self.port), error = %e, "reverse proxy: upstream failed");
                let mut r = html_response(
                    StatusCode::NOT_IMPLEMENTED,
                    "<H1>Could not connect</H1>".into(),
                );
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                r
            }
        }
    }

    async fn forward(
        &self,
        req: Request<Incoming>,
        rest: &str,
        meta: &ConnMeta,
    ) -> Result<Response<Body>, String> {
        let (mut parts, body) = req.into_parts();
        let mut target = format!("{}{}", self.path, rest);
        if target.is_empty() {
            target.push('/');
        }
        if let Some(q) = parts.uri.query().filter(|q| !q.is_empty()) {
            target.push('?');
            target.push_str(q);
        }
        let headers = &mut parts.headers;
        let original_host = headers.get(header::HOST).cloned();
        for h in HOP_BY_HOP {
            headers.remove(*h);
        }
        let host = if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        };
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&host).map_err(|e| e.to_string())?,
        );
        if let Some(h) = original_host {
            headers.insert("x-forwarded-host", h);
        }
        if let Some(ip) = super::bridge::peer_ip(&meta.peer)
            && let Ok(v) = HeaderValue::from_str(&ip.to_string())
        {
            headers.insert("x-forwarded-for", v.clone());
            headers.insert("x-real-ip", v);
        }
        headers.insert("x-forwarded-port", self.forwarded_port.clone());
        headers.insert("x-forwarded-proto", self.forwarded_proto.clone());
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        parts.uri = target
            .parse()
            .map_err(|e| format!("target {target}: {e}"))?;
        parts.version = http::Version::HTTP_11;
        let upstream = Request::from_parts(parts, body);

        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "reverse proxy: upstream connection ended with an error");
            }
        });
        let resp = sender
            .send_request(upstream)
            .await
            .map_err(|e| e.to_string())?;
        let (mut parts, body) = resp.into_parts();
        for h in HOP_BY_HOP {
            parts.headers.remove(*h);
        }
        let body = body.map_err(std::io::Error::other).boxed_unsync();
        Ok(Response::from_parts(parts, body))
    }
}
