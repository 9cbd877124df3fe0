"""The local report and the report from Prometheus agree cell by cell (hypothesis).

One agent is simulated round by round through the real engine: its rounds go through the real
:class:`~agent.engine.statemachine.StateMachine` into a real store (rounds, transitions, and the
tickets :func:`~agent.engine.incidents.sync_incidents` makes of them, written as the agent writes
them), and after each round it publishes what :meth:`agent.runtime.views.AgentViews.publish_round`
publishes: the shown state (maintenance inside a katalog window) and the first round of the
confirmed state. A scraper every ``SCRAPE`` seconds stores those values in
:class:`~tests.reports.fleet.fakeprom.FakeProm` with the scrape's time — only while the agent
runs. The generated timelines have up, degraded and down spells (also below the failure
threshold), agent stops of every length, a maintenance window, and start shortly before a
month's end, so outages cross it.

Both months are reported from both sources (``now`` ten days later) and every CSV cell must
agree: text cells exactly, numbers within one scrape step per edge of the month (an edge is a
transition of the local store; the month's start, end and the first round count once more).
The one cell left out is ``penyebab``: it is text built from the operator's notes, which
Prometheus does not have (the fleet report says so in the cell).

What the simulation needs from a timeline, and why: every confirmed state lasts at least one
scrape interval in what the agent exports (states no scrape sees are unknowable to any store;
spells of ≥ 1 round with thresholds ≤ 2 and a scrape per interval guarantee it).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agent.config.katalog import all_settings
from agent.config.loader import parse_config
from agent.config.models import Config
from agent.core.model import Outcome, Round, State, Transition
from agent.core.periods import add_months, month_bounds
from agent.engine.availability import shown_state
from agent.engine.episodes import episodes_from_transitions
from agent.engine.incidents import IncidentSettings, sync_incidents
from agent.engine.statemachine import StateMachine
from agent.reports.builder import build_report
from agent.reports.fleet.client import PromClient
from agent.reports.fleet.report import build_fleet_report
from agent.runtime.incident_tracker import write_ticket
from agent.store.database import Store
from exporters import report_model as rm
from exporters.csv_report import COLUMNS, rows
from tests.reports.fleet.fakeprom import FakeProm

ZONE = ZoneInfo("Asia/Jakarta")
COLUMNS_NAMES = [c.name for c in COLUMNS]
INTERVAL = 30  # the agent's round interval, seconds
TIMEOUT = 10
SCRAPE = 30  # the store's scrape interval = PANTAU_PROM_STEP
STALE = 2 * INTERVAL + TIMEOUT
MONTH_END = datetime(2026, 10, 31, 17, tzinfo=UTC)  # 1 Nov 2026 00:00 WIB
NOW = MONTH_END + timedelta(days=10)
OUTCOME = {"up": Outcome.UP, "degraded": Outcome.DEGRADED, "down": Outcome.DOWN}

KATALOG = """
agent: {{name: a1, timezone: Asia/Jakarta, data_dir: {data}}}
defaults: {{interval: 30s, timeout: 10s, failure_threshold: {ft}, recovery_threshold: {rt}}}
services:
  - id: web
    name: Portal Warga
    provider: Diskominfo
    group: layanan_publik
    classification: kritis
    rpo: 24h
    rto: 1h
    drp: {{document: DRP.pdf}}
    checks: [{{type: tcp, address: "127.0.0.1:9"}}]
{maintenance}
"""


@dataclass
class Timeline:
    """What a strategy draws: thresholds, spells of rounds, a window, offsets."""

    ft: int
    rt: int
    start: float  # the first round, unix seconds
    spells: list[tuple[str, int]]  # (up|degraded|down|stopped, rounds)
    window: tuple[float, float] | None
    scrape_offset: float  # where in the interval the scrapes fall
    latency: float  # from a round's start to its publication
    stop_delay: float  # from the last round's publication to a stop of the agent

    @property
    def rounds(self) -> list[tuple[float, str | None]]:
        """(start time, outcome) of every round slot; ``None`` while the agent is stopped."""
        out: list[tuple[float, str | None]] = []
        for kind, n in self.spells:
            for _ in range(n):
                out.append((self.start + INTERVAL * len(out), None if kind == "stopped" else kind))
        return out


@st.composite
def timelines(draw: st.DrawFn) -> Timeline:
    spells = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["up", "up", "degraded", "down", "down", "stopped"]),
                st.integers(1, 90),
            ),
            min_size=1,
            max_size=12,
        )
    )
    spells = [("up", draw(st.integers(1, 20))), *spells, ("up", draw(st.integers(1, 20)))]
    total = sum(n for _, n in spells) * INTERVAL
    # start up to 6 hours before the month's end, so many timelines cross it
    start = MONTH_END.timestamp() - draw(st.integers(0, 6 * 3600 // INTERVAL)) * INTERVAL
    window = None
    if draw(st.booleans()):
        a = start + draw(st.integers(0, total // 60)) * 60
        window = (a, a + draw(st.integers(1, 120)) * 60)
    return Timeline(
        ft=draw(st.integers(1, 2)),
        rt=draw(st.integers(1, 2)),
        start=float(start) + draw(st.integers(0, 9)),
        spells=spells,
        window=window,
        scrape_offset=draw(st.integers(0, 29)) + draw(st.sampled_from([0.0, 0.25])),
        latency=draw(st.sampled_from([0.0, 0.05, 1.5])),
        stop_delay=draw(st.sampled_from([0.5, 12.0, 28.0])),
    )


@dataclass
class Agent:
    """The simulated agent's store writes and publications."""

    rounds: list[Round] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    runs: list[tuple[float, float]] = field(default_factory=list)  # when it answered scrapes
    #: (time, shown state, since, confirmed state) after each round
    published: list[tuple[float, str, float | None, str]] = field(default_factory=list)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def simulate(tl: Timeline, config: Config, sid: str = "web") -> Agent:
    """Rounds through the real state machine; what the agent stores and publishes."""
    svc = all_settings(config)[sid]
    machine = StateMachine(sid, tl.ft, tl.rt, timedelta(seconds=STALE))
    agent = Agent()
    run_start: float | None = None
    last = 0.0
    for at, outcome in tl.rounds:
        if outcome is None:
            if run_start is not None:
                agent.runs.append((run_start, last + tl.latency + tl.stop_delay))
                run_start = None
            continue
        if run_start is None:
            run_start = at - 0.5
        reasons = () if outcome == "up" else (f"{sid}:{outcome}",)
        rnd = Round(sid, _dt(at), OUTCOME[outcome], reasons)
        agent.rounds.append(rnd)
        agent.transitions += machine.feed(rnd)
        published = at + tl.latency
        confirmed = machine.current
        shown = shown_state(svc, confirmed, _dt(published))
        since = machine.state.since if confirmed is not State.UNKNOWN else None
        agent.published.append(
            (published, shown.value, since.timestamp() if since is not None else None, confirmed)
        )
        last = at
    if run_start is not None:
        agent.runs.append((run_start, last + tl.latency + tl.stop_delay))
    return agent


