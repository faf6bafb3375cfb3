#!/usr/bin/env bash
# Set up everything the test suite needs and run it (what CI runs): ruff, mypy, then pytest on
# every core (pytest-xdist), each test that touches the audit store once on SQLite and once on
# PostgreSQL (--store all); the few `serial` tests run first, alone. Tiers: docs/development.md, "Tests".
#
#   bash scripts/test.sh            the whole suite: installs and starts all it needs
#   bash scripts/test.sh --quick    the inner loop: ruff, mypy and the `quick` tier (no ansible
#                                   run, daemon, container or browser), on SQLite
#
# Any other argument goes to pytest (e.g. `-k stage_flow`, `-x`, `-n 0` for one process).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=
args=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        *) args+=("$arg") ;;
    esac
done

t0=$SECONDS
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# pip is slow even when there is nothing to do: install only when pyproject.toml changed.
stamp=.venv/.remediator-test-install
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' >&2
    printf '%s\n' "$want" >"$stamp"
fi

export PATH="$PWD/.venv/bin:$PATH"
unset REMEDIATOR_MAX_STAGE REMEDIATOR_CONFIG REMEDIATOR_STORE REMEDIATOR_TEST_STORE

if [ -z "$quick" ]; then
    bash scripts/setup-molecule.sh  # podman, molecule, the collections and the local Debian image
    bash scripts/setup-systemd-image.sh  # the same image with systemd as init, chrony, node_exporter
    bash scripts/setup-monitoring.sh  # prometheus, alertmanager, node_exporter (poll, serve, closed loop)
    bash scripts/setup-chromium.sh  # headless chromium and a font: the HTML report's and the web page's browser tests
    # PostgreSQL from Debian's packages, a private cluster on 127.0.0.1:55432 (the store tests)
    REMEDIATOR_TEST_PG="$(bash scripts/setup-postgres.sh)"
    export REMEDIATOR_TEST_PG
fi
echo "== set up in $((SECONDS - t0)) s" >&2

echo "== ruff" >&2
ruff check remediator tests bench
echo "== mypy --strict" >&2
mypy
if [ -n "$quick" ]; then
    echo "== pytest, the quick tier" >&2
    pytest -n auto -m quick "${args[@]}"
    echo "== quick tier done in $((SECONDS - t0)) s" >&2
    exit 0
fi
# (only when a test is marked serial: collecting the suite to find none costs seconds)
if grep -rqs --include='*.py' 'mark\.serial' tests; then
    echo "== pytest, the serial tests alone" >&2
    rc=0
    pytest --store all -m serial "${args[@]}" || rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 5 ] || exit "$rc"  # 5: none selected (e.g. by -k)
fi
echo "== pytest, on every core: SQLite, and PostgreSQL for the tests that touch the store" >&2
# One worker more than cores: some of the test time is spent waiting on podman and daemons (two
# more made the suite slower: the molecule scenarios are bound by the cores). --maxschedchunk 1: tests go out one at a time in the order tests/tiers.py gives (the
# slowest kinds first); by default each worker gets a block of consecutive tests, and one of
# them all the containers.
# --dist loadgroup: the tests of one xdist_group (those that set the kernel clock) share a worker.
pytest -n "$(( $(nproc) + 1 ))" --dist loadgroup --maxschedchunk 1 --store all -m "not serial" \
    --durations 25 "${args[@]}"
echo "== done in $((SECONDS - t0)) s" >&2
