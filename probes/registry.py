"""Which probe runs each check ``type`` (like healthchecks' ``TRANSPORTS``), and how one is built.

Adding a check kind takes three files: its model in :mod:`agent.config.models` (a member of the
``Check`` union, with the ``component`` text its tickets show), its probe module in this
package (a class with ``kind`` and a ``from_check`` classmethod), and one line in
:data:`PROBES`. ``tests/probes/test_registry.py`` fails while the union and the registry differ.
"""

from __future__ import annotations

from typing import Any, Protocol

from agent.config.models import Check
from agent.core.clock import Clock
from probes.base import Probe, ProbeSettings
from probes.dns import DnsProbe
from probes.http import HttpProbe
from probes.tcp import TcpProbe

__all__ = ["PROBES", "ProbeKind", "build_probe", "effective_timeout"]


class ProbeKind(Protocol):
    """A probe class as the registry sees it."""

    def from_check(self, check: Any, settings: ProbeSettings) -> Probe:
        """The probe for ``check``, a model of the ``type`` this class is registered under."""
        ...


#: check ``type`` → its probe class
PROBES: dict[str, ProbeKind] = {
    "http": HttpProbe,
    "tcp": TcpProbe,
    "dns": DnsProbe,
}


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
    default body limit (``defaults.max_body_bytes``).
    Raises :class:`agent.core.errors.ConfigError` for settings only checkable here (a CA file
    that cannot be read).
    """
    settings = ProbeSettings(effective_timeout(check, timeout), max_body_bytes, clock)
    return PROBES[check.type].from_check(check, settings)
