//! MQTT 3.1.1 transport: each MQTT connection is a WAMP session on the transport's realm, as
//! in Crossbar.io's MQTT bridge. CONNECT joins (username and password as `ticket`, otherwise
//! `anonymous` with the client id as authid), PUBLISH publishes (QoS 1 and 2 acknowledged
//! once the router accepted it, `retain` kept as the topic's retained event), SUBSCRIBE
//! subscribes (with the retained events), a last will is the session's testament.
//!
//! Packets are parsed and written by rumqttc's MQTT codec (`mqttbytes::v4`); topics are
//! mapped by [`topic`], payloads by [`payload`]. Clean sessions only: a client asking to
//! resume one is refused, as Crossbar.io refuses it. Granted QoS is at most 1.

mod payload;
mod topic;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, PubRel, Publish, SubAck,
    SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{self, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::auth::{Authenticator, TransportInfo};
use crate::client::{
    ClientError, Event, JoinOptions, PublishOptions, Session, SubscribeOptions, Subscription,
};
use crate::dict;
use crate::router::ConnectionInfo;
use crate::transport::config::MqttConfig;
use crate::transport::conn::Shared;
use crate::transport::io::BoxedIo;
use crate::util::RateLimit;
use crate::value::{Dict, List, Value};

pub(crate) use payload::PayloadMapping;

/// The first byte of a CONNECT packet: how a Universal transport recognizes MQTT.
pub(crate) const CONNECT_BYTE: u8 = 0x10;
/// Time a client has to send CONNECT after connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest packet accepted or sent.
const MAX_PACKET_SIZE: usize = 16 * 1024 * 1024;
/// Events waiting to be written to one connection; beyond it new ones are dropped (counted
/// in a warning) so a slow MQTT client never holds up the realm.
const EVENT_QUEUE: usize = 4096;

/// Warnings a misbehaving client can cause (bad payloads, malformed packets), bounded.
static WARN_LOG: RateLimit = RateLimit::new(10);

/// An MQTT endpoint (a `mqtt` transport or a Universal transport's `mqtt` item).
pub(crate) struct MqttEndpoint {
    realm: String,
    mapping: PayloadMapping,
    authenticator: Arc<dyn Authenticator>,
}

impl MqttEndpoint {
    pub fn new(config: &MqttConfig, authenticator: Arc<dyn Authenticator>) -> Self {
        MqttEndpoint {
            realm: config.options.realm.clone(),
            mapping: PayloadMapping::new(&config.options.payload_mapping, &config.options.realm),
            authenticator,
        }
    }
}

/// One event on its way to the MQTT client.
struct Delivery {
    uri: String,
    qos: QoS,
    retained: bool,
    args: List,
    kwargs: Dict,
}

/// The socket of one MQTT connection: packets in, packets out.
struct Wire {
    reader: ReadHalf<BoxedIo>,
    writer: WriteHalf<BoxedIo>,
    inbuf: BytesMut,
    outbuf: BytesMut,
}

impl Wire {
    /// The next packet; `Ok(None)` when the client closed the connection. Cancel-safe: a
    /// partial packet stays in the buffer.
    async fn read(&mut self) -> Result<Option<Packet>, String> {
        loop {
            match Packet::read(&mut self.inbuf, MAX_PACKET_SIZE) {
                Ok(p) => return Ok(Some(p)),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
            match self.reader.read_buf(&mut self.inbuf).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    async fn send(&mut self, packet: Packet) -> Result<(), String> {
        self.outbuf.clear();
        packet
            .write(&mut self.outbuf, MAX_PACKET_SIZE)
            .map_err(|e| e.to_string())?;
        self.writer
            .write_all(&self.outbuf)
            .await
            .map_err(|e| e.to_string())
    }
}

fn warn_client(peer: &str, what: &str, reason: &str) {
    if let Some(suppressed) = WARN_LOG.allow() {
        warn!(%peer, reason, suppressed, "mqtt: {what}");
    }
}

/// Serves one MQTT connection until the client disconnects, the session ends or the
/// transport stops.
pub(crate) async fn serve(
    io: BoxedIo,
    peer: String,
    ep: Arc<MqttEndpoint>,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    let (reader, writer) = tokio::io::split(io);
    let mut wire = Wire {
        reader,
        writer,
        inbuf: BytesMut::with_capacity(1024),
        outbuf: BytesMut::new(),
    };
    let first = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        r = tokio::time::timeout(CONNECT_TIMEOUT, wire.read()) => r,
    };
    let mut connect = match first {
        Ok(Ok(Some(Packet::Connect(c)))) => c,
        Ok(Ok(Some(_))) => {
            return warn_client(&peer, "closing connection", "first packet is not CONNECT");
        }
        Ok(Ok(None)) => return,
        Ok(Err(e)) if e.contains("protocol level") => {
            // MQTT 3.1 or 5: answer as a 3.1.1 server must (MQTT-3.1.2-2).
            let nack = ConnAck::new(ConnectReturnCode::RefusedProtocolVersion, false);
            let _ = wire.send(Packet::ConnAck(nack)).await;
            return warn_client(&peer, "refusing connection", &e);
        }
        Ok(Err(e)) => return warn_client(&peer, "malformed CONNECT", &e),
        Err(_) => return debug!(%peer, "mqtt: no CONNECT in time"),
    };
    let refuse = |why: &str| {
        warn!(%peer, client_id = %connect.client_id, "mqtt: refusing connection: {why}");
        Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::RefusedProtocolVersion,
            false,
        ))
    };
    if !connect.clean_session {
        let nack = refuse("the client asks to resume a session (clean sessions only)");
        let _ = wire.send(nack).await;
        return;
    }
    if connect
        .last_will
        .as_ref()
        .is_some_and(|w| w.qos == QoS::ExactlyOnce)
    {
        let nack = refuse("a last will with QoS 2 (QoS 0 and 1 only)");
        let _ = wire.send(nack).await;
        return;
    }

    let authextra = dict! {
        "mqtt" => Value::Dict(dict! {
            "client_id" => connect.client_id.clone(),
            "will" => connect.last_will.is_some(),
            "will_topic" => connect.last_will.as_ref().map(|w| Value::from(w.topic.clone())).unwrap_or(Value::Null),
        }),
    };
    let mut join = JoinOptions {
        realm: Some(ep.realm.clone()),
        authextra,
        ..Default::default()
    };
    match &connect.login {
        Some(login) if !login.username.is_empty() && !login.password.is_empty() => {
            join.authid = Some(login.username.clone());
            join.authmethods = vec!["ticket".into()];
            let password = login.password.clone();
            join = join.on_challenge(move |_, _| Ok(password.clone()));
        }
        _ => {
            join.authid = Some(connect.client_id.clone());
            join.authmethods = vec!["anonymous".into()];
        }
    }
    let conn = ConnectionInfo {
        transport: Arc::new(TransportInfo::new(
            shared.transport_id.clone(),
            "mqtt",
            peer.clone(),
        )),
        authenticator: ep.authenticator.clone(),
    };
    let session = match Session::join_local(&shared.router, conn, join).await {
        Ok(s) => s,
        Err(e) => {
            let reason = match &e {
                ClientError::Aborted { reason, .. } => reason.as_str(),
                _ => "",
            };
            let code = match reason {
                "wamp.error.not_authorized" | "wamp.error.authentication_failed"
                    if connect.login.is_some() =>
                {
                    ConnectReturnCode::BadUserNamePassword
                }
                "wamp.error.not_authorized"
                | "wamp.error.authentication_failed"
                | "wamp.error.no_auth_method"
                | "wamp.error.no_such_role" => ConnectReturnCode::NotAuthorized,
                _ => ConnectReturnCode::ServiceUnavailable,
            };
            info!(%peer, client_id = %connect.client_id, error = %e, "mqtt: connection refused");
            let _ = wire.send(Packet::ConnAck(ConnAck::new(code, false))).await;
            return;
        }
    };
    if wire
        .send(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            false,
        )))
        .await
        .is_err()
    {
        return;
    }
    shared.sessions.fetch_add(1, Ordering::Relaxed);
    debug!(%peer, client_id = %connect.client_id, session = session.session_id(), "mqtt: connected");

    let mut conn = MqttConnection {
        ep,
        shared,
        session,
        peer,
        subscriptions: HashMap::new(),
        exactly_once: HashSet::new(),
        next_packet_id: 0,
        dropped: Arc::new(AtomicU64::new(0)),
        _permit: permit,
    };
    if let Some(will) = connect.last_will.take() {
        conn.add_testament(will).await;
    }
    let keep_alive = (connect.keep_alive > 0)
        .then(|| Duration::from_millis(u64::from(connect.keep_alive) * 1500));
    conn.run(wire, keep_alive).await;
}

