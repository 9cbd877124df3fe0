"""``pantau probe``, and the plain text table other commands share."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agent.config.katalog import all_settings
from agent.config.models import Config
from agent.core.clock import SystemClock
from agent.core.model import Outcome
from agent.runtime.service_runner import ServiceRunner


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


async def probe_table(config: Config, services: list[str]) -> tuple[list[str], bool]:
    """Run one round of the chosen services (all when empty); the table and whether any is down."""
    clock = SystemClock()
    settings = all_settings(config)
    chosen = [settings[s] for s in (services or list(settings))]
    runners = [ServiceRunner.build(config, st, clock) for st in chosen]
    try:
        rounds = await asyncio.gather(*(r.run_round() for r in runners))
    finally:
        await asyncio.gather(*(r.aclose() for r in runners))
    rows = [("SERVICE", "ROUND", "CHECK", "TYPE", "RESULT", "LATENCY", "REASON / DETAIL")]
    any_down = False
    for runner, (rnd, _) in zip(runners, rounds, strict=True):
        any_down |= rnd.outcome is Outcome.DOWN
        for i, c in enumerate(rnd.checks):
            rows.append(
                (
                    runner.id if i == 0 else "",
                    rnd.outcome.value if i == 0 else "",
                    c.check,
                    c.type,
                    c.outcome.value,
                    f"{c.latency * 1000:.0f} ms",
                    " ".join(x for x in (c.reason, c.detail) if x),
                )
            )
    return table(rows), any_down
