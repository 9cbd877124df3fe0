"""A real Prometheus scrapes the rendered exposition (OpenMetrics + gzip, as it negotiates)."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporters.metrics import CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT, negotiate
from tests.conftest import require_binary
from tests.exporters.test_metrics_exposition import NASTY, _filled

pytestmark = pytest.mark.integration


@pytest.fixture
def exporter() -> Iterator[tuple[int, list[tuple[bool, bool]]]]:
    """A loopback HTTP server answering /metrics from a filled cache; records (om, gzip)."""
    cache = _filled()
    served: list[tuple[bool, bool]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            om = negotiate(self.headers.get("Accept"))
            gz = "gzip" in (self.headers.get("Accept-Encoding") or "")
            body = cache.render(om, compress=gz)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_OPENMETRICS if om else CONTENT_TYPE_TEXT)
            if gz:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            served.append((om, gz))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], served
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def test_prometheus_scrapes_openmetrics_with_gzip_and_keeps_nasty_labels(
    tmp_path: Path, exporter: tuple[int, list[tuple[bool, bool]]]
) -> None:
    prometheus = require_binary("prometheus")
    port, served = exporter
    web = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: pantau\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        api = f"http://127.0.0.1:{web}/api/v1"
        target: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                targets = _get(f"{api}/targets")["data"]["activeTargets"]
                if targets and targets[0]["health"] != "unknown":
                    target = targets[0]
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert target.get("health") == "up", target.get("lastError")
        query = urllib.parse.quote("pantau_service_info")
        result = _get(f"{api}/query?query={query}")["data"]["result"]
        assert result[0]["metric"]["name"] == NASTY
        query = urllib.parse.quote('pantau_service_downtime_seconds_total{service="sipd"}')
        assert _get(f"{api}/query?query={query}")["data"]["result"][0]["value"][1] == "1234.5"
        assert (True, True) in served  # Prometheus asked for OpenMetrics and gzip
    finally:
        proc.terminate()
        proc.wait(timeout=20)
