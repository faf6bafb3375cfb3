#!/usr/bin/env bash
# Set up everything the test suite needs and run all of it: lint, types, then pytest twice:
# the whole suite on the SQLite store, then again with every project on PostgreSQL
# (--store postgresql; the molecule scenarios, which never open a store, run once).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' >&2
bash scripts/setup-molecule.sh  # podman, molecule, the collections and the local Debian image
bash scripts/setup-monitoring.sh  # prometheus, alertmanager, node_exporter (poll, serve, closed loop)
bash scripts/setup-chromium.sh  # headless chromium and a font: the HTML report's browser test
# PostgreSQL from Debian's packages, a private cluster on 127.0.0.1:55432 (the store tests)
REMEDIATOR_TEST_PG="$(bash scripts/setup-postgres.sh)"
export REMEDIATOR_TEST_PG

export PATH="$PWD/.venv/bin:$PATH"
unset REMEDIATOR_MAX_STAGE REMEDIATOR_CONFIG REMEDIATOR_STORE
echo "== ruff" >&2
ruff check remediator tests bench
echo "== mypy --strict" >&2
mypy
echo "== pytest, SQLite store" >&2
pytest "$@"
echo "== pytest, PostgreSQL store" >&2
pytest --store postgresql --ignore tests/molecule "$@"
