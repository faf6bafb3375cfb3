#!/usr/bin/env bash
# Build the podman image with systemd as init that the systemd and clock playbooks' molecule scenarios
# and the node mixin's closed loop (tests/integration/test_node_mixin_loop.py) run: Debian bookworm
# from scripts/setup-molecule.sh's local image, plus systemd, dbus, chrony and node_exporter (whose
# systemd collector reads the units over D-Bus). Run it after scripts/setup-molecule.sh.
#
# The packages come from the image's own apt sources (the mirror debootstrap used), fetched by
# `podman build --network=host`. chrony has no time source and is disabled: a container that may set
# the clock (CAP_SYS_TIME) sets the one clock of the machine, so a test gives it a source on purpose
# (molecule/clock_resync/prepare.yml). Idempotent: builds only when the image is missing (about 10 s).
# Prints nothing on stdout; progress goes to stderr. Usage: bash scripts/setup-systemd-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=localhost/localdebian:bookworm
IMAGE=localhost/localdebian-systemd:bookworm
PACKAGES="systemd systemd-sysv dbus chrony prometheus-node-exporter"
export CONTAINERS_CONF="$PWD/molecule/containers.conf"

say() { printf 'setup-systemd-image: %s\n' "$*" >&2; }

if podman image exists "$IMAGE"; then
    exit 0
fi
if ! podman image exists "$BASE"; then
    say "$BASE is missing: run scripts/setup-molecule.sh first"
    exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/Containerfile" <<CONTAINERFILE
FROM $BASE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \\
 && sed -i -e 's/^pool /#pool /' -e 's/^sourcedir /#sourcedir /' /etc/chrony/chrony.conf \\
 && systemctl disable chrony.service
CMD ["/sbin/init"]
CONTAINERFILE
say "building $IMAGE ($PACKAGES)"
podman build --quiet --network=host -t "$IMAGE" "$dir" >/dev/null
say "built $IMAGE"
