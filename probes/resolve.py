"""The one place every probe turns a host name into addresses (FAULTS 8, 35).

glibc's ``getaddrinfo`` blocks its thread for as long as a silent resolver makes it wait
(``timeout × attempts`` per server and query), and ``loop.getaddrinfo`` runs it on the loop's
shared default executor, where store reads and everything else then queue behind it. So a
hung resolver used to starve checks that need no DNS at all. Here, in this order:

1. an IP literal is never looked up;
2. a name in ``/etc/hosts`` (``localhost``) is answered from the file on the event loop, with
   no thread and no DNS, when ``nsswitch.conf`` asks ``files`` before ``dns`` (as glibc would);
3. anything else runs ``getaddrinfo`` on one bounded pool of :data:`RESOLVER_THREADS`
   threads. Concurrent lookups of one name share one call, so a hung name holds one thread
   however many checks wait for it, and a lookup still queued when its last caller gives up
   is cancelled, so the queue never grows. Up to :data:`RESOLVER_THREADS` different names can
   hang at once before other lookups wait; libc frees a thread after its own timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agent.core.addresses import is_ip

__all__ = ["RESOLVER", "RESOLVER_THREADS", "GetAddrInfo", "HostsFile", "Resolver", "resolve_system"]

#: Threads for system-resolver lookups, shared by every probe of the process.
RESOLVER_THREADS = 16

GetAddrInfo = Callable[..., Sequence[tuple[Any, ...]]]
_Key = tuple[GetAddrInfo, str, int]
_FAMILIES = {"4": socket.AF_INET, "6": socket.AF_INET6}
#: /etc/hosts is re-read at most this often (seconds), when its mtime or size changed.
_RECHECK = 1.0


class HostsFile:
    """``/etc/hosts`` as glibc's ``files`` source reads it, re-read when the file changes."""

    def __init__(
        self, path: Path = Path("/etc/hosts"), nsswitch: Path = Path("/etc/nsswitch.conf")
    ) -> None:
        self._path = path
        self._nsswitch = nsswitch
        self._lock = threading.Lock()
        self._names: dict[str, list[tuple[int, str]]] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked: float | None = None
        self._files_first: bool | None = None

    def lookup(self, name: str, family: int) -> list[str] | None:
        """Addresses of ``name`` of ``family`` (``AF_UNSPEC``: both) in file order, or None
        when the file does not answer (then the system resolver is asked)."""
        if not self._files_first_in_nsswitch():
            return None
        key = name.rstrip(".").lower()
        with self._lock:
            self._refresh()
            entries = self._names.get(key)
        if not entries:
            return None
        found = [a for fam, a in entries if family in (socket.AF_UNSPEC, fam)]
        return found or None

    def _files_first_in_nsswitch(self) -> bool:
        """Whether ``hosts:`` consults ``files`` before ``dns`` (no nsswitch.conf: musl and
        glibc both read the hosts file first)."""
        if self._files_first is None:
            try:
                text = self._nsswitch.read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._files_first = True
                return True
            sources: list[str] = []
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if words and words[0] == "hosts:":
                    sources = [w for w in words[1:] if not w.startswith("[")]
            self._files_first = "files" in sources and (
                "dns" not in sources or sources.index("files") < sources.index("dns")
            )
        return self._files_first

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._checked is not None and now - self._checked < _RECHECK:
            return
        self._checked = now
        try:
            st = os.stat(self._path)
        except OSError:
            self._names, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            text = self._path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            self._names = {}
            return
        self._names = _parse_hosts(text)


def _parse_hosts(text: str) -> dict[str, list[tuple[int, str]]]:
    names: dict[str, list[tuple[int, str]]] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        try:
            address = ipaddress.ip_address(words[0].split("%", 1)[0])
        except ValueError:
            continue
        family = _FAMILIES[str(address.version)]
        for name in words[1:]:
            entries = names.setdefault(name.rstrip(".").lower(), [])
            if (family, words[0]) not in entries:
                entries.append((family, words[0]))
    return names


