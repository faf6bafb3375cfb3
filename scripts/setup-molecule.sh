#!/usr/bin/env bash
# Set up what the molecule scenarios and the podman integration tests need, without Docker, an image
# registry or Galaxy: podman (with runc), molecule and its podman driver in .venv, the collections
# containers.podman / ansible.posix / community.general, and a local Debian image built with debootstrap.
#
# Idempotent and fast when cached: the rootfs tarball and the collections are kept in $CACHE, a folder
# outside the checkout that the machine keeps (default /var/cache/remediator-ci). The apt mirror for
# debootstrap is read from this machine's own apt sources at run time; none is written in this repo.
#
# Prints nothing on stdout; progress goes to stderr. Usage: bash scripts/setup-molecule.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${REMEDIATOR_CI_CACHE:-/var/cache/remediator-ci}"
VENV="${VENV:-.venv}"
ANSIBLE_VERSION=12.3.0          # the `ansible` release whose collections match ansible-core 2.19
MOLECULE_VERSION=26.10.0
PLUGINS_VERSION=26.10.12        # molecule-plugins, for its podman driver
IMAGE=localhost/localdebian:bookworm
SUITE=bookworm
PACKAGES=python3,procps         # procps: `ps`, which the service-restart playbook uses
COLLECTIONS=(containers/podman ansible/posix community/general)

say() { printf 'setup-molecule: %s\n' "$*" >&2; }
t0=$SECONDS
mkdir -p "$CACHE"

# 1. podman, runc and debootstrap from Debian's packages.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    say "installing podman runc debootstrap (log: $CACHE/apt.log)"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y podman runc debootstrap; } \
        >"$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; exit 1; }
fi

# 2. molecule and its podman driver in the project's venv.
have=$("$VENV/bin/python" -c 'import importlib.metadata as m
for name in ("molecule", "molecule-plugins"):
    try:
        print(f"{name}=={m.version(name)}")
    except m.PackageNotFoundError:
        pass' | tr '\n' ' ')
if [ "$have" != "molecule==$MOLECULE_VERSION molecule-plugins==$PLUGINS_VERSION " ]; then
    say "installing molecule==$MOLECULE_VERSION molecule-plugins[podman]==$PLUGINS_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "molecule==$MOLECULE_VERSION" "molecule-plugins[podman]==$PLUGINS_VERSION" >&2
fi

# 3. The collections, unpacked from the `ansible` wheel (Galaxy is not reachable).
COLL="$CACHE/collections-$ANSIBLE_VERSION"
if [ ! -f "$COLL/.complete" ]; then
    say "unpacking ${COLLECTIONS[*]} from ansible==$ANSIBLE_VERSION"
    tmp=$(mktemp -d)
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
        -d "$tmp" "ansible==$ANSIBLE_VERSION" >&2
    rm -rf "$COLL.tmp"
    mkdir -p "$COLL.tmp"
    "$VENV/bin/python" - "$tmp"/ansible-"$ANSIBLE_VERSION"-*.whl "$COLL.tmp" "${COLLECTIONS[@]}" <<'EOF'
import sys
import zipfile

wheel, dest, *wanted = sys.argv[1:]
prefixes = tuple(f"ansible_collections/{name}/" for name in wanted)
with zipfile.ZipFile(wheel) as zf:
    zf.extractall(dest, [n for n in zf.namelist() if n.startswith(prefixes)])
EOF
    rm -rf "$tmp" "$COLL"
    touch "$COLL.tmp/.complete"
    mv "$COLL.tmp" "$COLL"
fi
ln -sfn "collections-$ANSIBLE_VERSION" "$CACHE/collections"

# 4. The base image: a debootstrap minbase rootfs (cached as a tarball), imported into podman.
export CONTAINERS_CONF="$PWD/molecule/containers.conf"
TARBALL="$CACHE/rootfs-$SUITE-${PACKAGES//,/-}.tar"
if ! podman image exists "$IMAGE"; then
    if [ ! -f "$TARBALL" ]; then
        mirror=$("$VENV/bin/python" - "$SUITE" <<'EOF'
import glob
import sys

suite = sys.argv[1]


def one_line_sources():
    """Yield (uri, suites) from sources.list files in the one-line format."""
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            if words[:1] == ["deb"]:
                words = [w for w in words[1:] if not w.startswith("[")]
                if len(words) >= 2:
                    yield words[0], [words[1]]


def deb822_sources():
    """Yield (uri, suites) from the deb822 *.sources files."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            stanzas = open(path, encoding="utf-8").read().split("\n\n")
        except OSError:
            continue
        for stanza in stanzas:
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                for uri in fields.get("uris", []):
                    yield uri, fields.get("suites", [])


for uri, suites in [*deb822_sources(), *one_line_sources()]:
    if suite in suites:
        print(uri)
        break
EOF
)
        if [ -z "$mirror" ]; then
            say "no apt source for '$SUITE' in /etc/apt/sources.list*: cannot debootstrap"
            exit 1
        fi
        say "debootstrap --variant=minbase --include=$PACKAGES $SUITE from the machine's apt mirror"
        root=$(mktemp -d)
        debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
            || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$root"; exit 1; }
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        tar -C "$root" -cf "$TARBALL.tmp" .
        mv "$TARBALL.tmp" "$TARBALL"
        rm -rf "$root"
    fi
    say "podman import $TARBALL as $IMAGE"
    podman import --quiet "$TARBALL" "$IMAGE" >/dev/null
fi

say "ready in $((SECONDS - t0)) s: image $IMAGE, collections $CACHE/collections"
