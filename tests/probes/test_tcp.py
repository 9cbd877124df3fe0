"""TCP probe on loopback (FAULTS.md rows 1 and 6)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from agent.core.model import Outcome
from tests.probes.support import probe_once

TOLERANCE = 0.5


def tcp(port: int, host: str = "127.0.0.1") -> dict[str, object]:
    return {"type": "tcp", "address": f"{host}:{port}"}


def test_listening_port_is_up(silent_port: int) -> None:
    result = probe_once(tcp(silent_port))
    assert (result.outcome, result.reason) == (Outcome.UP, "")


def test_port_by_host_name_is_up(silent_port: int) -> None:
    result = probe_once(tcp(silent_port, host="localhost"))  # ::1 refused, then 127.0.0.1
    assert result.outcome is Outcome.UP


def test_closed_port_is_refused_fast() -> None:
    with socket.socket() as sock:  # bound, not listening: the kernel answers RST
        sock.bind(("127.0.0.1", 0))
        result = probe_once(tcp(sock.getsockname()[1]), timeout=5.0)
    assert (result.outcome, result.reason) == (Outcome.DOWN, "connection_refused")
    assert result.latency < 5.0 / 2


@pytest.fixture
def filtered_port() -> Iterator[int]:
    """A port whose SYNs are dropped: Linux drops SYNs while a listener's accept queue is full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # an accept queue of one
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield port
    finally:
        filler.close()
        listener.close()


def test_filtered_port_times_out_at_the_deadline(filtered_port: int) -> None:
    result = probe_once(tcp(filtered_port), timeout=1.0)
    assert (result.outcome, result.reason) == (Outcome.DOWN, "timeout")
    assert result.latency == pytest.approx(1.0, abs=TOLERANCE)


def test_unknown_host_name_fails_dns_nxdomain() -> None:
    # .invalid never resolves (RFC 6761); without network the resolver may also just fail.
    result = probe_once(tcp(80, host="pantau-no-such-host.invalid"), timeout=3.0)
    assert result.outcome is Outcome.DOWN
    assert result.reason in ("dns_nxdomain", "dns_servfail", "timeout")
