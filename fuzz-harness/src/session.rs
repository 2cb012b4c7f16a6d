//! `session_messages`: WAMP messages through a real router session.
//!
//! A fresh `Router` per input with realm `realm1` (roles for every authentication method, a
//! role limited to `com.allowed.`, a store with event history and a call queue), and a peer
//! session already joined over its own wire that registers `com.fuzz.echo` and
//! `com.fuzz.queued` (answering every INVOCATION with a YIELD of its arguments, every
//! INTERRUPT with an ERROR) and subscribes to the prefix `com.fuzz.`. The first octet picks the
//! serializer of the fuzzed session (low two bits) and of the peer (the next two); the rest
//! are the frames the fuzzed session sends ([`crate::support::SEP`] between them), from its
//! first HELLO on, through the transport's authenticator: anonymous, ticket, wampcra,
//! cryptosign and scram are all enabled, so HELLO, CHALLENGE, AUTHENTICATE and every message
//! in every state are reachable.
//!
//! Checked: nothing panics; every frame the router writes to either session decodes with that
//! session's serializer; a HELLO that decodes gets an answer (WELCOME, CHALLENGE or ABORT)
//! before the connection ends; and once the fuzzed session's frames run out (its peer
//! closed), the router ends the connection within a bound instead of keeping it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use router_core::auth::TrustedAuthenticator;
use router_core::auth::config::AuthConfig;
use router_core::auth::config_auth::ConfigAuthenticator;
use router_core::auth::{TransportInfo, cryptosign};
use router_core::transport::wire::{WireError, WireRead, WireWrite};
use router_core::{Codec, ConnectionInfo, Dict, Message, RealmConfig, Router, Value, dict};
use tokio::sync::mpsc;

use crate::support::{CLOSE_BOUND, runtime, split_frames};

pub fn session_messages(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec::ALL[usize::from(ctl & 3)];
    let peer_codec = Codec::ALL[usize::from((ctl >> 2) & 3)];
    let frames: VecDeque<Bytes> = split_frames(rest)
        .into_iter()
        .map(Bytes::copy_from_slice)
        .collect();
    let hello_first = frames
        .front()
        .is_some_and(|f| matches!(codec.decode(f), Ok(Message::Hello { .. })));
    runtime().block_on(async move {
        let router = router();
        let peer = Peer::join(&router, peer_codec).await;
        let written: Written = Arc::default();
        let conn = ConnectionInfo {
            transport: Arc::new(TransportInfo::new(
                "fuzz",
                "websocket",
                "tcp4:127.0.0.1:40000",
            )),
            authenticator: Arc::new(
                ConfigAuthenticator::new(&auth_config(), Arc::downgrade(&router))
                    .expect("the fuzz auth config is valid"),
            ),
        };
        let session = router.serve_wire(
            codec,
            ScriptRead(frames),
            CollectWrite(written.clone()),
            conn,
        );
        tokio::time::timeout(CLOSE_BOUND, session)
            .await
            .expect("the router kept a connection open after its peer closed");
        let written = std::mem::take(&mut *written.lock().expect("not poisoned"));
        let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
        for f in &written {
            match codec.decode(f) {
                Ok(m) if verbose => eprintln!("router -> session: {m:?}"),
                Ok(_) => {}
                Err(e) => panic!("the router wrote a {codec} frame it cannot read: {f:x?}: {e}"),
            }
        }
        if hello_first {
            assert!(
                !written.is_empty(),
                "the router closed the connection without answering its HELLO"
            );
        }
        peer.finish().await;
    });
}

/// The realm of every input.
fn router() -> Arc<Router> {
    let all = |name: &str, prefix: &str| {
        serde_json::json!({"name": name, "permissions": [{
            "uri": prefix, "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
            "disclose": {"caller": true, "publisher": true}, "cache": true
        }]})
    };
    let cfg: RealmConfig = serde_json::from_value(serde_json::json!({
        "name": "realm1",
        "roles": [all("anonymous", ""), all("user", ""), all("frontend", ""), all("device", ""),
                  all("peer", ""), all("limited", "com.allowed.")],
        "store": {"type": "memory", "limit": 3,
                  "event-history": [{"uri": "com.fuzz.", "match": "prefix", "limit": 3}],
                  "call-queue": [{"uri": "com.fuzz.queued", "limit": 2}]}
    }))
    .expect("the fuzz realm config is valid");
    let router = Router::new();
    router.start_realm(cfg).expect("the fuzz realm starts");
    router
}

/// Every static authentication method (secrets as in the seeds, `fuzz/corpus`).
fn auth_config() -> AuthConfig {
    AuthConfig::from_value(serde_json::json!({
        "anonymous": {"type": "static", "role": "anonymous"},
        "ticket": {"type": "static", "principals": {
            "joe": {"ticket": "secret!!!", "role": "user"},
            "limited": {"ticket": "x", "role": "limited"}}},
        "wampcra": {"type": "static", "users": {
            "peter": {"secret": "secret1", "role": "frontend"},
            "salty": {"secret": "L3L1YUE8Txlw", "role": "frontend", "salt": "salt123",
                      "iterations": 10, "keylen": 16}}},
        "cryptosign": {"type": "static", "principals": {
            "dev1": {"role": "device", "authorized_keys": [
                cryptosign::public_key_hex(&signing_key())]}}},
        "scram": {"type": "static", "principals": {
            "scram": {"kdf": "pbkdf2", "iterations": 10, "memory": 1,
                      "salt": "73616c74", "role": "user",
                      "stored-key": "0000000000000000000000000000000000000000000000000000000000000000",
                      "server-key": "1111111111111111111111111111111111111111111111111111111111111111"}}}
    }))
    .expect("the fuzz auth config is valid")
}

