"""DNS probe: a name resolves, optionally to the expected addresses.

Two paths:

* ``resolver: ip:port`` set — ask that server with dnspython's async resolver over UDP, one
  query per record type with the whole timeout as its lifetime and no retries (blackbox does
  the same): NXDOMAIN and SERVFAIL answer at once, silence ends in ``dns_timeout``.
* no resolver — the system resolver (``getaddrinfo``: /etc/hosts, nsswitch, resolv.conf)
  through the process's one bounded lookup pool (:mod:`probes.resolve`), which a blackholed
  resolver cannot use up and which answers /etc/hosts names without waiting for DNS.

``record_type: ANY`` means "A or AAAA" (not the DNS ANY query type, which servers may refuse,
RFC 8482). ``expect_addresses``: every address the name resolves to must be one of them, so a
hijacked or stale record fails while round-robin subsets still pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from datetime import datetime

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from agent.config.models import DnsCheck
from agent.core.addresses import split_host_port
from agent.core.clock import Clock
from agent.core.model import Outcome
from probes.base import ProbeResult, ProbeSettings
from probes.reasons import reason_for
from probes.resolve import GetAddrInfo, resolve_system

__all__ = ["DnsProbe"]

_FAMILY = {"A": socket.AF_INET, "AAAA": socket.AF_INET6, "ANY": socket.AF_UNSPEC}
_RDTYPES = {"A": ("A",), "AAAA": ("AAAA",), "ANY": ("A", "AAAA")}


class DnsProbe:
    """Resolve ``check.query`` and compare with ``check.expect_addresses``."""

    kind = "dns"

    def __init__(
        self,
        check: DnsCheck,
        *,
        timeout: float,
        clock: Clock,
        getaddrinfo: GetAddrInfo | None = None,
    ) -> None:
        self._check = check
        self._timeout = timeout
        self._clock = clock
        self._getaddrinfo = getaddrinfo
        self._expected = {ipaddress.ip_address(a) for a in check.expect_addresses}
        self._resolver: dns.asyncresolver.Resolver | None = None
        if check.resolver is not None:
            host, port = split_host_port(check.resolver)
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [host]
            resolver.port = port
            # One attempt per record type with the whole deadline: no retry storm.
            resolver.timeout = timeout
            resolver.lifetime = timeout
            resolver.cache = None
            self._resolver = resolver

    @classmethod
    def from_check(cls, check: DnsCheck, settings: ProbeSettings) -> DnsProbe:
        """The probe for ``check``, on the system resolver (through :mod:`probes.resolve`)."""
        return cls(check, timeout=settings.timeout, clock=settings.clock)

    async def run(self) -> ProbeResult:
        """Resolve once; never raises."""
        started_at = self._clock.now()
        start = self._clock.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                if self._resolver is not None:
                    addresses = await self._ask_server(self._resolver)
                else:
                    addresses = await resolve_system(
                        self._check.query,
                        _FAMILY[self._check.record_type],
                        self._timeout,
                        self._getaddrinfo,
                    )
        except TimeoutError:
            return self._result(Outcome.DOWN, started_at, start, "dns_timeout", "no answer in time")
        except Exception as exc:  # a down target is data: map every failure to a reason
            reason = reason_for(exc)
            if reason == "timeout":
                reason = "dns_timeout"
            return self._result(Outcome.DOWN, started_at, start, reason, _describe(exc))
        if not addresses:
            return self._result(Outcome.DOWN, started_at, start, "dns_nxdomain", "no addresses")
        shown = ", ".join(addresses[:8])
        if self._expected:
            unexpected = [a for a in addresses if ipaddress.ip_address(a) not in self._expected]
            if unexpected:
                detail = f"resolved to unexpected {', '.join(unexpected[:8])}"
                return self._result(Outcome.DOWN, started_at, start, "dns_mismatch", detail)
        outcome, reason = Outcome.UP, ""
        latency = self._clock.monotonic() - start
        slow = self._check.degraded_latency
        if slow is not None and latency > slow.total_seconds():
            outcome, reason = Outcome.DEGRADED, "slow"
        return ProbeResult(
            outcome=outcome,
            started_at=started_at,
            latency=latency,
            reason=reason,
            detail=shown,
        )

    async def _ask_server(self, resolver: dns.asyncresolver.Resolver) -> list[str]:
        qname = dns.name.from_text(self._check.query)
        rdtypes = _RDTYPES[self._check.record_type]
        answers = await asyncio.gather(
            *(resolver.resolve(qname, rdtype, search=False) for rdtype in rdtypes),
            return_exceptions=True,
        )
        addresses: list[str] = []
        errors: list[BaseException] = []
        for answer in answers:
            if isinstance(answer, dns.resolver.NoAnswer):
                continue  # the name exists without this record type: fine if another has one
            if isinstance(answer, BaseException):
                errors.append(answer)
                continue
            addresses.extend(str(rdata) for rdata in answer)
        if not addresses and errors:
            # NXDOMAIN is the most telling answer; otherwise the first failure.
            nx = [e for e in errors if isinstance(e, dns.resolver.NXDOMAIN)]
            raise (nx or errors)[0]
        return addresses

    async def aclose(self) -> None:
        """Nothing to release: the resolver pool is shared and lives with the process."""

    def _result(
        self, outcome: Outcome, started_at: datetime, start: float, reason: str, detail: str
    ) -> ProbeResult:
        return ProbeResult(
            outcome=outcome,
            started_at=started_at,
            latency=self._clock.monotonic() - start,
            reason=reason,
            detail=detail,
        )


def _describe(exc: BaseException) -> str:
    """Short text for people; DNS errors carry no secrets, but keep it bounded."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
