//! Web transport: an HTTP/1.1 server (hyper) that routes each request by its first path
//! segment to a service, like Crossbar.io's Twisted Web resource tree: `paths["ws"]` serves
//! `/ws` (and everything below it), `paths["/"]` serves whatever no other path claims, and a
//! `path` service nests the same lookup one level down. One module per service type.

mod archive;
mod bridge;
mod cgi;
mod json;
mod longpoll;
mod nodeinfo;
mod redirect;
mod reverseproxy;
mod static_files;
mod wap;
mod wsproxy;
mod wsresource;

pub use nodeinfo::NodeInfoSource;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::RwLock;
use percent_encoding::percent_decode_str;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{debug, info};

use crate::transport::config::{WebOptions, WebService, valid_path_key};
use crate::transport::conn::{Shared, WsEndpoint};
use crate::transport::io::BoxedIo;
use crate::transport::listener::{Env, TransportError};

/// The body type of every response.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Time an idle keep-alive connection may take to send its next request's headers.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn text_response(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", text.into())
}

pub(crate) fn html_response(status: StatusCode, html: String) -> Response<Body> {
    respond(status, "text/html; charset=utf-8", html)
}

pub(crate) fn method_not_allowed() -> Response<Body> {
    let mut r = text_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// A small HTML page (the 404 page, status pages).
pub(crate) fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 12px;text-align:left}}</style>\
         </head><body><h1>{t}</h1>{body_html}</body></html>\n",
        t = escape_html(title)
    )
}

pub(crate) fn not_found(path: &str) -> Response<Body> {
    let body = format!("<p>No resource at <code>{}</code>.</p>", escape_html(path));
    html_response(StatusCode::NOT_FOUND, page("404 - Not Found", &body))
}

pub(crate) fn escape_html(s: &str) -> String {
    escape_html_quoting(s, "&quot;")
}

/// HTML escaping of `&`, `<`, `>`, `'` and `"` (as `quot`: Jinja2's markupsafe writes
/// `&#34;`, Python's `html.escape` `&quot;`).
pub(crate) fn escape_html_quoting(s: &str, quot: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str(quot),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Crossbar.io's `set_cross_origin_headers`: allow the requesting origin with credentials.
pub(crate) fn set_cors(req: &HeaderMap, resp: &mut HeaderMap) {
    let origin = match req.get(header::ORIGIN) {
        Some(o) if o.as_bytes() != b"null" => o.clone(),
        _ => HeaderValue::from_static("*"),
    };
    resp.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    resp.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    if let Some(h) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        resp.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
    }
}

/// What serves a path.
#[derive(Clone)]
pub(crate) enum Resource {
    WebSocket(Arc<WsEndpoint>),
    Static(Arc<static_files::StaticDir>),
    NodeInfo(Arc<nodeinfo::NodeInfoPage>),
    Redirect(Arc<redirect::Redirect>),
    Json(Arc<json::JsonDoc>),
    Bridge(Arc<bridge::Bridge>),
    LongPoll(Arc<longpoll::LongPoll>),
    ReverseProxy(Arc<reverseproxy::ReverseProxy>),
    WsProxy(Arc<wsproxy::WsReverseProxy>),
    Archive(Arc<archive::Archive>),
    Cgi(Arc<cgi::Cgi>),
    Wap(Arc<wap::Wap>),
    Nested(Arc<Routes>),
    NotFound,
}

/// One level of the path tree: the services by path segment, and the root for the rest.
#[derive(Clone)]
pub(crate) struct Routes {
    root: Resource,
    children: HashMap<String, Resource>,
}

impl Routes {
    pub fn not_found() -> Self {
        Routes {
            root: Resource::NotFound,
            children: HashMap::new(),
        }
    }

    /// Sets the service of `path` (`/` is the root).
    pub fn insert(&mut self, path: &str, r: Resource) {
        if path == "/" {
            self.root = r;
        } else {
            self.children.insert(path.to_owned(), r);
        }
    }

