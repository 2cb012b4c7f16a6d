//! Opening the uplink session: WebSocket (`ws://`, or `wss://` with rustls: public roots plus
//! the optional CA file) through router-core's dialer, offering the serializers the real
//! master picks from (CBOR, MessagePack, JSON; batched and plain), then the cryptosign join.

use std::time::Duration;

use router_core::client::{ClientError, DialOptions, Session, TransportDialer, connect_with};
use router_core::codec::Codec;
use router_core::transport::ws_client::WsClientOptions;

use super::auth;
use super::target::UplinkTarget;
use crate::keys::NodeKey;

/// Pings keep NAT and proxies from dropping an idle uplink and find a dead master; the real
/// master pings every 10 s too.
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Largest message accepted from the master (uploaded configs can be big).
const MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Dialer settings for `target`.
pub fn dial_options(target: &UplinkTarget) -> DialOptions {
    let websocket = WsClientOptions {
        protocols: vec![
            (Codec::Cbor, true),
            (Codec::Cbor, false),
            (Codec::MsgPack, true),
            (Codec::MsgPack, false),
            (Codec::Json, true),
            (Codec::Json, false),
        ],
        extra_ca_file: target.ca_file.clone(),
        max_message_size: Some(MAX_MESSAGE_SIZE),
        auto_ping_interval: Some(PING_INTERVAL),
        connect_timeout: target.connect_timeout,
        headers: Vec::new(),
    };
    DialOptions {
        websocket,
        connect_timeout: target.connect_timeout,
        ..DialOptions::default()
    }
}

/// Connects to the master and joins as the node.
pub async fn open(target: &UplinkTarget, key: &NodeKey) -> Result<Session, ClientError> {
    let dialer = TransportDialer::new(dial_options(target));
    let opts = auth::join_options(key, target.connect_timeout.max(Duration::from_secs(10)));
    connect_with(&dialer, &target.url, Codec::Cbor, opts).await
}
