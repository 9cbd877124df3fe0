"""The fleet report over a fake Prometheus: per-block shortcuts, episodes, the Formulir rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent.config.loader import parse_config
from agent.core.errors import ReportError
from agent.core.pedoman import Impact
from agent.reports.fleet.client import PromClient
from agent.reports.fleet.fetch import STATE, TimelineFetcher, plan_refinement
from agent.reports.fleet.report import NO_CAUSES, build_fleet_report, generate_from_prometheus
from agent.reports.fleet.timeline import (
    Grid,
    Observation,
    backdate_down,
    merge_points,
    spans_from_observations,
    to_intervals,
)
from tests.reports.fleet.fakeprom import FakeProm, scrape_agent

H, M = 3600, 60
T0 = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp())  # a whole hour, a multiple of 30 s
S = 30  # scrape interval and step
OFFSET = 7  # scrapes happen at T0 + 30 k + 7, as a real scrape loop is offset


def scrapes(start: float, end: float, skip: tuple[float, float] | None = None) -> list[float]:
    out = [float(t + OFFSET) for t in range(int(start), int(end), S)]
    return [t for t in out if skip is None or not skip[0] <= t < skip[1]]


def web(t: float) -> str:
    # first bad round at T0+2h+10s; confirmed (exported) from T0+2h+40s; up again at T0+2h+20m
    return "down" if T0 + 2 * H + 40 <= t < T0 + 2 * H + 20 * M else "up"


def web_outage(sid: str, t: float) -> float | None:
    return T0 + 2 * H + 10 if sid == "web" and web(t) == "down" else None


def api(t: float) -> str:
    if T0 + 3 * H <= t < T0 + 3 * H + 5 * M:
        return "degraded"
    return "maintenance" if T0 + 5 * H <= t < T0 + 5 * H + 30 * M else "up"


@pytest.fixture
def prom() -> FakeProm:
    """Two agents for six hours (and an hour before); agent i1 unreachable 4h00–4h10."""
    p = FakeProm()
    gap = (T0 + 4 * H, T0 + 4 * H + 10 * M)
    scrape_agent(
        p,
        "i1",
        {
            "web": web,
            "db": lambda t: "up" if t >= T0 + H + 30 * M else None,  # added at 1h30
            "shared": lambda t: "up",
        },
        scrapes(T0 - H, T0 + 6 * H, skip=gap),
        outage_start=web_outage,
    )
    # i2 also watches "shared" for 20 minutes and sees it down for two of them
    scrape_agent(
        p,
        "i2",
        {
            "api": api,
            "shared": lambda t: (
                None
                if not T0 + 50 * M <= t < T0 + H + 10 * M
                else ("down" if T0 + H <= t < T0 + H + 2 * M else "up")
            ),
        },
        scrapes(T0 - H, T0 + 6 * H),
    )
    return p


def brute_force(p: FakeProm, grid: Grid, lo: float, hi: float) -> dict[str, list[object]]:
    """Every fine point read one by one: what the per-block shortcut must reproduce."""
    blocks = grid.blocks(lo, hi)
    first, last = grid.block_start(blocks.start), min(grid.last_point(blocks.stop - 1), hi)
    raw: dict[str, list[tuple[int, str]]] = {}
    starts: dict[str, dict[int, float]] = {}
    hint = "(timestamp(pantau_service_outage_duration_seconds) - x) and (x > 0)"
    for t in range(first, int(last) + 1, grid.step):
        for key in p.evaluate(f"last_over_time({STATE}[{grid.step}s]) == 1", t):
            labels = dict(key)
            raw.setdefault(labels["service"], []).append((t, labels["state"]))
        for key, v in p.evaluate(hint, t).items():
            starts.setdefault(dict(key)["service"], {})[t] = v
    out: dict[str, list[object]] = {}
    for svc, points in raw.items():
        obs: list[Observation] = [(t, 1, st) for t, st in merge_points(points).items()]
        spans = backdate_down(spans_from_observations(obs, grid.step), starts.get(svc, {}), S)
        out[svc] = list(to_intervals(svc, spans))
    return out


def test_per_block_shortcuts_give_exactly_the_point_by_point_timeline(prom: FakeProm) -> None:
    grid = Grid.for_step(S)
    lo, hi = T0, T0 + 6 * H
    with PromClient("http://prom.test", transport=prom.transport()) as client:
        got = TimelineFetcher(client, grid).fetch(lo, hi)
        requests = client.requests
    assert not prom.unknown
    expected = brute_force(prom, grid, lo, hi)
    assert set(got) == set(expected) == {"web", "db", "api", "shared"}
    for svc, tl in got.items():
        assert tl.intervals == expected[svc], svc
    # blocks 0 … 5 are hours; web: outage in 2, agent gap in 4 → 4 whole blocks, 2 refined
    assert (got["web"].full_blocks, got["web"].refined_blocks) == (4, 2)
    assert (got["db"].full_blocks, got["db"].refined_blocks) == (3, 2)  # from 1h30; gap at 4h
    assert (got["api"].full_blocks, got["api"].refined_blocks) == (4, 2)  # degraded 3h, maint 5h
    # shared: both agents in blocks 0 and 1 → refined and merged (worst state)
    assert (got["shared"].full_blocks, got["shared"].refined_blocks) == (3, 3)
    assert requests <= 12  # 3 aggregates + 1 freshness + 2 per refined range


def test_the_outage_starts_at_the_first_bad_round_and_ends_at_the_first_good_point(
    prom: FakeProm,
) -> None:
    with PromClient("http://prom.test", transport=prom.transport()) as client:
        tl = TimelineFetcher(client, Grid.for_step(S), ["web"]).fetch(T0, T0 + 6 * H)["web"]
    down = [iv for iv in tl.intervals if iv.state.value == "down"]
    assert len(down) == 1
    # exported down from the scrape at 2h+67 s (point 2h+90 s), whose outage value says the
    # episode began at 2h+10 s; the last down scrape is 2h+1177 s, the first up one 2h+1207 s
    # (point 2h+1230 s): down = 1230 − 10 = 1220 s
    assert down[0].start.timestamp() == T0 + 2 * H + 10
    assert down[0].end is not None
    assert down[0].end.timestamp() == T0 + 2 * H + 1230
    # i1 unreachable 4h00–4h10: last scrape 3h59m37 s read at point 4h, which holds 2 steps
    # (to 4h+60 s); the next scrape 4h10m07 s is read at point 4h10m30 s → 570 s unknown
    gaps = [
        (a.end.timestamp(), b.start.timestamp())
        for a, b in zip(tl.intervals, tl.intervals[1:], strict=False)
        if a.end is not None and a.end < b.start
    ]
    assert gaps == [(T0 + 4 * H + 60, T0 + 4 * H + 10 * M + 30)]


def test_refinement_requests_join_neighbours_but_never_read_everything() -> None:
    # one service refined in three consecutive hours (a long outage): one request
    assert plan_refinement({5: ["a"], 6: ["a"], 7: ["a"]}) == [(5, 7, ["a"])]
    # blocks more than two apart are read apart
    assert plan_refinement({0: ["a"], 4: ["a"]}) == [(0, 0, ["a"]), (4, 4, ["a"])]
    # 100 services, each with an incident in its own hour: joining all would read
    # 100 blocks × 100 services for 100 needed. Pairs join (2 blocks × 2 services = 4 ≤
    # 2 × 2 + 2); a third does not (3 × 3 = 9 > 2 × 3 + 2) → 50 requests of 2 × 2.
    plan = plan_refinement({k: [f"s{k:03d}"] for k in range(100)})
    assert len(plan) == 50
    assert all((b - a + 1, len(names)) == (2, 2) for a, b, names in plan)


KATALOG = """
agent: {name: central, timezone: Asia/Jakarta, report: {organization: Pemkot Magelang}}
services:
  - id: db
    name: Basis Data Kepegawaian
    provider: BKPSDM
    group: administrasi_pemerintahan
    classification: esensial
    availability_target: 99.0
    checks: [{type: tcp, address: "127.0.0.1:5432"}]
  - id: spare
    name: Layanan Cadangan
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: normal
    checks: [{type: tcp, address: "127.0.0.1:5433"}]
