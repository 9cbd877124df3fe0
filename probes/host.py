"""Host utilisation sampling with psutil, returning a frozen :class:`HostSnapshot`.

* CPU: ``psutil.cpu_percent()`` since the previous call; primed once at construction because
  its first reading is a meaningless 0.0.
* Memory: (total − available) / total, what ``free`` calls used.
* Filesystems: used / (used + free), like ``df``'s Use% (root-reserved blocks are neither).
  ``disk_usage`` runs in its own daemon thread with a timeout. A mount that does not answer
  (a dead NFS server blocks ``statvfs`` forever) is marked stuck and is not called again while
  that call still hangs, like node_exporter's ``stuckMounts``: at most one thread per mount is
  ever parked, sampling never waits longer than the timeout, and the daemon thread cannot keep
  the process from exiting.
* Network: byte counters per interface; rates from the delta between two samples over the
  monotonic clock; utilisation = the busier direction's bits per second / link capacity (links
  are full duplex: each direction has the whole capacity).

The psutil functions are parameters so tests can inject a ``disk_usage`` that hangs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import psutil

from agent.config.models import Host
from agent.core.clock import Clock

__all__ = ["FilesystemUsage", "HostSampler", "HostSnapshot", "InterfaceUsage"]


class DiskUsageLike(Protocol):
    """What ``psutil.disk_usage`` returns (only the fields used)."""

    @property
    def total(self) -> int: ...
    @property
    def used(self) -> int: ...
    @property
    def free(self) -> int: ...


class MemoryLike(Protocol):
    """What ``psutil.virtual_memory`` returns (only the fields used)."""

    @property
    def total(self) -> int: ...
    @property
    def available(self) -> int: ...


class NetCountersLike(Protocol):
    """One interface of ``psutil.net_io_counters(pernic=True)`` (only the fields used)."""

    @property
    def bytes_recv(self) -> int: ...
    @property
    def bytes_sent(self) -> int: ...


@dataclass(frozen=True)
class FilesystemUsage:
    """One configured mountpoint; values are None when stuck or unreadable."""

    mountpoint: str
    used_bytes: int | None
    total_bytes: int | None
    ratio: float | None
    stuck: bool = False
    error: str = ""


@dataclass(frozen=True)
class InterfaceUsage:
    """One configured interface; counters are None when it does not exist."""

    interface: str
    receive_bytes_total: int | None
    transmit_bytes_total: int | None
    receive_bytes_per_second: float | None = None  # None on the first sample or a reset
    transmit_bytes_per_second: float | None = None
    utilization_ratio: float | None = None  # None without link_capacity_mbps or a rate


@dataclass(frozen=True)
class HostSnapshot:
    """Utilisation of one host at one moment."""

    host: str
    taken_at: datetime  # aware UTC
    cpu_ratio: float
    memory_ratio: float
    filesystems: tuple[FilesystemUsage, ...]
    interfaces: tuple[InterfaceUsage, ...]


def _cpu_percent() -> float:
    return psutil.cpu_percent(interval=None)


def _net_counters() -> Mapping[str, NetCountersLike]:
    return psutil.net_io_counters(pernic=True)


class HostSampler:
    """Samples one :class:`agent.config.models.Host`; keep one per host, since rates need history."""

    def __init__(
        self,
        host: Host,
        *,
        clock: Clock,
        disk_timeout: float = 2.0,
        cpu_percent: Callable[[], float] = _cpu_percent,
        virtual_memory: Callable[[], MemoryLike] = psutil.virtual_memory,
        disk_usage: Callable[[str], DiskUsageLike] = psutil.disk_usage,
        net_io_counters: Callable[[], Mapping[str, NetCountersLike]] = _net_counters,
    ) -> None:
        self._host = host
        self._clock = clock
        self._disk_timeout = disk_timeout
        self._cpu_percent = cpu_percent
        self._virtual_memory = virtual_memory
        self._disk_usage = disk_usage
        self._net_io_counters = net_io_counters
        self._calls: dict[str, concurrent.futures.Future[DiskUsageLike]] = {}
        self._previous: dict[str, tuple[float, int, int]] = {}  # nic → (monotonic, rx, tx)
        self._cpu_percent()  # prime: the first reading only starts the measuring interval

    async def sample(self) -> HostSnapshot:
        """Take one snapshot; waits at most ``disk_timeout`` for the filesystems."""
        taken_at = self._clock.now()
        cpu = min(max(self._cpu_percent() / 100.0, 0.0), 1.0)
        memory = self._virtual_memory()
        memory_ratio = (memory.total - memory.available) / memory.total if memory.total else 0.0
        filesystems = await asyncio.gather(*(self._filesystem(m) for m in self._host.filesystems))
        return HostSnapshot(
            host=self._host.id,
            taken_at=taken_at,
            cpu_ratio=cpu,
            memory_ratio=memory_ratio,
            filesystems=tuple(filesystems),
            interfaces=self._interfaces(),
        )

    def stuck_mountpoints(self) -> list[str]:
        """Mountpoints whose previous ``disk_usage`` call has not returned yet."""
        return [m for m, call in self._calls.items() if not call.done()]

    async def _filesystem(self, mountpoint: str) -> FilesystemUsage:
        previous = self._calls.get(mountpoint)
        if previous is not None and not previous.done():
            return FilesystemUsage(mountpoint, None, None, None, stuck=True, error="still hung")
        call: concurrent.futures.Future[DiskUsageLike] = concurrent.futures.Future()
        self._calls[mountpoint] = call
        threading.Thread(
            target=_run_into,
            args=(call, self._disk_usage, mountpoint),
            name=f"pantau-statfs-{mountpoint}",
            daemon=True,  # a thread parked in statvfs on a dead mount must not block exit
        ).start()
        try:
            async with asyncio.timeout(self._disk_timeout):
                usage = await asyncio.wrap_future(call)
        except TimeoutError:
            error = f"no answer within {self._disk_timeout:g}s"
            return FilesystemUsage(mountpoint, None, None, None, stuck=True, error=error)
        except OSError as exc:  # not mounted, permission denied: data, not a crash
            return FilesystemUsage(mountpoint, None, None, None, error=type(exc).__name__)
        capacity = usage.used + usage.free
        ratio = usage.used / capacity if capacity else 0.0
        return FilesystemUsage(mountpoint, usage.used, usage.total, ratio)

    def _interfaces(self) -> tuple[InterfaceUsage, ...]:
        if not self._host.interfaces:
            return ()
        counters = self._net_io_counters()
        now = self._clock.monotonic()
        capacity = self._host.link_capacity_mbps
        result = []
        for nic in self._host.interfaces:
            current = counters.get(nic)
            if current is None:
                self._previous.pop(nic, None)
                result.append(InterfaceUsage(nic, None, None))
                continue
            rx, tx = current.bytes_recv, current.bytes_sent
            rx_rate = tx_rate = utilization = None
            before = self._previous.get(nic)
            self._previous[nic] = (now, rx, tx)
            # A counter going down means the interface was reset (or the counter wrapped):
            # that interval has no rate rather than a huge negative one.
            if before is not None and now > before[0] and rx >= before[1] and tx >= before[2]:
                elapsed = now - before[0]
                rx_rate, tx_rate = (rx - before[1]) / elapsed, (tx - before[2]) / elapsed
                if capacity is not None:
                    utilization = max(rx_rate, tx_rate) * 8 / (capacity * 1_000_000)
            result.append(InterfaceUsage(nic, rx, tx, rx_rate, tx_rate, utilization))
        return tuple(result)


def _run_into(
    call: concurrent.futures.Future[DiskUsageLike],
    disk_usage: Callable[[str], DiskUsageLike],
    mountpoint: str,
) -> None:
    if not call.set_running_or_notify_cancel():
        return
    try:
        call.set_result(disk_usage(mountpoint))
    except BaseException as exc:  # handed to the awaiting side, which decides
        call.set_exception(exc)
