#!/usr/bin/env bash
# Install PostgreSQL from Debian's packages and start a private cluster on loopback for the
# test suite (the PostgreSQL pass of scripts/test.sh and the tests that need a server).
#
# The cluster lives in $REMEDIATOR_PG_DIR/data (default /var/tmp/remediator-pg), listens only on
# 127.0.0.1:$REMEDIATOR_PG_PORT (default 55432) and has one superuser, `remediator`, whose
# password is generated once and kept beside it (mode 600) (scram-sha-256; no trust auth).
# Nothing else on the machine is touched: the Debian package's own cluster is not started.
#
# Idempotent: reuses a running cluster. Prints the admin URL (database `postgres`) on stdout and
# nothing else; progress goes to stderr. Usage: export REMEDIATOR_TEST_PG="$(bash scripts/setup-postgres.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${REMEDIATOR_CI_CACHE:-/var/cache/remediator-ci}"
DIR="${REMEDIATOR_PG_DIR:-/var/tmp/remediator-pg}"
PORT="${REMEDIATOR_PG_PORT:-55432}"
POLICY=/usr/sbin/policy-rc.d

say() { printf 'setup-postgres: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/apt.sh
. scripts/lib/apt.sh

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
    made_policy=
    if [ ! -e "$POLICY" ] && [ "$(id -u)" = 0 ]; then
        printf '#!/bin/sh\n# scripts/setup-postgres.sh: no daemon starts during the install\nexit 101\n' >"$POLICY"
        chmod +x "$POLICY"
        made_policy=1
    fi
    apt_install postgres postgresql
    [ -z "$made_policy" ] || rm -f "$POLICY"
fi
BIN="$(bindir)"

# initdb and postgres refuse to run as root: run them as the package's `postgres` user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

DATA="$DIR/data"
PASSWORD="$DIR/password"
if [ ! -f "$DATA/PG_VERSION" ]; then
    say "creating a cluster in $DATA"
    rm -rf "$DATA"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    [ "$(id -u)" != 0 ] || chown postgres:postgres "$DIR"
    secret="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$secret" | as_owner tee "$PASSWORD" >/dev/null
    as_owner chmod 600 "$PASSWORD"
    pwfile="$(mktemp)"
    printf '%s\n' "$secret" >"$pwfile"
    [ "$(id -u)" != 0 ] || chown postgres "$pwfile"
    as_owner "$BIN/initdb" -D "$DATA" -U remediator --pwfile="$pwfile" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$pwfile.log" 2>&1 || { cat "$pwfile.log" >&2; exit 1; }
    rm -f "$pwfile" "$pwfile.log"
    cat <<EOF | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
# scripts/setup-postgres.sh: loopback only, sized for tests
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
shared_buffers = 128MB
fsync = on
synchronous_commit = on
EOF
fi

if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "starting PostgreSQL on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null \
        || { tail -20 "$DIR/server.log" >&2; exit 1; }
fi

secret="$(as_owner cat "$PASSWORD")"
printf 'postgresql://remediator:%s@127.0.0.1:%s/postgres\n' "$secret" "$PORT"
