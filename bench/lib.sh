# Helpers shared by bench/compare.sh and bench/cluster.sh (sourced). They use PYTHON, BENCH,
# BENCH_CPU and RES (the results directory) of the script that sources them.

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port timeout_s
    local deadline=$((SECONDS + $2))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
}

bench() { # name args... → $RES/name.json (a failed scenario is recorded, not fatal)
    local name=$1; shift
    if ! taskset -c "$BENCH_CPU" "$BENCH" --json "$@" >"$RES/$name.json" 2>"$RES/$name.log"; then
        echo "   $name failed: $(tail -n 1 "$RES/$name.log")" >&2
        printf '{"status":"failed","reason":%s}\n' \
            "$("$PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$(tail -n 1 "$RES/$name.log")")" \
            >"$RES/$name.json"
    else
        sed 's/^/   /' "$RES/$name.log" >&2
    fi
}
