#!/usr/bin/env bash
# Runs the whole test suite: makes the Python venv with autobahn-python (once), builds every
# binary, then runs all Rust unit and integration tests (which drive the binaries with autobahn).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${EDGE_TEST_VENV:-$PWD/target/test-venv}"
if ! "$VENV/bin/python" -c "import autobahn, cbor2, msgpack, nacl, paho.mqtt, argon2, passlib" 2>/dev/null; then
    echo "== creating test venv at $VENV (autobahn-python with its SCRAM client, paho-mqtt)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # numpy<2: autobahn's optional bjdata extension is built against NumPy 1.x.
    "$VENV/bin/pip" install -q 'autobahn[twisted,encryption,serialization,scram]' 'numpy<2' 'paho-mqtt>=2'
fi
export EDGE_TEST_PYTHON="$VENV/bin/python"

# Crossbar.io itself, the reference peer: the uplink test runs our node against its master.
CBVENV="${EDGE_TEST_CROSSBAR_VENV:-$PWD/target/crossbar-venv}"
if [ -z "${CROSSBAR_MASTER_BIN:-}" ]; then
    if [ ! -x "$CBVENV/bin/crossbar" ]; then
        echo "== creating Crossbar.io venv at $CBVENV (pip install crossbar)"
        if ! { python3 -m venv "$CBVENV" && "$CBVENV/bin/pip" install -q --upgrade pip \
                && "$CBVENV/bin/pip" install -q crossbar; }; then
            # The tests against the real master then print why they are skipped.
            echo "!!! WARNING: could not install Crossbar.io; the tests against its master are skipped" >&2
            rm -rf "$CBVENV"
        fi
    fi
    if [ -x "$CBVENV/bin/crossbar" ]; then
        export CROSSBAR_MASTER_BIN="$CBVENV/bin/crossbar"
        # agent/tests/crossbar_interop.rs: Crossbar.io's Python reads our key files.
        export CROSSBAR_PYTHON="${CROSSBAR_PYTHON:-$CBVENV/bin/python}"
    fi
fi

# autobahn-js (npm `autobahn`) for the long-poll and JavaScript interop tests.
if [ ! -d tests/js/node_modules/autobahn ] || [ ! -d tests/js/node_modules/xhr2 ]; then
    echo "== npm ci in tests/js (autobahn-js)"
    (cd tests/js && npm ci --no-audit --no-fund)
fi

echo "== building"
cargo build --workspace --bins
echo "== testing"
cargo test --workspace "$@"
