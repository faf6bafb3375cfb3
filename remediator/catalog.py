"""The catalog: version-controlled YAML mapping alerts to playbooks, each at a trust stage."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CatalogError
from .galaxy import find_playbook, is_fqcn
from .identity import CHANNELS
from .limits import DEFAULT as DEFAULT_GUARDRAILS
from .limits import Guardrails
from .limits import parse as parse_guardrails
from .models import (
    Alert,
    ApprovalRule,
    CollectionRef,
    Matcher,
    MatchOp,
    Remediation,
    Stage,
    Target,
    VarSource,
    frozen_map,
)
from .regex import RegexError, Searcher
from .settings.accelerators import ACCELERATORS
from .yamlio import YamlList, YamlMap, line_of, load_yaml

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
VAR_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MATCHER_RE = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
# Roots a variable may be read from: the alert's own fields and its label/annotation maps.
VAR_ROOTS = frozenset({"labels", "annotations", "name", "fingerprint", "status", "source",
                       "starts_at"})
# Variables an alert must never set: connection and privilege settings, and ours.
RESERVED_VAR_PREFIXES = ("ansible_", "remediator_")

_ENTRY_KEYS = frozenset({"name", "description", "match", "playbook", "stage", "target", "vars",
                         "static_vars", "timeout", "notify", "approval_ttl", "guardrails",
                         "toil_minutes", "job_template", "accelerator", "approval"})
_APPROVAL_KEYS = frozenset({"approvers", "required", "four_eyes"})
_TOP_KEYS = frozenset({"version", "remediations"})


@dataclass(frozen=True, slots=True)
class Catalog:
    """A validated catalog: its entries in file order, first match wins."""

    path: Path
    playbooks_dir: Path
    entries: tuple[Remediation, ...]
    # alertname -> the entries that may match it, in file order (None: any other name)
    _by_name: Mapping[str | None, tuple[Remediation, ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pinned = [{m.value for m in e.matchers if m.label == "alertname" and m.op is MatchOp.EQ}
                  for e in self.entries]
        names: set[str] = set().union(*pinned) if pinned else set()
        index: dict[str | None, tuple[Remediation, ...]] = {
            name: tuple(e for e, pins in zip(self.entries, pinned, strict=True)
                        if not pins or name in pins)
            for name in names}
        index[None] = tuple(e for e, pins in zip(self.entries, pinned, strict=True) if not pins)
        object.__setattr__(self, "_by_name", index)

    def match(self, alert: Alert) -> Remediation | None:
        """The first entry whose matchers all hold for ``alert``, or None."""
        candidates = self._by_name.get(alert.labels.get("alertname"))
        for entry in self._by_name[None] if candidates is None else candidates:
            if entry.matches(alert):
                return entry
        return None

    def get(self, name: str) -> Remediation | None:
        """The entry called ``name``, or None."""
        return next((e for e in self.entries if e.name == name), None)

    def __iter__(self) -> Iterator[Remediation]:
        return iter(self.entries)


def parse_matcher(text: str) -> Matcher:
    """A Matcher from Alertmanager syntax, e.g. ``severity=~"warning|critical"``."""
    found = MATCHER_RE.match(text)
    if not found:
        raise ValueError(f'expected label OP "value" with OP one of =, !=, =~, !~; got {text!r}')
    label, op, raw = found.groups()
    # Alertmanager unescapes only \\, \" and \n; any other backslash stays (regex escapes).
    value = re.sub(r'\\([\\"n])', lambda m: "\n" if m.group(1) == "n" else m.group(1), raw)
    return Matcher(label, MatchOp(op), value)  # a regex RE2 refuses: RegexError, a ValueError


@dataclass(frozen=True, slots=True)
class _At:
    """A bare line number standing in for a node, e.g. one item of a YAML list."""

    line: int


class _Problems:
    """Collects every problem of one catalog file, each naming file, line, entry and key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, node: Any, key: str | None, message: str, entry: str | None = None) -> None:
        line = node.line if isinstance(node, _At) else line_of(node, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        parts = [where]
        if entry:
            parts.append(f"entry '{entry}'")
        if key:
            parts.append(f"key '{key}'")
        self.items.append(f"{': '.join(parts)}: {message}")


def load(path: Path, playbooks_dir: Path, defaults: Guardrails = DEFAULT_GUARDRAILS,
         collections: Sequence[Path] = ()) -> Catalog:
    """Load and validate the catalog; every problem found is listed in one CatalogError.
    ``collections``: the project's collections path, where FQCN playbooks are found."""
    data = load_yaml(path, CatalogError)
    problems = _Problems(path)
    if not isinstance(data, YamlMap):
        raise CatalogError("expected a mapping with a 'remediations' list", where=str(path))
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(data, key, f"unknown key; expected {', '.join(sorted(_TOP_KEYS))}")
    if data.get("version", 1) != 1:
        problems.add(data, "version", "unsupported catalog version; expected 1")
    raw_entries = data.get("remediations")
    if not isinstance(raw_entries, YamlList):
        problems.add(data, "remediations", "expected a list of remediation entries")
        raw_entries = YamlList()
    entries: list[Remediation] = []
    seen: dict[str, int] = {}
    for raw in raw_entries:
        entry = _entry(raw, path, playbooks_dir, problems, defaults, collections)
        if entry is None:
            continue
        if entry.name in seen:
            problems.add(raw, "name", f"duplicate name; first used on line {seen[entry.name]}",
                         entry.name)
            continue
        seen[entry.name] = entry.source_line
        entries.append(entry)
    if problems.items:
        count = len(problems.items)
        raise CatalogError(f"{count} problem(s) in the catalog", problems=tuple(problems.items),
                           where=str(path))
    return Catalog(path=path, playbooks_dir=playbooks_dir.resolve(), entries=tuple(entries))


def _entry(raw: Any, path: Path, playbooks_dir: Path, problems: _Problems,
           defaults: Guardrails, collections: Sequence[Path] = ()) -> Remediation | None:
    """One entry, or None after recording its problems."""
    if not isinstance(raw, YamlMap):
        problems.add(raw, None, "expected a mapping for each remediation entry")
        return None
    before = len(problems.items)
    name = raw.get("name")
    label = name if isinstance(name, str) else None
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add(raw, "name", "expected a name of lowercase letters, digits, '-', '_', '.'")
        name = "?"
    for key in raw:
        if key not in _ENTRY_KEYS:
            problems.add(raw, key, f"unknown key; expected one of {', '.join(sorted(_ENTRY_KEYS))}",
                         label)
    matchers = _matchers(raw, problems, label)
    job_template = _job_template(raw, problems, label)
    playbook, playbook_path, collection = ("", "", None) \
        if job_template is not None or "job_template" in raw \
        else _playbook(raw, playbooks_dir, problems, label, collections)
    stage = Stage.OBSERVE
    if "stage" in raw:
        try:
            stage = Stage(str(raw["stage"]))
        except ValueError:
            names = ", ".join(s.value for s in Stage)
            problems.add(raw, "stage", f"unknown stage {raw['stage']!r}; expected {names}", label)
    target = _target(raw, problems, label)
    variables = _vars(raw, problems, label)
    static = raw.get("static_vars", YamlMap())
    if not isinstance(static, Mapping):
        problems.add(raw, "static_vars", "expected a mapping of variable: value", label)
        static = {}
    for key in static:
        if not VAR_RE.match(key) or key.startswith(RESERVED_VAR_PREFIXES):
            problems.add(static, key, "invalid variable name (identifier, not ansible_*/"
                         "remediator_*)", label)
        elif key in variables:
            problems.add(static, key, "also set in 'vars'", label)
    timeout = raw.get("timeout", 600)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
        problems.add(raw, "timeout", "expected a positive number of seconds", label)
        timeout = 600
    notify = raw.get("notify")
    if notify is not None and (not isinstance(notify, list) or
                               not all(isinstance(n, str) for n in notify)):
        problems.add(raw, "notify", "expected a list of channel names ([] for none)", label)
        notify = None
    approval_ttl = raw.get("approval_ttl")
    if approval_ttl is not None and (not isinstance(approval_ttl, int) or
                                     isinstance(approval_ttl, bool) or approval_ttl < 1):
        problems.add(raw, "approval_ttl", "expected a positive number of seconds", label)
        approval_ttl = None
    toil = raw.get("toil_minutes")
    if toil is not None and (not isinstance(toil, int | float) or isinstance(toil, bool) or
                             not 0 < toil < float("inf")):
        problems.add(raw, "toil_minutes", "expected a positive number of minutes (the time a "
                     "person takes to fix it by hand)", label)
        toil = None
    guards, guard_problems = parse_guardrails(raw.get("guardrails"), defaults)
    node = raw.get("guardrails")
    for key, message in guard_problems:
        problems.add(node if isinstance(node, YamlMap) else raw, key if isinstance(node, YamlMap)
                     else "guardrails", message, label)
    accelerator = _accelerator(raw, problems, label)
    approval = _approval(raw, problems, label)
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add(raw, "description", "expected a string", label)
        description = ""
    if len(problems.items) > before:
        return None
    return Remediation(
        name=name, matchers=matchers, playbook=playbook, playbook_path=playbook_path,
        stage=stage, target=target, vars=frozen_map(variables), static_vars=frozen_map(static),
        timeout_s=timeout, description=description, source_file=str(path), source_line=raw.line,
        stage_line=raw.key_lines.get("stage", 0),
        notify=None if notify is None else tuple(notify), approval_ttl_s=approval_ttl,
        guardrails=guards, toil_minutes=None if toil is None else float(toil),
        job_template=job_template, accelerator=accelerator, collection=collection,
        approval=approval,
    )


def _matchers(raw: YamlMap, problems: _Problems, label: str | None) -> tuple[Matcher, ...]:
    """The entry's matchers from ``alertname``, ``labels`` (equality) and ``matchers``."""
    match = raw.get("match")
    if not isinstance(match, YamlMap):
        problems.add(raw, "match", "expected a mapping with 'alertname' and/or 'matchers'", label)
        return ()
    result: list[Matcher] = []
    for key in match:
        if key not in ("alertname", "labels", "matchers"):
            problems.add(match, key, "unknown key; expected alertname, labels, matchers", label)
    if "alertname" in match:
        if isinstance(match["alertname"], str) and match["alertname"]:
            result.append(Matcher("alertname", MatchOp.EQ, match["alertname"]))
        else:
            problems.add(match, "alertname", "expected a non-empty string", label)
    labels = match.get("labels", YamlMap())
    if not isinstance(labels, YamlMap):
        problems.add(match, "labels", "expected a mapping of label: value", label)
    else:
        for name, value in labels.items():
            if not LABEL_RE.match(name) or not isinstance(value, str):
                problems.add(labels, name, "expected label_name: \"string value\"", label)
            else:
                result.append(Matcher(name, MatchOp.EQ, value))
    texts = match.get("matchers", YamlList())
    bad = False
    if not isinstance(texts, YamlList):
        problems.add(match, "matchers", 'expected a list like [\'severity=~"warn|crit"\']', label)
        bad = True
    else:
        for index, text in enumerate(texts):
            try:
                result.append(parse_matcher(str(text)))
            except ValueError as exc:
                problems.add(_At(texts.item_lines[index]), "matchers", str(exc), label)
                bad = True
    if not result and not bad:
        problems.add(raw, "match", "matches every alert; give at least one matcher", label)
    return tuple(result)


def _job_template(raw: YamlMap, problems: _Problems, label: str | None) -> str | int | None:
    """The AWX job template an entry launches (a name, or a numeric id), or None.

    An entry names exactly one of ``playbook`` and ``job_template``.
    """
    if "job_template" not in raw:
        return None
    value = raw["job_template"]
    if "playbook" in raw:
        problems.add(raw, "job_template", "give either 'playbook' (run here) or "
                     "'job_template' (run on AWX), not both", label)
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    problems.add(raw, "job_template", "expected an AWX job template name, or its numeric id",
                 label)
    return None


def _accelerator(raw: YamlMap, problems: _Problems, label: str | None) -> str | None:
    """The entry's accelerator for its local runs, or None for the config's ``accelerator``."""
    if "accelerator" not in raw:
        return None
    value = raw["accelerator"]
    if value not in ACCELERATORS:
        problems.add(raw, "accelerator", f"unknown accelerator {value!r}; expected one of "
                     f"{', '.join(ACCELERATORS)}", label)
        return None
    if "job_template" in raw:
        problems.add(raw, "accelerator", "applies to playbooks run here; an AWX job template "
                     "takes its strategy from AWX", label)
        return None
    return str(value)


def _approval(raw: YamlMap, problems: _Problems, label: str | None) -> ApprovalRule:
    """The ``approval`` block: ``approvers`` (narrows the config's), ``required`` (distinct
    people, default 1), ``four_eyes`` (a person's live run needs another's approval)."""
    node = raw.get("approval")
    if node is None:
        return ApprovalRule()
    if not isinstance(node, YamlMap):
        problems.add(raw, "approval", "expected a mapping with approvers, required, four_eyes",
                     label)
        return ApprovalRule()
    for key in node:
        if key not in _APPROVAL_KEYS:
            problems.add(node, key, f"unknown key; expected one of "
                         f"{', '.join(sorted(_APPROVAL_KEYS))}", label)
    approvers = node.get("approvers")
    if approvers is not None:
        if not isinstance(approvers, list) or not approvers or any(
                not isinstance(a, str) or not a for a in approvers):
            problems.add(node, "approvers", "expected a list of person names (from the "
                         "config's approvals.people) or principals such as slack:U024BE7LH",
                         label)
            approvers = None
        else:
            for text in approvers:
                channel, sep, ident = text.partition(":")
                if sep and (channel not in CHANNELS or not ident):
                    problems.add(node, "approvers", f"{text!r}: a principal is channel:id "
                                 f"with channel one of {', '.join(CHANNELS)}", label)
    required = node.get("required", 1)
    if not isinstance(required, int) or isinstance(required, bool) or required < 1:
        problems.add(node, "required", "expected a positive number of distinct approvers",
                     label)
        required = 1
    four_eyes = node.get("four_eyes", False)
    if not isinstance(four_eyes, bool):
        problems.add(node, "four_eyes", "expected true or false", label)
        four_eyes = False
    if isinstance(approvers, list) and required > len(approvers):
        problems.add(node, "required", f"{required} distinct approvers needed, but "
                     f"'approvers' names only {len(approvers)}", label)
    return ApprovalRule(tuple(approvers) if isinstance(approvers, list) else None, required,
                        four_eyes)


def _playbook(raw: YamlMap, playbooks_dir: Path, problems: _Problems, label: str | None,
              collections: Sequence[Path] = ()) -> tuple[str, str, CollectionRef | None]:
    """The playbook as written, its resolved path, which must stay inside the playbook folder,
    and for an FQCN (``ns.coll.name``) the installed collection it comes from."""
    playbook = raw.get("playbook")
    if not isinstance(playbook, str) or not playbook:
        problems.add(raw, "playbook", "expected a playbook path inside the playbook folder, "
                     "or a collection playbook ns.coll.name (or a 'job_template' to run on AWX)",
                     label)
        return "", "", None
    if is_fqcn(playbook):
        try:
            found, ref = find_playbook(playbook, collections)
        except LookupError as exc:
            problems.add(raw, "playbook", str(exc), label)
            return playbook, "", None
        return playbook, str(found), ref
    root = playbooks_dir.resolve()
    resolved = (root / playbook).resolve()
    if Path(playbook).is_absolute() or not resolved.is_relative_to(root):
        problems.add(raw, "playbook", f"{playbook!r} is outside the playbook folder {root}", label)
    elif not resolved.is_file():
        problems.add(raw, "playbook", f"{playbook!r} not found in {root}", label)
    return playbook, str(resolved), None


def _target(raw: YamlMap, problems: _Problems, label: str | None) -> Target:
    """How hosts are found: ``target.label`` (default instance) and an optional ``pattern``."""
    node = raw.get("target")
    if node is None:
        return Target()
    if isinstance(node, str):
        if not LABEL_RE.match(node):
            problems.add(raw, "target", "expected a label name", label)
            return Target()
        return Target(label=node)
    if not isinstance(node, Mapping):
        problems.add(raw, "target", "expected a label name or {label, pattern}", label)
        return Target()
    name = node.get("label", "instance")
    pattern = node.get("pattern")
    if not isinstance(name, str) or not LABEL_RE.match(name):
        problems.add(node, "label", "expected a label name", label)
        return Target()
    if pattern is not None:
        try:
            if not isinstance(pattern, str) or Searcher(pattern).groups != 1:
                raise RegexError("expected a regular expression with exactly one group")
        except RegexError as exc:
            problems.add(node, "pattern", str(exc), label)
            return Target()
    return Target(label=name, pattern=pattern)


def _vars(raw: YamlMap, problems: _Problems, label: str | None) -> dict[str, VarSource]:
    """The allow-listed variable mapping: ``name: labels.x`` or ``name: {from, default}``."""
    node = raw.get("vars", YamlMap())
    if not isinstance(node, Mapping):
        problems.add(raw, "vars", "expected a mapping of variable: dotted.path", label)
        return {}
    result: dict[str, VarSource] = {}
    for var, spec in node.items():
        if not VAR_RE.match(var) or var.startswith(RESERVED_VAR_PREFIXES):
            problems.add(node, var, "invalid variable name (identifier, not ansible_*/"
                         "remediator_*)", label)
            continue
        if isinstance(spec, str):
            source = VarSource(path=spec)
        elif isinstance(spec, Mapping) and isinstance(spec.get("from"), str):
            extra = sorted(set(spec) - {"from", "default", "required"})
            if extra:
                problems.add(spec, extra[0], "unknown key; expected from, default, required",
                             label)
                continue
            default = spec.get("default")
            source = VarSource(path=spec["from"], required=default is None and
                               bool(spec.get("required", True)),
                               default=None if default is None else str(default))
        else:
            problems.add(node, var, "expected a dotted path or {from: path, default: value}",
                         label)
            continue
        error = _path_error(source.path)
        if error:
            problems.add(node, var, error, label)
            continue
        result[var] = source
    return result


def _path_error(path: str) -> str | None:
    """Why ``path`` is not an allowed dotted path into an alert, or None when it is."""
    if "{" in path or "%" in path:
        return f"{path!r}: a plain dotted path is expected, not a template"
    parts = path.split(".")
    if parts[0] not in VAR_ROOTS:
        return f"{path!r}: must start with one of {', '.join(sorted(VAR_ROOTS))}"
    if parts[0] in ("labels", "annotations"):
        if len(parts) != 2 or not parts[1]:
            return f"{path!r}: expected {parts[0]}.<name>"
    elif len(parts) != 1:
        return f"{path!r}: {parts[0]} has no fields"
    return None


def resolve_var(alert: Alert, path: str) -> str | None:
    """The value at dotted ``path`` in ``alert``, or None when absent."""
    root, _, rest = path.partition(".")
    if root == "labels":
        return alert.labels.get(rest)
    if root == "annotations":
        return alert.annotations.get(rest)
    value = getattr(alert, root, None)
    return None if value is None else str(value)
