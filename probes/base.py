"""The probe interface and its result types.

A down target is data, not an exception: every probe returns a frozen :class:`ProbeResult`
with an :class:`Outcome`, a machine-readable ``reason`` when it is not ``up``, the latency
measured on the monotonic clock, and the aware UTC time the probe started. Details shown to
people have credentials scrubbed (:func:`agent.core.scrub.scrub_url`).

Reasons used across probes (one vocabulary, so dashboards and reports can group them)::

    timeout              the overall deadline passed (connect, TLS, headers and body together)
    connection_refused   RST on connect (port closed)
    connection_reset     the peer reset an established connection
    network_unreachable  no route / host unreachable
    dns_nxdomain         the name does not exist
    dns_servfail         the resolver failed
    dns_timeout          the resolver did not answer in time
    dns_mismatch         resolved, but not to the expected addresses
    tls_expired          the certificate is past notAfter
    tls_self_signed      no trusted chain (self-signed or unknown CA)
    tls_hostname         the certificate does not name the host
    tls_invalid          any other TLS verification or handshake failure
    http_status:<code>   the status is not among the expected ones
    body_mismatch        the body lacks the expected text / regex
    body_too_large       a body check needed more than max_body_bytes
    too_many_redirects   more than max_redirects
    protocol_error       the peer spoke something that is not HTTP
    slow                 succeeded but slower than degraded_latency (outcome degraded)
    probe_error          a bug or unexpected error inside the probe (logged by the runner)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from agent.core.clock import Clock
from agent.core.model import Outcome


@dataclass(frozen=True)
class ProbeResult:
    """What one probe observed."""

    outcome: Outcome
    started_at: datetime  # aware UTC
    latency: float  # seconds, monotonic clock
    reason: str = ""  # machine-readable, empty when up
    detail: str = ""  # short human text, secrets scrubbed
    status_code: int | None = None
    tls_expiry: datetime | None = None  # aware UTC notAfter of the leaf certificate
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """Like blackbox_exporter's probe_success: the check passed (degraded still passes)."""
        return self.outcome is not Outcome.DOWN


@dataclass(frozen=True)
class ProbeSettings:
    """What a probe takes from its service besides its own check (see :mod:`probes.registry`)."""

    timeout: float  # seconds: the check's effective deadline
    max_body_bytes: int  # ``defaults.max_body_bytes``; a check's own limit wins
    clock: Clock


class Probe(Protocol):
    """One configured check, ready to run."""

    #: the check's ``type`` (its key in :data:`probes.registry.PROBES`)
    kind: str

    async def run(self) -> ProbeResult:
        """Run once within the check's timeout and return what was observed; never raise."""
        ...

    async def aclose(self) -> None:
        """Release resources (clients, pools)."""
        ...
