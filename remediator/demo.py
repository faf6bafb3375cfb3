"""Build the demo sandbox: a fake host filesystem that the example playbook may clean."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

MARKER = ".remediator-sandbox"
"""File that marks a folder as a sandbox this module made (and so may wipe)."""

STALE_AGE_S = 30 * 86400
"""Age of the stale cache files: well past the playbook's default of 7 days."""

KIB = 1024
MIB = 1024 * KIB

# (path relative to the sandbox root, size in bytes, stale?)
_FILES: tuple[tuple[str, int, bool], ...] = (
    ("var/cache/app/render-0001.bin", 512 * KIB, True),
    ("var/cache/app/render-0002.bin", 512 * KIB, True),
    ("var/cache/app/render-0003.bin", 512 * KIB, True),
    ("var/cache/app/render-0004.bin", 384 * KIB, True),
    ("var/cache/app/.render-0005.partial", 128 * KIB, True),
    ("var/cache/app/thumbs/thumb-0001.bin", 768 * KIB, True),
    ("var/cache/app/thumbs/thumb-0002.bin", 768 * KIB, True),
    ("var/cache/app/thumbs/thumb-0003.bin", 512 * KIB, True),
    ("var/cache/app/fresh-0001.bin", 64 * KIB, False),
    ("var/cache/app/thumbs/fresh-0002.bin", 64 * KIB, False),
    ("var/lib/app/data.bin", 1 * MIB, False),
)


def _payload(rel: str, size: int) -> bytes:
    """Return ``size`` deterministic bytes derived from the file's relative path."""
    seed = (rel.encode() + b"\n") * (size // (len(rel) + 1) + 1)
    return seed[:size]


def make_sandbox(root: Path, *, now: float | None = None) -> dict[str, int]:
    """(Re)create the demo sandbox at ``root`` and return its byte and file counts."""
    root = Path(root)
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise ValueError(f"refusing to use {root}: not a plain folder")
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).is_file():
            raise ValueError(
                f"refusing to wipe {root}: no {MARKER} marker, so it is not a sandbox made here"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    now = time.time() if now is None else now
    marker = root / MARKER
    marker.write_text("made by remediator.demo; safe to delete\n", encoding="utf-8")
    os.utime(marker, (now, now))

    summary = {"bytes_stale": 0, "files_stale": 0, "bytes_fresh": 0, "files_fresh": 0}
    for rel, size, stale in _FILES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_payload(rel, size))
        mtime = now - STALE_AGE_S if stale else now
        os.utime(path, (mtime, mtime))
        kind = "stale" if stale else "fresh"
        summary[f"bytes_{kind}"] += size
        summary[f"files_{kind}"] += 1
    summary["bytes_total"] = summary["bytes_stale"] + summary["bytes_fresh"]
    return summary


def main(argv: list[str] | None = None) -> int:
    """Make the sandbox named on the command line (default sandbox/demo-web-01) and report it."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0].startswith("-")):
        print("usage: python -m remediator.demo [ROOT]", file=sys.stderr)
        return 2
    root = Path(args[0]) if args else Path("sandbox") / "demo-web-01"
    try:
        summary = make_sandbox(root)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"sandbox ready at {root.resolve()}", file=sys.stderr)
    for key, value in summary.items():
        print(f"  {key}: {value}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
