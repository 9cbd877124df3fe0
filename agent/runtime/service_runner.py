"""One service's rounds: run its probes, judge the round, feed the state machine.

The runner is the only place that catches ``Exception`` around a probe: a buggy probe is
logged and recorded as a ``probe_error`` failure, it never stops the agent (DataDog's
``AgentCheck.run``). Probes enforce their own deadline; an outer guard one second later
catches a probe that does not.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from agent.config.katalog import ServiceSettings, check_name
from agent.config.models import Check, Config
from agent.core.clock import Clock
from agent.core.model import Outcome, Round, State, Transition
from agent.engine.rounds import judge
from agent.engine.statemachine import MachineState, StateMachine
from probes.base import Probe, ProbeResult
from probes.registry import build_probe

log = logging.getLogger("pantau.service")


@dataclass
class ServiceRunner:
    """Probes, state machine and latest results of one service."""

    settings: ServiceSettings
    probes: list[tuple[str, Check, Probe]]
    machine: StateMachine
    clock: Clock
    last_round: Round | None = None
    last_results: dict[str, ProbeResult] = field(default_factory=dict)
    #: errors inside each check's probe (a raise, or an overrun of its own deadline) not yet
    #: published to ``pantau_probe_errors_total``; see :meth:`take_probe_errors`.
    probe_errors: dict[str, int] = field(default_factory=dict)
    #: the newest round of this service already stored when the agent started: no round is
    #: stamped before it, also when the wall clock stepped back while the agent was down.
    not_before: datetime | None = None

    @classmethod
    def build(
        cls,
        config: Config,
        settings: ServiceSettings,
        clock: Clock,
        state: MachineState | None = None,
    ) -> ServiceRunner:
        """Build probes and the state machine for ``settings`` (restoring ``state``)."""
        svc = settings.service
        max_body = config.defaults.max_body_bytes
        timeout = settings.timeout.total_seconds()
        probes = [
            (
                check_name(check, i),
                check,
                build_probe(check, timeout=timeout, max_body_bytes=max_body, clock=clock),
            )
            for i, check in enumerate(svc.checks)
        ]
        machine = StateMachine(
            svc.id,
            settings.failure_threshold,
            settings.recovery_threshold,
            settings.stale_after,
            state,
        )
        return cls(settings, probes, machine, clock)

    @property
    def id(self) -> str:
        return self.settings.id

    def same_checks(self, settings: ServiceSettings) -> bool:
        """Whether ``settings`` would build the same probes (so they can be kept on reload)."""
        old = self.settings
        return (
            old.service.checks == settings.service.checks
            and old.timeout == settings.timeout
            and old.interval == settings.interval
        )

    async def _run_probe(self, name: str, check: Check, probe: Probe) -> ProbeResult:
        started = self.round_time()
        t0 = self.clock.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout.total_seconds() + 1.0):
                return await probe.run()
        except TimeoutError:
            reason, detail = "timeout", "probe overran its deadline"
        except Exception as exc:  # the one catch-all: a probe bug is data, not a crash
            log.exception("probe %s/%s failed unexpectedly", self.id, name)
            reason, detail = "probe_error", type(exc).__name__
        self.probe_errors[name] = self.probe_errors.get(name, 0) + 1
        return ProbeResult(
            outcome=Outcome.DOWN,
            started_at=started,
            latency=self.clock.monotonic() - t0,
            reason=reason,
            detail=detail,
        )

    async def run_round(self, *, isolated: bool = False) -> tuple[Round, list[Transition]]:
        """Run every check once, concurrently; return the round and the transitions it caused."""
        started = self.round_time()
        results = await asyncio.gather(*(self._run_probe(n, c, p) for n, c, p in self.probes))
        rnd = judge(
            self.id,
            started,
            [(n, c, r) for (n, c, _), r in zip(self.probes, results, strict=True)],
            agent_isolated=isolated,
        )
        self.last_results = {n: r for (n, _, _), r in zip(self.probes, results, strict=True)}
        self.last_round = rnd
        transitions = self.machine.feed(rnd)
        for t in transitions:
            if t.reason == "resumed":
                # Not news: the state from before the gap (a restart) goes on; a second "down"
                # line would read as a second gangguan (FAULTS 23).
                log.info(
                    "service %s: rounds again after a gap, still %s",
                    self.id,
                    t.state.value,
                    extra={"service": self.id, "state": t.state.value, "reason": t.reason},
                )
                continue
            log.log(
                logging.WARNING if t.state in (State.DOWN, State.DEGRADED) else logging.INFO,
                "service %s is %s since %s%s",
                self.id,
                t.state.value,
                t.at.isoformat(timespec="seconds"),
                f" ({t.reason})" if t.reason else "",
                extra={"service": self.id, "state": t.state.value, "reason": t.reason},
            )
        return rnd, transitions

    def round_time(self) -> datetime:
        """The time a round starting now is stamped with: the wall clock, but never before the
        previous round (FAULTS 39). After the wall clock steps back, rounds keep the time of the
        newest one until the wall clock has caught up: that stretch of the calendar was already
        observed once, so it is neither counted twice nor turned into no-data, and *dipantau
        sejak* (the first round) never moves back."""
        now = self.clock.now()
        floors = [t for t in (self.not_before, self.machine.state.last_round_at) if t is not None]
        return max([now, *floors])

    def take_probe_errors(self) -> dict[str, int]:
        """The probe errors per check since the last call (then forgotten)."""
        errors, self.probe_errors = self.probe_errors, {}
        return errors

    def current_state(self, now: datetime) -> State:
        """Confirmed state now; ``unknown`` when the last round is stale."""
        if self.machine.is_stale(now):
            return State.UNKNOWN
        return self.machine.current

    async def aclose(self) -> None:
        """Release the probes' resources."""
        for _, _, probe in self.probes:
            try:
                await probe.aclose()
            except Exception:  # closing must never stop a reload or shutdown
                log.exception("closing probe of %s failed", self.id)
