#!/usr/bin/env bash
# Install what the Prometheus / Alertmanager integration tests need: prometheus,
# prometheus-alertmanager and prometheus-node-exporter from Debian's packages. The tests start
# each daemon by hand on loopback (tests/monitoring.py); nothing here starts or enables one.
#
# Idempotent: installs only when a binary is missing, and runs `apt-get update` only when apt
# does not know the packages yet, or a download fails on stale package lists. While installing,
# a temporary policy-rc.d keeps the packages' init scripts from starting the daemons on their
# default ports (on all interfaces), where no policy-rc.d exists already.
#
# Prints nothing on stdout; progress goes to stderr. Usage: bash scripts/setup-monitoring.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${REMEDIATOR_CI_CACHE:-/var/cache/remediator-ci}"
PACKAGES=(prometheus prometheus-alertmanager prometheus-node-exporter)  # binaries of the same names
POLICY=/usr/sbin/policy-rc.d

say() { printf 'setup-monitoring: %s\n' "$*" >&2; }

missing=()
for binary in "${PACKAGES[@]}"; do
    command -v "$binary" >/dev/null || missing+=("$binary")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# scripts/setup-monitoring.sh: no daemon starts during the install\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
fi

# shellcheck source=scripts/lib/apt.sh
. scripts/lib/apt.sh
apt_install monitoring "${missing[@]}"

for binary in "${PACKAGES[@]}"; do
    command -v "$binary" >/dev/null || { say "$binary is still missing after the install"; exit 1; }
done
say "installed ${missing[*]}"
