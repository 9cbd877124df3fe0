"""Golden: the metric families a real ``pantau run`` exports, and the documented ones among them.

One agent on 127.0.0.1 watches a kritis service (RPO, RTO, DRP with a drill date) with an http,
a tcp and an https check, a ``push`` and a ``files`` backup, and a host (the agent's own
machine). Once every kind of sample is in and two more rounds ran, ``/metrics`` is scraped in
the Prometheus text format 0.0.4, where a family's ``# TYPE`` name is its sample name: a
counter is ``x_total``, an info metric ``x_info`` (OpenMetrics would drop those suffixes).
The set of those names must equal ``tests/integration/golden/metric-families.txt`` (rewrite it
with ``PANTAU_UPDATE_GOLDEN=1``, see :mod:`tests.golden`), and every ``pantau_*`` name in
``docs/operations.md`` must be among them.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from tests.golden import assert_golden
from tests.integration.agentproc import AgentProcess, Target, free_port, wait_for, write_config
from tests.probes.servers import HttpApp, ThreadedTcpServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "metric-families.txt"
TEXT_FORMAT = {"Accept": "text/plain;version=0.0.4"}

#: A sample of each kind the configuration can produce; the scrape waits for all of them.
READY = (
    'pantau_service_up{service="sipd"}',
    'pantau_probe_success{service="sipd",check="web"',
    'pantau_probe_success{service="sipd",check="db"',
    'pantau_probe_tls_cert_expiry_timestamp_seconds{service="sipd",check="tls"}',
    'pantau_backup_last_success_timestamp_seconds{service="sipd",source="push-0"}',
    'pantau_backup_last_success_timestamp_seconds{service="sipd",source="dumps"}',
    'pantau_backup_age_seconds{service="sipd"}',
    'pantau_service_availability_ratio{service="sipd"',
    'pantau_drp_last_drill_timestamp_seconds{service="sipd"}',
    'pantau_host_cpu_utilization_ratio{host="local"}',
    'pantau_host_filesystem_utilization_ratio{host="local",mountpoint="/"}',
    'pantau_host_network_receive_bytes_total{host="local",interface="lo"}',
    "\npantau_scheduler_lag_seconds ",
)


def families(text: str) -> set[str]:
    """The family names of the ``# TYPE`` lines of an exposition."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def next_round(agent: AgentProcess) -> None:
    """Wait until the agent stored one more round of ``sipd``."""
    last = agent.service("sipd")["last_round_at"]
    wait_for(lambda: agent.service("sipd")["last_round_at"] != last, 10, "a round of sipd")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 with a trustme certificate; (port, CA file)."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with ThreadedTcpServer(HttpApp(), ssl_context=context) as server:
        yield server.port, ca_file


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory, tls_server: tuple[int, Path]) -> Iterator[str]:
    """The text-format ``/metrics`` of an agent that has every kind of sample."""
    tmp = tmp_path_factory.mktemp("agent")
    target = Target()
    dumps = tmp / "dumps"
    dumps.mkdir()
    dump = dumps / "db-1.sql.gz"
    dump.write_bytes(b"x" * 100)
    old = time.time() - 3 * 3600  # finished 3 hours ago, not still growing
    os.utime(dump, (old, old))
    tls_port, ca_file = tls_server
    services = f"""\
  - id: sipd
    name: Layanan sipd
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: kritis
    host: local
    checks:
      - {{name: web, type: http, url: "{target.url}"}}
      - {{name: db, type: tcp, address: "127.0.0.1:{target.port}", impact: minor}}
      - {{name: tls, type: http, url: "https://127.0.0.1:{tls_port}/", ca_file: "{ca_file}"}}
    rpo: 24h
    rto: 4h
    drp: {{document: DRP-SIPD.pdf, last_drill: "2024-06-10"}}
    backups:
      - {{type: push}}
      - {{name: dumps, type: files, path: "{dumps}/*.sql.gz"}}
hosts:
  - {{id: local, filesystems: [/], interfaces: [lo], interval: 1s}}
"""
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(tmp / "pantau.yaml", data_dir=tmp / "data", listen=listen, services=services)
    agent = AgentProcess(cfg, listen)
    try:
        finished = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
        req = urllib.request.Request(
            f"http://{listen}/api/v1/backups/sipd",
            data=json.dumps({"finished_at": finished, "size_bytes": 1234}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 202

        def text() -> str:
            return agent.get("/metrics", headers=TEXT_FORMAT).decode()

        def missing() -> list[str]:
            body = text()
            return [s for s in READY if s not in body]

        try:
            wait_for(lambda: not missing(), 20, "every kind of sample")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; missing: {missing()}") from None
        next_round(agent)  # and two more rounds after that
        next_round(agent)
        yield text()
    finally:
        code = agent.stop()
        target.close()
    assert code == 0


def test_metric_families_equal_golden(scrape: str) -> None:
    assert_golden(GOLDEN, "".join(f"{name}\n" for name in sorted(families(scrape))))


OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
DOCUMENTED = sorted(set(re.findall(r"pantau_[a-z0-9_]+", OPERATIONS)))


def family_of(name: str, exported: set[str]) -> str | None:
    """The exported family a documented sample name belongs to, in the text format 0.0.4:
    counters keep ``_total`` in ``# TYPE``, histogram/summary samples drop their suffix."""
    if name in exported:
        return name
    for suffix in ("_bucket", "_sum", "_count", "_created"):
        if name.endswith(suffix) and name.removesuffix(suffix) in exported:
            return name.removesuffix(suffix)
    return None


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_family_is_exported(scrape: str, name: str) -> None:
    assert family_of(name, families(scrape)) is not None, f"{name} is documented, never exported"