def write_store(agent: Agent, config: Config, data_dir: Path) -> Store:
    """What the agent's writer stores: rounds, transitions, tickets (merged as it writes)."""
    store = Store.open(data_dir)
    store.append_rounds(agent.rounds)
    store.append_transitions(agent.transitions)
    settings_ = IncidentSettings("a1", ZONE, all_settings(config))
    tickets = sync_incidents([], episodes_from_transitions(agent.transitions), settings_, now=NOW)
    with store.transaction():
        for g in tickets:
            write_ticket(store, g)
    return store


def scrape(
    agent: Agent, tl: Timeline, sid: str = "web", prom: FakeProm | None = None
) -> tuple[FakeProm, bool]:
    """What a store scraping the agent every ``SCRAPE`` seconds holds, and whether it saw every
    confirmed state the agent had (a state shown in no scrape is unknowable to any store)."""
    seen: set[tuple[str, float | None]] = set()
    # Prometheus 2 (the one installed): a range includes a sample at exactly t − range
    prom = FakeProm(closed=True) if prom is None else prom
    base = {"instance": "a1:9717", "job": "pantau"}
    first, end = agent.runs[0][0] - 600, agent.runs[-1][1] + 600
    t = math.floor(first / SCRAPE) * SCRAPE + tl.scrape_offset
    i = 0  # next publication not yet visible
    while t < end:
        running = any(a <= t < b for a, b in agent.runs)
        while i < len(agent.published) and agent.published[i][0] <= t:
            i += 1
        if running:
            prom.add("pantau_agent_info", {**base, "version": "0.1.0"}, t, 1)
            run = next(a for a, b in agent.runs if a <= t < b)
            if i > 0 and agent.published[i - 1][0] >= run:
                _, state, since, _ = agent.published[i - 1]
                seen.add((state, since))
                for s in ("up", "degraded", "down", "maintenance", "unknown"):
                    labels = {**base, "service": sid, "state": s}
                    prom.add("pantau_service_state", labels, t, float(s == state))
                if since is not None:
                    prom.add(
                        "pantau_service_state_since_timestamp_seconds",
                        {**base, "service": sid},
                        t,
                        since,
                    )
        t += SCRAPE
    # a confirmed state hidden behind maintenance all along is not seen either
    confirmed = {(c.value, since) for _, _, since, c in agent.published if c.value in OUTCOME}
    return prom, confirmed <= seen


def _num(text: str) -> float | None:
    return float(text) if text else None


