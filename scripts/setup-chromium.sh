#!/usr/bin/env bash
# Install what the HTML report's browser test needs: Debian's `chromium` (run headless by
# tests/integration/test_report_html.py) and a font for it to draw text with (fonts-dejavu-core).
#
# Idempotent: installs only what is missing, without recommended packages (no desktop daemons),
# and runs `apt-get update` only when apt does not know the packages yet, or a download fails on
# stale package lists.
#
# Prints nothing on stdout; progress goes to stderr. Usage: bash scripts/setup-chromium.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${REMEDIATOR_CI_CACHE:-/var/cache/remediator-ci}"
PACKAGES=(chromium fonts-dejavu-core)

say() { printf 'setup-chromium: %s\n' "$*" >&2; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ] && command -v chromium >/dev/null; then
    exit 0
fi
[ ${#missing[@]} -gt 0 ] || missing=(chromium)  # installed but not on PATH: reinstall it

t0=$SECONDS
# shellcheck source=scripts/lib/apt.sh
. scripts/lib/apt.sh
apt_install chromium "${missing[@]}"

command -v chromium >/dev/null || { say "chromium is still missing after the install"; exit 1; }
say "installed ${missing[*]} in $((SECONDS - t0)) s: $(chromium --version 2>/dev/null || echo 'chromium (version unknown)')"
