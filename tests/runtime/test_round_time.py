"""FAULTS 39 in the runner: a round is never stamped before the previous one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config.katalog import all_settings
from agent.config.loader import load_config
from agent.core.model import Round
from agent.engine.statemachine import StateMachine
from agent.runtime.service_runner import ServiceRunner
from tests.fakes import FakeClock
from tests.integration.agentproc import http_service, write_config

T0 = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


def runner(tmp_path: Path, clock: FakeClock, not_before: datetime | None = None) -> ServiceRunner:
    """A runner of one service without checks: every round is up."""
    cfg = load_config(
        write_config(
            tmp_path / "pantau.yaml",
            data_dir=tmp_path / "data",
            listen="127.0.0.1:9",
            services=http_service("portal", "http://127.0.0.1:9/"),
        )
    )
    st = all_settings(cfg)["portal"]
    machine = StateMachine("portal", 2, 1, st.stale_after)
    return ServiceRunner(st, [], machine, clock, not_before=not_before)


def rounds(r: ServiceRunner, clock: FakeClock, n: int) -> list[Round]:
    out = []
    for _ in range(n):
        rnd, _ = asyncio.run(r.run_round())
        out.append(rnd)
        clock.advance(1)
    return out


def test_after_a_step_back_rounds_keep_the_newest_time_until_the_clock_catches_up(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    r = runner(tmp_path, clock)
    before = rounds(r, clock, 3)  # T0, T0+1 s, T0+2 s
    clock.step(-3600)  # now T0+3 s - 1 h
    held = rounds(r, clock, 3)
    assert [x.started_at for x in held] == [T0 + timedelta(seconds=2)] * 3
    clock.step(3600 - 2)  # the wall clock has caught up: T0+4 s
    after = rounds(r, clock, 2)
    assert [x.started_at for x in after] == [T0 + timedelta(seconds=s) for s in (4, 5)]
    times = [x.started_at for x in before + held + after]
    assert times == sorted(times)


def test_a_restart_stamps_no_round_before_the_newest_stored_one(tmp_path: Path) -> None:
    """The wall clock stepped back while the agent was down: the store's newest round
    (``not_before``) is the floor of the first rounds after the start."""
    clock = FakeClock(T0 - timedelta(hours=1))
    r = runner(tmp_path, clock, not_before=T0)
    assert [x.started_at for x in rounds(r, clock, 2)] == [T0, T0]
    clock.step(3600)
    assert rounds(r, clock, 1)[0].started_at == T0 + timedelta(seconds=2)