def assert_rows_agree(
    local: rm.ReportData, fleet: rm.ReportData, edges: int, counted: float, where: str
) -> None:
    """Every CSV cell equal, numbers within ``edges`` scrape steps (+ CSV rounding).

    ``counted``: seconds of the month the local report counts (after the first round, before
    now), from which the percentages' tolerance follows.
    """
    header, mine = list(rows(local))
    _, theirs = list(rows(fleet))
    tol = edges * SCRAPE
    lo, fl = local.services[0].availability, fleet.services[0].availability
    base = counted - lo.maintenance.total_seconds()  # what coverage divides by
    observed = base - lo.unknown.total_seconds()  # what availability divides by
    for name, a, b in zip(header, mine, theirs, strict=True):
        if name == "penyebab" or a == b:
            continue
        why = f"{where}: {name} local {a!r} fleet {b!r} (tolerance {tol} s)"
        x, y = _num(a), _num(b)
        if name == "tercapai":  # the floored percentage against the target: near it, may flip
            assert abs(float(mine[7]) - lo.target_pct) <= 100 * 3 * tol / max(
                observed - 2 * tol, 1
            ), why
            continue
        assert x is not None, why
        assert y is not None, why
        if name.endswith("_menit"):
            assert abs(x - y) <= tol / 60 + 0.011, why
        elif name == "realisasi_ketersediaan_pct":
            # 100 (1 − down / observed): down moves by tol, observed by 2 tol at most
            assert abs(x - y) <= 100 * 3 * tol / max(observed - 2 * tol, 1) + 0.0011, why
        elif name == "cakupan_data_pct":
            assert abs(x - y) <= 100 * 2 * tol / max(base, 1) + 0.0011, why
        elif name == "gangguan_melebihi_rto":
            rto = local.services[0].drp.rto
            assert rto is not None, why
            mayor = (*local.services[0].mayor, *fleet.services[0].mayor)
            assert any(abs((g.duration - rto).total_seconds()) <= tol for g in mayor), why
        else:
            raise AssertionError(why)
    assert fl.realised_pct is None or lo.realised_pct is not None


def _edges(transitions: list[Transition], start: datetime, end: datetime) -> int:
    """The month's edges: its transitions (a step around it), its start and its end."""
    margin = timedelta(seconds=2 * SCRAPE)
    return 2 + sum(1 for tr in transitions if start - margin <= tr.at < end + margin)


def _katalog(tl: Timeline, data_dir: Path, extra: str = "") -> Config:
    maintenance = ""
    if tl.window is not None:
        a, b = (_dt(x).isoformat() for x in tl.window)
        maintenance = f"    maintenance: [{{start: {a}, end: {b}, reason: Patch}}]"
    text = KATALOG.format(data=data_dir, ft=tl.ft, rt=tl.rt, maintenance=maintenance)
    return parse_config(text + extra)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(timelines())
def test_store_and_prometheus_reports_agree_cell_by_cell(tl: Timeline) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = _katalog(tl, Path(tmp))
        agent = simulate(tl, config)
        prom, all_seen = scrape(agent, tl)
        assume(all_seen)
        store = write_store(agent, config, Path(tmp))
        first_round = agent.rounds[0].started_at
        try:
            y, m = 2026, 10
            for year, month in ((y, m), add_months(y, m, 1)):
                start, end = month_bounds(year, month, ZONE)
                if first_round >= end or agent.rounds[-1].started_at < start:
                    continue  # nothing of the timeline in this month
                local = build_report(store, config, year, month, NOW)
                with PromClient("http://prom.test", transport=prom.transport()) as client:
                    fleet = build_fleet_report(
                        client, config, year, month, NOW, step=timedelta(seconds=SCRAPE)
                    )
                assert not [q for q in prom.unknown if "pantau_service" in q]
                counted = (min(end, NOW) - max(start, first_round)).total_seconds()
                edges = _edges(agent.transitions, start, end)
                assert_rows_agree(local, fleet, edges, counted, f"{year}-{month:02d} {tl}")
        finally:
            store.close()


LATE = """
  - id: late
    name: Layanan Baru
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: normal
    checks: [{type: tcp, address: "127.0.0.1:9"}]
"""


def test_a_month_that_had_not_begun_for_a_service_has_an_empty_coverage_cell_in_both() -> None:
    # web is watched across the month end; "late" only from 1 Nov 01:00 WIB
    web = Timeline(1, 1, MONTH_END.timestamp() - 3600, [("up", 240)], None, 7, 0.05, 12)
    late = Timeline(1, 1, MONTH_END.timestamp() + 3600, [("up", 60)], None, 7, 0.05, 12)
    with tempfile.TemporaryDirectory() as tmp:
        config = _katalog(web, Path(tmp), extra=LATE)
        agents = [simulate(web, config), simulate(late, config, "late")]
        prom, _ = scrape(agents[0], web)
        scrape(agents[1], late, "late", prom)
        both = Agent(
            rounds=[*agents[0].rounds, *agents[1].rounds],
            transitions=[*agents[0].transitions, *agents[1].transitions],
        )
        store = write_store(both, config, Path(tmp))
        try:
            local = build_report(store, config, 2026, 10, NOW)
        finally:
            store.close()
        with PromClient("http://prom.test", transport=prom.transport()) as client:
            fleet = build_fleet_report(client, config, 2026, 10, NOW, step=timedelta(seconds=30))
    for data in (local, fleet):
        cells = {r[0]: dict(zip(COLUMNS_NAMES, r, strict=True)) for r in list(rows(data))[1:]}
        assert cells["late"]["cakupan_data_pct"] == "", (
            data.agent_names
        )  # was 0.000 from Prometheus
        assert cells["late"]["realisasi_ketersediaan_pct"] == ""
        assert cells["web"]["cakupan_data_pct"] == "100.000"  # from its first round
