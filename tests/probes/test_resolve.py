"""The one bounded lookup pool (FAULTS 8 and 35, in process; the real agent with a hung system
resolver is ``tests/integration/test_hung_resolver.py``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import probes.resolve
from agent.config.models import HttpCheck, TcpCheck
from agent.core.clock import SystemClock
from agent.core.model import Outcome
from probes.http import HttpProbe
from probes.resolve import HostsFile, Resolver
from probes.tcp import TcpProbe
from tests.probes.conftest import HttpTarget

HOSTS = """\
# comment line
127.0.0.1   localhost
::1         localhost ip6-localhost   # trailing comment
10.0.0.7    Files.Example files-alias
not-an-ip   broken.example
"""


class Calls:
    """A getaddrinfo that records names and hangs for names starting with ``hung``."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, host: str, *args: Any) -> Sequence[tuple[Any, ...]]:
        with self.lock:
            self.names.append(host)
        if host.startswith("hung"):
            self.release.wait(30)  # bounded: released at teardown
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 0))]


@pytest.fixture
def calls() -> Iterator[Calls]:
    c = Calls()
    yield c
    c.release.set()


@pytest.fixture
def hosts_file(tmp_path: Path) -> HostsFile:
    (tmp_path / "hosts").write_text(HOSTS, encoding="utf-8")
    (tmp_path / "nsswitch.conf").write_text("hosts: files dns\n", encoding="utf-8")
    return HostsFile(tmp_path / "hosts", tmp_path / "nsswitch.conf")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_an_ip_literal_is_never_looked_up(calls: Calls, hosts_file: HostsFile) -> None:
    resolver = Resolver(threads=2, hosts=hosts_file, getaddrinfo=calls)
    assert run(resolver.resolve("192.0.2.5", socket.AF_UNSPEC, 1.0)) == ["192.0.2.5"]
    assert run(resolver.resolve("2001:db8::1", socket.AF_UNSPEC, 1.0)) == ["2001:db8::1"]
    assert calls.names == []


def test_hosts_file_names_answer_without_the_resolver(calls: Calls, hosts_file: HostsFile) -> None:
    resolver = Resolver(threads=2, hosts=hosts_file, getaddrinfo=calls)
    assert run(resolver.resolve("localhost", socket.AF_UNSPEC, 1.0)) == ["127.0.0.1", "::1"]
    assert run(resolver.resolve("localhost", socket.AF_INET, 1.0)) == ["127.0.0.1"]
    assert run(resolver.resolve("LOCALHOST.", socket.AF_INET6, 1.0)) == ["::1"]
    assert run(resolver.resolve("files-alias", socket.AF_UNSPEC, 1.0)) == ["10.0.0.7"]
    assert run(resolver.resolve("files.example", socket.AF_UNSPEC, 1.0)) == ["10.0.0.7"]
    assert calls.names == []
    # A family the file does not have, a bad line's name and unknown names go to the resolver.
    for name, family in (("files.example", socket.AF_INET6), ("broken.example", 0),
                         ("elsewhere.example", 0)):  # fmt: skip
        assert run(resolver.resolve(name, family, 1.0)) == ["192.0.2.1"]
    assert calls.names == ["files.example", "broken.example", "elsewhere.example"]


