"""Effective per-service settings: the katalog entry with defaults and Pedoman tables applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from agent.config.models import Backup, Check, Config, Service
from agent.core.model import FLAP_THRESHOLD, FLAP_WINDOW
from agent.core.pedoman import DEFAULT_URGENCY, fulfilment_target


@dataclass(frozen=True)
class ServiceSettings:
    """What the scheduler, engine and reports need to know about one service."""

    service: Service
    interval: timedelta
    timeout: timedelta
    failure_threshold: int
    recovery_threshold: int
    availability_target: float  # percent
    fulfilment_target: timedelta | None
    urgency: int
    check_names: tuple[str, ...]
    flap_threshold: int = FLAP_THRESHOLD
    flap_window: timedelta = FLAP_WINDOW

    @property
    def id(self) -> str:
        return self.service.id

    @property
    def stale_after(self) -> timedelta:
        """How long a round's state holds before the time becomes unknown (SPEC §4)."""
        return 2 * self.interval + self.timeout


def check_name(check: Check, index: int) -> str:
    """The ``check`` label: the configured name or ``<type>-<index>``."""
    return check.name or f"{check.type}-{index}"


def source_name(backup: Backup, index: int) -> str:
    """The ``source`` label of a backup: the configured name or ``<type>-<index>``, like checks."""
    return backup.name or f"{backup.type}-{index}"


def service_settings(config: Config, svc: Service) -> ServiceSettings:
    """Apply defaults, availability targets and Tabel 4.1 to one service."""
    d = config.defaults
    interval = svc.interval or d.interval
    timeout = svc.timeout or d.timeout
    # A probe's deadline stays below its interval so rounds of one service never overlap.
    timeout = min(timeout, interval * 0.9)
    target = svc.availability_target
    if target is None:
        target = getattr(config.availability_targets, svc.classification.value)
    overrides = getattr(config.fulfilment_targets, svc.group.value)
    fulfil = svc.fulfilment_target or overrides.get(svc.classification)
    if fulfil is None:
        fulfil = fulfilment_target(svc.group, svc.classification)
    return ServiceSettings(
        service=svc,
        interval=interval,
        timeout=timeout,
        failure_threshold=svc.failure_threshold or d.failure_threshold,
        recovery_threshold=svc.recovery_threshold or d.recovery_threshold,
        availability_target=float(target),
        fulfilment_target=fulfil,
        urgency=svc.urgency or DEFAULT_URGENCY[svc.classification],
        check_names=tuple(check_name(c, i) for i, c in enumerate(svc.checks)),
        flap_threshold=d.flap_threshold,
        flap_window=d.flap_window,
    )


def all_settings(config: Config) -> dict[str, ServiceSettings]:
    """Effective settings of every service, by id, in katalog order."""
    return {svc.id: service_settings(config, svc) for svc in config.services}