    fn has(&self, path: &str) -> bool {
        if path == "/" {
            !matches!(self.root, Resource::NotFound)
        } else {
            self.children.contains_key(path)
        }
    }

    /// Finds the resource for a request path: (resource, the path prefix it is mounted at,
    /// the rest of the path).
    fn route(&self, path: &str) -> (Resource, String, String) {
        let mut routes = self;
        let mut prefix = String::new();
        let mut rest = path;
        loop {
            let trimmed = rest.strip_prefix('/').unwrap_or(rest);
            let (seg, after) = match trimmed.find('/') {
                Some(i) => (&trimmed[..i], &trimmed[i..]),
                None => (trimmed, ""),
            };
            let child = if seg.is_empty() {
                None
            } else {
                let name = percent_decode_str(seg).decode_utf8_lossy();
                routes.children.get(name.as_ref())
            };
            let (found, consumed) = match child {
                Some(c) => (c, true),
                None => (&routes.root, false),
            };
            if consumed {
                prefix.push('/');
                prefix.push_str(seg);
                rest = after;
            }
            // Each step goes one level deeper into a finite tree, so the loop ends.
            match found {
                Resource::Nested(inner) => routes = inner,
                other => return (other.clone(), prefix, rest.to_owned()),
            }
        }
    }
}

/// Fetches what the services of `paths` need before they can be built: the missing archives
/// of `archive` services with `download`.
pub(crate) async fn prepare_routes(
    paths: &BTreeMap<String, WebService>,
    base_dir: &std::path::Path,
    at: &str,
) -> Result<(), TransportError> {
    for (key, service) in paths {
        let label = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}/{key}")
        };
        prepare_service(&label, service, base_dir).await?;
    }
    Ok(())
}

pub(crate) async fn prepare_service(
    label: &str,
    service: &WebService,
    base_dir: &std::path::Path,
) -> Result<(), TransportError> {
    match service {
        WebService::Archive(c) => archive::Archive::fetch(c, base_dir, label).await,
        WebService::Path(p) => Box::pin(prepare_routes(&p.paths, base_dir, label)).await,
        _ => Ok(()),
    }
}

/// Builds the resource tree of `paths`; `at` is the enclosing path for error messages.
pub(crate) fn build_routes(
    paths: &BTreeMap<String, WebService>,
    env: &Env,
    at: &str,
) -> Result<Routes, TransportError> {
    let mut routes = Routes::not_found();
    for (key, service) in paths {
        let label = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}/{key}")
        };
        routes.insert(key, build_resource(&label, service, env)?);
    }
    Ok(routes)
}

fn build_resource(
    label: &str,
    service: &WebService,
    env: &Env,
) -> Result<Resource, TransportError> {
    Ok(match service {
        WebService::WebSocket(c) => {
            Resource::WebSocket(Arc::new(env.ws_endpoint(c, &format!("paths.{label}."))?))
        }
        WebService::Static(c) => Resource::Static(Arc::new(static_files::StaticDir::new(
            c,
            &env.base_dir,
            label,
        )?)),
        WebService::NodeInfo(_) => {
            Resource::NodeInfo(Arc::new(nodeinfo::NodeInfoPage::new(env.node_info.clone())))
        }
        WebService::Redirect(c) => Resource::Redirect(Arc::new(redirect::Redirect::new(c, label)?)),
        WebService::Json(c) => Resource::Json(Arc::new(json::JsonDoc::new(c))),
        WebService::Path(p) => Resource::Nested(Arc::new(build_routes(&p.paths, env, label)?)),
        WebService::Publisher(c) => {
            Resource::Bridge(Arc::new(bridge::Bridge::publisher(c, &env.router, label)?))
        }
        WebService::Caller(c) => {
            Resource::Bridge(Arc::new(bridge::Bridge::caller(c, &env.router, label)?))
        }
        WebService::Webhook(c) => {
            Resource::Bridge(Arc::new(bridge::Bridge::webhook(c, &env.router, label)?))
        }
        WebService::LongPoll(c) => Resource::LongPoll(Arc::new(longpoll::LongPoll::new(
            c,
            env.authenticator(&None, label)?,
        ))),
        WebService::ReverseProxy(c) => {
            Resource::ReverseProxy(Arc::new(reverseproxy::ReverseProxy::new(c)))
        }
        WebService::WebSocketReverseProxy(c) => {
            Resource::WsProxy(Arc::new(wsproxy::WsReverseProxy::new(c)))
        }
        WebService::Archive(c) => {
            Resource::Archive(Arc::new(archive::Archive::new(c, &env.base_dir, label)?))
        }
        WebService::Cgi(c) => Resource::Cgi(Arc::new(cgi::Cgi::new(c, &env.base_dir))),
        WebService::Wap(c) => Resource::Wap(Arc::new(wap::Wap::new(
            c,
            &env.base_dir,
            &env.router,
            label,
        )?)),
        WebService::None => Resource::NotFound,
        WebService::Unsupported { kind, .. } => {
            return Err(TransportError::UnsupportedService {
                path: label.to_owned(),
                kind: kind.clone(),
            });
        }
    })
}