class Resolver:
    """The bounded pool; see the module docstring. One per process: :data:`RESOLVER`."""

    def __init__(
        self,
        threads: int = RESOLVER_THREADS,
        hosts: HostsFile | None = None,
        getaddrinfo: GetAddrInfo = socket.getaddrinfo,
    ) -> None:
        self.threads = threads
        self.getaddrinfo = getaddrinfo
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pantau-dns")
        self._hosts = hosts or HostsFile()
        # Re-entrant: cancelling a queued call runs its done-callbacks (``_forget``) at once.
        self._lock = threading.RLock()
        # One call per (getaddrinfo, name, family), with how many callers still wait for it.
        self._inflight: dict[_Key, tuple[concurrent.futures.Future[list[str]], int]] = {}

    async def resolve(
        self,
        host: str,
        family: int,
        within: float,
        getaddrinfo: GetAddrInfo | None = None,
    ) -> list[str]:
        """Addresses of ``host`` (IPs and /etc/hosts names at once, others on the pool).

        Raises ``socket.gaierror`` as getaddrinfo does, and ``TimeoutError`` after ``within``
        seconds (a worker may stay stuck in libc, but the caller does not wait for it).
        """
        if is_ip(host):
            return [host]
        local = self._hosts.lookup(host, family)
        if local is not None:
            return local
        key = (getaddrinfo or self.getaddrinfo, host.lower(), family)
        future = self._join(key, host)
        # Not asyncio.wrap_future: cancelling its wrapper cancels the shared call for every
        # other caller too. This waiter is this caller's alone.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[str]] = loop.create_future()

        def wake(done: concurrent.futures.Future[list[str]]) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop closed meanwhile
                loop.call_soon_threadsafe(_settle, waiter, done)

        future.add_done_callback(wake)
        try:
            async with asyncio.timeout(within):
                return await waiter
        finally:
            self._leave(key, future)

    def _join(self, key: _Key, host: str) -> concurrent.futures.Future[list[str]]:
        with self._lock:
            current = self._inflight.get(key)
            if current is not None:
                self._inflight[key] = (current[0], current[1] + 1)
                return current[0]
            getaddrinfo, family = key[0], key[2]
            future = self._pool.submit(_addresses, getaddrinfo, host, family)
            self._inflight[key] = (future, 1)
        future.add_done_callback(lambda f: self._forget(key, f))
        return future

    def _leave(self, key: _Key, future: concurrent.futures.Future[list[str]]) -> None:
        """One caller is done; the last one to give up cancels a lookup still queued."""
        with self._lock:
            current = self._inflight.get(key)
            if current is None or current[0] is not future:
                return
            waiters = current[1] - 1
            if waiters > 0 or not future.cancel():
                # Running (perhaps stuck in libc): later callers join it instead of taking
                # another thread for the same name.
                self._inflight[key] = (future, max(waiters, 0))
                return
            self._inflight.pop(key, None)

    def _forget(self, key: _Key, future: concurrent.futures.Future[list[str]]) -> None:
        with self._lock:
            current = self._inflight.get(key)
            if current is not None and current[0] is future:
                del self._inflight[key]


def _settle(waiter: asyncio.Future[list[str]], done: concurrent.futures.Future[list[str]]) -> None:
    if waiter.done():
        return  # the caller gave up already
    if done.cancelled():
        waiter.cancel()
    elif (exc := done.exception()) is not None:
        waiter.set_exception(exc)
    else:
        waiter.set_result(done.result())


def _addresses(getaddrinfo: GetAddrInfo, host: str, family: int) -> list[str]:
    addresses: list[str] = []
    for info in getaddrinfo(host, None, family, socket.SOCK_STREAM):
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


#: The process's one resolver pool.
RESOLVER = Resolver()


async def resolve_system(
    host: str,
    family: int,
    within: float,
    getaddrinfo: GetAddrInfo | None = None,
) -> list[str]:
    """Addresses of ``host`` through :data:`RESOLVER` (see :meth:`Resolver.resolve`)."""
    return await RESOLVER.resolve(host, family, within, getaddrinfo)
