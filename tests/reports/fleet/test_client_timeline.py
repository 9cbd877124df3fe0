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
    backdate_down,
    episodes,
    merge_points,
    spans_from_observations,
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


def test_points_of_one_state_make_one_span_and_the_last_point_holds_two_steps() -> None:
    obs = [(t, 1, "up") for t in range(0, 300, W)]
    # points 0 … 270; the last one holds until 270 + 2 × 30 = 330
    assert spans_from_observations(obs, W) == [(0.0, 330.0, "up")]


def test_one_missing_point_is_bridged_and_two_leave_one_unknown_step() -> None:
    one = [(0, 1, "up"), (30, 1, "up"), (90, 1, "up")]  # 60 missing
    assert spans_from_observations(one, W) == [(0.0, 150.0, "up")]
    two = [(0, 1, "up"), (30, 1, "up"), (120, 1, "up")]  # 60 and 90 missing
    # 30 holds until 30 + 60 = 90; 90 … 120 is unknown
    assert spans_from_observations(two, W) == [(0.0, 90.0, "up"), (120.0, 180.0, "up")]


def test_exported_unknown_is_no_data() -> None:
    obs = [(0, 1, "up"), (30, 1, "unknown"), (60, 1, "up")]
    assert spans_from_observations(obs, W) == [(0.0, 30.0, "up"), (60.0, 120.0, "up")]


def test_a_whole_block_and_single_points_join_up() -> None:
    g = Grid.for_step(W)
    obs = [(0, g.block_steps, "up"), (3600, 1, "down"), (3630, 1, "up")]
    assert spans_from_observations(obs, W) == [
        (0.0, 3600.0, "up"),
        (3600.0, 3630.0, "down"),
        (3630.0, 3690.0, "up"),
    ]


def test_the_grid_has_hour_blocks_aligned_to_the_step() -> None:
    g = Grid.for_step(30)
    assert (g.block_steps, g.block) == (120, 3600)
    assert g.last_point(2) == 2 * 3600 + 119 * 30
    assert list(g.blocks(3600, 3 * 3600)) == [1, 2]
    odd = Grid.for_step(7)  # 3600 / 7 = 514.3 → 515 steps of 7 s = 3605 s
    assert (odd.block_steps, odd.block) == (515, 3605)
    with pytest.raises(ValueError, match="at least 1 s"):
        Grid.for_step(0)


def test_agents_disagreeing_at_one_instant_give_the_worst_state() -> None:
    merged = merge_points(
        [(0, "up"), (0, "down"), (30, "unknown"), (30, "up"), (60, "down"), (60, "maintenance")]
    )
    assert merged == {0: "down", 30: "up", 60: "maintenance"}


def test_a_mayor_stretch_after_up_starts_at_the_exported_first_bad_round() -> None:
    spans = [(0.0, 300.0, "up"), (300.0, 600.0, "down"), (600.0, 900.0, "up")]
    # the first down point (300) carries sample time − outage = 271.5: the first bad round
    assert backdate_down(spans, {300: 271.5, 330: 271.5}, W) == [
        (0.0, 271.5, "up"),
        (271.5, 600.0, "down"),
        (600.0, 900.0, "up"),
    ]


def test_backdating_never_reaches_past_the_up_stretch_before_it() -> None:
    spans = [(200.0, 300.0, "up"), (300.0, 600.0, "down")]
    assert backdate_down(spans, {300: 100.0}, W) == [(200.0, 600.0, "down")]


def test_no_backdating_after_degraded_or_a_gap_or_with_a_far_hint() -> None:
    after_degraded = [(0.0, 300.0, "degraded"), (300.0, 600.0, "down")]
    assert backdate_down(after_degraded, {300: 250.0}, W) == after_degraded
    after_gap = [(0.0, 200.0, "up"), (300.0, 600.0, "down")]
    assert backdate_down(after_gap, {300: 250.0}, W) == after_gap
    far = [(0.0, 300.0, "up"), (300.0, 600.0, "down")]
    assert backdate_down(far, {500: 250.0}, W) == far  # 500 > 300 + 3 steps


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
