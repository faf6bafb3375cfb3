"""Real Prometheus, Alertmanager and node_exporter on loopback for the integration tests.

Not mocks: each class starts the Debian-packaged daemon (``bash scripts/setup-monitoring.sh``
installs them) with its own config, data folder, log file and loopback port, waits until it
answers, and stops it on exit. A test module gets the fixtures at the bottom with
``pytest_plugins = ["tests.monitoring"]``.

PYTEST_DONT_REWRITE: this module has no asserts (problems go through ``pytest.fail``, with the
daemon's log), and test modules import it before pytest loads it as a plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import pytest
import yaml

SETUP = "bash scripts/setup-monitoring.sh"
DATA = Path(__file__).resolve().parent / "data" / "monitoring"
POLL_S = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str) -> str:
    """The path of the daemon ``name``; a missing one fails the test, saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `{SETUP}`", pytrace=False)
    return path


def http_json(method: str, url: str, body: object = None, timeout_s: float = 5.0) -> Any:
    """The JSON answer to one request (``body``, if any, sent as JSON); errors raise."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Poll ``check`` every few milliseconds until it holds; fail naming ``what`` after the
    timeout."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}", pytrace=False)
        time.sleep(POLL_S)


class Daemon:
    """One daemon process on 127.0.0.1 with its output in a log file; a context manager."""

    binary: ClassVar[str]
    ready_path: ClassVar[str] = "/-/ready"
    start_timeout_s: ClassVar[float] = 15.0

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.log_path = workdir / f"{self.binary}.log"
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as a scrape or alerting target."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The daemon's base URL."""
        return f"http://{self.address}"

    def args(self) -> list[str]:
        """The command-line arguments after the binary (config files are written here)."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the daemon and return once ``ready_path`` answers 200; fail with the log tail."""
        command = [binary(self.binary), *self.args()]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + self.start_timeout_s
        while not self._answers():
            if self.process.poll() is not None:
                self._fail(f"exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                self._fail(f"did not answer {self.ready_path} within {self.start_timeout_s}s")
            time.sleep(POLL_S)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _fail(self, problem: str) -> None:
        pytest.fail(f"{self.binary} on {self.address} {problem}; the end of its log "
                    f"({self.log_path}):\n{self.log_tail()}", pytrace=False)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the daemon's output."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the daemon; kill it if it has not exited after a few seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def _write_yaml(self, name: str, content: Mapping[str, Any]) -> Path:
        path = self.workdir / name
        path.write_text(yaml.safe_dump(dict(content), sort_keys=False), encoding="utf-8")
        return path


class Alertmanager(Daemon):
    """``prometheus-alertmanager`` with one route: every alert is its own group (group_by
    ``...``), sent at once (``group_wait: 0s``, ``group_interval: 1s``) to ``webhook_url``, or
    kept only when there is none. ``http_config`` (e.g. ``{"authorization": {"credentials":
    "TOKEN"}}`` or ``{"basic_auth": {...}}``) goes into the webhook config as it is."""

    binary = "prometheus-alertmanager"

    def __init__(self, workdir: Path, *, webhook_url: str | None = None,
                 http_config: Mapping[str, Any] | None = None, send_resolved: bool = True,
                 port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.webhook_url = webhook_url
        self.http_config = http_config
        self.send_resolved = send_resolved

    def config(self) -> dict[str, Any]:
        """The alertmanager.yml content."""
        receiver: dict[str, Any] = {"name": "remediator"}
        if self.webhook_url:
            webhook: dict[str, Any] = {"url": self.webhook_url,
                                       "send_resolved": self.send_resolved}
            if self.http_config:
                webhook["http_config"] = dict(self.http_config)
            receiver["webhook_configs"] = [webhook]
        return {
            "route": {"receiver": "remediator", "group_by": ["..."], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "24h"},
            "receivers": [receiver],
        }

    def args(self) -> list[str]:
        config = self._write_yaml("alertmanager.yml", self.config())
        return [f"--config.file={config}", f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address={self.address}", "--cluster.listen-address="]

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """POST /api/v2/alerts: each alert has ``labels`` and optional ``annotations``,
        ``startsAt``, ``endsAt`` (a past ``endsAt`` makes it resolved), ``generatorURL``."""
        http_json("POST", f"{self.url}/api/v2/alerts", [dict(a) for a in alerts])

    def alerts(self, **params: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts with query ``params`` (e.g. ``silenced="false"``)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return list(http_json("GET", f"{self.url}/api/v2/alerts{query}"))

    def silence(self, matchers: Mapping[str, str], *, duration_s: int = 3600,
                comment: str = "test") -> str:
        """Silence the alerts whose labels equal ``matchers``, from now on; the silence id."""
        now = datetime.now(UTC)
        answer = http_json("POST", f"{self.url}/api/v2/silences", {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                         for k, v in matchers.items()],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(seconds=duration_s)).isoformat(),
            "createdBy": "remediator tests", "comment": comment})
        return str(answer["silenceID"])


class Prometheus(Daemon):
    """``prometheus`` scraping ``targets`` and evaluating ``rules`` every second, sending its
    alerts to ``alertmanager`` (``host:port``). ``targets`` maps each scrape address to extra
    target labels (e.g. ``{"instance": "web-01:9100"}`` to name the host in the alerts)."""

    binary = "prometheus"
    start_timeout_s = 30.0

    def __init__(self, workdir: Path, *, rules: Path | None = None,
                 alertmanager: str | None = None,
                 targets: Mapping[str, Mapping[str, str]] | None = None,
                 port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.rules = rules
        self.alertmanager = alertmanager
        self.targets = dict(targets or {})

    def config(self) -> dict[str, Any]:
        """The prometheus.yml content."""
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "node", "static_configs": [
                {"targets": [address], "labels": dict(labels)}
                for address, labels in self.targets.items()]}],
        }
        if self.rules is not None:
            config["rule_files"] = [str(self.rules)]
        if self.alertmanager is not None:
            config["alerting"] = {"alertmanagers": [
                {"static_configs": [{"targets": [self.alertmanager]}]}]}
        return config

    def args(self) -> list[str]:
        config = self._write_yaml("prometheus.yml", self.config())
        return [f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address={self.address}"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` now (GET /api/v1/query), as ``data.result``."""
        answer = http_json("GET", f"{self.url}/api/v1/query?"
                           f"{urllib.parse.urlencode({'query': expr})}")
        return list(answer["data"]["result"])

    def wait_ready(self, expr: str | None = None, timeout_s: float = 20.0) -> None:
        """Wait until the Alertmanager is active (GET /api/v1/alertmanagers) and ``expr`` has a
        sample: only then does a condition reach Alertmanager (about 5.5 s after start)."""
        if self.alertmanager is not None:
            wait_for(f"Prometheus to find Alertmanager {self.alertmanager}", lambda: bool(
                http_json("GET", f"{self.url}/api/v1/alertmanagers")["data"]
                ["activeAlertmanagers"]), timeout_s)
        if expr is not None:
            wait_for(f"a sample of {expr}", lambda: bool(self.query(expr)), timeout_s)


class NodeExporter(Daemon):
    """``prometheus-node-exporter`` with only the textfile collector, reading ``textfile_dir``."""

    binary = "prometheus-node-exporter"
    ready_path = "/metrics"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.textfile_dir = workdir / "textfile"
        self.textfile_dir.mkdir(exist_ok=True)

    def args(self) -> list[str]:
        return ["--collector.disable-defaults", "--collector.textfile",
                f"--collector.textfile.directory={self.textfile_dir}",
                f"--web.listen-address={self.address}"]

    def write_metrics(self, name: str, text: str) -> Path:
        """Publish ``text`` (exposition format) as ``NAME.prom``: written aside, then renamed,
        so a scrape never reads half a file."""
        path = self.textfile_dir / f"{name}.prom"
        partial = self.textfile_dir / f".{name}.prom.partial"
        partial.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        os.replace(partial, path)
        return path


# The fixtures: function-scoped, each daemon in its own folder under the test's tmp_path.


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager on loopback with no webhook: it keeps what is posted to it."""
    with Alertmanager(tmp_path / "alertmanager") as daemon:
        yield daemon


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[NodeExporter]:
    """A real node_exporter on loopback exporting only the ``*.prom`` files it is given."""
    with NodeExporter(tmp_path / "node-exporter") as daemon:
        yield daemon


@pytest.fixture
def prometheus(tmp_path: Path, alertmanager: Alertmanager,
               node_exporter: NodeExporter) -> Iterator[Prometheus]:
    """A real Prometheus scraping ``node_exporter`` as host demo-web-01 (``instance`` label
    ``demo-web-01:9100``), evaluating tests/data/monitoring/rules.yml and alerting
    ``alertmanager``. Call ``wait_ready(expr)`` after publishing the metric."""
    with Prometheus(tmp_path / "prometheus", rules=DATA / "rules.yml",
                    alertmanager=alertmanager.address,
                    targets={node_exporter.address: {"instance": "demo-web-01:9100"}}
                    ) as daemon:
        yield daemon
