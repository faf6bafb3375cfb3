"""Group commit for the receiver: request handlers hand payloads to one writer thread, which
writes everything waiting in one transaction and then answers each of them.

Concurrent requests share a commit (and its fsync), so the rate grows with the number of
senders while every 2xx still means "on disk".
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future

from ..errors import StoreError
from ..store import IntakeStore, StoreLocation, open_intake
from ..store.intake import Accepted

_STOP = object()


class IntakeWriter:
    """One thread, one connection: ``submit`` returns a future of the row id (None: replay)."""

    def __init__(self, path: StoreLocation, on_commit: Callable[[], None], *, max_batch: int = 512,
                 durable: bool = True) -> None:
        self._path = path
        self._durable = durable
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="intake-writer", daemon=True)

    def start(self) -> None:
        """Open the queue in the writer thread; errors opening it surface here."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, item: Accepted) -> Future[int | None]:
        """Queue one payload for the next commit."""
        future: Future[int | None] = Future()
        self._queue.put((item, future))
        return future

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _loop(self) -> None:
        try:
            intake = open_intake(self._path, durable=self._durable)
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        try:
            while not stopping:
                batch: list[tuple[Accepted, Future[int | None]]] = []
                entry = self._queue.get()
                while True:
                    if entry is _STOP:
                        stopping = True
                    else:
                        batch.append(entry)  # type: ignore[arg-type]
                    if len(batch) >= self._max_batch:
                        break
                    try:
                        entry = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._write(intake, batch)
        finally:
            intake.close()

    def _write(self, intake: IntakeStore,
               batch: list[tuple[Accepted, Future[int | None]]]) -> None:
        try:
            ids = intake.accept([item for item, _ in batch])
        except StoreError as exc:
            print(f"remediator serve: {exc}", file=sys.stderr)
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), rid in zip(batch, ids, strict=True):
            future.set_result(rid)
        self._on_commit()