/// Facts about the HTTP connection a request arrived on.
#[derive(Clone)]
pub(crate) struct ConnMeta {
    pub peer: Arc<str>,
    pub tls: crate::transport::conn::TlsFacts,
    /// The connection's slot under `max_connections`, shared with upgraded WebSockets so a
    /// connection counts until its last user ends.
    pub permit: Arc<OwnedSemaphorePermit>,
}

impl ConnMeta {
    pub fn new(
        peer: String,
        tls: crate::transport::conn::TlsFacts,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        ConnMeta {
            peer: peer.into(),
            tls,
            permit: Arc::new(permit),
        }
    }
}

/// A Web transport's (or Universal transport's) HTTP side.
pub(crate) struct WebState {
    /// Copy-on-write: requests clone the `Arc`, service changes swap it.
    routes: RwLock<Arc<Routes>>,
    options: WebOptions,
    env: Arc<Env>,
    shared: Arc<Shared>,
}

impl WebState {
    pub fn new(
        routes: Routes,
        options: WebOptions,
        env: Arc<Env>,
        shared: Arc<Shared>,
    ) -> Arc<Self> {
        Arc::new(WebState {
            routes: RwLock::new(Arc::new(routes)),
            options,
            env,
            shared,
        })
    }

    pub async fn start_service(
        &self,
        path: &str,
        service: &WebService,
    ) -> Result<(), TransportError> {
        if !valid_path_key(path) {
            return Err(TransportError::Invalid {
                location: format!("path \"{path}\""),
                message: "must be \"/\" or match [a-z0-9A-Z_-]+".into(),
            });
        }
        prepare_service(path, service, &self.env.base_dir).await?;
        let resource = build_resource(path, service, &self.env)?;
        let mut guard = self.routes.write();
        if guard.has(path) {
            return Err(TransportError::ServiceExists(path.to_owned()));
        }
        let mut next = (**guard).clone();
        next.insert(path, resource);
        *guard = Arc::new(next);
        Ok(())
    }

    pub fn stop_service(&self, path: &str) -> Result<(), TransportError> {
        let mut guard = self.routes.write();
        if !guard.has(path) {
            return Err(TransportError::NoSuchService(path.to_owned()));
        }
        let mut next = (**guard).clone();
        if path == "/" {
            next.root = Resource::NotFound;
        } else {
            next.children.remove(path);
        }
        *guard = Arc::new(next);
        Ok(())
    }

    pub fn paths(&self) -> Vec<String> {
        let routes = self.routes.read().clone();
        let mut v: Vec<String> = routes.children.keys().cloned().collect();
        if routes.has("/") {
            v.push("/".into());
        }
        v.sort();
        v
    }

