"""The node_exporter mixin's real alerting rules (vendored from kube-prometheus, unedited) as the
tests use them: the alerts remediator's starter catalog covers, with shortened ``for:`` durations.

tests/data/monitoring/node-mixin/SOURCE.md names the source repository, path and commit.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import yaml

VENDORED = (Path(__file__).resolve().parent / "data" / "monitoring" / "node-mixin"
            / "nodeExporter-prometheusRule.yaml")
BLOB = "f53de25b162bc41c0ff13adbd98827e7ffdf50f3"  # git hash-object of the vendored file
JOB = "node-exporter"  # the scrape job the mixin's expressions select (job="node-exporter")
# Each covered alert and the starter catalog entry that should handle it.
COVERED = {
    "NodeFilesystemAlmostOutOfSpace": "node-filesystem-space",
    "NodeFilesystemSpaceFillingUp": "node-filesystem-space",
    "NodeFilesystemAlmostOutOfFiles": "node-filesystem-inodes",
    "NodeFilesystemFilesFillingUp": "node-filesystem-inodes",
    "NodeSystemdServiceFailed": "node-systemd-unit-restart",
    "NodeClockNotSynchronising": "node-clock-resync",
    "NodeClockSkewDetected": "node-clock-resync",
}


def git_blob_hash(path: Path) -> str:
    """The hash git gives the file's content (``git hash-object``)."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def groups() -> list[dict[str, Any]]:
    """The vendored PrometheusRule's rule groups, as they are."""
    return list(yaml.safe_load(VENDORED.read_text(encoding="utf-8"))["spec"]["groups"])


def rules(alerts: frozenset[str] = frozenset(COVERED), hold: str = "1s") -> dict[str, Any]:
    """A Prometheus rule file holding the mixin's rules for ``alerts``, each ``for:`` set to
    ``hold`` (none added where the mixin has none); nothing else changed."""
    kept = []
    for group in groups():
        for upstream in group["rules"]:
            if upstream.get("alert") in alerts:
                rule = copy.deepcopy(upstream)
                if "for" in rule:
                    rule["for"] = hold
                kept.append(rule)
    return {"groups": [{"name": "node-exporter", "rules": kept}]}


def write_rules(path: Path, alerts: frozenset[str] = frozenset(COVERED),
                hold: str = "1s") -> Path:
    """Write ``rules(alerts, hold)`` to ``path``."""
    path.write_text(yaml.safe_dump(rules(alerts, hold), sort_keys=False), encoding="utf-8")
    return path
