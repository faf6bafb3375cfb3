"""A TCP forwarder on loopback that a test can cut and restore: a database outage on demand.

Cutting stops listening and drops every forwarded connection, as a network partition or a
server restart would look to the client; a new ``Proxy`` on the same port restores it.

Only the thread that uses a socket closes it: ``cut`` shuts sockets down (which wakes the
threads blocked on them) and leaves the close to them. Closing a socket under another
thread's feet frees its descriptor number for the next socket the process opens (the new
listener, a database connection) and that thread's late ``shutdown`` would then hit the
newcomer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target``."""

    target: tuple[str, int]
    port: int = 0
    _listener: socket.socket | None = None
    _acceptor: threading.Thread | None = None
    _open: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cut: bool = False

    def start(self) -> Proxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()
        return self

    def cut(self) -> None:
        """Stop listening and drop every connection; returns once the port is free."""
        with self._lock:
            self._cut = True
            listener, self._listener = self._listener, None
            doomed, self._open = self._open, []
        if listener is not None:  # wakes the thread blocked in accept(); it closes the socket
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
        for sock in doomed:  # wakes the pumps; the last one of a pair closes both
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(10)

    def _accept(self, listener: socket.socket) -> None:
        try:
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:
                    return
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                with self._lock:
                    if self._cut:
                        client.close()
                        upstream.close()
                        return
                    self._open += [client, upstream]
                pair = _Pair(client, upstream)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pair.pump, args=(a, b), daemon=True).start()
        finally:
            listener.close()


@dataclass
class _Pair:
    """Two forwarded sockets and the two pumps between them: the second pump to end closes
    both."""

    a: socket.socket
    b: socket.socket
    _running: int = 2
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):  # wakes the other pump
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self.a.close()
                self.b.close()
