"""The agent in-process: what its rounds publish when a probe has a bug."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from agent.config.loader import load_config
from agent.core.model import Outcome
from agent.runtime.runner import Agent
from probes.base import ProbeResult
from tests.integration.agentproc import Target, free_port, http_service, write_config


class BuggyProbe:
    """A probe that breaks its promise never to raise."""

    kind = "http"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self) -> ProbeResult:
        self.runs += 1
        raise RuntimeError("a bug in the probe")

    async def aclose(self) -> None:
        pass


def sample(agent: Agent, prefix: str) -> float | None:
    """The value of the first ``/metrics`` line starting with ``prefix``."""
    for line in agent.metrics.render().decode().splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Poll ``predicate`` for up to 5 s (the rounds run every second)."""
    for _ in range(100):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after 5 s waiting for {what}")


def test_a_probe_that_raises_counts_in_probe_errors_and_the_round_is_down(
    tmp_path: Path, target: Target
) -> None:
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=f"127.0.0.1:{free_port()}",
        services=http_service("portal", target.url),
    )
    errors = 'pantau_probe_errors_total{service="portal",check="web"}'

    async def scenario() -> None:
        agent = Agent(load_config(cfg), cfg)
        await agent.start()
        try:
            runner = agent.services["portal"]
            await until(lambda: runner.last_round is not None, "a first round")
            assert sample(agent, errors) == 0  # a sound probe: the counter exists at 0
            buggy = BuggyProbe()
            for _, _, probe in runner.probes:
                await probe.aclose()
            runner.probes = [(name, check, buggy) for name, check, _ in runner.probes]
            await until(lambda: (sample(agent, errors) or 0) >= 2, "two probe errors")
            assert runner.last_results["web"].reason == "probe_error"
            assert runner.last_round is not None
            assert runner.last_round.outcome is Outcome.DOWN
        finally:
            await agent.stop()  # lets the round in flight finish and publish
        assert sample(agent, errors) == buggy.runs  # one per raise, none lost or doubled

    asyncio.run(scenario())
