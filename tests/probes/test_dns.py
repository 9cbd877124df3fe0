"""DNS probe against a fake UDP DNS server on 127.0.0.1 and an injected system resolver
(FAULTS.md rows 7 and 8)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from agent.config.models import DnsCheck
from agent.core.clock import SystemClock
from agent.core.model import Outcome
from probes.dns import DnsProbe
from probes.resolve import RESOLVER_THREADS
from tests.probes.servers import FakeDnsServer
from tests.probes.support import probe_once

TOLERANCE = 0.5


def ask(server: FakeDnsServer, query: str, **fields: object) -> dict[str, object]:
    return {"type": "dns", "query": query, "resolver": f"127.0.0.1:{server.port}", **fields}


def queries_for(server: FakeDnsServer, name: str) -> list[tuple[str, str]]:
    return [q for q in server.queries if q[0] == name]


def test_name_resolves_through_the_configured_server(dns_server: FakeDnsServer) -> None:
    result = probe_once(ask(dns_server, "ok.test"))
    assert result.outcome is Outcome.UP
    assert "192.0.2.10" in result.detail
    assert "2001:db8::10" in result.detail


def test_nxdomain_fails_at_once_with_one_query_per_record_type(
    dns_server: FakeDnsServer,
) -> None:
    result = probe_once(ask(dns_server, "nx.test", record_type="A"), timeout=5.0)
    assert (result.outcome, result.reason) == (Outcome.DOWN, "dns_nxdomain")
    assert queries_for(dns_server, "nx.test") == [("nx.test", "A")]  # no retry storm
    assert result.latency < 5.0 / 2  # answered, not waited out


def test_servfail_fails_dns_servfail_without_retrying(dns_server: FakeDnsServer) -> None:
    result = probe_once(ask(dns_server, "fail.test", record_type="AAAA"), timeout=5.0)
    assert (result.outcome, result.reason) == (Outcome.DOWN, "dns_servfail")
    assert queries_for(dns_server, "fail.test") == [("fail.test", "AAAA")]


def test_silent_server_fails_dns_timeout_at_the_deadline(dns_server: FakeDnsServer) -> None:
    result = probe_once(ask(dns_server, "silent.test", record_type="A"), timeout=1.0)
    assert (result.outcome, result.reason) == (Outcome.DOWN, "dns_timeout")
    assert result.latency == pytest.approx(1.0, abs=TOLERANCE)
    assert len(queries_for(dns_server, "silent.test")) == 1  # one attempt for the whole deadline


def test_unexpected_address_fails_dns_mismatch(dns_server: FakeDnsServer) -> None:
    result = probe_once(
        ask(dns_server, "ok.test", record_type="A", expect_addresses=["192.0.2.99"])
    )
    assert (result.outcome, result.reason) == (Outcome.DOWN, "dns_mismatch")
    assert "192.0.2.10" in result.detail


def test_expected_addresses_compare_as_addresses_not_strings(dns_server: FakeDnsServer) -> None:
    # "2001:0db8::0010" is the same address as the served 2001:db8::10.
    fields = ask(dns_server, "ok.test", expect_addresses=["192.0.2.10", "2001:0db8::0010"])
    assert probe_once(fields).outcome is Outcome.UP


def test_system_resolver_resolves_localhost() -> None:
    result = probe_once({"type": "dns", "query": "localhost"})
    assert result.outcome is Outcome.UP
    assert "127.0.0.1" in result.detail or "::1" in result.detail


def test_system_resolver_nxdomain_maps_to_dns_nxdomain() -> None:
    def no_such_name(*args: Any) -> Sequence[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    probe = DnsProbe(
        _check("gone.example"), timeout=1.0, clock=SystemClock(), getaddrinfo=no_such_name
    )
    result = asyncio.run(probe.run())
    assert (result.outcome, result.reason) == (Outcome.DOWN, "dns_nxdomain")


@pytest.fixture
def blackholed() -> Iterator[tuple[Any, threading.Event]]:
    """A getaddrinfo that hangs like a blackholed resolver until released."""
    release = threading.Event()

    def hang(*args: Any) -> Sequence[tuple[Any, ...]]:
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    yield hang, release
    release.set()


def test_blackholed_system_resolver_times_out_without_exhausting_the_default_pool(
    blackholed: tuple[Any, threading.Event],
) -> None:
    hang, _ = blackholed
    many = RESOLVER_THREADS * 3

    async def main() -> tuple[list[Any], int]:
        probes = [
            DnsProbe(_check(f"h{i}.example"), timeout=1.0, clock=SystemClock(), getaddrinfo=hang)
            for i in range(many)
        ]
        results = await asyncio.gather(*(p.run() for p in probes))
        # The loop's shared default executor still answers at once: nothing parked there.
        loop = asyncio.get_running_loop()
        answer = await asyncio.wait_for(loop.run_in_executor(None, lambda: 42), 1.0)
        return results, answer

    results, answer = asyncio.run(main())
    assert answer == 42
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.DOWN, "dns_timeout")}
    assert all(r.latency == pytest.approx(1.0, abs=TOLERANCE) for r in results)
    stuck = [t for t in threading.enumerate() if t.name.startswith("pantau-dns")]
    assert len(stuck) <= RESOLVER_THREADS  # bounded, however many probes were waiting


def _check(name: str) -> DnsCheck:
    return DnsCheck.model_validate({"type": "dns", "query": name})
