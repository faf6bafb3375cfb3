#!/usr/bin/env bash
# Set up remediator in .venv and run the main job on the embedded defaults: the bundled example
# alert (Alertmanager "DiskSpaceLow") -> the bundled catalog -> the bundled playbook, through
# ansible-runner, against the demo inventory (localhost acting only inside ./sandbox/).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"   # the tests point VENV at their own environment and skip the install
if [ -z "${REMEDIATOR_SKIP_INSTALL:-}" ]; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e . >&2
fi

# Everything the demo writes stays under sandbox/: the host's files, ansible's temp files,
# the audit store and the run artifacts (see remediator.yml and inventories/demo/hosts.yml).
export ANSIBLE_HOME="$PWD/sandbox/.ansible"
export REMEDIATOR_CONFIG="$PWD/remediator.yml"
unset REMEDIATOR_MAX_STAGE
rm -rf sandbox/remediator
"$VENV/bin/python" -m remediator.demo sandbox/demo-web-01

step() { printf '\n== %s\n' "$*" >&2; }
step "remediator catalog validate"
"$VENV/bin/remediator" catalog validate
step "1. the emergency brake on: the fix only shows what it would do (--max-stage observe)"
"$VENV/bin/remediator" --max-stage observe handle examples/alerts/disk-space-low.json
step "2. the fix for real (stage oversight): the audit record"
"$VENV/bin/remediator" handle --json examples/alerts/disk-space-low.json
step "remediator audit list; remediator audit verify"
"$VENV/bin/remediator" audit list
"$VENV/bin/remediator" audit verify
