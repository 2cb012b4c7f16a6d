//! `wamp-bench`: a WAMP load generator for crossbar-edge and Crossbar.io (see
//! `docs/benchmarks.md`). Each scenario prints a readable summary on stderr and, with
//! `--json`, one JSON object on stdout for `bench/compare.sh`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod conn;
mod echo;
mod fastcodec;
mod hist;
mod mgmt;
mod procfs;
mod pubsub;
mod rpc;
mod sessions;
mod soak;
mod startup;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use router_core::Codec;
use tokio::sync::watch;

use conn::Target;

/// A scenario's result, as printed with `--json`.
pub type Report = serde_json::Value;

/// Timestamps carried in messages: nanoseconds since this process started, offset by 2^60
/// so every serializer encodes them at full width (see `fastcodec::event_timestamp`).
pub fn clock_ns() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    (1u64 << 60) + START.elapsed().as_nanos() as u64
}

/// The router whose CPU time runs measure (`--router-pid`, `--tree`), and the other processes
/// that route with it (`--also-pid`: a cluster's other nodes and its NATS servers).
static ROUTER: OnceLock<(Vec<u32>, bool)> = OnceLock::new();
/// The CPU seconds the router used in the last measured window.
static ROUTER_CPU: Mutex<Option<f64>> = Mutex::new(None);

fn router_cpu_seconds() -> Option<f64> {
    let (pids, tree) = ROUTER.get()?;
    pids.iter().map(|p| procfs::cpu_seconds(*p, *tree)).sum()
}

/// The phases of a timed run, shared by every task of a scenario: results count only while
/// measuring; once stopped, tasks send nothing new and drain.
pub struct Phase {
    state: AtomicU8,
    stop: watch::Sender<bool>,
}

impl Default for Phase {
    fn default() -> Self {
        Phase {
            state: AtomicU8::new(Phase::WARMUP),
            stop: watch::channel(false).0,
        }
    }
}

impl Phase {
    pub const WARMUP: u8 = 0;
    pub const MEASURE: u8 = 1;
    pub const STOP: u8 = 2;

    pub fn get(&self) -> u8 {
        self.state.load(Ordering::Relaxed)
    }

    /// Resolves once the run is stopping.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Warms up, measures for `duration`, stops; returns the measured window. The router's
    /// CPU time over the window is kept for the report (see [`ROUTER`]).
    pub async fn run(&self, warmup: Duration, duration: Duration) -> Duration {
        tokio::time::sleep(warmup).await;
        let cpu = router_cpu_seconds();
        self.state.store(Phase::MEASURE, Ordering::Relaxed);
        let t = Instant::now();
        tokio::time::sleep(duration).await;
        self.state.store(Phase::STOP, Ordering::Relaxed);
        let window = t.elapsed();
        if let (Some(a), Some(b)) = (cpu, router_cpu_seconds()) {
            *ROUTER_CPU.lock().expect("not poisoned") = Some(b - a);
        }
        self.stop.send_replace(true);
        window
    }
}

