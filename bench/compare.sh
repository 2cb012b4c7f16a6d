#!/usr/bin/env bash
# crossbar-edge vs Crossbar.io, side by side on this machine (see docs/benchmarks.md).
#
#   bench/compare.sh [--quick] [--json FILE]
#
# Builds the release binaries, then for each router: starts it with the `crossbar init`
# config (free ports) pinned to core 0, runs every wamp-bench scenario pinned to core 1, and
# stops it. Prints one table (metric, crossbar-edge, Crossbar.io, ratio = edge / Crossbar.io)
# and the limit line (wamp-bench against a bare tokio-tungstenite echo server).
#
# Environment: CROSSBAR_VENV (default /work/venvs/crossbar; created with `pip install
# crossbar` when missing), ROUTER_CPU (0), BENCH_CPU (1), PYTHON (python3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CROSSBAR_VENV=${CROSSBAR_VENV:-/work/venvs/crossbar}
ROUTER_CPU=${ROUTER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
PYTHON=${PYTHON:-python3}
QUICK=0
JSON_OUT=

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --json) JSON_OUT=${2:?--json needs a file}; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 64 ;;
    esac
    shift
done

if [ "$QUICK" = 1 ]; then
    WARMUP=0.5; DURATION=1.5; SESSIONS=1000; STARTUP_RUNS=1; SUBSCRIBERS="1 10 100"
else
    WARMUP=2; DURATION=10; SESSIONS=10000; STARTUP_RUNS=3; SUBSCRIBERS="1 10 100"
fi

echo "== building release binaries" >&2
(cd "$ROOT" && cargo build --release -q -p agent -p tests --bin crossbar-edge --bin wamp-bench)
EDGE="$ROOT/target/release/crossbar-edge"
BENCH="$ROOT/target/release/wamp-bench"

if [ ! -x "$CROSSBAR_VENV/bin/crossbar" ]; then
    echo "== creating $CROSSBAR_VENV (pip install crossbar)" >&2
    "$PYTHON" -m venv "$CROSSBAR_VENV"
    "$CROSSBAR_VENV/bin/pip" install -q crossbar
fi
CROSSBAR="$CROSSBAR_VENV/bin/crossbar"

# 10 000 sessions need as many descriptors in the router and in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/edge-bench.XXXXXX")
RES="$WORK/results"
mkdir -p "$RES"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM -- "-$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

. "$ROOT/bench/lib.sh"

# The `crossbar init` config of both routers: crossbar-edge's built-in default, which is
# Crossbar.io's, with the two fixed ports replaced.
make_node_dir() { # dir raw_port web_port
    mkdir -p "$1/.crossbar" "$1/web"
    echo '<h1>bench</h1>' >"$1/web/index.html"
    sed -e "s/\"port\": 8081/\"port\": $2/" -e "s/\"port\": 8080/\"port\": $3/" \
        "$ROOT/agent/src/config/default_config.json" >"$1/.crossbar/config.json"
}

# The process holding the sessions. crossbar-edge: the node and its children (router workers
# run in the node process today and become child processes later; the tree sum covers both).
# Crossbar.io: the router worker, a child of the controller.
crossbar_router_worker() { # controller_pid
    local deadline=$((SECONDS + 30)) p
    while [ $SECONDS -lt $deadline ]; do
        for p in $(pgrep -P "$1" 2>/dev/null); do
            if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qiE 'crossbar[-.]worker.*router'; then
                echo "$p"; return 0
            fi
        done
        sleep 0.1
    done
    return 1
}

