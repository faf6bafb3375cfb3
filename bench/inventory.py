"""bench/inventory: loading a large inventory, listed by ansible-core and then cached.

A shop's layout with ``--hosts`` hosts (10,000 by default): ``inventory/prod/hosts.ini`` in
groups of 100, ``group_vars/all.yml`` and a ``host_vars/`` file with ``ansible_host`` for every
tenth host. Three figures, each the median of ``--rounds``:

- ``ansible-inventory --list`` run directly (the baseline: what Ansible itself costs);
- ``inventory.load`` with an empty cache (the listing plus remediator's parsing and hashing);
- ``inventory.load`` from the cache (what every command after the first pays), as a fraction
  of the baseline.

    .venv/bin/python bench/inventory.py [--hosts 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from remediator import inventory
from remediator.ansible_project import setup


def layout(root: Path, hosts: int) -> Path:
    """The inventory folder for ``hosts`` hosts."""
    prod = root / "inventory" / "prod"
    (prod / "group_vars").mkdir(parents=True)
    (prod / "host_vars").mkdir()
    lines = []
    for group in range(0, hosts, 100):
        lines.append(f"[rack{group // 100:03d}]")
        lines += [f"web-{n:05d}" for n in range(group, min(group + 100, hosts))]
    (prod / "hosts.ini").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (prod / "group_vars" / "all.yml").write_text("ansible_connection: local\n",
                                                 encoding="utf-8")
    for n in range(0, hosts, 10):
        (prod / "host_vars" / f"web-{n:05d}.yml").write_text(
            f"ansible_host: 10.{n // 65536}.{n // 256 % 256}.{n % 256}\n", encoding="utf-8")
    return prod


def timed(action: object) -> float:
    t0 = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    program = str(Path(sys.executable).with_name("ansible-inventory"))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        prod = layout(root, args.hosts)
        ansible = setup(root, None, os.environ)
        cache = root / "cache"
        direct, cold, warm = [], [], []
        for _ in range(args.rounds):
            direct.append(timed(lambda: subprocess.run(
                [program, "--list", "-i", str(prod)], check=True, capture_output=True,
                cwd=root)))
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(timed(lambda: inventory.load([prod], ansible, cache_dir=cache)))
            warm.append(timed(lambda: inventory.load([prod], ansible, cache_dir=cache)))
        loaded = inventory.load([prod], ansible, cache_dir=cache)
        assert loaded.from_cache and len(loaded.hosts) == args.hosts
        assert len(loaded.addresses) == (args.hosts + 9) // 10
    base, first, again = (statistics.median(v) for v in (direct, cold, warm))
    print(f"{args.hosts:,} hosts, median of {args.rounds}:")
    print(f"  ansible-inventory --list     {base:7.2f} s  (baseline)")
    print(f"  load, empty cache            {first:7.2f} s  ({first / base:.2f}x the baseline)")
    print(f"  load, from the cache         {again:7.3f} s  ({again / base:.3f}x the baseline)")


if __name__ == "__main__":
    main()
