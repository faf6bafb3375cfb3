"""A real HTTP server on loopback that records what it is sent and answers as scripted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the sink got."""

    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sink:
    """Answers each POST with the next scripted status (then 200), after an optional delay;
    answers each GET with ``get_status`` and ``get_body``."""

    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    get_status: int = 200
    get_body: bytes = b"[]"

    def script(self, *statuses: int, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay_s = delay_s

    def serve_get(self, body: bytes, status: int = 200) -> None:
        """Answer every GET with ``status`` and ``body`` (as application/json)."""
        self.get_body, self.get_status = body, status

    def bodies(self, path: str | None = None) -> list[Any]:
        return [r.json() for r in self.received
                if r.method == "POST" and (path is None or r.path == path)]


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a handler's error on stderr: a client that
    gave up (a timeout test) breaks the pipe of a late answer, and the traceback would land in
    whatever output a later test happens to be capturing."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def serve() -> Iterator[Sink]:
    """Start a sink on 127.0.0.1 and an ephemeral port; yields it, stops it afterwards."""
    sink = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            sink.received.append(Received(self.path, dict(self.headers.items()), body))
            if sink.delay_s:
                time.sleep(sink.delay_s)
            status = sink.statuses.pop(0) if sink.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:
            sink.received.append(Received(self.path, dict(self.headers.items()), b"", "GET"))
            self.send_response(sink.get_status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(sink.get_body)))
            self.end_headers()
            self.wfile.write(sink.get_body)

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A connection reset between select() and accept() would block accept() until the next
    # one arrives, and shutdown() with it for ever (accept(2)); a timeout makes accept return.
    # (Accepted sockets are made blocking again by socket.accept.)
    server.socket.settimeout(0.5)
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)  # shutdown() waits up to one poll interval
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
