"""The approvals ``serve`` runs in the background: Slack clicks and the web page's buttons.

Each approval runs in a thread of its own with an engine of its own (its store connections,
its executor). At shutdown they share serve's grace period with the workers; then the runs
still going are cancelled (each is recorded as cancelled, as a worker's run is) and waited
for, so every run an approval started ends as a record before ``serve`` exits, whichever
channel started it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .connections import Log

if TYPE_CHECKING:
    from ..config import Config
    from ..engine import Engine


class Background:
    """Threads that approve or deny, and their engines."""

    def __init__(self, config: Config, engine_factory: Callable[[Config], Engine],
                 log: Log) -> None:
        self.config = config
        self.engine_factory = engine_factory
        self.log = log
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._engines: list[Engine] = []

    def start(self, name: str, work: Callable[[], None]) -> None:
        """Run ``work`` in a thread of its own (it logs its own failures)."""
        def run() -> None:
            try:
                work()
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """An engine of the calling thread's own, cancelled by ``stop`` after the grace
        period and closed on the way out (a RemediatorError if it cannot open)."""
        engine = self.engine_factory(self.config)
        with self._lock:
            self._engines.append(engine)
        try:
            yield engine
        finally:
            with self._lock:
                self._engines.remove(engine)
            engine.close()

    def stop(self, grace_s: float) -> None:
        """Give the running approvals ``grace_s`` between them; then cancel their runs
        (recorded as cancelled) and wait for their records."""
        deadline = time.monotonic() + grace_s
        for thread in self._snapshot():
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self._snapshot()):
            return
        self.log("grace period over: cancelling the approved runs still going")
        with self._lock:
            engines = list(self._engines)
        for engine in engines:
            cancel = getattr(engine.executor, "cancel", None)
            if cancel is not None:
                cancel.set()
        for thread in self._snapshot():
            thread.join()

    def _snapshot(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._threads)
