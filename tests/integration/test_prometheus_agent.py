"""The Prometheus face of the running agent, seen through a real ``prometheus`` binary.

A real Prometheus scrapes a real ``pantau run`` every second while the test switches a local
target 200 → 503 → 200; everything is then read back through Prometheus's HTTP API
(``/api/v1/query``, ``/api/v1/query_range``), as a dashboard or an alert would see it. The same
again with the exporter-toolkit web config (TLS + basic auth) on, and ``promtool check
metrics`` on a real scrape.
"""

from __future__ import annotations

import base64
import json
import math
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import trustme

from tests.conftest import require_binary
from tests.integration.agentproc import (
    AgentProcess,
    LoggedProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

SCRAPE_PASSWORD = "scrape-Pa55word"  # a test credential, checked to stay out of logs


class Prometheus(LoggedProcess):
    """``prometheus`` on a free loopback port with a temporary config and TSDB."""

    def __init__(self, binary: str, workdir: Path, scrape_configs: list[dict[str, Any]]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": scrape_configs,
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        argv = [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        super().__init__(argv, workdir / "prometheus.log")
        wait_for(self.ready, 60, "prometheus /-/ready")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return int(resp.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a successful API answer."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.loads(resp.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or matrix, for a range selector) of ``expr`` now."""
        return list(self.api("query", query=expr)["result"])

    def value(self, expr: str) -> float | None:
        """The value of a single-series instant vector; None when it is empty."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} has {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[float]:
        """The values of a single-series range query, in time order.

        ``start`` is moved back to a whole number of steps before ``end`` so that the last
        point is evaluated at ``end`` itself (Prometheus steps forward from ``start``).
        """
        start = end - math.ceil((end - start) / step) * step
        data = self.api(
            "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}"
        )
        result = data["result"]
        assert len(result) == 1, f"{expr} has {len(result)} series: {result}"
        return [float(v) for _, v in result[0]["values"]]

    def samples(self, expr: str) -> list[tuple[float, float]]:
        """Raw (timestamp, value) samples of a single-series range selector like ``x[1m]``."""
        result = self.query(expr)
        assert len(result) == 1, f"{expr} has {len(result)} series: {result}"
        return [(float(t), float(v)) for t, v in result[0]["values"]]

    def stop(self) -> None:
        self.terminate()


class TLSAgent(AgentProcess):
    """An agent serving HTTPS with basic auth; its helpers speak HTTPS with the credentials."""

    def __init__(self, config: Path, listen: str, ca: trustme.CA, authorization: str) -> None:
        self.ssl_context = ssl.create_default_context()
        ca.configure_trust(self.ssl_context)
        self.authorization = authorization
        super().__init__(config, listen)

    def get(self, path: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> bytes:
        req = urllib.request.Request(
            f"https://{self.listen}{path}",
            headers={"Authorization": self.authorization, **(headers or {})},
        )
        with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as resp:
            return bytes(resp.read())


def runs(values: list[float]) -> list[float]:
    """Run-length encoding without the lengths: ``[1, 1, 0, 0, 1] → [1, 0, 1]``."""
    out: list[float] = []
    for v in values:
        if not out or out[-1] != v:
            out.append(v)
    return out


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[list[dict[str, Any]]], Prometheus]]:
    """Start Prometheus with the given scrape configs; every one is stopped at teardown."""
    binary = require_binary("prometheus")
    started: list[Prometheus] = []

    def start(scrape_configs: list[dict[str, Any]]) -> Prometheus:
        prom = Prometheus(binary, tmp_path / f"prometheus-{len(started)}", scrape_configs)
        started.append(prom)
        return prom

    yield start
    for prom in started:
        prom.stop()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    """Agents appended here are stopped at teardown (SIGTERM, bounded wait, then kill)."""
    running: list[AgentProcess] = []
    yield running
    for agent in running:
        if agent.proc.poll() is None:
            agent.stop()


def test_prometheus_follows_an_outage_and_recovery_of_the_running_agent(
    tmp_path: Path,
    target: Target,
    start_prometheus: Callable[[list[dict[str, Any]]], Prometheus],
    agents: list[AgentProcess],
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=http_service("portal", target.url),
    )
    agent = AgentProcess(cfg, listen)
    agents.append(agent)
    wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 15, "portal up")
    prom = start_prometheus([{"job_name": "pantau", "static_configs": [{"targets": [listen]}]}])
    begin = time.time()
    sel = 'service="portal",job="pantau"'

    wait_for(lambda: prom.value(f"pantau_service_up{{{sel}}}") == 1, 30, "Prometheus: portal up")
    assert prom.value('up{job="pantau"}') == 1
    info = prom.query(f"pantau_service_info{{{sel}}}")
    assert [r["metric"] for r in info] == [
        {
            "__name__": "pantau_service_info",
            "service": "portal",
            "name": "Layanan portal",
            "provider": "Diskominfo",
            "group": "administrasi_pemerintahan",
            "classification": "esensial",
            "job": "pantau",
            "instance": listen,
        }
    ]
    assert float(info[0]["value"][1]) == 1

    # Prometheus prefers OpenMetrics: it ingested as many samples as the text format has.
    def same_sample_count() -> bool:
        # Re-read both: a housekeeping run may add series between the two reads.
        text = agent.get("/metrics").decode()
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        return prom.value('scrape_samples_scraped{job="pantau"}') == series

    wait_for(same_sample_count, 10, "Prometheus's sample count = the text format's series")

    target.status = 503
    wait_for(lambda: prom.value(f"pantau_service_up{{{sel}}}") == 0, 30, "Prometheus: portal down")
    assert prom.value(f'pantau_service_state{{{sel},state="down"}}') == 1
    assert prom.value(f'pantau_service_state{{{sel},state="up"}}') == 0
    assert prom.value(f'pantau_probe_success{{{sel},check="web",type="http"}}') == 0
    assert prom.value(f'pantau_probe_http_status_code{{{sel},check="web"}}') == 503
    assert prom.value('up{job="pantau"}') == 1  # a down service is data, not a failed scrape

    target.status = 200
    wait_for(lambda: prom.value(f"pantau_service_up{{{sel}}}") == 1, 30, "Prometheus: portal up")
    wait_for(
        lambda: prom.value(f'pantau_probe_http_status_code{{{sel},check="web"}}') == 200,
        10,
        "Prometheus: status 200 again",
    )
    end = time.time()

    # Over the whole run, evaluated every second as a Grafana panel would.
    span = (begin, end, 1.0)
    assert runs(prom.query_range(f"pantau_service_up{{{sel}}}", *span)) == [1, 0, 1]
    assert runs(prom.query_range(f'pantau_service_state{{{sel},state="down"}}', *span)) == [0, 1, 0]
    assert runs(prom.query_range(f'pantau_probe_success{{{sel},check="web"}}', *span)) == [1, 0, 1]
    assert runs(prom.query_range(f'pantau_probe_http_status_code{{{sel},check="web"}}', *span)) == [
        200,
        503,
        200,
    ]
    # Exactly one state is 1 at every instant, and it agrees with pantau_service_up.
    assert set(prom.query_range(f"sum(pantau_service_state{{{sel}}})", *span)) == {1}
    both = (
        f"pantau_service_up{{{sel}}} + on(service, job, instance) "
        f'pantau_service_state{{{sel},state="down"}}'
    )
    assert set(prom.query_range(both, *span)) == {1}
    # Every scrape succeeded, including during the target's outage.
    assert set(prom.query_range('up{job="pantau"}', *span)) == {1}

    # Raw samples: confirmation needs failure_threshold = 2 bad rounds, so the first 503 is
    # scraped no later than the first "down" (the same scrape at the earliest).
    window = f"[{int(time.time() - begin) + 5}s]"
    codes = prom.samples(f'pantau_probe_http_status_code{{{sel},check="web"}}{window}')
    ups = prom.samples(f"pantau_service_up{{{sel}}}{window}")
    first_503 = min(t for t, v in codes if v == 503)
    first_down = min(t for t, v in ups if v == 0)
    assert first_503 <= first_down
    assert agent.proc.poll() is None
    assert agent.stop() == 0


def _tls_agent_config(tmp_path: Path, target: Target, listen: str, ca: trustme.CA) -> Path:
    cert = ca.issue_cert("127.0.0.1")
    for i, blob in enumerate(cert.cert_chain_pems):
        with (tmp_path / "server.crt").open("ab" if i else "wb") as fh:
            fh.write(blob.bytes())
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    # Cost 4 (the minimum) keeps the test fast; the agent reads the cost from the hash.
    hashed = bcrypt.hashpw(SCRAPE_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n"
        "  cert_file: server.crt\n"  # relative to web.yml, as in exporter-toolkit
        "  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n",
        encoding="utf-8",
    )
    return write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=http_service("portal", target.url),
        extra=f"  web_config: {web}",
    )


def test_prometheus_scrapes_over_tls_with_basic_auth_and_a_wrong_password_gives_up_0(
    tmp_path: Path,
    target: Target,
    start_prometheus: Callable[[list[dict[str, Any]]], Prometheus],
    agents: list[AgentProcess],
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    listen = f"127.0.0.1:{free_port()}"
    cfg = _tls_agent_config(tmp_path, target, listen, ca)
    token = base64.b64encode(f"prometheus:{SCRAPE_PASSWORD}".encode()).decode()
    agent = TLSAgent(cfg, listen, ca, f"Basic {token}")
    agents.append(agent)
    wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 15, "portal up")

    def job(name: str, scheme: str, password: str | None) -> dict[str, Any]:
        scrape: dict[str, Any] = {
            "job_name": name,
            "scheme": scheme,
            "static_configs": [{"targets": [listen]}],
        }
        if scheme == "https":
            scrape["tls_config"] = {"ca_file": str(ca_file)}
        if password is not None:
            scrape["basic_auth"] = {"username": "prometheus", "password": password}
        return scrape

    prom = start_prometheus(
        [
            job("pantau_tls", "https", SCRAPE_PASSWORD),
            job("pantau_wrong_password", "https", "not-the-password"),
            job("pantau_no_auth", "https", None),
            job("pantau_plain_http", "http", SCRAPE_PASSWORD),
        ]
    )
    wait_for(
        lambda: prom.value('pantau_service_up{job="pantau_tls",service="portal"}') == 1,
        30,
        "Prometheus: portal up over TLS",
    )

    def scraped_all() -> bool:
        # Wait until every job has a finished scrape (its `up` series exists).
        return len(prom.query("up")) == 4

    wait_for(scraped_all, 30, "a scrape of every job")
    assert prom.value('up{job="pantau_tls"}') == 1
    assert prom.value('up{job="pantau_wrong_password"}') == 0
    assert prom.value('up{job="pantau_no_auth"}') == 0
    assert prom.value('up{job="pantau_plain_http"}') == 0
    assert prom.query('pantau_service_up{job=~"pantau_wrong_password|pantau_no_auth"}') == []

    # The same outage as above, seen through the authenticated TLS scrape.
    target.status = 503
    tls = 'job="pantau_tls",service="portal"'
    wait_for(
        lambda: prom.value(f"pantau_service_up{{{tls}}}") == 0, 30, "Prometheus: down over TLS"
    )
    assert prom.value(f'pantau_probe_http_status_code{{{tls},check="web"}}') == 503
    assert prom.value(f'pantau_service_state{{{tls},state="down"}}') == 1
    assert prom.value('up{job="pantau_tls"}') == 1
    assert prom.value('up{job="pantau_wrong_password"}') == 0

    errors = {t["labels"]["job"]: t["lastError"] for t in prom.api("targets")["activeTargets"]}
    assert errors["pantau_tls"] == ""
    assert "401" in errors["pantau_wrong_password"]
    assert "401" in errors["pantau_no_auth"]
    assert errors["pantau_plain_http"] != ""

    assert agent.proc.poll() is None
    assert agent.stop() == 0
    log = agent.log()
    assert "(TLS)" in log  # the startup line says it serves HTTPS
    assert SCRAPE_PASSWORD not in log
    assert "not-the-password" not in log
    assert token not in log


def test_promtool_accepts_a_real_scrape_of_the_agent(
    tmp_path: Path, target: Target, agents: list[AgentProcess]
) -> None:
    promtool = require_binary("promtool")
    listen = f"127.0.0.1:{free_port()}"
    # A host next to the services, so host families are in the scrape too.
    services = (
        http_service("portal", target.url)
        + http_service("sipd", target.url, classification="kritis")
        + "hosts:\n  - {id: local, filesystems: [/], interval: 1s}\n"
    )
    cfg = write_config(
        tmp_path / "pantau.yaml", data_dir=tmp_path / "data", listen=listen, services=services
    )
    agent = AgentProcess(cfg, listen)
    agents.append(agent)

    def everything_exported() -> bool:
        text = agent.get("/metrics").decode()
        return all(
            f in text
            for f in (
                'pantau_probe_success{service="sipd"',
                'pantau_probe_success{service="portal"',
                "pantau_host_cpu_utilization_ratio{",
            )
        )

    wait_for(everything_exported, 20, "probe and host metrics")
    body = agent.get("/metrics", headers={"Accept": "text/plain;version=0.0.4"})
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    report = (check.stdout + check.stderr).decode(errors="replace")
    assert check.returncode == 0, report
    assert report.strip() == ""  # no lint problem either (promtool prints them)
    assert agent.stop() == 0
