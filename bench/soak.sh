#!/usr/bin/env bash
# The soak of issue 18: 10,000 sessions with mixed RPC and pub/sub against a release node for
# 10 minutes (after a 60 s warm-up). wamp-bench decides: RSS within 5 % of where the warm-up
# left it, descriptors not growing and back to idle once the clients are gone, no failed
# call; it prints a line per 30 s sample (RSS, fds, calls, errors, p99, events) and exits
# non-zero otherwise.
#
#   bench/soak.sh [--minutes N] [--sessions S]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=10
SESSIONS=10000
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES=$2; shift ;;
        --sessions) SESSIONS=$2; shift ;;
        *) echo "soak.sh: unknown argument $1" >&2; exit 64 ;;
    esac
    shift
done
(cd "$ROOT" && cargo build --release -q -p agent -p tests --bin crossbar-edge --bin wamp-bench)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK=$(mktemp -d "${TMPDIR:-/tmp}/edge-soak.XXXXXX")
trap 'kill -TERM -- -$NODE 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/.crossbar" "$WORK/web"
RAW=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WEB=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s/\"port\": 8081/\"port\": $RAW/" -e "s/\"port\": 8080/\"port\": $WEB/" \
    "$ROOT/agent/src/config/default_config.json" >"$WORK/.crossbar/config.json"
setsid taskset -c 0 "$ROOT/target/release/crossbar-edge" start --cbdir "$WORK/.crossbar" >"$WORK/node.log" 2>&1 &
NODE=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$RAW") 2>/dev/null; do sleep 0.1; done
taskset -c 1 "$ROOT/target/release/wamp-bench" --url "rs://127.0.0.1:$RAW" --router-pid "$NODE" --tree \
    --warmup 60 --duration $((MINUTES * 60)) soak --sessions "$SESSIONS" --callers 100 --topics 100 \
    --call-interval-ms 50 --publish-rate 200 --sample 30
