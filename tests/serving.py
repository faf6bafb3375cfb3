"""`remediator serve` as a real subprocess on loopback, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
READY = re.compile(r"listening on (http://\S+)")


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running `remediator serve`; its stderr is collected in ``log``."""

    config: Path
    env: Mapping[str, str]
    args: tuple[str, ...] = ()
    fake: bool = False  # run no playbook: tests.fakecli (its env scripts the runs)
    nofile: int | None = None  # the server's open-file limit (prlimit --nofile), if lowered
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> Server:
        env = {**os.environ, **self.env}
        env.pop("REMEDIATOR_MAX_STAGE", None)
        if self.fake:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        limit = ["prlimit", f"--nofile={self.nofile}", "--"] if self.nofile else []
        self.proc = subprocess.Popen(
            [*limit, sys.executable, "-m", "tests.fakecli" if self.fake else "remediator", "--config", str(self.config), "serve",
             "--listen", "127.0.0.1:0", *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                found = READY.search(line)
                if found:
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout) or not self.url:
            self.kill()
            raise AssertionError(f"serve did not start:\n{self.log}")
        return self

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            conn.close()

    def raw(self, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes,
            timeout: float = 30.0) -> tuple[int, bytes]:
        """Send exactly these bytes (headers no HTTP client would send, too) on a fresh
        connection; (status, the whole answer), status 0 when there is no status line."""
        lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close",
                 b"Content-Length: " + str(len(body)).encode(),
                 *(k + b": " + v for k, v in headers)]
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        head = data.split(b"\r\n", 1)[0].split()
        return (int(head[1]) if len(head) > 1 and head[1].isdigit() else 0), data

    def post(self, path: str, payload: Any, headers: Mapping[str, str] | None = None
             ) -> Reply:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body,
                            {"Content-Type": "application/json", **(headers or {})})

    def wait_log(self, pattern: str, timeout: float = 60.0, count: int = 1) -> None:
        """Wait until ``pattern`` appears ``count`` times in the server's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.log)) >= count:
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} (x{count}) in the server log:\n{self.log}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        finally:
            time.sleep(0.05)  # let the pump read the last lines

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        """Stop serve (SIGTERM: a running fix may finish), if the test has not; kill it if
        need be. For an ExitStack callback."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop()
            finally:
                self.kill()
