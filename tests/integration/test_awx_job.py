"""awx/remediator_job.yml run the way AWX runs a job: `ansible-runner run` on a private data
dir whose env/extravars tags launch-time values !unsafe, credentials in the environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from remediator.store import StoreLocation, open_store

from ..awxserver import awx_extravars
from ..conftest import DATA, PAYLOADS, REPO, Project, alertmanager_payload, disk_alert, disk_entry
from ..httpsink import Sink
from ..monitoring import free_port

pytestmark = pytest.mark.ansible

WRAPPER = REPO / "awx" / "remediator_job.yml"
BIN = Path(sys.executable).parent
TOKEN = "am-token-5f1c9e0b7d"


@dataclass
class Job:
    """A finished job: its exit code, what AWX would show, and where everything was left."""

    rc: int
    stdout: str
    data_dir: Path

    @property
    def artifacts(self) -> Path:
        return self.data_dir / "artifacts" / "job"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.artifacts / "job_events").glob("*.json"))]

    def stats(self) -> dict[str, Any]:
        """What set_stats handed on (the job's artifacts in AWX)."""
        for event in self.events():
            if event.get("event") == "playbook_on_stats":
                return dict(event["event_data"].get("artifact_data") or {})
        return {}


def credential(store: StoreLocation) -> dict[str, str]:
    """The environment the remediator credential type injects for ``store``: the URL without
    its password, and the password apart, as awx/credential_type.yml asks."""
    if isinstance(store, Path):
        return {"REMEDIATOR_STORE": str(store)}
    url = urlsplit(store)
    netloc = f"{url.username}@{url.hostname}:{url.port}"
    return {"REMEDIATOR_STORE": urlunsplit(url._replace(netloc=netloc)),
            "PGPASSWORD": url.password or ""}


def run_job(tmp_path: Path, project: Project, launch: Mapping[str, Any],
            env: Mapping[str, str | None] | None = None,
            template: Mapping[str, Any] | None = None, check: bool = False,
            store: StoreLocation | None = None) -> Job:
    """Run the wrapper with ``template`` vars as the job template sets them (trusted), ``launch``
    vars as a survey or API launch sets them (AWX writes those as !unsafe), and the credential
    for ``store`` (default: the project's store) in the environment."""
    awx = project.root / "awx"
    awx.mkdir(exist_ok=True)
    shutil.copy(WRAPPER, awx)  # the wrapper inside the project, as in an AWX project checkout
    data_dir = tmp_path / "runner"
    (data_dir / "env").mkdir(parents=True)
    (data_dir / "env" / "extravars").write_text(
        awx_extravars(launch, template or {}), encoding="utf-8")
    (data_dir / "inventory").mkdir()
    # AWX always passes an inventory; the play runs on the implicit localhost whatever it holds.
    (data_dir / "inventory" / "hosts").write_text("awx-demo ansible_host=192.0.2.10\n")
    if check:  # the job template's job type "check"
        (data_dir / "env" / "cmdline").write_text("--check")
    wanted = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
              "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
              "REMEDIATOR_MAX_STAGE": None, "PGPASSWORD": None,
              **credential(project.location if store is None else store), **(env or {})}
    job_env = {k: v for k, v in {**os.environ, **wanted}.items() if v is not None}
    proc = subprocess.run(
        [str(BIN / "ansible-runner"), "run", str(data_dir), "--project-dir", str(project.root),
         "-p", "awx/remediator_job.yml", "--ident", "job"],
        env=job_env, capture_output=True, text=True, timeout=600, check=False)
    return Job(proc.returncode, proc.stdout + proc.stderr, data_dir)


def records(store: StoreLocation) -> list[dict[str, Any]]:
    """Every record in ``store`` (none when the store was never created)."""
    if isinstance(store, Path) and not store.exists():
        return []
    return list(open_store(store).records())


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_handle_mode_records_the_recorded_payload(tmp_path: Path, project: Project,
                                                  request: pytest.FixtureRequest,
                                                  store_kind: str) -> None:
    """handle on a recorded Alertmanager payload: one record per alert, in the credential's
    store, a SQLite file or a PostgreSQL database (password apart from the URL)."""
    store: StoreLocation = (tmp_path / "job-store.db" if store_kind == "sqlite"
                            else str(request.getfixturevalue("pg_url")))
    payload = (PAYLOADS / "alertmanager-disk-firing.json").read_text()
    job = run_job(tmp_path, project, {"remediator_payload": payload},
                  template={"remediator_mode": "handle"}, store=store)
    assert job.rc == 0, job.stdout
    stored = records(store)
    assert {r["alert"]["fingerprint"] for r in stored} == {"a3f1c2d4e5b60718", "5b0e9d3c7a214f86"}
    mine = next(r for r in stored if r["alert"]["hosts"] == ["demo-web-01"])
    assert (mine["stage"], mine["mode"], mine["decision"]["action"], mine["outcome"]) == (
        "observe", "check", "run", "succeeded")
    assert f"remediator audit show {mine['id']}" in job.stdout
    assert sorted(job.stats()["remediator_record_ids"]) == sorted(r["id"] for r in stored)


