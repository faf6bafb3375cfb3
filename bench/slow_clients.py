"""bench/slow_clients: what a flood of half-sent requests does to `remediator serve`.

``--connections`` connections open at once, each sending half a request head and then
nothing, against the real `remediator serve` of a temp project run under ``prlimit
--nofile=N`` (its open-file limit). Then, at a few moments over ``--hold`` seconds: the
server's open file descriptors, how many flood connections are still open without an answer,
whether ``GET /healthz`` is answered (status and time, 5 s at most), and the size of the
server's log with its tracebacks. The serve settings are the defaults unless given.

    .venv/bin/python bench/slow_clients.py [--connections 1500] [--nofile 1024] [--hold 40]

Target: the flood is refused or timed out (none open after ``header_timeout``), healthz is
answered throughout (503 while at the limit, then 200), the log grows by a few lines and no
traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from webhooks import BIN, TOKEN_ENV, project  # bench/ is on sys.path as the script's folder

HEAD = b"POST /webhook/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@dataclass
class Log:
    """The server's stderr as it comes: bytes, lines, tracebacks, the first lines."""

    size: int = 0
    lines: int = 0
    tracebacks: int = 0
    first: list[str] = field(default_factory=list)
    port: int | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            self.size += len(line)
            self.lines += 1
            self.tracebacks += line.startswith("Traceback")
            if len(self.first) < 6:
                self.first.append(line.rstrip()[:160])
            if self.port is None and "listening on http://127.0.0.1:" in line:
                self.port = int(line.split("127.0.0.1:", 1)[1].split()[0])
                self.ready.set()
        self.ready.set()


def flood(port: int, count: int, deadline: float = 5.0) -> list[socket.socket]:
    """``count`` connections, each with half a request head; those connected in time."""
    connected: list[socket.socket] = []
    with selectors.DefaultSelector() as waiting:
        for _ in range(count):
            conn = socket.socket()
            conn.setblocking(False)
            if conn.connect_ex(("127.0.0.1", port)) in (0, errno.EINPROGRESS):
                waiting.register(conn, selectors.EVENT_WRITE)
            else:
                conn.close()
        end = time.monotonic() + deadline
        while waiting.get_map() and time.monotonic() < end:
            for key, _ in waiting.select(0.2):
                conn = key.fileobj  # type: ignore[assignment]
                waiting.unregister(conn)
                try:
                    if conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        conn.send(HEAD)
                        connected.append(conn)
                        continue
                except OSError:
                    pass
                conn.close()
        for key in list(waiting.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
    return connected


def still_open(conns: list[socket.socket]) -> int:
    """Connections with nothing to read yet: neither an answer nor the server's close."""
    count = 0
    for conn in conns:
        try:
            conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def healthz(port: int) -> str:
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = conn.recv(64)
        answer = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "closed"
    except OSError as exc:
        answer = type(exc).__name__
    return f"{answer} in {time.monotonic() - started:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1500)
    parser.add_argument("--nofile", type=int, default=1024, help="serve's open-file limit")
    parser.add_argument("--hold", type=float, default=40, help="seconds to watch")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.connections + 64:  # this client holds the flood's sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections + 256), hard))
    with tempfile.TemporaryDirectory(prefix="remediator-bench-") as tmp:
        config = project(Path(tmp), hosts=1, stage="observe", workers=2)
        env = {**os.environ, TOKEN_ENV: "bench-token"}
        server = subprocess.Popen(
            ["prlimit", f"--nofile={args.nofile}", "--", str(BIN / "remediator"), "--config",
             str(config), "serve"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        log = Log()
        assert server.stderr is not None
        threading.Thread(target=log.read, args=(server.stderr,), daemon=True).start()
        try:
            log.ready.wait(120)
            if log.port is None:
                raise SystemExit("remediator serve did not start:\n" + "\n".join(log.first))
            started = time.monotonic()
            conns = flood(log.port, args.connections)
            print(f"{len(conns)} of {args.connections} connections open after "
                  f"{time.monotonic() - started:.1f} s (serve's ulimit -n: {args.nofile})")
            for moment in sorted({2.0, 5.0, 12.0, 20.0, args.hold}):
                if moment > args.hold:
                    continue
                time.sleep(max(0.0, started + moment - time.monotonic()))
                fds = len(os.listdir(f"/proc/{server.pid}/fd"))
                print(f"t={moment:>4g} s: serve has {fds} files open, {still_open(conns)} "
                      f"flood connections unanswered, healthz {healthz(log.port)}, log "
                      f"{log.size:,} bytes ({log.lines:,} lines, {log.tracebacks:,} "
                      "tracebacks)")
            for conn in conns:
                conn.close()
            print("the log began:\n  " + "\n  ".join(log.first))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
