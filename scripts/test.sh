#!/usr/bin/env bash
# Set up everything the test suite needs and run all of it: lint, types, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' >&2
bash scripts/setup-molecule.sh  # podman, molecule, the collections and the local Debian image
bash scripts/setup-monitoring.sh  # prometheus, alertmanager, node_exporter (poll, serve, closed loop)
bash scripts/setup-chromium.sh  # headless chromium and a font: the HTML report's browser test

export PATH="$PWD/.venv/bin:$PATH"
unset REMEDIATOR_MAX_STAGE REMEDIATOR_CONFIG
echo "== ruff" >&2
ruff check remediator tests bench
echo "== mypy --strict" >&2
mypy
echo "== pytest" >&2
pytest "$@"