/// An MQTT connection whose WAMP session has joined.
struct MqttConnection {
    ep: Arc<MqttEndpoint>,
    shared: Arc<Shared>,
    session: Session,
    peer: String,
    /// By topic filter: the WAMP subscription and the QoS granted (shared with its handler).
    subscriptions: HashMap<String, (Subscription, Arc<AtomicU8>)>,
    /// QoS 2 packet ids published and not yet released (a resent PUBLISH is not published
    /// again).
    exactly_once: HashSet<u16>,
    next_packet_id: u16,
    /// Events dropped because the connection's queue was full.
    dropped: Arc<AtomicU64>,
    _permit: OwnedSemaphorePermit,
}

/// What to do after a packet.
enum Flow {
    Continue,
    Close,
}

impl MqttConnection {
    async fn run(&mut self, mut wire: Wire, keep_alive: Option<Duration>) {
        let (tx, mut rx) = mpsc::channel::<Delivery>(EVENT_QUEUE);
        let far = Duration::from_secs(86_400 * 365);
        let mut deadline = Instant::now() + keep_alive.unwrap_or(far);
        let shutdown = self.shared.shutdown.clone();
        let session = self.session.clone();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                reason = session.closed() => {
                    debug!(peer = %self.peer, reason = %reason.reason, "mqtt: session ended");
                    break;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    debug!(peer = %self.peer, "mqtt: keep-alive expired");
                    break;
                }
                Some(d) = rx.recv() => {
                    if self.deliver(&mut wire, d).await.is_err() {
                        break;
                    }
                }
                r = wire.read() => match r {
                    Ok(Some(packet)) => {
                        deadline = Instant::now() + keep_alive.unwrap_or(far);
                        match self.handle(&mut wire, packet, &tx).await {
                            Ok(Flow::Continue) => {}
                            Ok(Flow::Close) => break,
                            Err(e) => {
                                warn_client(&self.peer, "closing connection", &e);
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        warn_client(&self.peer, "closing connection on a malformed packet", &e);
                        break;
                    }
                },
            }
        }
        // Without DISCONNECT the testament (the last will) is published as the session goes.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.session.leave("wamp.close.normal"),
        )
        .await;
        let _ = wire.writer.shutdown().await;
    }

    async fn handle(
        &mut self,
        wire: &mut Wire,
        packet: Packet,
        events: &mpsc::Sender<Delivery>,
    ) -> Result<Flow, String> {
        match packet {
            Packet::Publish(p) => {
                let (qos, pkid) = (p.qos, p.pkid);
                let duplicate = qos == QoS::ExactlyOnce && !self.exactly_once.insert(pkid);
                if !duplicate {
                    self.publish(p).await?;
                }
                match qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => wire.send(Packet::PubAck(PubAck::new(pkid))).await?,
                    QoS::ExactlyOnce => wire.send(Packet::PubRec(PubRec::new(pkid))).await?,
                }
            }
            Packet::PubRel(r) => {
                self.exactly_once.remove(&r.pkid);
                wire.send(Packet::PubComp(PubComp::new(r.pkid))).await?;
            }
            // We deliver at QoS 0 or 1 and keep nothing for redelivery (clean sessions).
            Packet::PubAck(_) | Packet::PubComp(_) => {}
            Packet::PubRec(r) => wire.send(Packet::PubRel(PubRel::new(r.pkid))).await?,
            Packet::Subscribe(s) => {
                let mut codes = Vec::with_capacity(s.filters.len());
                for f in s.filters {
                    codes.push(self.subscribe(f.path, f.qos, events).await);
                }
                wire.send(Packet::SubAck(SubAck::new(s.pkid, codes)))
                    .await?;
            }
            Packet::Unsubscribe(u) => {
                for filter in u.topics {
                    if let Some((sub, _)) = self.subscriptions.remove(&filter) {
                        let _ = self.session.unsubscribe(&sub).await;
                    }
                }
                wire.send(Packet::UnsubAck(UnsubAck::new(u.pkid))).await?;
            }
            Packet::PingReq => wire.send(Packet::PingResp).await?,
            Packet::Disconnect => {
                // A clean disconnect discards the last will (MQTT-3.14.4-3).
                let _ = self
                    .session
                    .call_simple("wamp.session.flush_testaments", vec![])
                    .await;
                return Ok(Flow::Close);
            }
            other => return Err(format!("unexpected packet from a client: {other:?}")),
        }
        Ok(Flow::Continue)
    }

    /// PUBLISH → WAMP PUBLISH. A topic with wildcards breaks the protocol (the connection is
    /// closed); a payload the mapping cannot convert, or a publication the router refuses, is
    /// logged and dropped (it is still acknowledged: MQTT 3.1.1 has no negative PUBACK).
    async fn publish(&mut self, p: Publish) -> Result<(), String> {
        if p.topic.contains(['#', '+']) {
            return Err(format!("PUBLISH to a topic filter \"{}\"", p.topic));
        }
        let uri = match topic::name_to_uri(&p.topic) {
            Ok(u) => u,
            Err(e) => {
                warn_client(&self.peer, "PUBLISH dropped", &e);
                return Ok(());
            }
        };
        let router = self.shared.router.clone();
        let inbound = match self
            .ep
            .mapping
            .inbound(&router, &uri, &p.topic, p.payload)
            .await
        {
            Ok(i) => i,
            Err(e) => {
                warn_client(&self.peer, "PUBLISH dropped", &e);
                return Ok(());
            }
        };
        let opts = PublishOptions {
            acknowledge: p.qos != QoS::AtMostOnce,
            exclude_me: false,
            retain: p.retain,
            ..inbound.options
        };
        if let Err(e) = self
            .session
            .publish(&uri, inbound.args, inbound.kwargs, opts)
            .await
        {
            warn_client(&self.peer, "PUBLISH refused by the router", &e.to_string());
        }
        Ok(())
    }

    /// One filter of a SUBSCRIBE; its SUBACK return code.
    async fn subscribe(
        &mut self,
        filter: String,
        qos: QoS,
        events: &mpsc::Sender<Delivery>,
    ) -> SubscribeReasonCode {
        let granted = match qos {
            QoS::AtMostOnce => QoS::AtMostOnce,
            _ => QoS::AtLeastOnce,
        };
        if let Some((_, q)) = self.subscriptions.get(&filter) {
            q.store(granted as u8, Ordering::Relaxed);
            return SubscribeReasonCode::Success(granted);
        }
        let (pattern, match_) = match topic::filter_to_uri(&filter) {
            Ok(m) => m,
            Err(e) => {
                warn_client(&self.peer, "SUBSCRIBE refused", &e);
                return SubscribeReasonCode::Failure;
            }
        };
        let level = Arc::new(AtomicU8::new(granted as u8));
        let (tx, q, dropped, peer) = (
            events.clone(),
            level.clone(),
            self.dropped.clone(),
            self.peer.clone(),
        );
        let exact_uri = pattern.clone();
        let handler = move |ev: Event| {
            let retained = ev.details.get("retained") == Some(&Value::Bool(true));
            let uri = ev
                .topic()
                .map(str::to_owned)
                .unwrap_or_else(|| exact_uri.clone());
            let qos = if q.load(Ordering::Relaxed) == QoS::AtLeastOnce as u8 {
                QoS::AtLeastOnce
            } else {
                QoS::AtMostOnce
            };
            let d = Delivery {
                uri,
                qos,
                retained,
                args: ev.args,
                kwargs: ev.kwargs,
            };
            if tx.try_send(d).is_err() {
                let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(1000) {
                    warn!(%peer, dropped = n, "mqtt: client too slow, events dropped");
                }
            }
        };
        let opts = SubscribeOptions {
            match_,
            get_retained: true,
        };
        match self.session.subscribe(&pattern, opts, handler).await {
            Ok(sub) => {
                self.subscriptions.insert(filter, (sub, level));
                SubscribeReasonCode::Success(granted)
            }
            Err(e) => {
                info!(peer = %self.peer, %filter, error = %e, "mqtt: SUBSCRIBE refused by the router");
                SubscribeReasonCode::Failure
            }
        }
    }

    /// A WAMP event → PUBLISH to the client (dropped with a warning if the mapping cannot
    /// convert it). `Err` only when the connection failed.
    async fn deliver(&mut self, wire: &mut Wire, d: Delivery) -> Result<(), String> {
        let name = topic::uri_to_name(&d.uri);
        let router = self.shared.router.clone();
        let payload = match self
            .ep
            .mapping
            .outbound(&router, &d.uri, &name, d.args, d.kwargs)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                warn_client(&self.peer, "event not delivered", &e);
                return Ok(());
            }
        };
        let mut publish = Publish::new(name, d.qos, Vec::new());
        publish.payload = payload;
        publish.retain = d.retained;
        if d.qos != QoS::AtMostOnce {
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            publish.pkid = self.next_packet_id;
        }
        wire.send(Packet::Publish(publish)).await
    }

    /// The last will becomes the session's testament (`wamp.session.add_testament`), with
    /// its payload mapped as a PUBLISH would be.
    async fn add_testament(&mut self, will: rumqttc::mqttbytes::v4::LastWill) {
        let uri = match topic::name_to_uri(&will.topic) {
            Ok(u) => u,
            Err(e) => return warn_client(&self.peer, "last will ignored", &e),
        };
        let router = self.shared.router.clone();
        let inbound = match self
            .ep
            .mapping
            .inbound(&router, &uri, &will.topic, will.message)
            .await
        {
            Ok(i) => i,
            Err(e) => return warn_client(&self.peer, "last will ignored", &e),
        };
        let args = vec![
            Value::from(uri),
            Value::List(inbound.args),
            Value::Dict(inbound.kwargs),
            Value::Dict(dict! { "retain" => will.retain }),
        ];
        if let Err(e) = self
            .session
            .call_simple("wamp.session.add_testament", args)
            .await
        {
            warn_client(&self.peer, "last will not set", &e.to_string());
        }
    }
}
