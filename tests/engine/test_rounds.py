"""A round's verdict from its checks (SPEC §4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.config.models import TcpCheck
from agent.core.model import Outcome
from agent.engine.rounds import judge
from probes.base import ProbeResult

T = datetime(2024, 9, 1, tzinfo=UTC)
MAJOR = TcpCheck(type="tcp", address="127.0.0.1:1")
MINOR = TcpCheck(type="tcp", address="127.0.0.1:2", impact="minor")  # type: ignore[arg-type]


def res(outcome: Outcome, reason: str = "") -> ProbeResult:
    return ProbeResult(outcome=outcome, started_at=T, latency=0.01, reason=reason)


@pytest.mark.parametrize(
    ("major", "minor", "expected"),
    [
        (Outcome.UP, Outcome.UP, Outcome.UP),
        (Outcome.DOWN, Outcome.UP, Outcome.DOWN),
        (Outcome.UP, Outcome.DOWN, Outcome.DEGRADED),
        (Outcome.DEGRADED, Outcome.UP, Outcome.DEGRADED),
        (Outcome.DOWN, Outcome.DOWN, Outcome.DOWN),
        (Outcome.DEGRADED, Outcome.DOWN, Outcome.DEGRADED),
    ],
)
def test_round_verdict(major: Outcome, minor: Outcome, expected: Outcome) -> None:
    rnd = judge("s", T, [("a", MAJOR, res(major, "timeout")), ("b", MINOR, res(minor, "timeout"))])
    assert rnd.outcome is expected


def test_every_failure_carries_its_reason_named_by_check() -> None:
    rnd = judge(
        "s",
        T,
        [
            ("web", MAJOR, res(Outcome.DOWN, "http_status:503")),
            ("db", MINOR, res(Outcome.DOWN, "connection_refused")),
        ],
    )
    assert rnd.reasons == ("web:http_status:503", "db:connection_refused")
    assert [c.check for c in rnd.checks] == ["web", "db"]


def test_isolation_flag_only_matters_for_bad_rounds() -> None:
    good = judge("s", T, [("a", MAJOR, res(Outcome.UP))], agent_isolated=True)
    bad = judge("s", T, [("a", MAJOR, res(Outcome.DOWN, "timeout"))], agent_isolated=True)
    assert (good.agent_isolated, bad.agent_isolated) == (False, True)
