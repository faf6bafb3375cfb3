"""A pending request's seal: what a person previewed, so that ``approve`` runs exactly that.

A request row is mutable state beside the append-only records. When it opens, a sha256 over
what approve acts on (id, entry, hosts, alert, variables, preview, times, and the playbook
digest, entry definition and catalog revision as previewed) is stored with the row and in the
pending record's ``request_seal``, which the chain protects. ``altered`` compares a row with
its pending record and its seal; ``audit verify`` and ``approve`` both use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, cast

from .audit import REDACTED, redact
from .models import PendingRequest, Remediation
from .record import ApproverPart, Draft, RequestSeal, entry_name


def preview_of(record: Draft) -> dict[str, Any]:
    """Per host, the tasks a check-mode record says would change (name and diff)."""
    return {host: [{"name": t["name"], "diff": t["diff"]} for t in result["tasks"]
                   if t["changed"]]
            for host, result in (record.get("hosts") or {}).items()}


def entry_digest(remediation: Remediation) -> str:
    """sha256 over what of a catalog entry shapes its run: the playbook (or AWX template),
    its variables and their sources, its fixed variables, timeout and accelerator. Its stage,
    matchers, guardrails and notifications do not change what an approval runs."""
    shape = {
        "name": remediation.name,
        "playbook": remediation.playbook,
        "job_template": remediation.job_template,
        "vars": {k: [v.path, v.required, v.default] for k, v in remediation.vars.items()},
        "static_vars": dict(remediation.static_vars),
        "timeout_s": remediation.timeout_s,
        "accelerator": remediation.accelerator,
    }
    return _sha(shape)


def previewed(record: Draft | None) -> dict[str, Any]:
    """What would run, as previewed: from a pending record's remediation and request_seal
    (all None without a record); ``collection`` (name and version) when the playbook came from
    one."""
    remediation = record["remediation"] if record else None
    block = record.get("request_seal") if record else None
    shown: dict[str, Any] = {"playbook": remediation["playbook"] if remediation else None,
             "job_template": remediation.get("job_template") if remediation else None,
             "playbook_sha256": remediation["playbook_sha256"] if remediation else None,
             "catalog_revision": remediation["catalog_revision"] if remediation else None,
             "entry_sha256": block["entry_sha256"] if block else None}
    collection = remediation.get("collection") if remediation else None
    if collection is not None:  # only then: the seals of earlier requests stay as they were
        shown["collection"] = dict(collection)
    return shown


def request_seal(request: PendingRequest, what_runs: Mapping[str, Any]) -> str:
    """The seal of a request: sha256 over every field approve acts on and ``what_runs``
    (``previewed``); who opened it too, when a person did."""
    fields = {
        "id": request.id, "entry": request.entry, "hosts": list(request.hosts),
        "fingerprint": request.fingerprint,
        "alert": None if request.alert is None else dict(request.alert),
        "variables": dict(request.variables), "preview": dict(request.preview),
        "created_at": request.created_at, "expires_at": request.expires_at,
        "previewed": dict(what_runs),
    }
    if request.requested_by is not None:  # absent from alert-opened requests: seals made
        fields["requested_by"] = dict(request.requested_by)  # before people stay valid
    return _sha(fields)


def seal_block(request: PendingRequest, draft: Draft, entry_sha256: str) -> RequestSeal:
    """The pending record's ``request_seal``: the seal, the expiry and the entry digest
    (the record holds the rest of what the seal covers)."""
    block: RequestSeal = {"entry_sha256": entry_sha256, "expires_at": request.expires_at,
                          "seal": ""}
    if request.requested_by is not None:
        block["requested_by"] = cast(ApproverPart, dict(request.requested_by))
    block["seal"] = request_seal(request, previewed({**draft, "request_seal": block}))
    return block


def altered(request: PendingRequest, record: Draft, *, strict: bool = False
            ) -> str | None:
    """Which of the request row's fields differ from its pending record on the chain or no
    longer match its seal; None when it is as previewed.

    A request opened before requests were sealed has no seal: it is checked against its
    pending record only. With ``strict`` (approve), such a request whose record holds a
    variable redacted is not accepted: that value cannot be checked.
    """
    # read defensively: the record on the chain may have been tampered with
    shown = record.get("alert")
    alert: dict[str, Any] = dict(shown) if shown else {}
    hosts = alert.pop("hosts", [])
    decision: Mapping[str, Any] = record.get("decision") or {}
    block: Any = record.get("request_seal")
    checks: list[tuple[str, Any, Any]] = [
        ("id", request.id, record.get("id")),
        ("state of its record", "pending", decision.get("action")),
        ("entry", request.entry, entry_name(record)),
        # a person's request has no alert: its hosts are under the seal alone
        ("hosts", list(request.hosts), list(hosts) if shown else list(request.hosts)),
        ("fingerprint", request.fingerprint, alert.get("fingerprint")),
        ("alert", None if request.alert is None else dict(request.alert), alert or None),
        ("variables", redact(request.variables), decision.get("variables")),
        ("preview", dict(request.preview), preview_of(record)),
        ("created_at", request.created_at, record.get("created_at")),
    ]
    if isinstance(block, Mapping) or request.seal is not None:
        block = block if isinstance(block, Mapping) else {}
        checks += [("expires_at", request.expires_at, block.get("expires_at")),
                   ("requester", request.requested_by, block.get("requested_by")),
                   ("seal", request.seal, block.get("seal"))]
    for name, row, recorded in checks:
        if row != recorded:
            return f"its {name} differs from its pending record {request.id}"
    if request.seal is not None and request_seal(request, previewed(record)) != request.seal:
        return "its fields no longer match its seal"
    if strict and request.seal is None:
        hidden = sorted(k for k, v in (decision.get("variables") or {}).items() if v == REDACTED)
        if hidden:
            return (f"it was opened before requests were sealed and its pending record holds "
                    f"{', '.join(hidden)} redacted, so it cannot be checked")
    return None


def _sha(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