run_router() { # name
    local name=$1 raw web dir cmd pid rss_pid rss_tree peak rate
    raw=$(free_port); web=$(free_port)
    dir="$WORK/$name"
    make_node_dir "$dir" "$raw" "$web"
    if [ "$name" = edge ]; then
        cmd=("$EDGE" start --cbdir "$dir/.crossbar")
    else
        cmd=("$CROSSBAR" start --cbdir "$dir/.crossbar")
    fi
    local rs="rs://127.0.0.1:$raw"
    local common=(--warmup "$WARMUP" --duration "$DURATION")
    echo "== $name: startup" >&2
    bench "${name}_startup" --url "$rs" startup --runs "$STARTUP_RUNS" --timeout 60 -- \
        taskset -c "$ROUTER_CPU" "${cmd[@]}"

    echo "== $name: starting the router on core $ROUTER_CPU" >&2
    setsid taskset -c "$ROUTER_CPU" "${cmd[@]}" >"$WORK/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! wait_port "$raw" 60 || ! wait_port "$web" 10; then
        echo "$name did not start; log:" >&2; tail -n 30 "$WORK/$name.log" >&2; exit 1
    fi
    if [ "$name" = edge ]; then
        rss_pid=$pid; rss_tree=(--tree)
    else
        rss_pid=$(crossbar_router_worker "$pid") || { echo "no Crossbar.io router worker found" >&2; exit 1; }
        rss_tree=()
    fi
    # First, on a fresh router: memory per idle session (after the load scenarios the
    # allocator keeps freed memory and new sessions would seem to cost nothing).
    echo "== $name: $SESSIONS idle sessions" >&2
    bench "${name}_sessions" --url "$rs" --router-pid "$rss_pid" "${rss_tree[@]}" sessions --count "$SESSIONS"

    # Every load scenario reports the router's CPU seconds over its window (the whole node
    # tree for crossbar-edge, the router worker for Crossbar.io) and the work per CPU-second.
    common+=(--router-pid "$rss_pid" "${rss_tree[@]}")

    # Ordinary clients: every message its own write (autobahn, browsers, devices).
    echo "== $name: rpc, 100 callers x 1 outstanding, unbatched" >&2
    bench "${name}_rpc_unb" --url "$rs" "${common[@]}" --unbatched rpc --callers 100 --outstanding 1
    echo "== $name: rpc, 8 callers x 32 outstanding, unbatched" >&2
    bench "${name}_rpc_unb8" --url "$rs" "${common[@]}" --unbatched rpc --callers 8 --outstanding 32
    echo "== $name: rpc, 1000 connections, a call every 200 ms each, unbatched" >&2
    bench "${name}_rpc_1000" --url "$rs" "${common[@]}" --unbatched rpc --callers 1000 --outstanding 1 --interval-ms 200
    echo "== $name: pubsub 1 -> 100, unbatched" >&2
    bench "${name}_pubsub_unb_100" --url "$rs" "${common[@]}" --unbatched pubsub --subscribers 100

    # Pipelining clients (many messages per write): the best case.
    echo "== $name: rpc" >&2
    bench "${name}_rpc" --url "$rs" "${common[@]}" rpc --callers 8 --outstanding 32
    peak=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("calls_per_s", 0))' "$RES/${name}_rpc.json")
    rate=$("$PYTHON" -c 'import sys; print(max(100.0, 0.2 * float(sys.argv[1])))' "$peak")
    echo "== $name: rpc-latency at $rate calls/s (20 % of peak)" >&2
    bench "${name}_rpclat" --url "$rs" "${common[@]}" rpc-latency --rate "$rate"
    echo "== $name: rpc latency, one outstanding call" >&2
    bench "${name}_rpc1" --url "$rs" "${common[@]}" rpc --callers 1 --outstanding 1
    for m in $SUBSCRIBERS; do
        echo "== $name: pubsub 1 -> $m" >&2
        bench "${name}_pubsub_$m" --url "$rs" "${common[@]}" pubsub --subscribers "$m"
    done
    echo "== $name: websocket rpc (json)" >&2
    bench "${name}_wsrpc" --url "ws://127.0.0.1:$web/ws" --serializer json "${common[@]}" rpc
    echo "== $name: management API" >&2
    bench "${name}_mgmt" mgmt --cbdir "$dir/.crossbar"

    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
}

run_router edge
run_router crossbar

