"""Judging a round: all checks of a service, run once, give one verdict (SPEC §4).

- ``down`` if any ``major`` check is down;
- ``degraded`` if only ``minor`` checks are down, or any check is degraded (slower than its
  ``degraded_latency``);
- ``up`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from agent.config.models import Check
from agent.core.model import CheckOutcome, Outcome, Round, event_time
from agent.core.pedoman import Impact


class CheckResult(Protocol):
    """What the engine reads of one check's result (:class:`probes.base.ProbeResult` is one)."""

    @property
    def outcome(self) -> Outcome: ...
    @property
    def reason(self) -> str: ...
    @property
    def latency(self) -> float: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def tls_expiry(self) -> datetime | None: ...
    @property
    def detail(self) -> str: ...


def check_outcome(name: str, check: Check, result: CheckResult) -> CheckOutcome:
    """One check's part of a round, as stored."""
    return CheckOutcome(
        check=name,
        type=check.type,
        outcome=result.outcome,
        reason=result.reason,
        latency=result.latency,
        status_code=result.status_code,
        tls_expiry=result.tls_expiry,
        detail=result.detail,
    )


def judge(
    service: str,
    started_at: datetime,
    checks: Sequence[tuple[str, Check, CheckResult]],
    *,
    agent_isolated: bool = False,
) -> Round:
    """Combine the checks' results into the round's verdict and reasons.

    The round is stamped at the one event resolution (:func:`~agent.core.model.event_time`),
    so the round the agent holds is the round the store keeps.
    """
    outcome = Outcome.UP
    reasons: list[str] = []
    for name, check, result in checks:
        if result.outcome is Outcome.UP:
            continue
        reasons.append(f"{name}:{result.reason or result.outcome.value}")
        if result.outcome is Outcome.DOWN and check.impact is Impact.MAJOR:
            outcome = Outcome.DOWN
        elif outcome is Outcome.UP:
            outcome = Outcome.DEGRADED
    return Round(
        service=service,
        started_at=event_time(started_at),
        outcome=outcome,
        reasons=tuple(reasons),
        checks=tuple(check_outcome(n, c, r) for n, c, r in checks),
        agent_isolated=agent_isolated and outcome is not Outcome.UP,
    )
