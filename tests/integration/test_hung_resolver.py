"""A hung system resolver, through the real agent process (FAULTS 35; FAULTS 7 and 8 again).

The agent's own /etc/resolv.conf names a loopback DNS server that never answers ``hung*`` names
(``tests/integration/resolver.py``). Twenty-two checks need eleven hung names; others need a name
the server answers, ``localhost`` (/etc/hosts), an IP, a SERVFAIL name and an NXDOMAIN name.
Before the one bounded lookup pool, the hung lookups filled the probes' four-thread pool and
httpx's share of the default executor: the ``localhost`` TCP check was marked down and
``/api/v1/status`` took 7 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.agentproc import AgentProcess, Target, free_port, wait_for, write_config
from tests.integration.resolver import FakeSystemResolver, NamespacedAgent, skip_without_namespaces

pytestmark = pytest.mark.integration

BOUND = 1.0  # seconds: FAULTS 35 "the status API < 1 s", FAULTS 27 "/metrics within 1 s"
WATCH = 25.0  # seconds of watching; longer than libc's own 20 s give-up, so stuck threads cycle


def service(sid: str, check: str) -> str:
    return (
        f"  - id: {sid}\n    name: Layanan {sid}\n    provider: Diskominfo\n"
        f"    group: layanan_publik\n    classification: esensial\n    checks:\n"
        f"      - {{name: c, {check}}}\n"
    )


@pytest.fixture
def resolver(tmp_path: Path) -> Iterator[FakeSystemResolver]:
    skip_without_namespaces()
    r = FakeSystemResolver(tmp_path, {"web.pantau.test": "127.0.0.1"})
    yield r
    r.close()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    running: list[AgentProcess] = []
    yield running
    for agent in running:
        if agent.proc.poll() is None:
            agent.stop(timeout=30)


def test_only_checks_of_hung_names_fail_and_the_status_api_stays_fast(
    tmp_path: Path, resolver: FakeSystemResolver, target: Target, agents: list[AgentProcess]
) -> None:
    port = target.port
    hung = {
        **{f"hung-tcp-{i}": f"type: tcp, address: 'hung{i}.pantau.test:{port}'" for i in range(5)},
        **{
            f"hung-http-{i}": f"type: http, url: 'http://hung{i + 5}.pantau.test:{port}/'"
            for i in range(5)
        },
        # Twelve checks of one hung name share one lookup (and one stuck thread).
        **{
            f"hung-shared-{i}": "type: http, url: 'https://hung-shared.pantau.test/'"
            for i in range(12)
        },
    }
    healthy = {
        "tcp-localhost": f"type: tcp, address: 'localhost:{port}'",
        "http-localhost": f"type: http, url: 'http://localhost:{port}/health'",
        "tcp-ip": f"type: tcp, address: '127.0.0.1:{port}'",
        "http-ip": f"type: http, url: 'http://127.0.0.1:{port}/health'",
        "http-name": f"type: http, url: 'http://web.pantau.test:{port}/health'",
        "dns-localhost": "type: dns, query: localhost",
        "dns-name": "type: dns, query: web.pantau.test",
    }
    failing = {  # FAULTS 7 and 8: answered failures fail at once with their own reason
        "servfail": ("type: tcp, address: 'fail.pantau.test:80'", "dns_servfail"),
        "nxdomain": ("type: http, url: 'http://nx.pantau.test/'", "dns_nxdomain"),
    }
    services = "".join(service(sid, chk) for sid, chk in {**hung, **healthy}.items())
    services += "".join(service(sid, chk) for sid, (chk, _) in failing.items())
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "pantau.yaml", data_dir=tmp_path / "data", listen=listen, services=services
    )
    cfg.write_text(
        cfg.read_text().replace("interval: 1s, timeout: 500ms", "interval: 2s, timeout: 1s")
    )
    agent = NamespacedAgent(cfg, listen, resolver)
    agents.append(agent)

    def states() -> dict[str, dict[str, object]]:
        return {s["id"]: s for s in agent.status()["services"]}

    wait_for(lambda: all(states()[s]["state"] == "down" for s in hung), 20, "hung checks down")
    status_seconds: list[float] = []
    scrape_seconds: list[float] = []
    bad_healthy: list[tuple[float, str, object]] = []
    started = time.monotonic()
    while time.monotonic() - started < WATCH:
        t0 = time.monotonic()
        doc = {s["id"]: s for s in json.loads(agent.get("/api/v1/status", timeout=10))["services"]}
        status_seconds.append(time.monotonic() - t0)
        t0 = time.monotonic()
        agent.get("/metrics", timeout=10)
        scrape_seconds.append(time.monotonic() - t0)
        for sid in healthy:
            if doc[sid]["state"] != "up":
                bad_healthy.append((round(time.monotonic() - started, 1), sid, doc[sid]["state"]))
        assert agent.proc.poll() is None
        time.sleep(0.5)

    doc = states()
    assert bad_healthy == [], bad_healthy
    assert max(status_seconds) < BOUND, status_seconds
    assert max(scrape_seconds) < BOUND, scrape_seconds
    for sid in hung:
        assert (doc[sid]["state"], doc[sid]["last_reasons"]) == ("down", ["c:dns_timeout"]), sid
    for sid, (_, reason) in failing.items():
        assert (doc[sid]["state"], doc[sid]["last_reasons"]) == ("down", [f"c:{reason}"]), sid
    # Answered failures do not wait for the deadline (no retry storm).
    for sid in failing:
        line = f'pantau_probe_duration_seconds{{service="{sid}",check="c",type='
        duration = agent.metric(line)
        assert duration is not None, sid
        assert duration < 0.5, (sid, duration)
    # No invented downtime or gangguan for what never failed.
    for sid in healthy:
        assert doc[sid]["month_to_date"]["down_minutes"] == 0, sid
        assert doc[sid]["open_incidents"] == [], sid
    # Twelve checks of hung-shared share one lookup at a time: one A and one AAAA query per
    # lookup, a lookup lasts libc's 20 s, the agent ran ~35 s → at most 2-3 lookups (checks
    # each asking on their own would have sent 12 × 2 per round, ~200).
    shared = [q for q in resolver.queries if q[0] == "hung-shared.pantau.test"]
    assert len(shared) <= 8, shared
    threads = len(list(Path(f"/proc/{agent.proc.pid}/task").iterdir()))
    assert threads <= 45, threads  # 16 lookup threads at most, whatever hangs
    print(
        f"status p100 {max(status_seconds):.3f}s, scrape p100 {max(scrape_seconds):.3f}s, "
        f"{len(status_seconds)} samples, hung-shared queries {len(shared)}, threads {threads}"
    )
    assert agent.stop(timeout=30) == 0
