"""MkDocs hook: the reference tables rendered from the code's own tables, so they cannot drift.

A page asks for a table with a marker on a line of its own, ``<!-- generated: NAME -->``; NAME is
a key of ``TABLES``. Where the code holds only names (config keys, exit codes), the meaning is
written here, and the build fails when the two sets differ: a new key or exit code without a
line here, or a line here for something the code no longer has. The tests call ``render`` too.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.MULTILINE)


class DriftError(Exception):
    """The documentation's lines and the code's table name different things."""


def _same(kind: str, documented: set[Any], in_code: set[Any]) -> None:
    if documented != in_code:
        raise DriftError(f"{kind}: in the code but not documented in docs/hooks.py: "
                         f"{sorted(in_code - documented)}; documented but not in the code: "
                         f"{sorted(documented - in_code)}")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- exit codes: remediator/errors.py -------------------------------------------------------

EXIT_MEANINGS: Mapping[int, str] = {
    0: "done, including a fix that ran and failed (that is data, in the record)",
    1: "with `--fail-on-escalate`: a record was escalated, or its run failed, was unreachable "
       "or was interrupted",
    2: "bad usage or bad input: payload, config, catalog, inventory (the message names file, "
       "line or key)",
    3: "`audit verify`: the hash chain is broken, or a record's index column, host index row or "
       "an approval request does not match what was hashed; the message names the first record "
       "(or request) and column that does not fit. Also any read that finds a record whose row "
       "was edited (`audit show`, `audit list`, `stages`, reports)",
    4: "refused: a live run under policy (uncommitted changes, `--max-stage observe`; recorded), "
       "an approval of a request that expired, was denied or whose alert resolved, or an "
       "approval of a request that is not what was previewed (edited in the store, or its "
       "playbook or entry changed since; recorded)",
    5: "the audit store cannot be opened or written (missing folder, full disk, a PostgreSQL "
       "server that is unreachable or refuses the login; the message names the URL without "
       "its password)",
    6: "`audit show`, `approve`, `deny`: no record or request with that id (or the prefix is "
       "ambiguous)",
    7: "no run could be attempted (its run folder could not be created)",
    8: "`poll`: the alert source could not be read just now (unreachable, timed out, HTTP 5xx); "
       "worth retrying, unlike 2",
}


def error_classes() -> dict[int, list[str]]:
    """Exit code -> the names of the error classes that exit with it."""
    from remediator import errors

    found: dict[int, list[str]] = {}
    for name, cls in vars(errors).items():
        if isinstance(cls, type) and issubclass(cls, errors.RemediatorError):
            found.setdefault(cls.exit_code, []).append(name)
    return found


def exit_codes() -> str:
    classes = error_classes()
    _same("exit codes", set(EXIT_MEANINGS), {0, 1, *classes})
    rows = [(str(code), ", ".join(f"`{c}`" for c in sorted(classes.get(code, ()))) or "—",
             meaning) for code, meaning in sorted(EXIT_MEANINGS.items())]
    return _table(("code", "raised as", "meaning"), rows)


# --- remediator.yml: remediator/config.py, remediator/settings/server.py ---------------------

CONFIG_MEANINGS: Mapping[str, tuple[str, str]] = {  # key -> (default when not in code, meaning)
    "catalog": ("", "the catalog file"),
    "inventory": ("ansible.cfg's, else `inventory.yml`", "the inventory sources: a path or a "
                  "list (files, folders, scripts, plugin configs), read by `ansible-inventory`; "
                  "see [your Ansible repository](../guides/ansible-repository.md)"),
    "ansible_config": ("none", "an `ansible.cfg` to use instead of the one beside this file "
                       "(`$ANSIBLE_CONFIG` still wins, as for Ansible)"),
    "vault_ids": ("none", "extra vault identities, `ID@FILE` (a password file or a script that "
                  "prints it), added to ansible.cfg's"),
    "cache": ("", "inventory listings (host names, groups, addresses only), reused until a file "
              "they were read from changes"),
    "inventory_ttl": ("", "seconds a dynamic inventory's listing (a script, a cloud plugin) is "
                      "reused"),
    "playbooks": ("", "the playbook folder: catalog playbooks must resolve inside it"),
    "store": ("", "the audit store: a SQLite file (WAL), or a "
              "`postgresql://user@host:port/database` URL for state shared by several "
              "instances ([PostgreSQL](../guides/postgresql.md)); `$REMEDIATOR_STORE` "
              "overrides it"),
    "store_pool": ("", "connections per process to a PostgreSQL store"),
    "keep_guard_state": ("", "seconds dedupe claims and finished runs are kept in the guard "
                         "tables (30 days; never less than two guardrail horizons); audit "
                         "records are never pruned"),
    "runs": ("", "one private ansible-runner data dir per run (artifacts kept)"),
    "keep_runs": ("", "run folders kept; the oldest are removed"),
    "timeout": ("", "default run timeout, seconds"),
    "max_stage": ("none", "a ceiling in the file; `--max-stage` and the env var override it"),
    "approval_ttl": ("", "seconds a human-initiated request stays approvable (entry key "
                     "`approval_ttl` overrides)"),
    "refire_window": ("", "seconds after a successful fix in which the same alert still firing "
                      "escalates"),
    "refire_settle": ("", "seconds after a fix in which a re-delivery is only a duplicate "
                      "(monitoring has not seen the fix yet)"),
    "server": ("none", "`remediator serve`: listen address, limits and endpoints (below)"),
    "notifications": ("none", "channels and the default set "
                      "([notifications](../guides/notifications.md))"),
    "guardrails": ("see [guardrails](../concepts/guardrails.md)", "defaults for every entry's "
                   "guardrails (below)"),
    "awx": ("none", "where entries that name a `job_template` run ([AWX](../guides/awx.md))"),
    "approvals": ("none", "`people` (one person across Slack, web and CLI) and `approvers` (who "
                  "may approve): [Who may approve](../guides/approvals.md#who-may-approve)"),
    "accelerator": ("`none`", "`mitogen` runs local playbooks with Mitogen's strategy plugins "
                    "(entry key `accelerator` overrides): [Mitogen](../guides/mitogen.md)"),
}

SERVER_MEANINGS: Mapping[str, str] = {
    "listen": "HOST:PORT; `--listen` overrides; port 0 picks a free one",
    "workers": "threads handling accepted alerts (`--workers`)",
    "max_body": "bytes; larger bodies get 413",
    "grace": "seconds running work may finish after SIGTERM",
    "gather": "seconds a burst may gather before a worker claims it",
    "batch": "payloads a worker claims at most at once",
    "keep_intake": "seconds handled payloads stay in the intake table (records stay)",
    "header_timeout": "seconds from a request's first byte to its last header (else 408)",
    "body_timeout": "seconds from the headers to the whole body (else 408)",
    "keepalive_timeout": "seconds an idle kept-alive connection stays open",
    "max_connections": "open connections; left out, derived from the open-file limit",
    "endpoints": "only the endpoints listed here are served, each with its authentication",
    "web": "the approval page: `users` (bcrypt) or `proxy`, and the session's terms "
           "([web page](../guides/web.md))",
}

GUARDRAIL_MEANINGS: Mapping[str, str] = {
    "throttle": "`per_host`, `per_entry` runs (check or live) per `window` seconds",
    "cooldown": "seconds after a live run on a host before the next run there",
    "blast_radius": "`max_hosts` per run, or `max_percent` of inventory `group`",
    "breaker": "`failures`: consecutive failed live runs that open the circuit breaker",
    "recurrence": "`per_host`, `overall` live fixes per `window` before \"find the root cause\"",
    "lock_timeout": "seconds before an unfinished run's lock is stale "
                    "(0: the entry's timeout + 60)",
    "storm": "`window`: seconds `serve` and `poll` gather one entry's alerts into one run "
             "(0: per payload)",
    "maintenance": "windows (`cron` + `duration`, or `start` + `end`, UTC) in which the entry "
                   "only observes",
}

NOTIFY_MEANINGS: Mapping[str, str] = {
    "channels": "name -> `{type: pagerduty|slack|webhook|log, ...}`; secrets as `*_env`",
    "default": "the channels an entry without `notify:` uses",
    "timeout": "seconds per attempt",
    "retries": "attempts per channel; 429/5xx/network errors retry with backoff",
    "backoff": "seconds before the first retry, doubling",
    "record_url": "optional link in every message, `{id}` replaced by the record's id",
    "request_url": "optional link to a pending request's page (`/requests/{id}` of the web "
                   "page) in approval-needed messages: Slack and PagerDuty link to it",
}


def _code(value: object) -> str:
    return f"`{value}`"


def config_keys() -> str:
    from remediator import config

    _same("remediator.yml keys", set(CONFIG_MEANINGS), set(config._KNOWN))
    defaults: dict[str, object] = {**config._PATH_KEYS, **config._INT_KEYS}
    rows = []
    for key, (default, meaning) in CONFIG_MEANINGS.items():
        shown = _code(defaults[key]) if key in defaults else default
        rows.append((_code(key), shown, meaning))
    return _table(("key", "default", "meaning"), rows)


def server_keys() -> str:
    from remediator.settings import server

    _same("server keys", set(SERVER_MEANINGS), set(server.KEYS))
    defaults: dict[str, object] = {"listen": server.DEFAULT_LISTEN, "endpoints": "none",
                                   "web": "none",
                                   "max_connections": "derived"}
    defaults.update({k: v[0] for k, v in server._INTS.items()})
    defaults.update({k: v[0] for k, v in server._SECONDS.items()})
    return _table(("key", "default", "meaning"),
                  [(_code(k), _code(defaults[k]), m) for k, m in SERVER_MEANINGS.items()])


def guardrail_keys() -> str:
    from remediator import limits

    _same("guardrail keys", set(GUARDRAIL_MEANINGS), set(limits.KEYS))
    return _table(("key", "meaning"), [(_code(k), m) for k, m in GUARDRAIL_MEANINGS.items()])


def notification_keys() -> str:
    from remediator import config

    _same("notifications keys", set(NOTIFY_MEANINGS), set(config._NOTIFY_KEYS))
    rows = [(_code(k), m) for k, m in NOTIFY_MEANINGS.items()]
    rows += [(f"channel `type: {kind}`", ", ".join(_code(k) for k in sorted(keys)) or "none")
             for kind, keys in sorted(config._CHANNEL_KEYS.items())]
    return _table(("key", "meaning"), rows)


# --- /metrics: remediator/server/metrics.py ---------------------------------------------------


def metrics() -> str:
    from prometheus_client.metrics import MetricWrapperBase

    from remediator.server.metrics import Metrics

    made = Metrics(dict)
    rows = []
    for metric in vars(made).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        (family,) = metric.describe()
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = ", ".join(getattr(metric, "_labelnames", ()))
        rows.append((_code(name), family.type, labels and _code(labels), family.documentation))
    rows.sort()
    rows.append(("`process_*`, `python_info`, `python_gc_*`", "", "",
                 "what every Python exporter shows: resident memory, CPU seconds, open files, "
                 "start time; the interpreter; the garbage collector"))
    return _table(("metric", "type", "labels", "what it counts"), rows)


# --- the audit record: remediator/schema/audit-record-v1.json --------------------------------


def _kind(node: Mapping[str, Any]) -> str:
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " | ".join(json.dumps(v) for v in node["enum"])
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(_kind(n) for n in node.get("oneOf", node.get("anyOf", ())))
    kind = node.get("type", "any")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _object_of(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The object schema inside ``node`` (itself, or the object arm of a nullable oneOf)."""
    if "properties" in node or "additionalProperties" in node:
        return node
    for arm in node.get("oneOf", ()):
        if isinstance(arm, Mapping) and ("properties" in arm or "additionalProperties" in arm):
            return arm
    return None


