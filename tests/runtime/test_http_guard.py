"""The endpoint's connection guard in process, with fake transports (the real agent under
1,100 and 16,500 idle connections is ``tests/integration/test_idle_connections.py``)."""

from __future__ import annotations

import asyncio
import logging
import resource
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.config.models import HttpSettings
from agent.runtime import http_guard
from agent.runtime.http_guard import AcceptErrorLog, ConnectionGuard, GuardedConnection
from exporters.metrics import MetricsCache
from tests.fakes import FakeClock


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Inner(asyncio.Protocol):
    """Stands in for aiohttp's RequestHandler: records what it is given."""

    def __init__(self) -> None:
        self.data = b""
        self.lost = False
        self.paused = False

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False


def settings(**fields: Any) -> HttpSettings:
    return HttpSettings.model_validate(fields)


def refused(metrics: MetricsCache, reason: str) -> int:
    for line in metrics.render().decode().splitlines():
        if line.startswith(f'pantau_http_refused_total{{reason="{reason}"}}'):
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError(reason)


def make(guard: ConnectionGuard) -> tuple[GuardedConnection, FakeTransport]:
    conn = guard.factory(Inner)()
    assert isinstance(conn, GuardedConnection)
    transport = FakeTransport()
    conn.connection_made(transport)
    return conn, transport


@pytest.fixture
def metrics() -> MetricsCache:
    m = MetricsCache()
    m.set_agent(version="test")
    return m


def test_the_cap_keeps_half_the_open_file_limit_and_an_accept_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def limit(soft: int) -> None:
        monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, soft))

    limit(1024)
    assert http_guard.connection_cap(512) == (1024 // 2 - 128, 1024)  # 384
    limit(16_384)  # deploy/pantau.service
    assert http_guard.connection_cap(512) == (512, 16_384)
    limit(100)
    assert http_guard.connection_cap(512) == (16, 100)  # a floor, however low the limit
    assert http_guard.connection_cap(4) == (4, 100)  # a smaller setting still wins


def test_at_the_cap_silent_connections_make_room_first_then_idle_ones_never_busy_ones(
    metrics: MetricsCache,
) -> None:
    async def main() -> None:
        guard = ConnectionGuard(lambda: settings(max_connections=3), metrics)
        (_, t1), (c2, t2), (_, t3) = make(guard), make(guard), make(guard)
        c2.data_received(b"GET / HT")  # c2 has spoken: a half head
        c4, t4 = make(guard)  # evicts c1, the oldest silent one
        assert (t1.aborted, t2.aborted, t3.aborted, t4.aborted) == (True, False, False, False)
        c5, t5 = make(guard)  # evicts c3, silent, before c2 which has spoken
        assert (t2.aborted, t3.aborted) == (False, True)
        for c in (c4, c5):
            c.data_received(b"GET / HTTP/1.1\r\n\r\n")  # complete heads: busy
        c6, t6 = make(guard)  # only c2 is evictable now
        assert t2.aborted
        c6.data_received(b"GET / HTTP/1.1\r\n\r\n")
        _, t7 = make(guard)  # every connection busy: the new one is refused
        assert t7.aborted
        assert [t.aborted for t in (t4, t5, t6)] == [False, False, False]
        assert guard.open_connections == 3

    asyncio.run(main())
    assert refused(metrics, "evicted") == 3
    assert refused(metrics, "over_capacity") == 1


def test_a_head_must_complete_in_time_even_when_bytes_keep_coming(metrics: MetricsCache) -> None:
    async def main() -> tuple[FakeTransport, FakeTransport, Inner]:
        guard = ConnectionGuard(lambda: settings(header_timeout="200ms"), metrics)
        slow, slow_t = make(guard)
        quick, quick_t = make(guard)
        quick.data_received(b"GET /metrics HTTP/1.1\r\nHost: x\r")
        quick.data_received(b"\n\r\n")  # the end of the head split across reads
        for _ in range(6):  # a byte every 50 ms: each read is quick, the head never ends
            slow.data_received(b"X")
            await asyncio.sleep(0.05)
        assert isinstance(quick.handler, Inner)
        return slow_t, quick_t, quick.handler

    slow_t, quick_t, inner = asyncio.run(main())
    assert slow_t.aborted
    assert not quick_t.aborted
    assert inner.data == b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    assert refused(metrics, "header_timeout") == 1


def test_after_a_request_an_idle_connection_closes_after_the_idle_timeout(
    metrics: MetricsCache,
) -> None:
    async def main() -> FakeTransport:
        guard = ConnectionGuard(lambda: settings(idle_timeout="100ms"), metrics)
        conn, transport = make(guard)
        conn.data_received(b"GET / HTTP/1.1\r\n\r\n")
        conn.request_started()
        await asyncio.sleep(0.2)  # handling takes longer than the idle timeout: no matter
        assert not transport.aborted
        conn.request_finished()
        await asyncio.sleep(0.2)
        return transport

    assert asyncio.run(main()).aborted
    assert refused(metrics, "idle_timeout") == 1


def test_a_client_that_stops_reading_is_cut_off_after_the_request_timeout(
    metrics: MetricsCache,
) -> None:
    async def main() -> tuple[FakeTransport, FakeTransport]:
        guard = ConnectionGuard(lambda: settings(request_timeout="100ms"), metrics)
        stalled, stalled_t = make(guard)
        reading, reading_t = make(guard)
        for c in (stalled, reading):
            c.data_received(b"GET /metrics HTTP/1.1\r\n\r\n")
            c.request_started()
            c.pause_writing()
        await asyncio.sleep(0.05)
        reading.resume_writing()  # this one drained its buffer in time
        await asyncio.sleep(0.15)
        return stalled_t, reading_t

    stalled_t, reading_t = asyncio.run(main())
    assert stalled_t.aborted
    assert not reading_t.aborted
    assert refused(metrics, "write_stall") == 1


def test_accept_errors_are_reported_once_a_minute_with_a_count(
    metrics: MetricsCache, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    handler = AcceptErrorLog(clock, metrics)
    loop = asyncio.new_event_loop()
    context = {"message": "socket.accept() out of system resource",
               "exception": OSError(24, "Too many open files")}  # fmt: skip
    try:
        with caplog.at_level(logging.ERROR, logger="pantau.http"):
            for _ in range(128 * 60):  # a minute of asyncio retrying a full accept batch
                handler(loop, context)
                clock.advance(1 / 128)
            handler(loop, context)
    finally:
        loop.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "pantau.http"]
    assert len(lines) == 2, lines
    assert "Too many open files (1 times" in lines[0]
    assert f"({128 * 60} times since the last report" in lines[1]
    assert refused(metrics, "accept_error") == 128 * 60 + 1
