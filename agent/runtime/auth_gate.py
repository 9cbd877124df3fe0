"""Basic auth for the endpoint that a password flood cannot turn against anyone else (FAULTS 33).

Thirty clients sending wrong passwords used to make a healthy check of a host name time out
(39 s of invented downtime) and each real scrape take ~2 s: every bcrypt check (~60 ms at cost
10) ran on the loop's default executor, queued behind one global lock, where httpx's name
lookups and the store reads queued too. Now, per request::

    credentials seen passing before ─────────────────────────────► allowed (no bcrypt, no wait)
    client out of failed attempts (agent.http.failed_auth_limit) ► 429 + Retry-After, no bcrypt
    MAX_PENDING checks already waiting ──────────────────────────► 429 + Retry-After: 1
    otherwise: one bcrypt check on this gate's own single thread ► allowed, or 401

A client is its address (an IPv6 client its /64, which one machine usually holds whole). Only
failures spend a client's allowance: the first ``burst`` wrong passwords get 401 as before, so a
scraper with a stale password still sees the real error; a success gives its token back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from agent.config.models import FailedAuthLimit
from agent.config.webconfig import WebConfig
from agent.core.clock import Clock

__all__ = ["MAX_CLIENTS", "MAX_PENDING", "AuthGate", "Verdict", "client_key"]

#: bcrypt checks allowed to wait for the auth thread; more get 429 at once (~2 s of work).
MAX_PENDING = 32
#: Clients whose allowance is remembered; the least recently seen are forgotten first.
MAX_CLIENTS = 4096


@dataclass(frozen=True)
class Verdict:
    """What the endpoint answers: ``ok``, ``denied`` (401) or ``throttled``/``busy`` (429)."""

    outcome: Literal["ok", "denied", "throttled", "busy"]
    retry_after: int = 0  # seconds, for 429


OK = Verdict("ok")
DENIED = Verdict("denied")


def client_key(remote: str | None) -> str:
    """The rate-limit key of a peer address: IPv4 as is, IPv6 by its /64."""
    if not remote:
        return "?"
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class AuthGate:
    """Checks credentials for the HTTP app; see the module docstring. One per agent."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # Its own thread: bcrypt never occupies the default executor the store reads use, and
        # one thread is one core at most (the check itself is serialised in WebConfig anyway).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pantau-auth")
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self.pending = 0

    async def check(
        self,
        web_config: WebConfig,
        header: str | None,
        remote: str | None,
        limit: FailedAuthLimit | None,
    ) -> Verdict:
        """The verdict on one request's ``Authorization`` header; never raises."""
        if web_config.cached_basic_auth(header):
            return OK
        client = client_key(remote)
        if limit is not None:
            wait = self._take(client, limit)
            if wait is not None:
                return Verdict("throttled", wait)
        if self.pending >= MAX_PENDING:
            if limit is not None:
                self._give_back(client, limit)
            return Verdict("busy", 1)
        self.pending += 1
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(self._pool, web_config.check_basic_auth, header)
        finally:
            self.pending -= 1
        if ok:
            if limit is not None:
                self._give_back(client, limit)
            return OK
        return DENIED

    def close(self) -> None:
        """Stop the auth thread (a check still running finishes on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _take(self, client: str, limit: FailedAuthLimit) -> int | None:
        """Spend one of ``client``'s attempts; None when it had one, else seconds to wait."""
        tokens = self._tokens(client, limit)
        if tokens >= 1:
            self._store(client, tokens - 1)
            return None
        self._store(client, tokens)
        return max(1, math.ceil((1 - tokens) * limit.interval.total_seconds()))

    def _give_back(self, client: str, limit: FailedAuthLimit) -> None:
        self._store(client, min(float(limit.burst), self._tokens(client, limit) + 1))

    def _tokens(self, client: str, limit: FailedAuthLimit) -> float:
        now = self._clock.monotonic()
        tokens, when = self._buckets.get(client, (float(limit.burst), now))
        refill = max(0.0, now - when) / limit.interval.total_seconds()
        return min(float(limit.burst), tokens + refill)

    def _store(self, client: str, tokens: float) -> None:
        self._buckets[client] = (tokens, self._clock.monotonic())
        self._buckets.move_to_end(client)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
