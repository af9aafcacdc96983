# Sourced by scripts/test: a throwaway PostgreSQL cluster on loopback.
# `start_test_postgres` runs initdb into a temporary folder, starts the
# server on a free 127.0.0.1 port with its unix socket in that folder, and
# exports GAMESTORE_TEST_POSTGRES (an admin URL); `stop_test_postgres` stops
# it and removes the folder (call it from an EXIT trap). As root the server
# runs as the `postgres` user.

pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_test_postgres() {
    local bin port
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ]; then
        echo "PostgreSQL is not installed" >&2
        return 1
    fi
    TEST_PG_BIN=$bin
    TEST_PG_DIR=$(mktemp -d /tmp/gamestore-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$TEST_PG_DIR"
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pg_as_owner "$bin/initdb" -D "$TEST_PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
    pg_as_owner "$bin/pg_ctl" -D "$TEST_PG_DIR/data" -l "$TEST_PG_DIR/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $TEST_PG_DIR -c fsync=off -c max_connections=300" \
        start >/dev/null
    export GAMESTORE_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
    echo "PostgreSQL for the tests on 127.0.0.1:$port"
}

stop_test_postgres() {
    if [ -n "${TEST_PG_DIR:-}" ] && [ -d "$TEST_PG_DIR" ]; then
        pg_as_owner "$TEST_PG_BIN/pg_ctl" -D "$TEST_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$TEST_PG_DIR"
    fi
}
