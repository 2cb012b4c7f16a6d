//! Transports: how bytes become WAMP sessions.
//!
//! [`wire`] is the seam every transport implements. [`rawsocket`] and [`websocket`] (with the
//! client in [`ws_client`]) frame messages over any byte stream; [`listener::start_transport`]
//! runs a configured `websocket`, `rawsocket`, `web` or `universal` transport ([`config`]) on a
//! TCP or Unix endpoint, optionally with TLS ([`tls`]).

pub mod config;
mod conn;
pub mod endpoint;
pub mod io;
pub mod listener;
mod mqtt;
pub mod rawsocket;
pub mod tls;
mod universal;
pub mod web;
pub mod websocket;
pub mod wire;
pub mod ws_client;
pub mod ws_deflate;
mod ws_guard;

pub use config::{TransportConfig, WebService};
pub use endpoint::ListenAddr;
pub use listener::{
    AuthenticatorFactory, RunningTransport, TransportContext, TransportError, start_transport,
};
pub use web::NodeInfoSource;
