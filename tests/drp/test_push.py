"""Push bodies (POST /api/v1/backups/{service}) and ``pantau backup mark --at``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.engine.rpo import merge
from drp.push import PushError, PushRecord, parse_mark_time, parse_push_body

NOW = datetime(2024, 9, 15, 8, 0, tzinfo=UTC)
IDS = {"sipd", "simpeg"}


def _parse(body: object, service: str = "sipd") -> PushRecord:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_push_body(raw, now=NOW, service_ids=IDS, service=service)


def _error(body: object, service: str = "sipd") -> PushError:
    with pytest.raises(PushError) as info:
        _parse(body, service)
    return info.value


def test_empty_body_records_a_success_now() -> None:
    record = parse_push_body(b"", now=NOW, service_ids=IDS, service="sipd")
    assert (record.service, record.source, record.finished_at, record.ok) == (
        "sipd",
        "push",
        NOW,
        True,
    )
    assert record.size_bytes is None
    obs = record.to_observation()
    assert (obs.ok, obs.last_success_at, obs.source) == (True, NOW, "push")


def test_all_fields() -> None:
    record = parse_push_body(
        json.dumps(
            {
                "finished_at": "2024-09-15T02:10:00+07:00",
                "size_bytes": 123456,
                "status": "success",
                "source": "pg-dump",
                "detail": "pushed from https://ops:hunter2@ci.example/job/1",
            }
        ).encode(),
        now=NOW,
        service_ids=IDS,
        service="simpeg",
    )
    assert record.finished_at == datetime(2024, 9, 14, 19, 10, tzinfo=UTC)  # 02:10 WIB = 19:10Z
    assert record.size_bytes == 123456
    assert record.source == "pg-dump"
    assert "hunter2" not in record.detail


def test_reported_failure_keeps_the_last_success() -> None:
    good = _parse({"finished_at": "2024-09-14T02:00:00Z"})
    bad = _parse({"status": "failure", "detail": "disk full"})
    state = merge(None, good.to_observation(), keep_newest=True)
    state = merge(state, bad.to_observation(), keep_newest=True)
    assert state.last_success_at == datetime(2024, 9, 14, 2, 0, tzinfo=UTC)
    assert (state.ok, state.reason, state.detail) == (False, "reported_failure", "disk full")


def test_unknown_service_is_404() -> None:
    assert _error({}, service="nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        ([1, 2], 400),
        ("just a string", 400),
        ({"finishedAt": "2024-09-14T02:00:00Z"}, 400),  # typo: rejected, never "now"
        ({"finished_at": 1726279200}, 400),
        ({"finished_at": "yesterday"}, 400),
        ({"size_bytes": "12"}, 400),
        ({"size_bytes": 1.5}, 400),
        ({"size_bytes": True}, 400),
        ({"status": 1}, 400),
        ({"detail": 5}, 400),
        ({"finished_at": "2024-09-14T02:00:00"}, 422),  # no offset: ambiguous
        ({"finished_at": "2024-09-15T08:06:00Z"}, 422),  # 6 min ahead > 5 min skew
        ({"size_bytes": -1}, 422),
        ({"status": "ok"}, 422),
        ({"source": "Bad Name"}, 422),
        (b"{}" + b" " * 70_000, 413),
    ],
)
def test_bad_bodies_are_rejected(body: object, status: int) -> None:
    err = _error(body)
    assert err.status_code == status
    assert err.message


def test_small_future_skew_is_accepted() -> None:
    record = _parse({"finished_at": "2024-09-15T08:04:00Z"})  # 4 min ahead < 5 min skew
    assert record.finished_at == NOW + timedelta(minutes=4)


def test_mark_time_with_offset_and_naive_in_agent_zone() -> None:
    assert parse_mark_time("2024-09-15T02:00:00Z", now=NOW) == datetime(2024, 9, 15, 2, tzinfo=UTC)
    # naive → the agent's zone: 07:00 WIB = 00:00Z
    jakarta = ZoneInfo("Asia/Jakarta")
    assert parse_mark_time("2024-09-15T07:00", now=NOW, zone=jakarta) == datetime(
        2024, 9, 15, 0, tzinfo=UTC
    )
    with pytest.raises(PushError, match="future"):
        parse_mark_time("2024-09-16T00:00:00Z", now=NOW)
    with pytest.raises(PushError, match="ISO 8601"):
        parse_mark_time("15/09/2024", now=NOW)
