"""Build the probe for one configured check."""

from __future__ import annotations

from agent.config.models import Check, DnsCheck, HttpCheck, TcpCheck
from agent.core.clock import Clock
from probes.base import Probe
from probes.dns import DnsProbe
from probes.http import HttpProbe
from probes.tcp import TcpProbe

__all__ = ["build_probe", "effective_timeout"]


def effective_timeout(check: Check, timeout: float) -> float:
    """The check's own ``timeout`` when set, never above ``timeout`` (the service's deadline).

    The service timeout is already kept below its interval (``agent.config.katalog``); letting one
    check run longer would make rounds of the service overlap.
    """
    own = check.timeout.total_seconds() if check.timeout is not None else timeout
    return min(own, timeout)


def build_probe(check: Check, *, timeout: float, max_body_bytes: int, clock: Clock) -> Probe:
    """A ready-to-run probe for ``check``.

    ``timeout`` is the service's effective timeout in seconds and ``max_body_bytes`` the
    default body limit (``defaults.max_body_bytes``); an HTTP check's own value wins.
    Raises :class:`agent.core.errors.ConfigError` for settings only checkable here (a bad regex).
    """
    seconds = effective_timeout(check, timeout)
    if isinstance(check, HttpCheck):
        limit = check.max_body_bytes if check.max_body_bytes is not None else max_body_bytes
        return HttpProbe(check, timeout=seconds, max_body_bytes=limit, clock=clock)
    if isinstance(check, TcpCheck):
        return TcpProbe(check, timeout=seconds, clock=clock)
    if isinstance(check, DnsCheck):
        return DnsProbe(check, timeout=seconds, clock=clock)
    raise TypeError(f"no probe for check type {type(check).__name__}")  # unreachable by typing