def test_dns_before_files_in_nsswitch_turns_the_shortcut_off(calls: Calls, tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(HOSTS, encoding="utf-8")
    (tmp_path / "nsswitch.conf").write_text("hosts: dns [!UNAVAIL=return] files\n")
    hosts = HostsFile(tmp_path / "hosts", tmp_path / "nsswitch.conf")
    resolver = Resolver(threads=2, hosts=hosts, getaddrinfo=calls)
    assert run(resolver.resolve("localhost", socket.AF_UNSPEC, 1.0)) == ["192.0.2.1"]
    assert calls.names == ["localhost"]


def test_a_changed_hosts_file_is_read_again(
    calls: Calls, hosts_file: HostsFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probes.resolve, "_RECHECK", 0.0)
    resolver = Resolver(threads=2, hosts=hosts_file, getaddrinfo=calls)
    assert run(resolver.resolve("files-alias", socket.AF_UNSPEC, 1.0)) == ["10.0.0.7"]
    (tmp_path / "hosts").write_text("10.9.9.9 files-alias new-name\n", encoding="utf-8")
    assert run(resolver.resolve("files-alias", socket.AF_UNSPEC, 1.0)) == ["10.9.9.9"]
    assert run(resolver.resolve("new-name", socket.AF_UNSPEC, 1.0)) == ["10.9.9.9"]
    assert calls.names == []


def test_many_checks_of_one_hung_name_hold_one_thread_and_make_one_call(
    calls: Calls, hosts_file: HostsFile
) -> None:
    resolver = Resolver(threads=4, hosts=hosts_file, getaddrinfo=calls)

    async def main() -> list[BaseException | list[str]]:
        lookups = [resolver.resolve("hung.example", socket.AF_UNSPEC, 0.5) for _ in range(30)]
        return await asyncio.gather(*lookups, return_exceptions=True)

    results = run(main())
    assert all(isinstance(r, TimeoutError) for r in results), results
    assert calls.names == ["hung.example"]
    # A later round joins the call still stuck in libc instead of taking another thread.
    with pytest.raises(TimeoutError):
        run(resolver.resolve("hung.example", socket.AF_UNSPEC, 0.3))
    assert calls.names == ["hung.example"]


def test_hung_names_never_delay_hosts_file_names_or_ips_and_queued_calls_are_dropped(
    calls: Calls, hosts_file: HostsFile
) -> None:
    # Two threads, both stuck on hung names: the pool is as full as it can get.
    resolver = Resolver(threads=2, hosts=hosts_file, getaddrinfo=calls)

    async def main() -> tuple[list[Any], float, list[str], list[str]]:
        hung = [resolver.resolve(f"hung{i}.example", socket.AF_UNSPEC, 1.0) for i in range(6)]
        pending = asyncio.gather(*hung, return_exceptions=True)
        await asyncio.sleep(0.2)  # both threads are stuck now
        t0 = time.monotonic()
        local = await resolver.resolve("localhost", socket.AF_INET, 1.0)
        ip = await resolver.resolve("127.0.0.1", socket.AF_INET, 1.0)
        took = time.monotonic() - t0
        return await pending, took, local, ip

    results, took, local, ip = run(main())
    assert (local, ip) == (["127.0.0.1"], ["127.0.0.1"])
    assert took < 0.1  # answered from the file: no thread, no queue (generous: ~10 µs)
    assert all(isinstance(r, TimeoutError) for r in results)
    # Only the two that got a thread ever reached libc; the four queued ones were cancelled at
    # their deadline instead of running later for nobody.
    calls.release.set()
    time.sleep(0.3)
    assert sorted(calls.names) == ["hung0.example", "hung1.example"]


def test_the_pool_answers_again_once_libc_gives_up(calls: Calls, hosts_file: HostsFile) -> None:
    resolver = Resolver(threads=1, hosts=hosts_file, getaddrinfo=calls)
    with pytest.raises(TimeoutError):
        run(resolver.resolve("hung.example", socket.AF_UNSPEC, 0.3))
    calls.release.set()  # libc's own timeout ends the stuck call
    assert run(resolver.resolve("good.example", socket.AF_UNSPEC, 2.0)) == ["192.0.2.1"]


@pytest.fixture
def hung_pool(calls: Calls, monkeypatch: pytest.MonkeyPatch) -> Calls:
    """The process's pool replaced by one whose resolver hangs for ``hung*`` names."""
    monkeypatch.setattr(probes.resolve, "RESOLVER", Resolver(threads=4, getaddrinfo=calls))
    return calls


def test_tcp_and_http_checks_of_a_hung_name_fail_dns_timeout_and_leave_the_executor_free(
    hung_pool: Calls, http_target: HttpTarget
) -> None:
    clock = SystemClock()
    hung = [TcpProbe(TcpCheck.model_validate({"type": "tcp", "address": f"hung{i}.example:80"}),
                     timeout=0.8, clock=clock) for i in range(3)]  # fmt: skip
    hung += [
        HttpProbe(
            HttpCheck.model_validate({"type": "http", "url": f"http://hung{i}.example/"}),
            timeout=0.8,
            max_body_bytes=1024,
            clock=clock,
        )
        for i in range(3, 12)
    ]
    fine = [
        TcpProbe(TcpCheck.model_validate({"type": "tcp", "address": f"localhost:{http_target.port}"}),
                 timeout=0.8, clock=clock),
        HttpProbe(HttpCheck.model_validate({"type": "http", "url": f"http://localhost:{http_target.port}/"}),
                  timeout=0.8, max_body_bytes=1024, clock=clock),
        HttpProbe(HttpCheck.model_validate({"type": "http", "url": f"{http_target.base}/"}),
                  timeout=0.8, max_body_bytes=1024, clock=clock),
    ]  # fmt: skip

    async def main() -> tuple[list[Any], list[Any], int]:
        results = await asyncio.gather(*(p.run() for p in hung + fine))
        # Nothing was parked on the loop's default executor (anyio's getaddrinfo would be).
        loop = asyncio.get_running_loop()
        answer = await asyncio.wait_for(loop.run_in_executor(None, lambda: 42), 1.0)
        for p in hung + fine:
            await p.aclose()
        return results[: len(hung)], results[len(hung) :], answer

    bad, good, answer = run(main())
    assert answer == 42
    assert [(r.outcome, r.reason) for r in bad] == [(Outcome.DOWN, "dns_timeout")] * len(hung)
    assert "hung3.example" in bad[3].detail
    assert [r.outcome for r in good] == [Outcome.UP] * 3, [r.reason for r in good]
    assert all(r.latency < 0.8 for r in good)
    # Twelve hung names, a pool of four: only the four that got a thread ever reached libc
    # (the others were dropped from the queue at their deadline).
    assert len(hung_pool.names) == 4
