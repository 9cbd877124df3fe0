"""The fleet report's Prometheus client and sample → interval conversion (SPEC §9)."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from agent.core.errors import ReportError
from agent.core.model import State
from agent.core.periods import month_bounds
from agent.reports.fleet.client import PromAuth, PromClient, auth_from_env, chunk_ranges, load_auth
from agent.reports.fleet.timeline import (
    Grid,
    Span,
    agent_spans,
    episodes,
    merge_agents,
    to_intervals,
)
from tests.integration.agentproc import free_port

WIB = ZoneInfo("Asia/Jakarta")
URL = "http://prom.test"


def ok(result: list[dict[str, Any]], kind: str = "matrix") -> httpx.Response:
    return httpx.Response(
        200, json={"status": "success", "data": {"resultType": kind, "result": result}}
    )


def client_for(handler: Any, auth: PromAuth | None = None, **kw: Any) -> PromClient:
    return PromClient(URL, auth, transport=httpx.MockTransport(handler), **kw)


def form(request: httpx.Request) -> dict[str, str]:
    return dict(httpx.QueryParams(request.content.decode()))


# ------------------------------------------------------------------------------- chunking
def test_a_month_at_30_s_is_cut_into_chunks_of_at_most_11000_points() -> None:
    start, end = month_bounds(2026, 10, WIB)
    a, b = start.timestamp(), end.timestamp() - 30
    chunks = list(chunk_ranges(a, b, 30))
    # 31 days × 2,880 points = 89,280 points = 8 × 11,000 + 1,280 → 9 requests
    assert len(chunks) == 9
    sizes = [round((y - x) / 30) + 1 for x, y in chunks]
    assert sizes == [11_000] * 8 + [1_280]
    assert chunks[0][0] == a
    assert chunks[-1][1] == b
    for (_, prev_end), (next_start, _) in itertools.pairwise(chunks):
        assert next_start == prev_end + 30  # no point lost, none asked twice


def test_chunking_handles_a_single_point_and_an_empty_range() -> None:
    assert list(chunk_ranges(100, 100, 30)) == [(100, 100)]
    assert list(chunk_ranges(100, 99, 30)) == []
    # 0, 30, 60 fit; 75 is not on the grid: the last point is 60
    assert list(chunk_ranges(0, 75, 30, max_points=2)) == [(0, 30), (60, 60)]


def test_range_query_chunks_are_stitched_into_one_series_per_label_set() -> None:
    sent: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        p = form(request)
        sent.append(p)
        start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
        points = [[start + i * step, "1"] for i in range(int((end - start) / step) + 1)]
        return ok([{"metric": {"service": "web"}, "values": points}])

    with client_for(handler, max_points=10) as client:
        (series,) = client.query_range("up", 0, 240, 10)  # 25 points → 10 + 10 + 5
    assert [(p["start"], p["end"]) for p in sent] == [
        ("0.000", "90.000"),
        ("100.000", "190.000"),
        ("200.000", "240.000"),
    ]
    assert all(p["nocache"] == "1" and p["step"] == "10" for p in sent)
    assert [t for t, _ in series.values] == [float(t) for t in range(0, 241, 10)]
    assert client.requests == 3


# ---------------------------------------------------------------------------------- auth
def test_basic_auth_reads_the_password_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret-Pw\n")
    auth = auth_from_env(
        {"PANTAU_PROM_USERNAME": "report", "PANTAU_PROM_PASSWORD_FILE": str(tmp_path / "pw")}
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return ok([], "vector")

    with client_for(handler, auth) as client:
        client.query("up", 0)
    assert seen == ["Basic " + base64.b64encode(b"report:s3cret-Pw").decode()]
    assert "s3cret" not in repr(auth)


def test_bearer_token_file_sends_a_bearer_header(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-123\n")
    auth = auth_from_env({"PANTAU_PROM_BEARER_TOKEN_FILE": str(tmp_path / "token")})
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return ok([], "vector")

    with client_for(handler, auth) as client:
        client.query("up", 0)
    assert seen == ["Bearer tok-123"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PANTAU_PROM_USERNAME": "u"}, "set PANTAU_PROM_PASSWORD_FILE"),
        ({"PANTAU_PROM_PASSWORD_FILE": "/x"}, "set PANTAU_PROM_USERNAME"),
        (
            {"PANTAU_PROM_BEARER_TOKEN_FILE": "/t", "PANTAU_PROM_USERNAME": "u"},
            "not both",
        ),
        ({"PANTAU_PROM_BEARER_TOKEN_FILE": "/does/not/exist"}, "cannot read"),
        ({"PANTAU_PROM_CA_FILE": "/does/not/exist"}, "PANTAU_PROM_CA_FILE"),
    ],
)
def test_inconsistent_auth_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        auth_from_env(env)


def test_command_line_names_appear_in_auth_messages() -> None:
    names = {"username": "--prometheus-user", "password_file": "--prometheus-password-file"}
    with pytest.raises(ReportError, match="set --prometheus-password-file"):
        load_auth(username="report", names=names)


def test_no_auth_variables_means_no_authorization_header() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return ok([], "vector")

    with client_for(handler, auth_from_env({})) as client:
        client.query("up", 0)
    assert seen == [None]


# -------------------------------------------------------------------------------- errors
def test_an_unreachable_server_is_a_report_error_naming_the_url() -> None:
    port = free_port()  # nothing listens there
    with (
        PromClient(f"http://127.0.0.1:{port}") as client,
        pytest.raises(ReportError, match=rf"cannot reach Prometheus at http://127.0.0.1:{port}"),
    ):
        client.query("up", 0)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(
                400,
                json={"status": "error", "errorType": "bad_data", "error": "parse error at char 3"},
            ),
            "HTTP 400 to query: bad_data: parse error at char 3",
        ),
        (
            httpx.Response(503, text="Service Unavailable\n"),
            "HTTP 503 to query: Service Unavailable",
        ),
        (httpx.Response(401, text="Unauthorized"), "PANTAU_PROM_BEARER_TOKEN_FILE"),
        (httpx.Response(404, text="404 page not found"), "without /api/v1"),
        (httpx.Response(200, text="<html>login</html>"), "not JSON"),
        (httpx.Response(200, json={"status": "error", "error": "boom"}), "query failed: boom"),
    ],
)
def test_http_failures_pass_on_the_servers_error_text(
    response: httpx.Response, message: str
) -> None:
    with client_for(lambda _: response) as client, pytest.raises(ReportError, match=message):
        client.query("up", 0)


def test_a_timeout_suggests_a_larger_step() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with client_for(handler) as client, pytest.raises(ReportError, match="larger --step"):
        client.query_range("up", 0, 60, 30)


def test_credentials_in_the_url_never_appear_in_messages() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(500, text="oops"))
    client = PromClient("http://admin:hunter2@prom.test/", transport=transport)
    with client, pytest.raises(ReportError) as info:
        client.query("up", 0)
    assert "hunter2" not in str(info.value)
    assert "admin:***@prom.test" in str(info.value)


def test_a_url_without_scheme_is_refused() -> None:
    with pytest.raises(ReportError, match="expected http:// or https://"):
        PromClient("prom.test:9090")


def test_malformed_answers_are_report_errors() -> None:
    bad = {"status": "success", "data": {"resultType": "matrix", "result": [{"values": [["x"]]}]}}
    with (
        client_for(lambda _: httpx.Response(200, text=json.dumps(bad))) as client,
        pytest.raises(ReportError, match="malformed answer"),
    ):
        client.query_range("up", 0, 0, 30)


# ---------------------------------------------------------------------- samples → spans
W = 30
HOLD = 2 * W


def spans(samples: list[tuple[float, str, float | None]], **kw: Any) -> list[Span]:
    return agent_spans(samples, kw.pop("whole", []), HOLD, maintenance_spans=kw.pop("m", False))


def test_samples_of_one_state_make_one_span_and_the_last_one_holds_two_steps() -> None:
    # samples 0 … 270; the last one holds until 270 + 2 × 30 = 330
    assert spans([(t, "up", None) for t in range(0, 300, W)]) == [(0.0, 330.0, "up")]


def test_one_missing_scrape_is_bridged_and_two_leave_unknown_time() -> None:
    one = [(0, "up", None), (30, "up", None), (90, "up", None)]  # 60 missing
    assert spans(one) == [(0.0, 150.0, "up")]
    two = [(0, "up", None), (30, "up", None), (120, "up", None)]  # 60 and 90 missing
    # 30 holds until 30 + 60 = 90; 90 … 120 is unknown
    assert spans(two) == [(0.0, 90.0, "up"), (120.0, 180.0, "up")]


def test_exported_unknown_is_no_data() -> None:
    obs = [(0, "up", None), (30, "unknown", None), (60, "up", None)]
    assert spans(obs) == [(0.0, 30.0, "up"), (60.0, 120.0, "up")]


def test_without_since_an_edge_lies_at_the_sample_that_showed_it() -> None:
    # scrapes 7 s after the grid: the down sample at 97 is where the edge goes, not 120
    obs = [(7, "up", None), (37, "up", None), (67, "up", None), (97, "down", None)]
    assert spans(obs) == [(7.0, 97.0, "up"), (97.0, 157.0, "down")]


@pytest.mark.parametrize("bad", ["down", "degraded"])
def test_a_bad_start_moves_back_to_the_first_bad_round_the_agent_exported(bad: str) -> None:
    # failure_threshold 3: first bad round 41, confirmed at 101, first shown at scrape 127
    obs = [(7, "up", 0.0), (37, "up", 0.0), (67, "up", 0.0), (97, "up", 0.0), (127, bad, 41.0)]
    assert spans(obs) == [(0.0, 41.0, "up"), (41.0, 187.0, bad)]


def test_a_recovery_and_a_switch_move_back_to_their_first_round() -> None:
    obs = [(0, "down", 0.0), (30, "down", 0.0), (60, "degraded", 31.0), (90, "up", 75.0)]
    assert spans(obs) == [(0.0, 31.0, "down"), (31.0, 75.0, "degraded"), (75.0, 150.0, "up")]


def test_a_prometheus_gap_is_filled_where_the_agent_says_it_kept_watching() -> None:
    # not scraped 60 … 270, but the agent says "up since 0" at 300: its store has up there
    obs = [(0, "up", 0.0), (30, "up", 0.0), (300, "up", 0.0)]
    assert spans(obs) == [(0.0, 360.0, "up")]
    # after a restart the agent says "up since 290" (its first round): 90 … 290 stays unknown
    restarted = [(0, "up", 0.0), (30, "up", 0.0), (300, "up", 290.0)]
    assert spans(restarted) == [(0.0, 90.0, "up"), (290.0, 360.0, "up")]


def test_a_since_in_the_future_of_its_sample_is_ignored() -> None:
    assert spans([(0, "up", None), (30, "down", 45.0)]) == [(0.0, 30.0, "up"), (30.0, 90.0, "down")]


def test_maintenance_carries_the_state_on_and_is_a_span_only_without_katalog_windows() -> None:
    obs = [(0, "down", 0.0), (30, "maintenance", 0.0), (60, "maintenance", 0.0), (90, "up", 80.0)]
    # katalog windows known: the confirmed state underneath goes on (down until 80)
    assert spans(obs) == [(0.0, 80.0, "down"), (80.0, 150.0, "up")]
    # no windows known: the exported maintenance is the only source and wins
    assert spans(obs, m=True) == [
        (0.0, 30.0, "down"),
        (30.0, 90.0, "maintenance"),
        (90.0, 150.0, "up"),
    ]


def test_a_whole_block_joins_the_samples_around_it() -> None:
    g = Grid.for_step(W)
    before = [(3600.0 - 2 * W + 5, "up", None)]  # last sample of block 0
    after = [(7200.0 - W + 5, "up", None), (7200.0 + 5, "down", 7190.0)]
    got = spans(before + after, whole=[g.whole(1)])
    assert got == [(3545.0, 7190.0, "up"), (7190.0, 7265.0, "down")]


def test_the_grid_has_hour_blocks_aligned_to_the_step() -> None:
    g = Grid.for_step(30)
    assert (g.block_steps, g.block, g.hold) == (120, 3600, 60)
    assert g.last_point(2) == 2 * 3600 + 119 * 30
    assert g.whole(2) == (2 * 3600 - 30, 3 * 3600)
    assert list(g.blocks(3600, 3 * 3600)) == [1, 2]
    odd = Grid.for_step(7)  # 3600 / 7 = 514.3 → 515 steps of 7 s = 3605 s
    assert (odd.block_steps, odd.block) == (515, 3605)
    with pytest.raises(ValueError, match="at least 1 s"):
        Grid.for_step(0)


def test_agents_disagreeing_at_one_instant_give_the_worst_state() -> None:
    a = [(0.0, 100.0, "up"), (100.0, 200.0, "maintenance")]
    b = [(50.0, 150.0, "down")]
    assert merge_agents([a, b]) == [
        (0.0, 50.0, "up"),
        (50.0, 100.0, "down"),
        (100.0, 200.0, "maintenance"),
    ]


def test_episodes_span_unknown_gaps_and_take_the_worst_impact() -> None:
    spans = [
        (0.0, 100.0, "up"),
        (100.0, 200.0, "degraded"),
        (250.0, 300.0, "down"),  # after a gap: still the same episode, now Mayor
        (300.0, 400.0, "up"),
        (400.0, 450.0, "degraded"),
    ]
    eps = episodes("web", to_intervals("web", spans))
    at = [(e.state, e.start.timestamp(), e.end.timestamp() if e.end else None) for e in eps]
    assert at == [(State.DOWN, 100.0, 300.0), (State.DEGRADED, 400.0, None)]
    assert eps[0].start.tzinfo is UTC
    assert to_intervals("web", spans)[0].start == datetime(1970, 1, 1, tzinfo=UTC)