def test_poll_mode_fails_the_job_when_alertmanager_is_unreachable(tmp_path: Path,
                                                                 project: Project) -> None:
    """An unreachable Alertmanager is exit 8: the job fails saying so and naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    job = run_job(tmp_path, project, {"remediator_alertmanager_url": url})
    assert job.rc != 0
    failed = [e for e in job.events() if e["event"] == "runner_on_failed"]
    assert [e["event_data"]["task"] for e in failed] == [
        "Fail the job when remediator's exit code means trouble"]
    message = failed[0]["event_data"]["res"]["msg"]
    assert message.startswith("remediator poll exited 8: Alertmanager could not be read just now")
    assert url in message
    assert records(project.location) == []


def test_secrets_stay_out_of_the_output_and_the_artifacts(tmp_path: Path, project: Project,
                                                          sink: Sink, pg_url: str) -> None:
    """The token reaches Alertmanager and the password opens the PostgreSQL store, yet neither
    appears in the job output, its events, the records, the runs or anything the job left."""
    project.use_store(Path("state/audit.db"))  # the job's store comes from the credential only
    password = urlsplit(pg_url).password
    assert password
    sink.serve_get((DATA / "alertmanager-api" / "alerts-active.json").read_bytes())
    job = run_job(tmp_path, project, {"remediator_alertmanager_url": sink.url},
                  env={"REMEDIATOR_AM_TOKEN": TOKEN}, store=pg_url)
    assert job.rc == 0, job.stdout
    (request,) = [r for r in sink.received if r.method == "GET"]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    stored = records(pg_url)
    assert stored
    # artifacts/job/command is ansible-runner's copy of the environment it was given: the
    # credential's injection itself. AWX keeps it inside the job's container and shows the job's
    # environment with these variables' values hidden (see tests/test_awx_files.py).
    injected = job.artifacts / "command"
    for secret in (TOKEN, password):
        assert secret not in job.stdout
        assert secret not in json.dumps(stored)
        for path in [*job.data_dir.rglob("*"), *project.root.parent.rglob("*")]:
            if path.is_file() and path != injected:
                assert secret.encode() not in path.read_bytes(), path


def test_an_unreachable_store_fails_the_job_without_showing_its_password(
        tmp_path: Path, project: Project) -> None:
    """A store that cannot be opened is exit 5; a password put in the URL stays masked."""
    store = f"postgresql://remediator:pw-in-the-url-77c1@127.0.0.1:{free_port()}/remediator"
    payload = json.dumps(alertmanager_payload([disk_alert()]))
    job = run_job(tmp_path, project, {"remediator_payload": payload},
                  template={"remediator_mode": "handle"},
                  env={"REMEDIATOR_STORE": store, "PGPASSWORD": None})
    assert job.rc != 0
    (failed,) = [e for e in job.events() if e["event"] == "runner_on_failed"]
    message = failed["event_data"]["res"]["msg"]
    assert message.startswith("remediator handle exited 5: the audit store cannot be opened")
    assert "cannot reach the audit store" in message
    assert "pw-in-the-url-77c1" not in job.stdout
    assert not any("pw-in-the-url-77c1" in json.dumps(e) for e in job.events())


def test_a_check_job_records_dry_runs(tmp_path: Path, project: Project) -> None:
    """A job launched in check mode runs remediator under --max-stage observe."""
    project.write_catalog(disk_entry("oversight"))
    before = project.snapshot()
    payload = json.dumps(alertmanager_payload([disk_alert()]))
    job = run_job(tmp_path, project, {"remediator_payload": payload},
                  template={"remediator_mode": "handle"}, check=True)
    assert job.rc == 0, job.stdout
    (record,) = records(project.location)
    assert (record["remediation"]["configured_stage"], record["stage"], record["mode"],
            record["decision"]["max_stage"]) == ("oversight", "observe", "check", "observe")
    assert project.snapshot() == before


def test_alert_text_is_never_templated(tmp_path: Path, project: Project) -> None:
    """Jinja in an alert label stays text through AWX's extra vars and the wrapper."""
    marker = tmp_path / "templated"
    evil = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    payload = json.dumps(alertmanager_payload([disk_alert(note=evil)]))
    job = run_job(tmp_path, project, {"remediator_payload": payload},
                  template={"remediator_mode": "handle"})
    assert job.rc == 0, job.stdout
    (record,) = records(project.location)
    assert record["alert"]["labels"]["note"] == evil
    assert not marker.exists()


@pytest.mark.parametrize(("launch", "env", "expected"), [
    ({"remediator_payload": {"version": "4", "alerts": []}}, {},
     "remediator_payload must be the alert payload as JSON text"),
    ({"remediator_alertmanager_url": "http://127.0.0.1:9"}, {"REMEDIATOR_STORE": None},
     "the store must come from the remediator credential"),
])
def test_a_job_that_cannot_work_stops_before_remediator(
        tmp_path: Path, project: Project, launch: dict[str, Any], env: dict[str, str | None],
        expected: str) -> None:
    """An object payload, or no store from the credential, fails the job at once, saying why."""
    mode = "handle" if "remediator_payload" in launch else "poll"
    job = run_job(tmp_path, project, launch, env=env, template={"remediator_mode": mode})
    assert job.rc != 0
    (failed,) = [e for e in job.events() if e["event"] == "runner_on_failed"]
    assert expected in failed["event_data"]["res"]["msg"]
    assert records(project.location) == []
