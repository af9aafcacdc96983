# Sourced by scripts/test: a throwaway NATS server on loopback.
# `start_test_nats` starts `nats-server` on a free 127.0.0.1 port with its
# store in a temporary folder and exports GAMESTORE_TEST_NATS (a nats://
# URL); `stop_test_nats` stops it and removes the folder (call it from an
# EXIT trap).

start_test_nats() {
    local port i
    if ! command -v nats-server >/dev/null 2>&1; then
        echo "nats-server is not installed" >&2
        return 1
    fi
    TEST_NATS_DIR=$(mktemp -d /tmp/gamestore-nats.XXXXXX)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    nats-server -a 127.0.0.1 -p "$port" -sd "$TEST_NATS_DIR" >"$TEST_NATS_DIR/log" 2>&1 &
    TEST_NATS_PID=$!
    for i in $(seq 1 200); do
        if grep -q "Server is ready" "$TEST_NATS_DIR/log" 2>/dev/null; then
            export GAMESTORE_TEST_NATS="nats://127.0.0.1:$port"
            echo "NATS for the tests on 127.0.0.1:$port"
            return 0
        fi
        sleep 0.05
    done
    echo "nats-server did not start:" >&2
    cat "$TEST_NATS_DIR/log" >&2
    return 1
}

stop_test_nats() {
    if [ -n "${TEST_NATS_PID:-}" ]; then
        kill "$TEST_NATS_PID" 2>/dev/null || true
        wait "$TEST_NATS_PID" 2>/dev/null || true
    fi
    if [ -n "${TEST_NATS_DIR:-}" ] && [ -d "$TEST_NATS_DIR" ]; then
        rm -rf "$TEST_NATS_DIR"
    fi
}