echo "== limit line: bare tokio-tungstenite echo server on core $ROUTER_CPU" >&2
eport=$(free_port)
setsid taskset -c "$ROUTER_CPU" "$BENCH" echo-server --listen "127.0.0.1:$eport" 2>/dev/null &
epid=$!
PIDS+=("$epid")
wait_port "$eport" 10
bench echo --url "ws://127.0.0.1:$eport" --router-pid "$epid" --warmup "$WARMUP" --duration "$DURATION" echo --connections 8 --outstanding 32
# The RawSocket scenarios' limit: a TCP server writing back every byte it reads, with the
# write patterns of the rpc scenarios (ordinary clients and pipelining ones).
echo "== limit line: bare TCP echo server (RawSocket framing) on core $ROUTER_CPU" >&2
rport=$(free_port)
setsid taskset -c "$ROUTER_CPU" "$BENCH" echo-server --raw --listen "127.0.0.1:$rport" 2>/dev/null &
rpid=$!
PIDS+=("$rpid")
wait_port "$rport" 10
bench echo_raw_unb --url "rs://127.0.0.1:$rport" --router-pid "$rpid" --unbatched --warmup "$WARMUP" --duration "$DURATION" echo --connections 100 --outstanding 1
bench echo_raw --url "rs://127.0.0.1:$rport" --router-pid "$rpid" --warmup "$WARMUP" --duration "$DURATION" echo --connections 8 --outstanding 32
# The latency floor of the rpc 1 x 1 scenario: one message in flight over RawSocket. A WAMP
# call is two such round trips (caller → router → callee and back).
bench echo_raw1 --url "rs://127.0.0.1:$rport" --warmup "$WARMUP" --duration "$DURATION" echo --connections 1 --outstanding 1

"$PYTHON" - "$RES" "$JSON_OUT" "$QUICK" <<'EOF'
import json, os, sys
res, json_out, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"

