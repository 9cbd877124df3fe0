"""A check's secret headers never follow a redirect to another origin, in the real agent
(FAULTS 38): two origins on two loopback ports, one check that does not opt in and one that
does (``follow_redirects_trusted``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.agentproc import AgentProcess, free_port, wait_for, write_config
from tests.probes.servers import ThreadedTcpServer
from tests.probes.test_http_redirects import SECRETS, Hops, carries_secrets

pytestmark = pytest.mark.integration

ROUNDS = 5  # rounds of each check to look at (interval 1 s)


def _service(sid: str, url: str, trusted: bool) -> str:
    return f"""\
  - id: {sid}
    name: Layanan {sid}
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: esensial
    checks:
      - type: http
        url: "{url.replace("http://", "http://admin:hunter2@")}"
        follow_redirects_trusted: {"true" if trusted else "false"}
        headers:
          X-Api-Key: "{SECRETS["x-api-key"]}"
          Cookie: "{SECRETS["cookie"]}"
          X-Tenant: "{SECRETS["x-tenant"]}"
"""


def test_the_agent_sends_secret_headers_to_the_other_origin_only_when_trusted(
    tmp_path: Path,
) -> None:
    app_a, app_b = Hops(), Hops()
    listen = f"127.0.0.1:{free_port()}"
    with ThreadedTcpServer(app_a) as a, ThreadedTcpServer(app_b) as b:
        app_a.other, app_b.other = f"http://127.0.0.1:{b.port}", f"http://127.0.0.1:{a.port}"
        base_a = f"http://127.0.0.1:{a.port}"
        services = _service("plain", f"{base_a}/to-b/plain", trusted=False) + _service(
            "trusting", f"{base_a}/to-b/trusting", trusted=True
        )
        cfg = write_config(
            tmp_path / "pantau.yaml", data_dir=tmp_path / "data", listen=listen, services=services
        )
        agent = AgentProcess(cfg, listen)
        try:

            def landed(name: str) -> int:
                return sum(r.path == f"/landing/{name}" for r in list(app_b.requests))

            wait_for(lambda: min(landed("plain"), landed("trusting")) >= ROUNDS, 30, "rounds")
            start = time.monotonic()
            metrics = agent.get("/metrics").decode()
            scrape = time.monotonic() - start
            states = (agent.service("plain")["state"], agent.service("trusting")["state"])
        finally:
            assert agent.stop() == 0
    at_b = {
        name: [r for r in app_b.requests if r.path == f"/landing/{name}"]
        for name in ("plain", "trusting")
    }
    at_a = [r for r in app_a.requests if r.path.startswith("/to-b/")]
    print(
        f"FAULTS 38: {len(at_a)} first hops to origin A carried all 4 secrets; "
        f"{len(at_b['plain'])} redirected hops to origin B without opt-in carried "
        f"{sum(len(carries_secrets(r)) for r in at_b['plain'])}; "
        f"{len(at_b['trusting'])} with follow_redirects_trusted carried all 4; scrape {scrape:.3f} s"
    )
    assert all(len(carries_secrets(r)) == 4 for r in at_a)
    assert all(carries_secrets(r) == [] for r in at_b["plain"])
    assert all(len(carries_secrets(r)) == 4 for r in at_b["trusting"])
    assert states == ("up", "up")  # the redirect itself is fine: no false gangguan
    assert scrape < 1.0
    for secret in ("hunter2", SECRETS["x-api-key"], SECRETS["cookie"]):
        assert secret not in metrics
        assert secret not in agent.log()
