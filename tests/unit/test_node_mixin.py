"""The starter catalog against the node_exporter mixin's real rules (vendored, unedited): each
covered alert, with the labels its expression gives, finds its entry, its host and its variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator import catalog
from remediator.models import Alert, frozen_map
from remediator.policy import alert_variables, target_of
from tests.nodemixin import BLOB, COVERED, JOB, VENDORED, git_blob_hash, groups, rules

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "remediator" / "starter" / "remediations.yml"
PLAYBOOKS = REPO / "playbooks"
COLLECTIONS = (PLAYBOOKS / "collections",)  # where the bundled remediator.fixes is found
# The labels node_exporter's series give each covered alert (besides the rule's own `severity`).
SERIES_LABELS: dict[str, dict[str, str]] = {
    "NodeFilesystem": {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/var/lib/app"},
    "NodeSystemd": {"name": "nginx.service", "state": "failed", "type": "notify"},
    "NodeClock": {},
}
EXPECTED_VARS = {
    "node-filesystem-space": {"disk_mountpoint": "/var/lib/app"},
    "node-filesystem-inodes": {"inode_mountpoint": "/var/lib/app"},
    "node-systemd-unit-restart": {"systemd_unit": "nginx.service"},
    "node-clock-resync": {},
}


def covered_rules() -> list[dict[str, Any]]:
    """The vendored rules of the covered alerts, as upstream wrote them."""
    return [r for g in groups() for r in g["rules"] if r.get("alert") in COVERED]


def fired(rule: dict[str, Any], **overrides: str) -> Alert:
    """The alert ``rule`` fires for host web-01: its labels, the series' and the target's."""
    series = next(v for k, v in SERIES_LABELS.items() if rule["alert"].startswith(k))
    labels = {"alertname": rule["alert"], "instance": "web-01:9100", "job": JOB, **series,
              **rule.get("labels", {}), **overrides}
    return Alert(source="alertmanager", name=rule["alert"], status="firing",
                 fingerprint="fp-0123456789abcdef", labels=frozen_map(labels))


def test_the_vendored_rules_are_the_upstream_file_unedited() -> None:
    """The vendored file's git blob hash is the one SOURCE.md names (kube-prometheus's)."""
    assert git_blob_hash(VENDORED) == BLOB
    assert BLOB in (VENDORED.parent / "SOURCE.md").read_text(encoding="utf-8")


def test_every_covered_alert_is_a_rule_of_the_mixin_selecting_the_node_exporter_job() -> None:
    """Each covered alert name is in the vendored rules, and its expression selects our JOB."""
    found = {r["alert"] for r in covered_rules()}
    assert found == set(COVERED)
    assert all(f'job="{JOB}"' in r["expr"] for r in covered_rules())


def test_the_test_rules_differ_from_upstream_only_in_for() -> None:
    """tests/nodemixin.rules() keeps every field of the covered rules but ``for:``."""
    derived = rules(hold="2s")["groups"][0]["rules"]
    upstream = covered_rules()
    assert len(derived) == len(upstream) == 11
    for ours, theirs in zip(derived, upstream, strict=True):
        assert {k: v for k, v in ours.items() if k != "for"} == \
            {k: v for k, v in theirs.items() if k != "for"}
        assert ours["for"] == "2s" and "for" in theirs


@pytest.mark.parametrize("rule", covered_rules(),
                         ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_each_covered_alert_finds_its_entry_host_and_variables(rule: dict[str, Any]) -> None:
    """The starter catalog routes the alert to its entry, host web-01, with the label variables."""
    loaded = catalog.load(STARTER, PLAYBOOKS, collections=COLLECTIONS)
    alert = fired(rule)
    entry = loaded.match(alert)
    assert entry is not None and entry.name == COVERED[rule["alert"]]
    assert target_of(alert, entry.target) == ("web-01", "")
    assert alert_variables(alert, entry) == (EXPECTED_VARS[entry.name], "")


@pytest.mark.parametrize("fstype", ["tmpfs", "overlay", "nfs4", "squashfs", "fuse.sshfs"])
def test_filesystem_alerts_on_memory_container_or_network_filesystems_match_nothing(
        fstype: str) -> None:
    """Cleaning a tmpfs, a container's overlay or an NFS mount from this host is not the fix."""
    loaded = catalog.load(STARTER, PLAYBOOKS, collections=COLLECTIONS)
    for rule in covered_rules():
        if rule["alert"].startswith("NodeFilesystem"):
            assert loaded.match(fired(rule, fstype=fstype)) is None, (rule["alert"], fstype)


def test_the_demo_catalog_holds_the_starter_entries_but_names_playbooks_by_file() -> None:
    """remediations.yml (the demo) carries every starter entry unchanged except its playbook:
    the starter's remediator.fixes.NAME is the demo's NAME.yml (the wrapper importing it)."""
    starter = yaml.safe_load(STARTER.read_text(encoding="utf-8"))["remediations"]
    demo = yaml.safe_load((REPO / "remediations.yml").read_text(encoding="utf-8"))["remediations"]
    by_name = {e["name"]: e for e in demo}
    as_files = [{**e, "playbook": e["playbook"].removeprefix("remediator.fixes.") + ".yml"}
                for e in starter]
    assert all(e["playbook"].startswith("remediator.fixes.") for e in starter)
    assert [by_name.get(e["name"]) for e in starter] == as_files


def test_the_starter_catalog_ships_in_the_package() -> None:
    """pyproject.toml's package data includes the starter catalog (wt-coll's init writes it)."""
    assert '"starter/*.yml"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")
