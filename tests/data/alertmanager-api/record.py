"""Re-record the Alertmanager API v2 answers used by tests/unit/test_poll.py (from the repo root).

    PYTHONPATH=. .venv/bin/python tests/data/alertmanager-api/record.py

Starts the real node_exporter -> Prometheus -> Alertmanager loop of tests/monitoring.py with a
webhook receiver, lets Prometheus fire DiskSpaceLow for demo-web-01, posts three more alerts
straight to Alertmanager (one silenced), then saves, at the same moment:

- ``alerts-active.json``: GET /api/v2/alerts?active=true&silenced=false&inhibited=false
  (what ``remediator poll`` asks for);
- ``alerts-all.json``: GET /api/v2/alerts (the silenced alert too, marked suppressed);
- ``webhooks.json``: the webhook payloads Alertmanager sent for the same alerts.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.httpsink import serve
from tests.monitoring import DATA, Alertmanager, NodeExporter, Prometheus

HERE = Path(__file__).resolve().parent
METRICS = 'node_filesystem_avail_bytes{mountpoint="/"} 5e6\n' \
          'node_filesystem_size_bytes{mountpoint="/"} 1e8\n'
POSTED = [
    {"labels": {"alertname": "DiskSpaceLow", "instance": "demo-web-02:9100", "job": "node",
                "mountpoint": "/var", "severity": "warning"},
     "annotations": {"summary": "Disk space low on demo-web-02:9100"},
     "startsAt": "2026-11-26T09:00:00.500Z", "generatorURL": "http://prometheus.example/graph"},
    {"labels": {"alertname": "ServiceDown", "instance": "demo-web-01:9100",
                "service": "nginx"},
     "startsAt": "2026-11-26T09:30:00Z"},
    {"labels": {"alertname": "DiskSpaceLow", "instance": "demo-db-01:9100", "job": "node",
                "mountpoint": "/", "severity": "warning"},
     "annotations": {"summary": "Disk space low on demo-db-01:9100 (silenced)"},
     "startsAt": "2026-11-26T08:00:00.123Z"},
]


def save(name: str, data: Any) -> None:
    (HERE / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {HERE / name}", file=sys.stderr)


def main() -> None:
    sinks = serve()  # the generator must live as long as the sink
    sink = next(sinks)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with NodeExporter(root / "node-exporter") as node, \
                Alertmanager(root / "alertmanager", webhook_url=f"{sink.url}/hook") as am, \
                Prometheus(root / "prometheus", rules=DATA / "rules.yml",
                           alertmanager=am.address,
                           targets={node.address: {"instance": "demo-web-01:9100"}}) as prom:
            node.write_metrics("filesystem", METRICS)
            prom.wait_ready("node_filesystem_avail_bytes")
            am.silence({"instance": "demo-db-01:9100"})
            am.post_alerts(POSTED)
            deadline = time.monotonic() + 30
            while len(sink.received) < 3:  # Prometheus's alert and two posted ones
                if time.monotonic() > deadline:
                    sys.exit(f"only {len(sink.received)} webhooks arrived")
                time.sleep(0.05)
            save("alerts-active.json",
                 am.alerts(active="true", silenced="false", inhibited="false"))
            save("alerts-all.json", am.alerts())
            save("webhooks.json", sink.bodies("/hook"))


if __name__ == "__main__":
    main()
