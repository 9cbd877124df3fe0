"""TCP probe: a connection to ``host:port`` is accepted within the timeout.

A closed port answers with RST and fails ``connection_refused`` at once; a filtered port
(SYN dropped) fails ``timeout`` at the deadline. Host names are resolved by
:mod:`probes.resolve` (IPs never, /etc/hosts names at once, others on the one bounded pool); a
lookup still unanswered at the deadline fails ``dns_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import datetime

from agent.config.models import TcpCheck
from agent.core.addresses import is_ip, split_host_port
from agent.core.clock import Clock
from agent.core.model import Outcome
from probes.base import ProbeResult, ProbeSettings
from probes.reasons import reason_for
from probes.resolve import resolve_system

__all__ = ["TcpProbe"]


class TcpProbe:
    """Connect, then close at once (no payload is sent)."""

    kind = "tcp"

    def __init__(self, check: TcpCheck, *, timeout: float, clock: Clock) -> None:
        self._check = check
        self._host, self._port = split_host_port(check.address)
        self._timeout = timeout
        self._clock = clock
        self._resolving = False  # still waiting for the name lookup when the deadline passed

    @classmethod
    def from_check(cls, check: TcpCheck, settings: ProbeSettings) -> TcpProbe:
        """The probe for ``check`` (no body: the default body limit does not apply)."""
        return cls(check, timeout=settings.timeout, clock=settings.clock)

    async def run(self) -> ProbeResult:
        """Connect once; never raises."""
        started_at = self._clock.now()
        start = self._clock.monotonic()
        self._resolving = False
        try:
            async with asyncio.timeout(self._timeout):
                await self._connect()
        except Exception as exc:  # a down target is data: map every failure to a reason
            if self._resolving and isinstance(exc, TimeoutError):
                detail = f"no answer from the name resolver for {self._host} in time"
                return self._down(started_at, start, "dns_timeout", detail)
            return self._down(started_at, start, reason_for(exc), _describe(exc))
        latency = self._clock.monotonic() - start
        outcome, reason = Outcome.UP, ""
        slow = self._check.degraded_latency
        if slow is not None and latency > slow.total_seconds():
            outcome, reason = Outcome.DEGRADED, "slow"
        return ProbeResult(outcome=outcome, started_at=started_at, latency=latency, reason=reason)

    async def _connect(self) -> None:
        if is_ip(self._host):
            addresses = [self._host]
        else:
            self._resolving = True  # left set when the deadline cancels the lookup
            addresses = await resolve_system(self._host, socket.AF_UNSPEC, self._timeout)
            self._resolving = False
        last: OSError | None = None
        # Try each address in resolver order (like a browser without happy eyeballs): a dead
        # IPv6 route must not hide a working IPv4 one; the overall deadline bounds the loop.
        for address in addresses:
            try:
                _, writer = await asyncio.open_connection(address, self._port)
            except OSError as exc:
                last = exc
                continue
            writer.close()
            with contextlib.suppress(OSError):  # a reset on close: the connect succeeded
                await writer.wait_closed()
            return
        if last is not None:
            raise last
        raise socket.gaierror(socket.EAI_NONAME, "no addresses")

    async def aclose(self) -> None:
        """Nothing to release: every run opens and closes its own socket."""

    def _down(self, started_at: datetime, start: float, reason: str, detail: str) -> ProbeResult:
        return ProbeResult(
            outcome=Outcome.DOWN,
            started_at=started_at,
            latency=self._clock.monotonic() - start,
            reason=reason,
            detail=detail,
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