def _fields(node: Mapping[str, Any], prefix: str, required: set[str]) -> Iterator[tuple[str, ...]]:
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        text = " ".join(str(child.get("description", "")).split())
        yield (_code(path), _kind(child), "yes" if name in required else "", text)
        inner = _object_of(child)
        if inner is None:
            continue
        yield from _fields(inner, f"{path}.", set(inner.get("required", ())))
        extra = inner.get("additionalProperties")
        if isinstance(extra, Mapping) and "properties" in extra:
            yield from _fields(extra, f"{path}.NAME.", set(extra.get("required", ())))
        items = child.get("items")
        if isinstance(items, Mapping) and "properties" in items:
            yield from _fields(items, f"{path}[].", set(items.get("required", ())))


def record_schema() -> str:
    text = resources.files("remediator").joinpath("schema/audit-record-v1.json").read_text(
        encoding="utf-8")
    schema = json.loads(text)
    rows = list(_fields(schema, "", set(schema.get("required", ()))))
    return _table(("field", "type", "required", "description"), rows)


# --- the package: every module's own docstring ----------------------------------------------


def _summary(path: Path) -> str:
    """The first sentence of a module's docstring, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "`")
    end = first.find(". ")
    return first[:end + 1] if end > 0 else first


def modules() -> str:
    import remediator

    root = Path(remediator.__file__).resolve().parent
    rows = []
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).parts):
        relative = path.relative_to(root.parent).as_posix()
        summary = _summary(path)
        if not summary:
            raise DriftError(f"{relative} has no docstring to describe it")
        rows.append((_code(relative), summary))
    return _table(("module", "what it is"), rows)


TABLES: Mapping[str, Callable[[], str]] = {
    "modules": modules,
    "exit-codes": exit_codes,
    "config-keys": config_keys,
    "server-keys": server_keys,
    "guardrail-keys": guardrail_keys,
    "notification-keys": notification_keys,
    "metrics": metrics,
    "record-schema": record_schema,
}


def render(markdown: str) -> str:
    """``markdown`` with each marker replaced by its table; an unknown marker is an error."""
    def table(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in TABLES:
            raise DriftError(f"unknown generated table {name!r}; known: {sorted(TABLES)}")
        return TABLES[name]()

    return MARKER.sub(table, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs event: fill in the generated tables."""
    try:
        return render(markdown)
    except DriftError as exc:
        from mkdocs.exceptions import PluginError

        raise PluginError(str(exc)) from exc
