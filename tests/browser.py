"""Debian's headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
no port, no websocket library), and a recorder of the connections it tries: what the tests of the
HTML report and of the web page use (`bash scripts/setup-chromium.sh` installs it).

Chromium's only way out is a proxy on a loopback port that records every connection
(``--proxy-server``, ``--proxy-bypass-list=<-loopback>``), and host names resolve to nothing
(``--host-resolver-rules``), so a page can reach loopback servers and nothing else.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest

SCREEN_WIDTH = 1280
# The first command waits for the browser to start. A cold start on a fresh CI machine (caches to
# build, both cores busy with the rest of the suite) takes far longer than a warm one (about 1 s).
START_TIMEOUT_S = 90.0
# Chromium 156 calls these on its own at start, whatever page is open and despite
# --disable-background-networking / --disable-component-update: the component updater (the
# on-device model manifest, on demand) and the Google-account cookie check (ListAccounts, which
# no switch turns off); after a password form is sent, the leaked-password check (no switch
# found either). They are set aside by exact endpoint; any other connection fails a test.
BROWSER_OWN = re.compile(r"CONNECT (update\.googleapis\.com|accounts\.google\.com|"
                         r"passwordsleakcheck-pa\.googleapis\.com):443 HTTP/"
                         r"|POST http://update\.googleapis\.com/service/update2/json\?")

# --- the browser and the recorder -----------------------------------------------------------------

class Recorder:
    """A TCP listener on 127.0.0.1 that records the first line of every connection to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                except OSError:
                    first = "(no request line)"
                with self.lock:
                    self.seen.append(first)

    def connections(self) -> list[str]:
        """The first lines of the connections so far, but for the browser's own (BROWSER_OWN)."""
        with self.lock:
            return [line for line in self.seen if not BROWSER_OWN.match(line)]


def _high_fd(fd: int) -> int:
    """``fd`` moved to a number of 10 or more, clear of the 3 and 4 the browser will use."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Browser:
    """Headless Chromium with the DevTools protocol on fds 3 (commands) and 4 (replies, events)."""

    def __init__(self, workdir: Path, proxy_port: int, direct: tuple[str, ...] = ()) -> None:
        """Start it; every connection goes to the recorder at ``proxy_port`` but those to
        ``direct`` (``127.0.0.1:PORT``: a server under test)."""
        chromium = shutil.which("chromium")
        if chromium is None:
            pytest.fail("chromium is not installed: run `bash scripts/setup-chromium.sh`",
                        pytrace=False)
        cmd_read, self.cmd = map(_high_fd, os.pipe())
        self.out, out_write = map(_high_fd, os.pipe())
        flags = [
            # --disable-dev-shm-usage: a container's /dev/shm is often 64 MiB, and Chromium stalls
            # when it runs out; Debian's launcher means to add the switch then, but its test fails
            # when findmnt prints two lines for /dev/shm (as it does here).
            "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            "--disable-dev-shm-usage",
            f"--user-data-dir={workdir / 'profile'}", "--no-first-run", "--hide-scrollbars",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--force-color-profile=srgb",
            # a password form makes it call Google (autofill, leak check): its own, not the page's
            "--disable-features=NetworkTimeServiceQuerying,AutofillServerCommunication,"
            "PasswordLeakDetection",
            f"--proxy-server=http://127.0.0.1:{proxy_port}",
            "--proxy-bypass-list=" + ";".join(("<-loopback>", *direct)),
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--window-size={SCREEN_WIDTH},900", "about:blank",
        ]
        self.log = (workdir / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{cmd_read} 4>&{out_write} {cmd_read}<&- {out_write}>&-',
             "chromium", chromium, *flags],
            pass_fds=(cmd_read, out_write), stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        os.close(cmd_read)
        os.close(out_write)
        self.buffer = b""
        self.last_id = 0
        self.events: list[dict[str, Any]] = []
        self.waiting_for = ""
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"},
                               timeout_s=START_TIMEOUT_S)["targetId"]
            self.session = self.call("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Log", "Audits", "Runtime"):
                self.call(f"{domain}.enable", session=self.session)
        except BaseException:
            self.close()
            raise

    def _fail(self, what: str) -> NoReturn:
        """Fail the test with what the browser wrote on its way (the log's last lines)."""
        self.log.flush()
        tail = Path(self.log.name).read_bytes()[-3000:].decode(errors="replace")
        pytest.fail(f"chromium {what} (waiting for {self.waiting_for}); its log "
                    f"{self.log.name} ends:\n{tail or '(empty)'}", pytrace=False)

    def _next(self, deadline: float) -> dict[str, Any]:
        """The next message from the browser; fail after ``deadline``."""
        while b"\0" not in self.buffer:
            if not select.select([self.out], [], [], max(0.0, deadline - time.monotonic()))[0]:
                self._fail("did not answer in time")
            chunk = os.read(self.out, 1 << 20)
            if not chunk:
                self._fail(f"exited ({self.process.poll()})")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.cmd, json.dumps(message).encode() + b"\0")
        self.waiting_for = method
        deadline = time.monotonic() + timeout_s
        while (reply := self._next(deadline)).get("id") != self.last_id:
            self.events.append(reply)
        if "error" in reply:
            pytest.fail(f"{method}: {reply['error']}", pytrace=False)
        result: dict[str, Any] = reply["result"]
        return result

    def load(self, path: Path | str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Open ``path`` (a file, or a URL) in the page and wait for its load event; the events
        it caused."""
        url = path.as_uri() if isinstance(path, Path) else path
        self.events = []
        self.call("Page.navigate", {"url": url}, session=self.session)
        return self.wait_load(url, timeout_s)

    def act(self, expression: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Run ``expression`` (which submits a form or follows a link) and wait for the page
        it leads to; the events it caused."""
        self.events = []
        self.evaluate(expression)
        return self.wait_load(expression, timeout_s)

    def wait_load(self, what: str, timeout_s: float) -> list[dict[str, Any]]:
        """Wait for the next load event; the events so far."""
        self.waiting_for = f"the load event after {what}"
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._next(deadline))
        self.call("Runtime.evaluate", {"expression": "0"}, session=self.session)  # let events in
        return self.events

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           session=self.session)
        if "exceptionDetails" in result:
            pytest.fail(f"page script failed: {result['exceptionDetails']}", pytrace=False)
        return result["result"].get("value")  # none for undefined

    def screenshot(self, width: int, height: int) -> bytes:
        """A PNG of the page at ``width`` x ``height`` CSS pixels (scale 1)."""
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=self.session)
        shot = self.call("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True},
                         session=self.session)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        """Close the browser, and kill it if it lingers."""
        if self.log.closed:
            return
        try:
            os.write(self.cmd, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        os.close(self.cmd)
        os.close(self.out)
        self.log.close()


def launch(workdir: Path, proxy_port: int, attempts: int = 2, direct: tuple[str, ...] = ()
           ) -> Browser:
    """A started browser. A start that hangs is tried once more with a fresh profile (a cold
    machine's first start is the slow one); the last failure, with its log, is the test's."""
    for attempt in range(1, attempts + 1):
        profile = workdir / f"start-{attempt}"
        profile.mkdir()
        try:
            return Browser(profile, proxy_port, direct)
        except pytest.fail.Exception as failure:
            if attempt == attempts:
                raise
            print(f"chromium start {attempt} failed, trying again: {failure}", file=sys.stderr)
    raise AssertionError("unreachable")
