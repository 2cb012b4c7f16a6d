//! `websocket-reverseproxy` service: relays a WebSocket connection to a backend WebSocket
//! server, as Crossbar.io's does. The backend is connected first, offered the client's
//! subprotocols; the client's handshake is answered with the backend's choice. Messages are
//! relayed whole, text and binary kept; a close on either side closes the other (code
//! 1000, the reason passed on). A backend that cannot be reached answers 503.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, frame::coding::CloseCode};
use tracing::debug;

use super::wsresource::{has_token, switching_protocols};
use super::{Body, text_response};
use crate::transport::config::WebSocketReverseProxyConfig;
use crate::transport::conn::Shared;

/// Time to connect to the backend and finish its handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct WsReverseProxy {
    host: String,
    port: u16,
    url: String,
    timeout: Duration,
}

impl WsReverseProxy {
    pub(crate) fn new(c: &WebSocketReverseProxyConfig) -> WsReverseProxy {
        let b = &c.backend;
        WsReverseProxy {
            host: b.endpoint.host.clone(),
            port: b.endpoint.port,
            url: b.url.clone(),
            timeout: b
                .endpoint
                .timeout
                .map(Duration::from_secs)
                .unwrap_or(CONNECT_TIMEOUT),
        }
    }

    pub(crate) async fn handle(
        &self,
        mut req: Request<Incoming>,
        shared: &Arc<Shared>,
    ) -> Response<Body> {
        let upgrade = has_token(req.headers(), header::UPGRADE, "websocket");
        if !upgrade || req.method() != Method::GET {
            let mut r = text_response(StatusCode::UPGRADE_REQUIRED, "This is a WebSocket proxy.\n");
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            return r;
        }
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return text_response(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
        };
        let offered = req.headers().get(header::SEC_WEBSOCKET_PROTOCOL).cloned();
        let backend = match self.connect_backend(offered).await {
            Ok(b) => b,
            Err(e) => {
                debug!(backend = %self.url, error = %e, "websocket reverse proxy: backend not reachable");
                return text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "WebSocket reverse proxy backend not reachable\n",
                );
            }
        };
        let (backend, chosen) = backend;
        let on_upgrade = hyper::upgrade::on(&mut req);
        let sh = shared.clone();
        shared.tracker.spawn(async move {
            let upgraded = tokio::select! {
                _ = sh.shutdown.cancelled() => return,
                r = on_upgrade => r,
            };
            let Ok(upgraded) = upgraded else { return };
            let front =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            tokio::select! {
                _ = sh.shutdown.cancelled() => {}
                _ = relay(front, backend) => {}
            }
        });
        switching_protocols(&key, chosen)
    }

    /// The backend's WebSocket and the subprotocol it chose.
    async fn connect_backend(
        &self,
        offered: Option<HeaderValue>,
    ) -> Result<(WebSocketStream<tokio::net::TcpStream>, Option<HeaderValue>), String> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        if let Some(p) = offered {
            request
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        let connect = async {
            let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| e.to_string())?;
            tokio_tungstenite::client_async(request, stream)
                .await
                .map_err(|e| e.to_string())
        };
        let (ws, resp) = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| "timed out".to_owned())??;
        let chosen = resp.headers().get(header::SEC_WEBSOCKET_PROTOCOL).cloned();
        Ok((ws, chosen))
    }
}

/// Relays whole messages both ways until either side closes.
async fn relay<A, B>(front: WebSocketStream<A>, back: WebSocketStream<B>)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut front_tx, mut front_rx) = front.split();
    let (mut back_tx, mut back_rx) = back.split();
    let close_with = |frame: Option<CloseFrame>| {
        Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: frame.map(|f| f.reason).unwrap_or_default(),
        }))
    };
    loop {
        tokio::select! {
            m = front_rx.next() => match m {
                Some(Ok(Message::Close(f))) => {
                    let _ = back_tx.send(close_with(f)).await;
                    break;
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if back_tx.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {} // ping and pong are each leg's own
                _ => {
                    let _ = back_tx.send(close_with(None)).await;
                    break;
                }
            },
            m = back_rx.next() => match m {
                Some(Ok(Message::Close(f))) => {
                    let _ = front_tx.send(close_with(f)).await;
                    break;
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if front_tx.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    let _ = front_tx.send(close_with(None)).await;
                    break;
                }
            },
        }
    }
    let _ = front_tx.close().await;
    let _ = back_tx.close().await;
}