#[derive(Parser)]
#[command(
    name = "wamp-bench",
    about = "WAMP load generator (crossbar-edge vs Crossbar.io)"
)]
struct Cli {
    /// Router to load: rs://host:port (RawSocket), ws://host:port/path, unix:/path.
    #[arg(long, global = true, default_value = "rs://127.0.0.1:8081")]
    url: Target,
    /// Serializer: msgpack, json or cbor.
    #[arg(long, global = true, default_value = "msgpack", value_parser = parse_codec)]
    serializer: Codec,
    #[arg(long, global = true, default_value = "realm1")]
    realm: String,
    /// Measured seconds (fractions allowed).
    #[arg(long, global = true, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, global = true, default_value_t = 2.0)]
    warmup: f64,
    /// Print the result as one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Runtime worker threads (1: a single-threaded runtime, for a load generator pinned to
    /// one core).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// Every message its own write, as ordinary clients send (autobahn, a browser). Without
    /// it a connection writes everything it has queued at once, as a pipelining client.
    #[arg(long, global = true)]
    unbatched: bool,
    /// The router process: its CPU time over the measured window is reported, with the work
    /// done per router CPU-second (and `sessions` reads its memory).
    #[arg(long, global = true)]
    router_pid: Option<u32>,
    /// With --router-pid: the process and all its descendants.
    #[arg(long, global = true)]
    tree: bool,
    /// With --router-pid: another process that routes with it (a cluster's other nodes and
    /// NATS servers); its CPU time (with --tree, its tree's) is added to the router's.
    #[arg(long, global = true)]
    also_pid: Vec<u32>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N callers x K outstanding calls -> one callee: calls/s and latency percentiles.
    Rpc {
        #[arg(long, default_value_t = 8)]
        callers: usize,
        #[arg(long, default_value_t = 32)]
        outstanding: usize,
        /// Bytes of the string argument each call carries.
        #[arg(long, default_value_t = 16)]
        payload: usize,
        /// Milliseconds each caller waits after a result before its next call (0: none), for
        /// many connections at a low rate each.
        #[arg(long, default_value_t = 0.0)]
        interval_ms: f64,
    },
    /// One caller at a fixed rate: latency percentiles at that load.
    RpcLatency {
        /// Calls per second.
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 16)]
        payload: usize,
    },
    /// One publisher -> M subscribers: events delivered/s and delivery latency.
    Pubsub {
        #[arg(long, default_value_t = 100)]
        subscribers: usize,
        /// Publications allowed undelivered at once.
        #[arg(long, default_value_t = 64)]
        window: usize,
        #[arg(long, default_value_t = 16)]
        payload: usize,
        /// Where subscribers connect (repeatable: spread over them in turn; default --url,
        /// where the publisher connects): another node of a clustered realm.
        #[arg(long)]
        subscriber_url: Vec<Target>,
    },
    /// S idle sessions: router resident memory per session (of --router-pid, --tree).
    Sessions {
        #[arg(long, default_value_t = 10000)]
        count: usize,
        /// Seconds to let memory settle before each reading.
        #[arg(long, default_value_t = 1.0)]
        settle: f64,
    },
    /// Many sessions with mixed RPC and pub/sub for --duration, watching the router
    /// (--router-pid, --tree) for leaks: RSS, descriptors, errors, p99 per sample.
    Soak {
        #[arg(long, default_value_t = 10000)]
        sessions: usize,
        /// Sessions that call (one call in flight each).
        #[arg(long, default_value_t = 100)]
        callers: usize,
        #[arg(long, default_value_t = 100)]
        topics: usize,
        /// Each caller's pause after a result, in milliseconds.
        #[arg(long, default_value_t = 50.0)]
        call_interval_ms: f64,
        /// Publications per second (each to one topic, in turn).
        #[arg(long, default_value_t = 1000.0)]
        publish_rate: f64,
        /// Seconds between samples.
        #[arg(long, default_value_t = 10.0)]
        sample: f64,
        /// The largest RSS growth from the end of the warm-up that passes, in percent.
        #[arg(long, default_value_t = 5.0)]
        max_rss_growth_pct: f64,
    },
    /// Spawns the command after `--` and times it to the first successful WAMP call.
    Startup {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Starts a realm and a transport through the node management API over node.sock.
    Mgmt {
        /// The node directory (its `node.sock` is used).
        #[arg(long)]
        cbdir: PathBuf,
        /// The router worker to use (default: the first router worker of the node).
        #[arg(long)]
        worker: Option<String>,
        /// Port for the transport started through the API (default: a free one).
        #[arg(long)]
        port: Option<u16>,
    },
    /// A bare tokio-tungstenite WebSocket echo server (the limit line's other end).
    EchoServer {
        #[arg(long, default_value = "127.0.0.1:9999")]
        listen: String,
        /// A TCP server that writes back every byte it reads (for rs:// clients), instead of
        /// a WebSocket one.
        #[arg(long)]
        raw: bool,
    },
    /// The limit line: echo round trips per second against `echo-server` (ws:// URL) or
    /// `echo-server --raw` (rs:// URL, RawSocket framing).
    Echo {
        #[arg(long, default_value_t = 8)]
        connections: usize,
        #[arg(long, default_value_t = 32)]
        outstanding: usize,
        #[arg(long, default_value_t = 32)]
        size: usize,
    },
}

fn parse_codec(s: &str) -> Result<Codec, String> {
    match Codec::from_name(s) {
        Some(c) if fastcodec::SPOKEN.contains(&c) => Ok(c),
        _ => Err(format!("unknown serializer \"{s}\" (msgpack, json, cbor)")),
    }
}

