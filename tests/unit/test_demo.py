"""make_sandbox: a deterministic demo host folder that never wipes a folder it did not make."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from remediator.demo import MARKER, STALE_AGE_S, main, make_sandbox

NOW = 1_800_000_000.0


def fingerprint(root: Path) -> dict[str, tuple[int, float, str]]:
    """Return relative path -> (size, mtime, sha256) for every file under root."""
    return {
        str(p.relative_to(root)): (
            p.stat().st_size,
            p.stat().st_mtime,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_sandbox_layout_and_summary(tmp_path: Path) -> None:
    """The sandbox has stale and fresh cache files and non-cache data, and the summary adds up."""
    root = tmp_path / "host"
    summary = make_sandbox(root, now=NOW)
    files = fingerprint(root)
    stale = {p: v for p, v in files.items() if v[1] == NOW - STALE_AGE_S}
    fresh = {p: v for p, v in files.items() if v[1] == NOW and p != MARKER}
    assert all(p.startswith("var/cache/app/") for p in stale)
    assert any("/" in p.removeprefix("var/cache/app/") for p in stale)  # nested: needs recursion
    assert {"var/cache/app/fresh-0001.bin", "var/lib/app/data.bin"} <= set(fresh)
    assert summary["files_stale"] == len(stale) >= 5
    assert summary["bytes_stale"] == sum(v[0] for v in stale.values()) == 4 * 1024 * 1024
    assert summary["bytes_fresh"] == sum(v[0] for v in fresh.values())
    assert summary["bytes_total"] == summary["bytes_stale"] + summary["bytes_fresh"]
    assert (root / MARKER).is_file()


def test_sandbox_is_deterministic_and_remade(tmp_path: Path) -> None:
    """Two builds with the same clock give identical files, and a rebuild drops leftovers."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert make_sandbox(a, now=NOW) == make_sandbox(b, now=NOW)
    assert fingerprint(a) == fingerprint(b)
    (a / "var" / "cache" / "app" / "leftover.tmp").write_text("x", encoding="utf-8")
    (a / "var" / "cache" / "app" / "render-0001.bin").unlink()
    make_sandbox(a, now=NOW)
    assert fingerprint(a) == fingerprint(b)


def test_refuses_to_wipe_an_unmarked_folder(tmp_path: Path) -> None:
    """A non-empty folder without the marker is never wiped."""
    root = tmp_path / "precious"
    root.mkdir()
    (root / "keep.txt").write_text("important", encoding="utf-8")
    with pytest.raises(ValueError, match="refusing to wipe"):
        make_sandbox(root, now=NOW)
    assert [p.name for p in root.iterdir()] == ["keep.txt"]


def test_refuses_a_file_or_symlink_as_root(tmp_path: Path) -> None:
    """A root that is a file, or a symlink (even to a sandbox), is refused."""
    target = tmp_path / "real"
    make_sandbox(target, now=NOW)
    link = tmp_path / "link"
    link.symlink_to(target)
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    for root in (link, afile):
        with pytest.raises(ValueError, match="not a plain folder"):
            make_sandbox(root, now=NOW)
    assert afile.read_text(encoding="utf-8") == "x"


def test_empty_existing_folder_is_used(tmp_path: Path) -> None:
    """An existing empty folder becomes a sandbox."""
    root = tmp_path / "empty"
    root.mkdir()
    assert make_sandbox(root, now=NOW)["files_stale"] > 0


def test_main_builds_and_reports_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m remediator.demo ROOT` builds the sandbox and prints its summary on stderr only."""
    assert main([str(tmp_path / "cli")]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bytes_stale: 4194304" in captured.err
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x").write_text("x", encoding="utf-8")
    assert main([str(tmp_path / "plain")]) == 2
