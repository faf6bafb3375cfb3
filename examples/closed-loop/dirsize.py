#!/usr/bin/env python3
"""A tiny textfile exporter: the size of a folder, as node_exporter's textfile collector reads it.

Every ``--interval`` seconds it counts the bytes of the regular files under ``--root`` (their
apparent sizes, hard links once, symlinks not followed: what ``du -sb`` counts, less the folders'
own few KiB) and publishes, for ``--instance HOST`` and ``--mountpoint MP``::

    sandbox_used_bytes{instance="HOST",mountpoint="MP"} <bytes under --root>
    sandbox_size_bytes{instance="HOST",mountpoint="MP"} <--size>

as ``OUT/sandbox.prom``: written to a temporary file in ``OUT`` first, then renamed over the
old one, so a scrape never reads half a file. Point node_exporter's
``--collector.textfile.directory`` at ``OUT``. Standard library only; stops on SIGTERM or
SIGINT; ``--once`` writes one file and exits (for tests and cron).

    python3 dirsize.py --root sandbox/closed-loop/host --size 6291456 \\
        --instance demo-web-01 --out sandbox/closed-loop/textfile
"""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

FILENAME = "sandbox.prom"


def used_bytes(root: Path) -> int:
    """The apparent size of the regular files under ``root``; files that vanish while it
    counts (a cleanup running) are skipped."""
    total = 0
    seen: set[tuple[int, int]] = set()
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                if info.st_nlink > 1:
                    seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def _label(value: str) -> str:
    """A label value escaped for the exposition format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(used: int, size: int, instance: str, mountpoint: str) -> str:
    """The two gauges in Prometheus's text format."""
    labels = f'instance="{_label(instance)}",mountpoint="{_label(mountpoint)}"'
    return (
        "# HELP sandbox_used_bytes Bytes of the regular files under the sandbox folder.\n"
        "# TYPE sandbox_used_bytes gauge\n"
        f"sandbox_used_bytes{{{labels}}} {used}\n"
        "# HELP sandbox_size_bytes Simulated size of the sandbox's filesystem.\n"
        "# TYPE sandbox_size_bytes gauge\n"
        f"sandbox_size_bytes{{{labels}}} {size}\n"
    )


def publish(out: Path, text: str) -> Path:
    """Write ``text`` to ``out/sandbox.prom`` atomically (temporary file, then rename)."""
    fd, partial = tempfile.mkstemp(prefix=f".{FILENAME}.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(partial, 0o644)  # node_exporter may run as another user
        os.replace(partial, out / FILENAME)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return out / FILENAME


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--root", type=Path, required=True, help="the folder to measure")
    parser.add_argument("--size", type=int, required=True,
                        help="the simulated filesystem size in bytes (sandbox_size_bytes)")
    parser.add_argument("--out", type=Path, required=True,
                        help="node_exporter's textfile directory")
    parser.add_argument("--instance", required=True, help="the instance label: the host name")
    parser.add_argument("--mountpoint", default="/", help="the mountpoint label (default /)")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between measurements (default 0.5)")
    parser.add_argument("--once", action="store_true", help="write the file once and exit")
    args = parser.parse_args(argv)
    if args.size <= 0 or args.interval <= 0:
        parser.error("--size and --interval must be positive")
    if not args.root.is_dir():
        parser.error(f"--root {args.root} is not a folder")
    if not args.out.is_dir():
        parser.error(f"--out {args.out} is not a folder")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and publish until stopped (or once)."""
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while True:
        publish(args.out, exposition(used_bytes(args.root), args.size, args.instance,
                                     args.mountpoint))
        if args.once or stop.wait(args.interval):
            return 0


if __name__ == "__main__":
    sys.exit(main())