def load(name):
    try:
        with open(os.path.join(res, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

def get(router, scen, key):
    v = load(f"{router}_{scen}").get(key)
    return v if isinstance(v, (int, float)) else None

rows = [
    # metric, scenario, key, better
    # Ordinary clients (every message its own write): what users see.
    ("rpc_unbatched_calls_per_s", "rpc_unb", "calls_per_s", "higher"),
    ("rpc_unbatched_calls_per_cpu_s", "rpc_unb", "calls_per_cpu_s", "higher"),
    ("rpc_unbatched_p50_us", "rpc_unb", "p50_us", "lower"),
    ("rpc_unbatched_p99_us", "rpc_unb", "p99_us", "lower"),
    ("rpc_unbatched_8x32_calls_per_s", "rpc_unb8", "calls_per_s", "higher"),
    ("rpc_unbatched_8x32_calls_per_cpu_s", "rpc_unb8", "calls_per_cpu_s", "higher"),
    ("rpc_1000conn_calls_per_cpu_s", "rpc_1000", "calls_per_cpu_s", "higher"),
    ("rpc_1000conn_p99_us", "rpc_1000", "p99_us", "lower"),
    ("pubsub_unbatched_events_per_s_100", "pubsub_unb_100", "events_per_s", "higher"),
    ("pubsub_unbatched_events_per_cpu_s_100", "pubsub_unb_100", "events_per_cpu_s", "higher"),
    # Pipelining clients: the best case.
    ("rpc_calls_per_s", "rpc", "calls_per_s", "higher"),
    ("rpc_calls_per_cpu_s", "rpc", "calls_per_cpu_s", "higher"),
    ("rpc_peak_p50_us", "rpc", "p50_us", "lower"),
    ("rpc_peak_p99_us", "rpc", "p99_us", "lower"),
    ("rpc_peak_p999_us", "rpc", "p999_us", "lower"),
    ("rpc_p50_us", "rpc1", "p50_us", "lower"),
    ("rpc_p99_us", "rpc1", "p99_us", "lower"),
    ("rpc_p999_us", "rpc1", "p999_us", "lower"),
    ("rpc_rate20_p50_us", "rpclat", "p50_us", "lower"),
    ("rpc_rate20_p99_us", "rpclat", "p99_us", "lower"),
    ("rpc_ws_json_calls_per_s", "wsrpc", "calls_per_s", "higher"),
    ("pubsub_events_per_s_1", "pubsub_1", "events_per_s", "higher"),
    ("pubsub_events_per_s_10", "pubsub_10", "events_per_s", "higher"),
    ("pubsub_events_per_s_100", "pubsub_100", "events_per_s", "higher"),
    ("pubsub_events_per_cpu_s_100", "pubsub_100", "events_per_cpu_s", "higher"),
    ("pubsub_p99_us_100", "pubsub_100", "p99_us", "lower"),
    ("rss_per_session_kib", "sessions", "rss_per_session_kib", "lower"),
    ("startup_ms", "startup", "startup_ms", "lower"),
    ("mgmt_start_realm_ms", "mgmt", "start_realm_ms", "lower"),
    ("mgmt_start_transport_ms", "mgmt", "start_transport_ms", "lower"),
]
out = {}
def fmt(v):
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
lines = [f"{'metric':<26} {'crossbar-edge':>14} {'Crossbar.io':>14} {'ratio':>9}  better"]
for metric, scen, key, better in rows:
    e, c = get("edge", scen, key), get("crossbar", scen, key)
    r = e / c if e is not None and c not in (None, 0) else None
    out[metric] = {"edge": e, "crossbar": c, "ratio": r}
    lines.append(f"{metric:<26} {fmt(e):>14} {fmt(c):>14} {('%.3g' % r) if r is not None else 'n/a':>9}  {better}")
print("\n".join(lines))
# The limit lines: a call is two messages in and two out at the router, an echo round trip
# one of each, so 50 % of the echo's round trips is the ceiling for calls.
# The work per CPU-second has the same ceiling: half the echo server's round trips per
# CPU-second.
for label, echo_scen, rpc_scen, key in (
        ("RawSocket, ordinary clients (100 x 1, every message its own write)", "echo_raw_unb", "rpc_unb", "echo_unbatched_limit_msgs_per_s"),
        ("RawSocket, pipelining clients (8 x 32)", "echo_raw", "rpc", "echo_raw_limit_msgs_per_s"),
        ("WebSocket (tokio-tungstenite), pipelining clients (8 x 32)", "echo", "rpc", "echo_limit_msgs_per_s")):
    e, r = load(echo_scen), load(f"edge_{rpc_scen}")
    echo, rpc = e.get("msgs_per_s"), r.get("calls_per_s")
    share = rpc / echo if rpc and echo else None
    out[key] = {"edge": echo, "crossbar": None, "ratio": share}
    echo_cpu, rpc_cpu = e.get("round_trips_per_cpu_s"), r.get("calls_per_cpu_s")
    cpu_share = rpc_cpu / echo_cpu if rpc_cpu and echo_cpu else None
    print(f"limit line, {label}: bare echo {fmt(echo)} round trips/s"
          f"{f', {fmt(echo_cpu)} per echo-server CPU-second' if echo_cpu else ''}; "
          f"crossbar-edge rpc = {('%.0f %%' % (100 * share)) if share else 'n/a'} of its round trips/s"
          f"{f', {100 * cpu_share:.0f} % of its round trips per CPU-second' if cpu_share else ''} (50 % is the ceiling)")
e1 = load("echo_raw1")
if e1.get("p50_us") is not None:
    out["echo_floor_p50_us"] = {"edge": e1.get("p50_us"), "crossbar": None, "ratio": None}
    out["echo_floor_p99_us"] = {"edge": e1.get("p99_us"), "crossbar": None, "ratio": None}
    c1 = load("edge_rpc1")
    vs = ""
    if c1.get("p50_us") and c1.get("p99_us"):
        vs = (f"; crossbar-edge rpc 1 x 1: p50 {c1['p50_us'] / (2 * e1['p50_us']):.2f}x, "
              f"p99 {c1['p99_us'] / (2 * e1['p99_us']):.2f}x two round trips")
    print(f"latency floor: one RawSocket echo round trip p50 {fmt(e1.get('p50_us'))} us, p99 {fmt(e1.get('p99_us'))} us "
          f"(a call is two round trips){vs}")
for r in ("edge", "crossbar"):
    m = load(f"{r}_mgmt")
    if m.get("status") == "n/a":
        print(f"mgmt ({r}): n/a: {m.get('reason')}")
    for scen in ("rpc_unb", "rpc_unb8", "rpc_1000", "pubsub_unb_100", "rpc", "rpclat", "wsrpc",
                 "pubsub_1", "pubsub_10", "pubsub_100", "sessions", "startup"):
        d = load(f"{r}_{scen}")
        if d.get("status") == "failed":
            print(f"{scen} ({r}): failed: {d.get('reason')}")
print(f"({'quick' if quick else 'full'} run; ratio = crossbar-edge / Crossbar.io; rpc_p*_us: one caller, one outstanding call; rpc_rate20_*: one caller at 20 % of that router's peak)")
if json_out:
    with open(json_out, "w") as f:
        json.dump(out, f, indent=2)
EOF
