//! Connecting by URL (`ws://`, `wss://`, `rs://host:port`, `unix:/path`): URL parsing, and the
//! seam through which the transport module's client wires plug in.
//!
//! The client does no framing of its own: a [`Dialer`] opens a RawSocket or WebSocket
//! connection and hands back its [`WireRead`]/[`WireWrite`] halves, on which
//! [`Session::join_wire`] runs. [`connect`] uses the transport module's clients
//! ([`TransportDialer`](super::dial::TransportDialer)); [`connect_with`] takes any dialer.

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;

use crate::codec::Codec;
use crate::transport::wire::{WireRead, WireWrite};

use super::Session;
use super::error::ClientError;
use super::options::JoinOptions;

/// Where to connect, from a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `ws://host[:port]/path` or `wss://…` (the URL is kept whole for the HTTP upgrade).
    WebSocket { url: String, tls: bool },
    /// `rs://host:port` (also `rawsocket://`): RawSocket over TCP.
    RawSocket { host: String, port: u16 },
    /// `unix:/path` (also `unix:///path`): RawSocket over a Unix socket.
    Unix { path: PathBuf },
}

fn bad(url: &str, why: &str) -> ClientError {
    ClientError::Connect(format!("invalid URL \"{url}\": {why}"))
}

impl FromStr for Endpoint {
    type Err = ClientError;

    fn from_str(url: &str) -> Result<Self, ClientError> {
        if let Some(rest) = url.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad(url, "no socket path"));
            }
            return Ok(Endpoint::Unix { path: path.into() });
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(url, "expected scheme://"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(bad(url, "no host"));
        }
        match scheme {
            "ws" | "wss" => Ok(Endpoint::WebSocket {
                url: url.to_owned(),
                tls: scheme == "wss",
            }),
            "rs" | "rawsocket" => {
                if authority.len() != rest.len() {
                    return Err(bad(url, "a RawSocket URL has no path"));
                }
                let (host, port) = authority
                    .rsplit_once(':')
                    .ok_or_else(|| bad(url, "a RawSocket URL needs a port"))?;
                let port: u16 = port.parse().map_err(|_| bad(url, "invalid port"))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() {
                    return Err(bad(url, "no host"));
                }
                Ok(Endpoint::RawSocket {
                    host: host.to_owned(),
                    port,
                })
            }
            other => Err(bad(url, &format!("unknown scheme \"{other}\""))),
        }
    }
}

/// Opens a client wire to an endpoint: implemented by the transport module's RawSocket and
/// WebSocket clients. `codec` is the preferred serializer; the result says which one the
/// handshake settled on.
pub trait Dialer: Send + Sync {
    type Reader: WireRead;
    type Writer: WireWrite;
    fn dial(
        &self,
        endpoint: &Endpoint,
        codec: Codec,
    ) -> impl Future<Output = Result<(Codec, Self::Reader, Self::Writer), ClientError>> + Send;
}

/// Connects to `url` with `dialer` and joins.
pub async fn connect_with<D: Dialer>(
    dialer: &D,
    url: &str,
    codec: Codec,
    opts: JoinOptions,
) -> Result<Session, ClientError> {
    let endpoint: Endpoint = url.parse()?;
    let (codec, reader, writer) = dialer.dial(&endpoint, codec).await?;
    Session::join_wire(codec, reader, writer, opts).await
}

/// Connects to `url` and joins, with the built-in client transports (WebSocket with their
/// default options, RawSocket over TCP or a Unix socket).
pub async fn connect(url: &str, codec: Codec, opts: JoinOptions) -> Result<Session, ClientError> {
    connect_with(&super::dial::TransportDialer::default(), url, codec, opts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            "ws://127.0.0.1:8080/ws".parse::<Endpoint>().unwrap(),
            Endpoint::WebSocket {
                url: "ws://127.0.0.1:8080/ws".into(),
                tls: false
            }
        );
        assert!(matches!(
            "wss://master.example.com/ws".parse::<Endpoint>().unwrap(),
            Endpoint::WebSocket { tls: true, .. }
        ));
        assert_eq!(
            "rs://localhost:8081".parse::<Endpoint>().unwrap(),
            Endpoint::RawSocket {
                host: "localhost".into(),
                port: 8081
            }
        );
        assert_eq!(
            "rs://[::1]:8081".parse::<Endpoint>().unwrap(),
            Endpoint::RawSocket {
                host: "::1".into(),
                port: 8081
            }
        );
        assert_eq!(
            "unix:/tmp/node.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix {
                path: "/tmp/node.sock".into()
            }
        );
        assert_eq!(
            "unix:///tmp/node.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix {
                path: "/tmp/node.sock".into()
            }
        );
        for bad in [
            "",
            "unix:",
            "ws://",
            "http://x",
            "rs://host",
            "rs://host:x",
            "rs://host:1/p",
            "rs://:80",
            "localhost:80",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }
}