/// The key of the cryptosign principal `dev1` (a fixed seed, so seeds can sign with it).
pub(crate) fn signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
}

/// The fuzzed session's incoming side: its frames, one at a time, then the end of stream.
/// Before each it yields, so what the last one set off (an INVOCATION to the peer, its YIELD)
/// happens before the next.
struct ScriptRead(VecDeque<Bytes>);

impl WireRead for ScriptRead {
    async fn read_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        Ok(self.0.pop_front())
    }
}

/// The fuzzed session's outgoing side: every frame the router writes, kept.
type Written = Arc<Mutex<Vec<Bytes>>>;

struct CollectWrite(Written);

impl WireWrite for CollectWrite {
    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(frames);
        Ok(())
    }
    async fn close(&mut self) {}
}

/// A wire of channels (the peer's).
struct ChanRead(mpsc::Receiver<Bytes>);

impl WireRead for ChanRead {
    async fn read_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        Ok(self.0.recv().await)
    }
}

struct ChanWrite(Option<mpsc::Sender<Bytes>>);

impl WireWrite for ChanWrite {
    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        let tx = self
            .0
            .as_ref()
            .ok_or_else(|| WireError::Protocol("closed".into()))?;
        for f in frames {
            tx.send(f.clone())
                .await
                .map_err(|_| WireError::Protocol("peer gone".into()))?;
        }
        Ok(())
    }
    async fn close(&mut self) {
        self.0 = None;
    }
}

/// The joined peer: its connection task and the task answering INVOCATIONs.
struct Peer {
    to_router: mpsc::Sender<Bytes>,
    connection: tokio::task::JoinHandle<()>,
    responder: tokio::task::JoinHandle<()>,
}

impl Peer {
    async fn join(router: &Arc<Router>, codec: Codec) -> Peer {
        let (to_router, router_rx) = mpsc::channel::<Bytes>(1024);
        let (router_tx, mut from_router) = mpsc::channel::<Bytes>(1024);
        let conn = ConnectionInfo {
            transport: Arc::new(TransportInfo::new("peer", "rawsocket", "unix")),
            authenticator: Arc::new(TrustedAuthenticator {
                realm: "realm1".into(),
                authid: Some("peer".into()),
                authrole: "peer".into(),
            }),
        };
        let connection = tokio::spawn(router.serve_wire(
            codec,
            ChanRead(router_rx),
            ChanWrite(Some(router_tx)),
            conn,
        ));
        let send = |m: Message| {
            let tx = to_router.clone();
            async move {
                tx.send(codec.encode(&m)).await.expect("the peer's wire");
            }
        };
        let roles = |names: &[&str]| -> Value {
            Value::Dict(
                names
                    .iter()
                    .map(|n| (n.to_string(), Value::Dict(Dict::new())))
                    .collect(),
            )
        };
        send(Message::Hello {
            realm: Some("realm1".into()),
            details: dict! {"roles" => roles(&["callee", "subscriber"])},
        })
        .await;
        send(Message::Register {
            request: 1,
            options: Dict::new(),
            procedure: "com.fuzz.echo".into(),
        })
        .await;
        send(Message::Register {
            request: 2,
            options: dict! {"concurrency" => 1},
            procedure: "com.fuzz.queued".into(),
        })
        .await;
        send(Message::Subscribe {
            request: 3,
            options: dict! {"match" => "prefix"},
            topic: "com.fuzz.".into(),
        })
        .await;
        // WELCOME, REGISTERED, REGISTERED, SUBSCRIBED.
        for _ in 0..4 {
            let f = from_router.recv().await.expect("the peer joins");
            let m = codec
                .decode(&f)
                .expect("the router's answer to the peer decodes");
            assert!(
                matches!(
                    m,
                    Message::Welcome { .. }
                        | Message::Registered { .. }
                        | Message::Subscribed { .. }
                ),
                "the peer's setup failed: {m:?}"
            );
        }
        let tx = to_router.clone();
        let responder = tokio::spawn(async move {
            while let Some(f) = from_router.recv().await {
                let m = match codec.decode(&f) {
                    Ok(m) => m.into_decoded(),
                    Err(e) => {
                        panic!("the router wrote a {codec} frame the peer cannot read: {f:x?}: {e}")
                    }
                };
                let answer = match m {
                    Message::Invocation {
                        request, payload, ..
                    } => Message::Yield {
                        request,
                        options: Dict::new(),
                        payload,
                    },
                    Message::Interrupt { request, .. } => {
                        Message::error(68, request, "wamp.error.canceled", vec![])
                    }
                    _ => continue,
                };
                if tx.send(codec.encode(&answer)).await.is_err() {
                    break;
                }
            }
        });
        Peer {
            to_router,
            connection,
            responder,
        }
    }

    /// Leaves: the peer's wire ends, and its tasks with it.
    async fn finish(self) {
        self.responder.abort();
        let _ = self.responder.await;
        drop(self.to_router);
        tokio::time::timeout(CLOSE_BOUND, self.connection)
            .await
            .expect("the router kept the peer's connection open after it closed")
            .expect("the peer's connection task");
    }
}
