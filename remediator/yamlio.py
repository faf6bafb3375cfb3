"""YAML loading that remembers line numbers, so every error can name its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import RemediatorError


class YamlMap(dict[str, Any]):
    """A YAML mapping that knows the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """The line of ``key``, or of the mapping itself when the key is absent."""
        lines: dict[str, int] = getattr(self, "key_lines", {})  # none when built in code
        return lines.get(key, self.line)


class YamlList(list[Any]):
    """A YAML sequence that knows its line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


MAX_DEPTH = 100  # nesting levels of one document
MAX_NODES = 1_000_000  # nodes of one document once its aliases are expanded


class _Bounded(yaml.SafeLoader):
    """A SafeLoader that refuses documents nested deeper than MAX_DEPTH or expanding (through
    aliases: a "billion laughs") to more than MAX_NODES nodes, each at the line it happens."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _expanded(node, {})
        return node


def _expanded(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (memoised: linear in the
    distinct nodes); a ComposerError past MAX_NODES."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded(k, sizes) + _expanded(v, sizes) for k, v in node.value)
    if total > MAX_NODES:
        raise yaml.composer.ComposerError(
            None, None, f"aliases expand this to over {MAX_NODES:,} nodes", node.start_mark)
    sizes[id(node)] = total
    return total


def check_bounds(path: Path, error: type[RemediatorError]) -> None:
    """Compose every document of ``path`` (no value is built, any tag is fine) under the
    bounds; a problem raises ``error`` naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # not ours to judge: the tool that reads it will say
    try:
        for _ in yaml.compose_all(text, Loader=_Bounded):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if "nested deeper" in str(exc.problem) or "aliases expand" in str(exc.problem):
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise error(f"refused YAML: {exc.problem}", where=where) from None
    except yaml.YAMLError:
        return  # a syntax error: the reader names it


class _LineLoader(_Bounded):
    """The bounded SafeLoader whose mappings and sequences carry line numbers."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
    result = YamlMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> YamlList:
    result = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml(path: Path, error: type[RemediatorError]) -> Any:
    """Parse ``path``; unreadable files and YAML errors raise ``error`` naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", where=str(path)) from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise error(f"invalid YAML: {exc.problem or exc.context}", where=where) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", where=str(path)) from None


def line_of(node: Any, key: str | None = None) -> int:
    """Best-known line for ``node`` (or its ``key``); 0 when unknown."""
    if isinstance(node, YamlMap):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, YamlList):
        return node.line
    return 0
