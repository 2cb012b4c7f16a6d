//! A native crossbar-edge component (`type: exec`), written with router-core's client session.
//!
//! It registers `<prefix>.echo` (answers with its arguments) and publishes
//! `<prefix>.heartbeat(n)` every second. `<prefix>` is the first argument (default
//! `com.example`). It speaks WAMP over RawSocket on stdin/stdout, unless the worker handed it a
//! URL (`CROSSBAR_ROUTER_URL`: `rs://host:port`, `unix:/path`, `ws://…`) with
//! `CROSSBAR_REALM`, `CROSSBAR_AUTHID` and `CROSSBAR_TICKET`. It ends when its session does
//! (the worker's GOODBYE) or on SIGTERM (it leaves first). Its log goes to stderr.
#![forbid(unsafe_code)]

use std::time::Duration;

use router_core::client::{JoinOptions, PublishOptions, RegisterOptions, Session};
use router_core::transport::{rawsocket, ws_client};
use router_core::value::{Dict, Value};
use router_core::{Codec, Payload};
use tokio::net::{TcpStream, UnixStream};
use tokio::signal::unix::{SignalKind, signal};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let prefix = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "com.example".to_owned());
    if let Err(e) = run(&prefix).await {
        eprintln!("echo-component: {e}");
        std::process::exit(1);
    }
}

fn join_options() -> JoinOptions {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut opts = JoinOptions {
        realm: env("CROSSBAR_REALM"),
        authid: env("CROSSBAR_AUTHID"),
        ..Default::default()
    };
    if let Some(ticket) = env("CROSSBAR_TICKET") {
        opts.authmethods = vec!["ticket".into()];
        opts = opts.on_challenge(move |method, _| {
            if method == "ticket" {
                Ok(ticket.clone())
            } else {
                Err(format!("no credentials for a {method} challenge"))
            }
        });
    }
    opts
}

async fn join() -> Result<Session, BoxError> {
    let opts = join_options();
    let codec = std::env::var("CROSSBAR_SERIALIZER")
        .ok()
        .and_then(|s| Codec::from_name(&s))
        .unwrap_or(Codec::MsgPack);
    let Ok(url) = std::env::var("CROSSBAR_ROUTER_URL") else {
        let c = rawsocket::connect_split(
            tokio::io::stdin(),
            tokio::io::stdout(),
            codec,
            rawsocket::MAX_LENGTH,
        )
        .await?;
        return Ok(Session::join_wire(c.codec, c.reader, c.writer, opts).await?);
    };
    if url.starts_with("ws://") || url.starts_with("wss://") {
        let ws_opts = ws_client::WsClientOptions {
            protocols: vec![(codec, false)],
            ..Default::default()
        };
        let c = ws_client::connect(&url, &ws_opts).await?;
        return Ok(Session::join_wire(c.negotiated.codec, c.reader, c.writer, opts).await?);
    }
    if let Some(path) = url.strip_prefix("unix:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        let s = UnixStream::connect(path).await?;
        let c = rawsocket::connect(s, codec, rawsocket::MAX_LENGTH).await?;
        return Ok(Session::join_wire(c.codec, c.reader, c.writer, opts).await?);
    }
    let addr = url
        .strip_prefix("rs://")
        .or_else(|| url.strip_prefix("rawsocket://"))
        .ok_or_else(|| format!("unsupported router URL \"{url}\""))?;
    let s = TcpStream::connect(addr.trim_end_matches('/')).await?;
    let c = rawsocket::connect(s, codec, rawsocket::MAX_LENGTH).await?;
    Ok(Session::join_wire(c.codec, c.reader, c.writer, opts).await?)
}

async fn run(prefix: &str) -> Result<(), BoxError> {
    let session = join().await?;
    let d = session.details();
    eprintln!(
        "echo-component: joined realm {} as {}/{} (session {})",
        d.realm, d.authid, d.authrole, d.session
    );
    session
        .register(
            &format!("{prefix}.echo"),
            RegisterOptions::default(),
            |inv| async move { Ok(Payload::new(inv.args, inv.kwargs)) },
        )
        .await?;
    eprintln!("echo-component: registered {prefix}.echo");
    let mut term = signal(SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let topic = format!("{prefix}.heartbeat");
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            reason = session.closed() => {
                eprintln!("echo-component: session ended: {} {}", reason.reason, reason.message);
                return Ok(());
            }
            _ = term.recv() => {
                eprintln!("echo-component: SIGTERM, leaving");
                let _ = session.leave("wamp.close.normal").await;
                return Ok(());
            }
            _ = tick.tick() => {
                n += 1;
                session
                    .publish(&topic, vec![Value::from(n)], Dict::new(), PublishOptions::default())
                    .await?;
            }
        }
    }
}
