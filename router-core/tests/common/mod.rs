//! Shared helpers of the client integration tests: a router with realm `realm1` and a few
//! roles, in-process joins with a chosen identity, bounded waits, and an in-memory wire.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::authorization::{Allow, Disclose, Permission, RoleConfig};
use router_core::client::{Event, JoinOptions, Session};
use router_core::transport::wire::{WireError, WireRead, WireWrite};
use router_core::uri::MatchPolicy;
use router_core::{ConnectionInfo, RealmConfig, Router};
use tokio::sync::mpsc;

/// The bound of every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("timed out waiting")
}

fn permission(uri: &str, policy: MatchPolicy) -> Permission {
    Permission {
        id: None,
        uri: uri.into(),
        match_: Some(policy),
        allow: Allow {
            call: true,
            register: true,
            publish: true,
            subscribe: true,
        },
        disclose: Disclose {
            caller: true,
            publisher: true,
        },
        cache: false,
        validate: None,
    }
}

fn role(name: &str, prefix: &str) -> RoleConfig {
    RoleConfig {
        id: None,
        name: name.into(),
        permissions: vec![permission(prefix, MatchPolicy::Prefix)],
        authorizer: None,
        allow_by_default: false,
    }
}

/// A router with realm `realm1`: roles `app` and `app2` may do everything (prefix `""`),
/// `limited` only under `com.allowed.`.
pub fn router() -> Arc<Router> {
    let router = Router::new();
    let mut cfg = RealmConfig::new("realm1");
    cfg.roles = vec![
        role("app", ""),
        role("app2", ""),
        role("limited", "com.allowed."),
    ];
    router.start_realm(cfg).expect("realm starts");
    router
}

/// A connection that welcomes every HELLO as `authid`/`authrole` on `realm1`.
pub fn conn(authid: &str, authrole: &str) -> ConnectionInfo {
    ConnectionInfo {
        transport: Arc::new(TransportInfo::new("test", "local", "test")),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: "realm1".into(),
            authid: Some(authid.into()),
            authrole: authrole.into(),
        }),
    }
}

/// Joins `realm1` in-process as `authid`/`authrole`.
pub async fn join(router: &Arc<Router>, authid: &str, authrole: &str) -> Session {
    bounded(Session::join_local(
        router,
        conn(authid, authrole),
        JoinOptions::realm("realm1"),
    ))
    .await
    .expect("join")
}

/// The next event of a stream, failing the test if none comes within [`WAIT`].
pub async fn next_event(rx: &mut mpsc::Receiver<Event>) -> Event {
    bounded(rx.recv()).await.expect("event stream ended")
}

/// Sends a message on drop: tells a test that a handler's future was dropped (aborted).
pub struct OnDrop(pub mpsc::Sender<&'static str>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.try_send("dropped");
    }
}

/// The reading half of an in-memory wire.
pub struct ChanRead(pub mpsc::Receiver<Bytes>);

impl WireRead for ChanRead {
    async fn read_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        Ok(self.0.recv().await)
    }
}

/// The writing half of an in-memory wire.
pub struct ChanWrite(pub Option<mpsc::Sender<Bytes>>);

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

/// Two connected in-memory wires: (client side, server side).
pub fn wire_pair() -> ((ChanRead, ChanWrite), (ChanRead, ChanWrite)) {
    let (a_tx, a_rx) = mpsc::channel(64);
    let (b_tx, b_rx) = mpsc::channel(64);
    (
        (ChanRead(a_rx), ChanWrite(Some(b_tx))),
        (ChanRead(b_rx), ChanWrite(Some(a_tx))),
    )
}