"""


def add_katalog_labels(p: FakeProm) -> None:
    for t in scrapes(T0, T0 + 6 * H):
        base = {"instance": "i1", "job": "pantau", "service": "web"}
        info = {"name": "Portal Warga", "provider": "Diskominfo", "group": "layanan_publik"}
        p.add("pantau_service_info", {**base, **info, "classification": "kritis"}, t, 1)
        p.add("pantau_service_availability_target_ratio", base, t, 0.995)
        p.add("pantau_service_rto_seconds", base, t, 4 * H)


NOW = datetime.fromtimestamp(T0 + 6 * H, tz=UTC)


def test_fleet_report_takes_foreign_services_from_labels_and_derives_gangguan(
    prom: FakeProm,
) -> None:
    add_katalog_labels(prom)
    config = parse_config(KATALOG)
    with PromClient("http://prom.test", transport=prom.transport()) as client:
        data = build_fleet_report(client, config, 2026, 10, NOW, step=timedelta(seconds=S))
    by_id = {s.id: s for s in data.services}
    # katalog services first (in katalog order), then the others sorted
    assert list(by_id) == ["db", "spare", "api", "shared", "web"]
    assert data.agent_names == ["i1", "i2"]
    web = by_id["web"]
    assert (web.name, web.group.value, web.classification.value) == (
        "Portal Warga",
        "layanan_publik",
        "kritis",
    )
    assert web.availability.target_pct == pytest.approx(99.5)
    assert web.drp.rto == timedelta(hours=4)
    (g,) = web.gangguan
    assert (g.impact, g.priority, g.cause, g.status) == (Impact.MAJOR, 1, "", "resolved")
    assert g.duration == timedelta(seconds=1220)
    assert web.availability.down == timedelta(seconds=1220)
    assert web.availability.met is False
    assert web.causes[-1] == NO_CAUSES
    (minor,) = by_id["api"].gangguan
    assert (minor.impact, minor.priority) == (Impact.MINOR, 6)  # Minor, RAL.02 default, normal
    assert by_id["api"].availability.maintenance == timedelta(minutes=30)
    # a katalog service keeps its katalog entry; one Prometheus never saw has no data
    assert (by_id["db"].name, by_id["db"].availability.target_pct) == (
        "Basis Data Kepegawaian",
        99.0,
    )
    assert by_id["spare"].availability.realised_pct is None


def test_only_the_asked_services_are_read_and_reported(prom: FakeProm) -> None:
    config = parse_config(KATALOG)
    with PromClient("http://prom.test", transport=prom.transport()) as client:
        data = build_fleet_report(
            client, config, 2026, 10, NOW, step=timedelta(seconds=S), services=["api"]
        )
    assert [s.id for s in data.services] == ["api"]
    assert all('service=~"api"' in q["query"] for q in prom.queries if STATE in q["query"])


def test_unknown_services_future_periods_and_empty_stores_are_report_errors(
    prom: FakeProm,
) -> None:
    config = parse_config(KATALOG)
    step = timedelta(seconds=S)
    with PromClient("http://prom.test", transport=prom.transport()) as client:
        with pytest.raises(ReportError, match="unknown service"):
            build_fleet_report(client, config, 2026, 10, NOW, step=step, services=["nope"])
        with pytest.raises(ReportError, match="future"):
            build_fleet_report(client, config, 2026, 11, NOW, step=step)
        with pytest.raises(ReportError, match="tidak ada data untuk periode Sep-2026"):
            build_fleet_report(client, config, 2026, 9, NOW, step=step)
        with pytest.raises(ReportError, match="whole seconds"):
            build_fleet_report(client, config, 2026, 10, NOW, step=timedelta(milliseconds=1500))


def test_generate_writes_the_fleet_csv(prom: FakeProm, tmp_path: Path) -> None:
    config = parse_config(KATALOG)
    files = generate_from_prometheus(
        config,
        "http://prom.test",
        2026,
        10,
        NOW,
        tmp_path,
        formats=["csv"],
        excel=False,
        services=[],
        progress=None,
        step=timedelta(seconds=S),
        transport=prom.transport(),
    )
    assert files == [tmp_path / "pantau-fleet-2026-10.csv"]
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("service_id,nama_layanan,periode")
    assert len(lines) == 1 + 5


def test_a_store_answering_errors_surfaces_its_message() -> None:
    transport = httpx.MockTransport(
        lambda _: httpx.Response(
            422, json={"status": "error", "errorType": "execution", "error": "too many samples"}
        )
    )
    with (
        PromClient("http://prom.test", transport=transport) as client,
        pytest.raises(ReportError, match="execution: too many samples"),
    ):
        build_fleet_report(client, parse_config(KATALOG), 2026, 10, NOW)
