#!/usr/bin/env bash
# A realm on three nodes: crossbar-edge over a three-server NATS cluster vs Crossbar.io's
# router-to-router links (rlinks) between three Crossbar.io nodes, on this machine
# (docs/cluster.md, "Figures").
#
#   bench/cluster.sh [--quick] [--json FILE]
#
# Every router process (and the NATS servers) runs on core 0, wamp-bench on core 1: two
# cores measure the cost of crossing nodes, not scaling. Clients are ordinary ones (every
# message its own write), RawSocket + MessagePack. Scenarios, the same for both:
#   fanout  — 1 publisher on node 1 → 99 subscribers, 33 on each node;
#   remote1 — 1 publisher on node 1 → 1 subscriber on node 2, one event in flight (latency).
# The CPU per event sums every process of the three nodes (and the NATS servers).
#
# Environment: KEEP_WORK=1 (keep configs and logs), CROSSBAR_VENV (default target/crossbar-venv; created with `pip install
# crossbar` when missing), ROUTER_CPU (0), BENCH_CPU (1), PYTHON (python3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CROSSBAR_VENV=${CROSSBAR_VENV:-$ROOT/target/crossbar-venv}
ROUTER_CPU=${ROUTER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
PYTHON=${PYTHON:-python3}
QUICK=0
JSON_OUT=

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --json) JSON_OUT=${2:?--json needs a file}; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "cluster.sh: unknown argument $1" >&2; exit 64 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then WARMUP=0.5; DURATION=2; else WARMUP=2; DURATION=10; fi

command -v nats-server >/dev/null || { echo "cluster.sh needs nats-server (apt install nats-server)" >&2; exit 1; }
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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/edge-cluster-bench.XXXXXX")
RES="$WORK/results"
mkdir -p "$RES"
PIDS=()
stop_all() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM -- "-$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do
        for _ in $(seq 1 100); do { [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; } && break; sleep 0.1; done
        [ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null || true
    done
    PIDS=()
}
# KEEP_WORK=1 keeps the configs and logs (the path is printed).
trap 'stop_all; if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT

. "$ROOT/bench/lib.sh"
start() { # log command... → pid (its own process group, on the routers' core)
    local log=$1; shift
    setsid taskset -c "$ROUTER_CPU" "$@" >"$log" 2>&1 &
    PIDS+=("$!")
}
scenarios() { # name url1 url2 url3 pids...
    local name=$1 u1=$2 u2=$3 u3=$4; shift 4
    local cpu=(--router-pid "$1" --tree)
    shift
    for p in "$@"; do cpu+=(--also-pid "$p"); done
    local common=(--warmup "$WARMUP" --duration "$DURATION" --unbatched "${cpu[@]}")
    echo "== $name: fanout 1 -> 99 over three nodes" >&2
    bench "${name}_fanout" --url "$u1" "${common[@]}" pubsub --subscribers 99 \
        --subscriber-url "$u1" --subscriber-url "$u2" --subscriber-url "$u3"
    echo "== $name: one event in flight, node 1 -> node 2" >&2
    bench "${name}_remote1" --url "$u1" "${common[@]}" pubsub --subscribers 1 --window 1 \
        --subscriber-url "$u2"
}

# --- crossbar-edge over NATS -------------------------------------------------------------
NP=(); NC=()
for i in 0 1 2; do NP+=("$(free_port)"); NC+=("$(free_port)"); done
NATS_PIDS=()
for i in 0 1 2; do
    routes=()
    for j in 0 1 2; do [ "$j" != "$i" ] && routes+=("nats://127.0.0.1:${NC[$j]}"); done
    start "$WORK/nats$i.log" nats-server -a 127.0.0.1 -p "${NP[$i]}" --server_name "bench-$i" \
        --cluster_name bench --cluster "nats://127.0.0.1:${NC[$i]}" \
        --routes "$(IFS=,; echo "${routes[*]}")" --no_advertise=true
    NATS_PIDS+=("${PIDS[-1]}")
done
for i in 0 1 2; do wait_port "${NP[$i]}" 10; done
EDGE_PIDS=(); URLS=()
for i in 0 1 2; do
    port=$(free_port)
    servers="\"nats://127.0.0.1:${NP[$i]}\""
    for j in 0 1 2; do [ "$j" != "$i" ] && servers="$servers, \"nats://127.0.0.1:${NP[$j]}\""; done
    mkdir -p "$WORK/edge$i"
    cat >"$WORK/edge$i/config.json" <<EOF
{"version": 2, "workers": [{"id": "router1", "type": "router",
  "realms": [{"name": "realm1",
    "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
      "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
      "disclose": {"caller": true, "publisher": true}, "cache": true}]}],
    "cluster": {"type": "nats", "servers": [$servers], "member": "node$i"}}],
  "transports": [{"type": "rawsocket", "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1"},
    "serializers": ["msgpack", "json", "cbor"]}]}]}
EOF
    start "$WORK/edge$i.log" "$EDGE" start --cbdir "$WORK/edge$i"
    EDGE_PIDS+=("${PIDS[-1]}")
    URLS+=("rs://127.0.0.1:$port")
    wait_port "$port" 30 || { echo "edge node $i did not start:" >&2; tail -n 20 "$WORK/edge$i.log" >&2; exit 1; }
done
# Every node sees the other two before the load starts.
for i in 0 1 2; do
    deadline=$((SECONDS + 20))
    until [ "$("$EDGE" call --cbdir "$WORK/edge$i" worker.router1.get_router_realm '"realm001"' \
            | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["cluster"]["members"]))')" = 3 ]; do
        [ $SECONDS -lt $deadline ] || { echo "edge node $i does not see the cluster" >&2; exit 1; }
        sleep 0.2
    done
