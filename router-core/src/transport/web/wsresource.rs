//! `websocket` service on a Web path: answers the HTTP upgrade (origin and subprotocol checks,
//! `101 Switching Protocols`), then runs a WAMP session over the upgraded connection on its
//! own task. A plain GET gets a status page (`enable_webstatus`) or `426 Upgrade Required`.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::debug;

use super::{Body, ConnMeta, empty, escape_html, html_response, page, text_response};
use crate::transport::conn::{Shared, WsEndpoint, spawn_session};
use crate::transport::websocket::{self, check_request, header_dict};

pub(crate) fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, "websocket")
}

pub(crate) fn handle(
    mut req: Request<Incoming>,
    ep: &Arc<WsEndpoint>,
    meta: &ConnMeta,
    shared: &Arc<Shared>,
) -> Response<Body> {
    if !is_upgrade(req.headers()) {
        return status_page(ep);
    }
    if req.method() != Method::GET {
        return text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "WebSocket upgrade needs GET\n",
        );
    }
    let version_ok = req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    if !version_ok {
        let mut r = text_response(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version\n",
        );
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return r;
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return text_response(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
    };
    let negotiated = match check_request(req.headers(), &ep.settings) {
        Ok(n) => n,
        Err((status, text)) => return text_response(status, text + "\n"),
    };
    let headers = header_dict(req.headers());
    let (cookie, set_cookie) = websocket::track_cookie(req.headers(), ep.cookies.as_ref());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (ep2, sh, peer, tls, permit) = (
        ep.clone(),
        shared.clone(),
        meta.peer.to_string(),
        meta.tls.clone(),
        meta.permit.clone(),
    );
    shared.tracker.spawn(async move {
        let upgraded = tokio::select! {
            _ = sh.shutdown.cancelled() => return,
            r = tokio::time::timeout(ep2.settings.open_handshake_timeout, on_upgrade) => r,
        };
        let io = match upgraded {
            Ok(Ok(u)) => TokioIo::new(u),
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "websocket upgrade failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "websocket upgrade timed out");
                return;
            }
        };
        let (reader, writer) = websocket::from_upgraded(io, negotiated, &ep2.settings).await;
        // The permit keeps the connection counted under max_connections while it lives.
        spawn_session(
            negotiated.codec,
            reader,
            writer,
            "websocket",
            peer,
            tls,
            Some(headers),
            cookie,
            ep2.authenticator.clone(),
            sh,
            permit,
        );
    });
    let mut r = switching_protocols(&key, negotiated.subprotocol.map(HeaderValue::from_static));
    if let Some(h) = websocket::extensions_header(&negotiated) {
        r.headers_mut().insert(header::SEC_WEBSOCKET_EXTENSIONS, h);
    }
    if let Some(v) = set_cookie {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `101 Switching Protocols` for the WebSocket handshake with `key`, naming `subprotocol`.
pub(crate) fn switching_protocols(
    key: &HeaderValue,
    subprotocol: Option<HeaderValue>,
) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = subprotocol {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    r
}

fn status_page(ep: &WsEndpoint) -> Response<Body> {
    if !ep.settings.enable_webstatus {
        let mut r = text_response(
            StatusCode::UPGRADE_REQUIRED,
            "This is a WebSocket endpoint.\n",
        );
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return r;
    }
    let protocols: Vec<String> = ep
        .settings
        .codecs
        .iter()
        .flat_map(|c| [c.subprotocol(false), c.subprotocol(true)])
        .map(escape_html)
        .collect();
    let body = format!(
        "<p>This is a WAMP-over-WebSocket endpoint. Subprotocols: <code>{}</code>.</p>",
        protocols.join(", ")
    );
    html_response(StatusCode::OK, page("crossbar-edge WebSocket", &body))
}
