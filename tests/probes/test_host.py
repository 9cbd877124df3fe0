"""Host sampler: real psutil readings, hand-computed rates, and a hung mount (FAULTS.md row 30)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from agent.config.models import Host
from agent.core.clock import SystemClock
from probes.host import HostSampler, HostSnapshot, NetCountersLike
from tests.fakes import FakeClock


class Disk(NamedTuple):
    total: int
    used: int
    free: int


class Memory(NamedTuple):
    total: int
    available: int


class Nic(NamedTuple):
    bytes_recv: int
    bytes_sent: int


def host(**fields: Any) -> Host:
    return Host.model_validate({"id": "local", **fields})


def sample(sampler: HostSampler) -> HostSnapshot:
    return asyncio.run(sampler.sample())


def test_real_sample_of_this_machine_has_sane_ratios() -> None:
    sampler = HostSampler(host(filesystems=["/"], interfaces=["lo"]), clock=SystemClock())
    first = sample(sampler)
    time.sleep(0.05)
    second = sample(sampler)
    assert 0.0 <= second.cpu_ratio <= 1.0
    assert 0.0 < second.memory_ratio < 1.0
    (root,) = second.filesystems
    assert root.total_bytes is not None
    assert root.total_bytes > 0
    assert root.ratio is not None
    assert 0.0 <= root.ratio <= 1.0
    assert not root.stuck
    (lo,) = second.interfaces
    assert lo.receive_bytes_total is not None
    assert lo.receive_bytes_total >= 0
    assert first.interfaces[0].receive_bytes_per_second is None  # no previous sample yet
    assert lo.receive_bytes_per_second is not None
    assert lo.receive_bytes_per_second >= 0
    assert lo.utilization_ratio is None  # no link_capacity_mbps configured
    assert second.taken_at.tzinfo is not None


def test_cpu_percent_is_primed_once_so_the_first_sample_is_meaningful() -> None:
    readings = iter([0.0, 37.5])  # psutil's first reading is a meaningless 0.0
    calls: list[float] = []

    def cpu() -> float:
        calls.append(value := next(readings))
        return value

    sampler = HostSampler(
        host(filesystems=[]),
        clock=SystemClock(),
        cpu_percent=cpu,
        virtual_memory=lambda: Memory(8, 2),
    )
    snapshot = sample(sampler)
    assert len(calls) == 2
    assert snapshot.cpu_ratio == 0.375
    assert snapshot.memory_ratio == 0.75  # (8 - 2) / 8


def test_rates_and_bandwidth_utilisation_from_counter_deltas() -> None:
    clock = FakeClock(datetime(2026, 1, 31, 17, 30, tzinfo=UTC))
    counters: dict[str, Nic] = {"eth0": Nic(1_000_000, 500_000)}

    def net() -> Mapping[str, NetCountersLike]:
        return counters

    sampler = HostSampler(
        host(filesystems=[], interfaces=["eth0", "wlan9"], link_capacity_mbps=100),
        clock=clock,
        net_io_counters=net,
    )
    sample(sampler)
    clock.advance(10)
    counters["eth0"] = Nic(1_000_000 + 12_500_000, 500_000 + 2_500_000)
    eth0, wlan9 = sample(sampler).interfaces
    # rx: 12.5 MB / 10 s = 1.25 MB/s = 10 Mbit/s; tx: 2.5 MB / 10 s = 0.25 MB/s = 2 Mbit/s.
    assert eth0.receive_bytes_per_second == 1_250_000
    assert eth0.transmit_bytes_per_second == 250_000
    # the busier direction (10 Mbit/s) over a 100 Mbit/s link
    assert eth0.utilization_ratio == pytest.approx(0.10)
    assert wlan9.receive_bytes_total is None  # configured but absent: no made-up zeros


def test_counter_reset_gives_no_rate_for_that_interval() -> None:
    clock = FakeClock(datetime(2026, 1, 31, 17, 30, tzinfo=UTC))
    counters = {"eth0": Nic(9_000_000, 9_000_000)}
    sampler = HostSampler(
        host(filesystems=[], interfaces=["eth0"]), clock=clock, net_io_counters=lambda: counters
    )
    sample(sampler)
    clock.advance(30)
    counters["eth0"] = Nic(1_000, 2_000)  # interface bounced: counters restarted
    (eth0,) = sample(sampler).interfaces
    assert eth0.receive_bytes_per_second is None
    assert eth0.receive_bytes_total == 1_000


def test_filesystem_ratio_is_used_over_used_plus_free_like_df() -> None:
    # 1000 total, 600 used, 300 free (100 reserved for root): 600 / (600 + 300) = 0.666…
    sampler = HostSampler(
        host(filesystems=["/data"]), clock=SystemClock(), disk_usage=lambda m: Disk(1000, 600, 300)
    )
    (fs,) = sample(sampler).filesystems
    assert (fs.used_bytes, fs.total_bytes) == (600, 1000)
    assert fs.ratio == pytest.approx(600 / 900)


def test_missing_mountpoint_is_reported_not_raised() -> None:
    sampler = HostSampler(host(filesystems=["/no/such/mount"]), clock=SystemClock())
    (fs,) = sample(sampler).filesystems
    assert (fs.ratio, fs.stuck, fs.error) == (None, False, "FileNotFoundError")


@pytest.fixture
def dead_nfs() -> Iterator[tuple[Any, threading.Event, list[str]]]:
    """A disk_usage that hangs on /mnt/nfs (like statvfs on a dead NFS server) until released."""
    release = threading.Event()
    calls: list[str] = []

    def disk_usage(mountpoint: str) -> Disk:
        calls.append(mountpoint)
        if mountpoint == "/mnt/nfs":
            release.wait(60)
        return Disk(100, 25, 75)

    yield disk_usage, release, calls
    release.set()


def test_hung_mount_is_marked_stuck_not_called_again_and_never_blocks_sampling(
    dead_nfs: tuple[Any, threading.Event, list[str]],
) -> None:
    disk_usage, release, calls = dead_nfs
    sampler = HostSampler(
        host(filesystems=["/", "/mnt/nfs"]),
        clock=SystemClock(),
        disk_timeout=0.5,
        disk_usage=disk_usage,
    )

    async def scenario() -> None:
        started = time.monotonic()
        root, nfs = (await sampler.sample()).filesystems
        assert time.monotonic() - started == pytest.approx(0.5, abs=0.5)
        assert (root.ratio, root.stuck) == (0.25, False)
        assert (nfs.ratio, nfs.stuck) == (None, True)

        # Still hung: reported stuck at once, and statvfs is not called a second time.
        root, nfs = (await sampler.sample()).filesystems
        assert nfs.stuck
        assert nfs.error == "still hung"
        assert calls.count("/mnt/nfs") == 1
        assert calls.count("/") == 2
        assert sampler.stuck_mountpoints() == ["/mnt/nfs"]

        release.set()  # the server comes back; the parked call returns
        for _ in range(100):
            if not sampler.stuck_mountpoints():
                break
            await asyncio.sleep(0.02)
        root, nfs = (await sampler.sample()).filesystems
        assert (nfs.ratio, nfs.stuck) == (0.25, False)
        assert calls.count("/mnt/nfs") == 2

    asyncio.run(scenario())