done
scenarios edge "${URLS[@]}" "${EDGE_PIDS[@]}" "${NATS_PIDS[@]}"
stop_all

# --- Crossbar.io with rlinks -------------------------------------------------------------
# Each node's realm1 admits the other nodes' rlink sessions by their node keys (cryptosign,
# role rlink) and has an rlink to each other node forwarding its local events and
# invocations only (the shape Crossbar.io's master gives router clusters: arealm.py). An
# rlink forwards only events whose publisher is disclosed (rlink.py asserts it), so both
# routers' realms disclose publishers (and callers).
CP=(); KEYS=()
for i in 0 1 2; do
    CP+=("$(free_port)")
    mkdir -p "$WORK/cb$i"
    # crossbar-edge writes node keys in Crossbar.io's format (agent/tests/crossbar_interop.rs).
    "$EDGE" keys --cbdir "$WORK/cb$i" >/dev/null
    KEYS+=("$(sed -n 's/^public-key-ed25519: *//p' "$WORK/cb$i/key.pub")")
done
for i in 0 1 2; do
    principals=""; rlinks=""
    for j in 0 1 2; do
        [ "$j" = "$i" ] && continue
        principals="$principals${principals:+, }\"node$j\": {\"realm\": \"realm1\", \"role\": \"rlink\", \"authorized_keys\": [\"${KEYS[$j]}\"]}"
        rlinks="$rlinks${rlinks:+, }{\"id\": \"to-node$j\", \"realm\": \"realm1\", \"authid\": \"node$i\",
          \"transport\": {\"type\": \"rawsocket\", \"endpoint\": {\"type\": \"tcp\", \"host\": \"127.0.0.1\", \"port\": ${CP[$j]}},
            \"serializer\": \"cbor\", \"url\": \"rs://127.0.0.1:${CP[$j]}\"},
          \"forward_local_invocations\": true, \"forward_remote_invocations\": false,
          \"forward_local_events\": true, \"forward_remote_events\": false}"
    done
    cat >"$WORK/cb$i/config.json" <<EOF
{"version": 2, "controller": {}, "workers": [{"type": "router",
  "realms": [{"name": "realm1",
    "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
        "disclose": {"caller": true, "publisher": true}, "cache": true}]},
      {"name": "rlink", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
        "disclose": {"caller": true, "publisher": true}, "cache": true}]}],
    "rlinks": [$rlinks]}],
  "transports": [{"type": "rawsocket", "endpoint": {"type": "tcp", "port": ${CP[$i]}, "interface": "127.0.0.1"},
    "serializers": ["msgpack", "json", "cbor"],
    "auth": {"anonymous": {"type": "static", "role": "anonymous"},
             "cryptosign": {"type": "static", "principals": {$principals}}}}]}]}
EOF
done
CB_PIDS=(); URLS=()
for i in 0 1 2; do
    start "$WORK/cb$i.log" "$CROSSBAR" start --cbdir "$WORK/cb$i"
    CB_PIDS+=("${PIDS[-1]}")
    URLS+=("rs://127.0.0.1:${CP[$i]}")
done
for i in 0 1 2; do
    wait_port "${CP[$i]}" 90 || { echo "Crossbar.io node $i did not start:" >&2; tail -n 30 "$WORK/cb$i.log" >&2; exit 1; }
done
# Every rlink joined (two per node) before the load starts.
deadline=$((SECONDS + 90))
until [ "$(cat "$WORK"/cb?.log | grep -c 'router-to-router .* started')" -ge 6 ]; do
    [ $SECONDS -lt $deadline ] || { echo "Crossbar.io rlinks did not start:" >&2; tail -n 40 "$WORK/cb0.log" >&2; exit 1; }
    sleep 0.2
done
scenarios crossbar "${URLS[@]}" "${CB_PIDS[@]}"
stop_all

"$PYTHON" - "$RES" "$JSON_OUT" <<'EOF'
import json, os, sys
res, json_out = sys.argv[1], sys.argv[2]

def get(name, key):
    try:
        with open(os.path.join(res, name + ".json")) as f:
            v = json.load(f).get(key)
    except (OSError, ValueError):
        return None
    return v if isinstance(v, (int, float)) else None

rows = [
    ("cluster_fanout_events_per_s", "fanout", "events_per_s", "higher"),
    ("cluster_fanout_events_per_cpu_s", "fanout", "events_per_cpu_s", "higher"),
    ("cluster_fanout_p50_us", "fanout", "p50_us", "lower"),
    ("cluster_fanout_p99_us", "fanout", "p99_us", "lower"),
    ("cluster_remote_event_p50_us", "remote1", "p50_us", "lower"),
    ("cluster_remote_event_p99_us", "remote1", "p99_us", "lower"),
]
out = {}
print(f"{'metric':34}{'crossbar-edge':>15}{'Crossbar.io':>15}{'ratio':>9}")
for metric, scen, key, better in rows:
    e, c = get(f"edge_{scen}", key), get(f"crossbar_{scen}", key)
    ratio = e / c if e is not None and c else None
    out[metric] = {"edge": e, "crossbar": c, "ratio": ratio, "better": better}
    fmt = lambda v: "failed" if v is None else f"{v:,.0f}"
    print(f"{metric:34}{fmt(e):>15}{fmt(c):>15}{'' if ratio is None else f'{ratio:9.3g}'}  {better}")
if json_out:
    with open(json_out, "w") as f:
        json.dump(out, f, indent=1)
EOF