    async fn handle(&self, req: Request<Incoming>, meta: &ConnMeta) -> Response<Body> {
        let routes = self.routes.read().clone();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let (resource, prefix, rest) = routes.route(&path);
        let mut resp = match resource {
            Resource::WebSocket(ep) => wsresource::handle(req, &ep, meta, &self.shared),
            Resource::Static(s) => s.handle(req, prefix, rest).await,
            Resource::NodeInfo(n) => n.handle(&req, meta).await,
            Resource::Redirect(r) => r.handle(&req),
            Resource::Json(j) => j.handle(&req),
            Resource::Bridge(b) => b.handle(req, meta).await,
            Resource::LongPoll(lp) => lp.handle(req, &rest, meta, &self.shared).await,
            Resource::ReverseProxy(p) => p.handle(req, &rest, meta).await,
            Resource::WsProxy(p) => p.handle(req, &self.shared).await,
            Resource::Archive(a) => a.handle(&req, &rest).await,
            Resource::Cgi(c) => c.handle(req, &prefix, &rest, meta).await,
            Resource::Wap(w) => w.handle(req, &rest).await,
            Resource::Nested(_) | Resource::NotFound => not_found(&path),
        };
        if self.options.hsts && meta.tls.secure {
            let age = self.options.hsts_max_age.unwrap_or(31_536_000);
            if let Ok(v) = HeaderValue::from_str(&format!("max-age={age}")) {
                resp.headers_mut()
                    .insert(header::STRICT_TRANSPORT_SECURITY, v);
            }
        }
        if self.options.access_log {
            info!(peer = %meta.peer, %method, %path, status = resp.status().as_u16(), "http request");
        }
        resp
    }
}

/// Serves HTTP/1.1 on a connection until it closes, an upgrade takes it over, or the transport
/// stops.
pub(crate) async fn serve_http(io: BoxedIo, meta: ConnMeta, state: Arc<WebState>) {
    let shutdown = state.shared.shutdown.clone();
    let timeout = state
        .options
        .client_timeout
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_HEADER_TIMEOUT);
    let svc_state = state.clone();
    let svc_meta = meta.clone();
    let service = service_fn(move |req| {
        let state = svc_state.clone();
        let meta = svc_meta.clone();
        async move { Ok::<_, Infallible>(state.handle(req, &meta).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                debug!(peer = %meta.peer, error = %e, "http connection ended with an error");
            }
        }
        // Stopping the transport drops the connection (and so closes it).
        _ = shutdown.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        let mut inner = Routes::not_found();
        inner.insert("b", Resource::Json(Arc::new(json::JsonDoc::for_test("b"))));
        inner.insert(
            "/",
            Resource::Json(Arc::new(json::JsonDoc::for_test("inner-root"))),
        );
        let mut r = Routes::not_found();
        r.insert(
            "/",
            Resource::Json(Arc::new(json::JsonDoc::for_test("root"))),
        );
        r.insert(
            "ws",
            Resource::Json(Arc::new(json::JsonDoc::for_test("ws"))),
        );
        r.insert("a", Resource::Nested(Arc::new(inner)));
        r
    }

    fn name(r: &Resource) -> String {
        match r {
            Resource::Json(j) => j.test_name(),
            Resource::NotFound => "404".into(),
            _ => "?".into(),
        }
    }

    #[test]
    fn routing() {
        let r = routes();
        for (path, want, prefix, rest) in [
            ("/", "root", "", "/"),
            ("/index.html", "root", "", "/index.html"),
            ("/ws", "ws", "/ws", ""),
            ("/ws/x/y", "ws", "/ws", "/x/y"),
            ("/%77s", "ws", "/%77s", ""),
            ("/a/b/c", "b", "/a/b", "/c"),
            ("/a/", "inner-root", "/a", "/"),
            ("/a", "inner-root", "/a", ""),
            ("/a/zzz", "inner-root", "/a", "/zzz"),
            ("/wsx", "root", "", "/wsx"),
        ] {
            let (res, p, rest_got) = r.route(path);
            assert_eq!(
                (name(&res).as_str(), p.as_str(), rest_got.as_str()),
                (want, prefix, rest),
                "{path}"
            );
        }
        let (res, _, _) = Routes::not_found().route("/x");
        assert_eq!(name(&res), "404");
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
