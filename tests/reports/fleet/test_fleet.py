"""The fleet report over a fake Prometheus: per-block shortcuts, episodes, the Formulir rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent.config.loader import parse_config
from agent.core.errors import ReportError
from agent.core.pedoman import Impact
from agent.reports.fleet.client import Labels, PromClient
from agent.reports.fleet.fetch import STATE, TimelineFetcher, plan_refinement
from agent.reports.fleet.report import NO_CAUSES, build_fleet_report, generate_from_prometheus
from agent.reports.fleet.timeline import Grid
from tests.reports.fleet.fakeprom import FakeProm, scrape_agent

H, M = 3600, 60
T0 = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp())  # a whole hour, a multiple of 30 s
S = 30  # scrape interval and step
OFFSET = 7  # scrapes happen at T0 + 30 k + 7, as a real scrape loop is offset


def scrapes(start: float, end: float, skip: tuple[float, float] | None = None) -> list[float]:
    out = [float(t + OFFSET) for t in range(int(start), int(end), S)]
    return [t for t in out if skip is None or not skip[0] <= t < skip[1]]


RESTART = T0 + 4 * H + 10 * M + 2  # agent i1 was down 4h00–4h10: its first round after it


def web(t: float) -> str:
    # first bad round at T0+2h+10s; confirmed (exported) from T0+2h+40s; first good round at
    # T0+2h+19m40s, exported from the scrape at T0+2h+20m+7s
    return "down" if T0 + 2 * H + 40 <= t < T0 + 2 * H + 20 * M else "up"


def web_outage(sid: str, t: float) -> float | None:
    return T0 + 2 * H + 10 if sid == "web" and web(t) == "down" else None


def api(t: float) -> str:
    if T0 + 3 * H <= t < T0 + 3 * H + 5 * M:
        return "degraded"
    return "maintenance" if T0 + 5 * H <= t < T0 + 5 * H + 30 * M else "up"


def i1_since(sid: str, t: float) -> float | None:
    """What agent i1 exports as the first round of each confirmed state."""
    if t >= RESTART:
        return RESTART
    if sid == "web" and web(t) == "down":
        return T0 + 2 * H + 10
    if sid == "web" and t >= T0 + 2 * H + 20 * M:
        return T0 + 2 * H + 20 * M - 20
    return T0 + H + 30 * M + 1 if sid == "db" else T0 - H + 1


def i2_since(sid: str, t: float) -> float | None:
    if sid == "api":
        if T0 + 3 * H <= t < T0 + 3 * H + 5 * M:
            return T0 + 3 * H - 20
        return T0 + 3 * H + 5 * M - 20 if t >= T0 + 3 * H + 5 * M else T0 - H + 1
    if T0 + H <= t < T0 + H + 2 * M:
        return T0 + H - 10
    return T0 + H + 2 * M - 10 if t >= T0 + H + 2 * M else T0 + 50 * M + 1


@pytest.fixture
def prom() -> FakeProm:
    """Two agents for six hours (and an hour before); agent i1 stopped 4h00–4h10."""
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
        since=i1_since,
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
        since=i2_since,
    )
    return p


class SampleBySample(TimelineFetcher):
    """Never takes a block as wholly up: every block is read sample by sample."""

    def _fresh(self, scrapes: dict[Labels, dict[int, float]]) -> dict[Labels, dict[int, float]]:
        return {}


def test_per_block_shortcuts_give_exactly_the_sample_by_sample_timeline(prom: FakeProm) -> None:
    grid = Grid.for_step(S)
    lo, hi = T0, T0 + 6 * H
    with PromClient("http://prom.test", transport=prom.transport()) as client:
        got = TimelineFetcher(client, grid).fetch(lo, hi)
        requests = client.requests
        expected = SampleBySample(client, grid).fetch(lo, hi)
    assert not prom.unknown
    assert set(got) == set(expected) == {"web", "db", "api", "shared"}
    for svc, tl in got.items():
        assert tl.intervals == expected[svc].intervals, svc
        assert expected[svc].full_blocks == 0
    # six hours (and the one after, for the step past the end): only api has a block (hour
    # 1) with whole, quiet neighbours
    whole = {svc: (tl.full_blocks, tl.refined_blocks) for svc, tl in got.items()}
    assert whole == {"web": (0, 7), "shared": (0, 7), "api": (1, 6), "db": (0, 6)}
    assert requests <= 12  # 3 aggregates + 1 freshness + 2 per sample range


def test_whole_blocks_inside_a_quiet_day_are_not_read_sample_by_sample() -> None:
    p = FakeProm()
    scrape_agent(p, "i1", {"calm": lambda t: "up"}, scrapes(T0, T0 + 24 * H), since=lambda s, t: T0)
    with PromClient("http://prom.test", transport=p.transport()) as client:
        (tl,) = TimelineFetcher(client, Grid.for_step(S)).fetch(T0, T0 + 24 * H).values()
    # the first hour misses its first point (first scrape T0 + 7 s), so it and the hour after
    # it (the start of the run) are read, and the last hour with the one after the range (a
    # step past its end is read: the scrape at 24h − 23 s); the 21 between are painted whole
    assert (tl.full_blocks, tl.refined_blocks) == (21, 4)
    # up since T0 (the agent says so) until the last scrape + 60 s
    assert [(iv.start.timestamp(), iv.end and iv.end.timestamp()) for iv in tl.intervals] == [
        (T0, T0 + 24 * H - 23 + 2 * S)
    ]


def test_the_outage_starts_at_the_first_bad_round_and_ends_at_the_first_good_round(
    prom: FakeProm,
) -> None:
    with PromClient("http://prom.test", transport=prom.transport()) as client:
        tl = TimelineFetcher(client, Grid.for_step(S), ["web"]).fetch(T0, T0 + 6 * H)["web"]
    down = [iv for iv in tl.intervals if iv.state.value == "down"]
    assert len(down) == 1
    # the agent exported "down since 2h+10 s" and later "up since 2h+19m40 s": 1,170 s
    assert down[0].start.timestamp() == T0 + 2 * H + 10
    assert down[0].end is not None
    assert down[0].end.timestamp() == T0 + 2 * H + 1180
    # i1 stopped 4h00–4h10: its last scrape 3h59m37 s holds 60 s, until 4h00m37 s; after the
    # restart it says "up since 4h10m02 s" (its first round): 565 s unknown
    gaps = [
        (a.end.timestamp(), b.start.timestamp())
        for a, b in zip(tl.intervals, tl.intervals[1:], strict=False)
        if a.end is not None and a.end < b.start
    ]
    assert gaps == [(T0 + 4 * H - 23 + 2 * S, RESTART)]


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
    assert g.duration == timedelta(seconds=1170)  # first bad round → first good round
    assert web.availability.down == timedelta(seconds=1170)
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


MONTH_END = int(datetime(2026, 10, 31, 17, tzinfo=UTC).timestamp())  # 1 Nov 00:00 WIB


def test_an_outage_across_the_month_end_is_closed_at_its_real_end() -> None:
    # FAULTS 41: down from 23:40 WIB (first bad round) to 00:25 WIB (first good round): 45 min
    began, ended = MONTH_END - 20 * M, MONTH_END + 25 * M
    p = FakeProm()

    def state(t: float) -> str:
        return "down" if began + S <= t < ended else "up"  # shown from the confirming round

    def since(sid: str, t: float) -> float:
        if t >= ended:
            return float(ended)
        return float(began) if t >= began + S else float(MONTH_END - 6 * H)

    scrape_agent(
        p, "i1", {"web": state}, scrapes(MONTH_END - 6 * H, MONTH_END + 3 * H), since=since
    )
    for t in scrapes(MONTH_END - 6 * H, MONTH_END + 3 * H):
        p.add(
            "pantau_service_rto_seconds",
            {"instance": "i1", "job": "pantau", "service": "web"},
            t,
            H,
        )
    config = parse_config("agent: {name: central}\n")
    later = datetime.fromtimestamp(MONTH_END + 10 * 24 * H, tz=UTC)  # the report is made later
    with PromClient("http://prom.test", transport=p.transport()) as client:
        october = build_fleet_report(client, config, 2026, 10, later, step=timedelta(seconds=S))
        november = build_fleet_report(client, config, 2026, 11, later, step=timedelta(seconds=S))
    (oct_web,), (nov_web,) = october.services, november.services
    for web in (oct_web, nov_web):
        (g,) = web.gangguan
        assert g.end == datetime.fromtimestamp(ended, tz=UTC)  # not "open until now"
        assert g.duration == timedelta(minutes=45)  # not 10 days and 25 minutes
        assert web.over_rto == 0  # 45 min < RTO 1 h: no false breach
        assert web.longest_recovery == timedelta(minutes=45)
    assert oct_web.availability.down == timedelta(minutes=20)  # each month counts its part
    assert nov_web.availability.down == timedelta(minutes=25)
