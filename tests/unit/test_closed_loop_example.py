"""examples/closed-loop/dirsize.py: the textfile it writes, checked against the real folder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from prometheus_client.parser import text_string_to_metric_families

from remediator.demo import MARKER, make_sandbox
from tests.conftest import REPO


def dirsize() -> ModuleType:
    """The example script, imported from its file."""
    spec = importlib.util.spec_from_file_location("dirsize", REPO / "examples" / "closed-loop" /
                                                  "dirsize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def samples(path: Path) -> dict[str, tuple[dict[str, str], float]]:
    """Each sample of the exposition file at ``path``, parsed by the Prometheus client."""
    return {s.name: (s.labels, s.value)
            for family in text_string_to_metric_families(path.read_text(encoding="utf-8"))
            for s in family.samples}


def test_once_publishes_the_folders_bytes(tmp_path: Path) -> None:
    """--once writes sandbox.prom (and nothing else) with the bytes of the demo sandbox's
    files and the given size, labelled with the host and mountpoint."""
    host, out = tmp_path / "host", tmp_path / "textfile"
    out.mkdir()
    summary = make_sandbox(host)
    real = sum(p.stat().st_size for p in host.rglob("*") if p.is_file())
    assert real == summary["bytes_total"] + (host / MARKER).stat().st_size
    code = dirsize().main(["--root", str(host), "--size", "6291456", "--instance", "web-01",
                           "--out", str(out), "--once"])
    assert code == 0
    assert [p.name for p in out.iterdir()] == ["sandbox.prom"]
    assert (out / "sandbox.prom").stat().st_mode & 0o777 == 0o644
    labels = {"instance": "web-01", "mountpoint": "/"}
    assert samples(out / "sandbox.prom") == {"sandbox_used_bytes": (labels, real),
                                             "sandbox_size_bytes": (labels, 6291456)}


def test_hard_links_count_once_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    """A hard-linked file counts once; a symlink to a file outside the folder counts nothing;
    label values are escaped."""
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x" * 5000)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.bin").write_bytes(b"a" * 1000)
    os.link(root / "sub" / "a.bin", root / "a-again.bin")
    (root / "link").symlink_to(outside)
    (root / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    module = dirsize()
    assert module.used_bytes(root) == 1000
    path = module.publish(tmp_path, module.exposition(1000, 2000, 'we"b\\01', "/"))
    assert samples(path)["sandbox_used_bytes"] == ({"instance": 'we"b\\01', "mountpoint": "/"},
                                                   1000)