fn secs(s: f64) -> Result<Duration> {
    if !(s >= 0.0 && s.is_finite()) {
        bail!("durations must be non-negative seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn run(cli: Cli) -> Result<Option<Report>> {
    let (t, c, realm) = (&cli.url, cli.serializer, cli.realm.as_str());
    let (warmup, duration) = (secs(cli.warmup)?, secs(cli.duration)?);
    if duration.is_zero() {
        bail!("--duration must be positive");
    }
    let rpc_opts = |callers, outstanding, payload, interval_ms: f64| rpc::RpcOpts {
        callers,
        outstanding,
        payload,
        interval: Duration::from_secs_f64(interval_ms.max(0.0) / 1000.0),
        warmup,
        duration,
    };
    Ok(Some(match &cli.scenario {
        Scenario::Rpc {
            callers,
            outstanding,
            payload,
            interval_ms,
        } => {
            if *callers == 0 || *outstanding == 0 {
                bail!("--callers and --outstanding must be at least 1");
            }
            let o = rpc_opts(*callers, *outstanding, *payload, *interval_ms);
            rpc::run_rpc(t, c, realm, &o).await?
        }
        Scenario::RpcLatency { rate, payload } => {
            rpc::run_rpc_latency(t, c, realm, *rate, &rpc_opts(1, 1, *payload, 0.0)).await?
        }
        Scenario::Pubsub {
            subscribers,
            window,
            payload,
            subscriber_url,
        } => {
            let o = pubsub::PubSubOpts {
                subscriber_urls: subscriber_url.clone(),
                subscribers: *subscribers,
                window: (*window).max(1),
                payload: *payload,
                warmup,
                duration,
            };
            pubsub::run_pubsub(t, c, realm, &o).await?
        }
        Scenario::Sessions { count, settle } => {
            let Some(pid) = cli.router_pid else {
                bail!("sessions needs --router-pid");
            };
            sessions::run_sessions(t, c, realm, *count, pid, cli.tree, secs(*settle)?).await?
        }
        Scenario::Soak {
            sessions,
            callers,
            topics,
            call_interval_ms,
            publish_rate,
            sample,
            max_rss_growth_pct,
        } => {
            let Some(router_pid) = cli.router_pid else {
                bail!("soak needs --router-pid");
            };
            let o = soak::SoakOpts {
                sessions: *sessions,
                callers: *callers,
                topics: *topics,
                call_interval: Duration::from_secs_f64(call_interval_ms.max(0.0) / 1000.0),
                publish_rate: *publish_rate,
                warmup,
                duration,
                sample: secs(*sample)?,
                router_pid,
                tree: cli.tree,
                max_rss_growth_pct: *max_rss_growth_pct,
            };
            soak::run_soak(t, c, realm, &o).await?
        }
        Scenario::Startup {
            runs,
            timeout,
            command,
        } => {
            startup::run_startup(
                t,
                c,
                realm,
                (*runs).max(1),
                Duration::from_secs(*timeout),
                command,
            )
            .await?
        }
        Scenario::Mgmt {
            cbdir,
            worker,
            port,
        } => {
            let port = match port {
                Some(p) => *p,
                None => free_port()?,
            };
            mgmt::run_mgmt(&cbdir.join("node.sock"), worker.as_deref(), port).await?
        }
        Scenario::EchoServer { listen, raw } => {
            echo::run_echo_server(listen, *raw).await?;
            return Ok(None);
        }
        Scenario::Echo {
            connections,
            outstanding,
            size,
        } => {
            let o = echo::EchoOpts {
                connections: (*connections).max(1),
                outstanding: (*outstanding).max(1),
                size: *size,
                warmup,
                duration,
            };
            echo::run_echo(t, &o).await?
        }
    }))
}

/// Adds the router's CPU time over the measured window to a report, and the work per router
/// CPU-second (`calls`, `events`, `round_trips` divided by it): the figure that holds even
/// when the load generator, not the router, is what limits the rate.
fn with_router_cpu(mut report: Report) -> Report {
    let Some(cpu) = ROUTER_CPU.lock().expect("not poisoned").take() else {
        return report;
    };
    let Some(obj) = report.as_object_mut() else {
        return report;
    };
    obj.insert("router_cpu_s".into(), cpu.into());
    if let Some(seconds) = obj.get("seconds").and_then(|v| v.as_f64()) {
        obj.insert("router_cpu_share".into(), (cpu / seconds).into());
    }
    for work in ["calls", "events", "round_trips"] {
        if let Some(n) = obj.get(work).and_then(|v| v.as_f64())
            && cpu > 0.0
        {
            obj.insert(format!("{work}_per_cpu_s"), (n / cpu).into());
        }
    }
    report
}

fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    conn::set_unbatched(cli.unbatched);
    if let Some(pid) = cli.router_pid {
        let mut pids = vec![pid];
        pids.extend(&cli.also_pid);
        let _ = ROUTER.set((pids, cli.tree));
    }
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    clock_ns();
    match rt.block_on(run(cli)) {
        Ok(Some(report)) => {
            let report = with_router_cpu(report);
            if let Some(cpu) = report.get("router_cpu_s").and_then(|v| v.as_f64()) {
                let per = [
                    "calls_per_cpu_s",
                    "events_per_cpu_s",
                    "round_trips_per_cpu_s",
                ]
                .iter()
                .find_map(|k| report.get(*k).and_then(|v| v.as_f64()).map(|v| (*k, v)));
                eprintln!(
                    "router CPU: {cpu:.2} s in the window{}",
                    per.map(|(k, v)| format!(", {v:.0} {k}"))
                        .unwrap_or_default()
                );
            }
            if json {
                println!("{report}");
            }
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("wamp-bench: {e:#}");
            std::process::exit(1);
        }
    }
}
