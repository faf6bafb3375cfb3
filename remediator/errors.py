"""One exception tree; every error carries the process exit code the CLI maps it to."""

from __future__ import annotations

from typing import Any


class RemediatorError(Exception):
    """Base of every error raised on purpose; ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(RemediatorError):
    """Bad command-line usage: an unknown entry, a malformed --var, an unknown host."""

    exit_code = 2


class InputError(RemediatorError):
    """An alert payload that fits no source, or is not JSON at all."""

    exit_code = 2


class ConfigError(RemediatorError):
    """A config file that cannot be read or holds a wrong key."""

    exit_code = 2


class CatalogError(RemediatorError):
    """A catalog with one or more errors; ``problems`` lists each, naming file, entry and key."""

    exit_code = 2

    def __init__(self, message: str, *, problems: tuple[str, ...] = (),
                 where: str | None = None):
        self.problems = problems
        super().__init__(message, where=where)


class InventoryError(RemediatorError):
    """An inventory that cannot be read."""

    exit_code = 2


class RefusedError(RemediatorError):
    """A live run refused by policy, e.g. uncommitted catalog or playbook changes."""

    exit_code = 4


class ChainError(RemediatorError):
    """The audit hash chain does not verify; ``record_id`` names the first misfit."""

    exit_code = 3

    def __init__(self, message: str, *, record_id: str | None = None):
        self.record_id = record_id
        super().__init__(message)


class StoreError(RemediatorError):
    """The audit store cannot be opened or written (missing folder, full disk, locked database).

    ``unsaved`` holds the record (or records) that could not be written, so the caller can
    still show them; ``kept`` names the folder where they wait for the next start, if any.
    """

    exit_code = 5
    unsaved: dict[str, Any] | list[dict[str, Any]] | None = None
    kept: str | None = None


class NotFoundError(RemediatorError):
    """A record id that is not in the store."""

    exit_code = 6


class ExecutionError(RemediatorError):
    """No run could be attempted at all (ansible-playbook missing, runs folder unwritable)."""

    exit_code = 7


class SourceUnavailableError(RemediatorError):
    """The alert source could not be read just now (unreachable, timed out, a 5xx answer):
    worth retrying, unlike a configuration mistake (exit 2)."""

    exit_code = 8
