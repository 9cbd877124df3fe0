"""Push bodies (POST /api/v1/backups/{service}) and ``pantau backup mark --at``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.config.models import Service
from agent.engine.rpo import merge
from drp.push import (
    PushError,
    PushRecord,
    PushTargets,
    parse_mark_time,
    parse_push_body,
    push_targets,
)

NOW = datetime(2024, 9, 15, 8, 0, tzinfo=UTC)
TARGETS = {
    "sipd": PushTargets(("push-0",), "push-0", {"dump": "files"}),
    "simpeg": PushTargets(("pg-dump", "push-1"), "push-1"),
}


def _parse(body: object, service: str = "sipd") -> PushRecord:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_push_body(raw, now=NOW, targets=TARGETS, service=service)


def _error(body: object, service: str = "sipd") -> PushError:
    with pytest.raises(PushError) as info:
        _parse(body, service)
    return info.value


def test_empty_body_records_a_success_now() -> None:
    record = parse_push_body(b"", now=NOW, targets=TARGETS, service="sipd")
    assert (record.service, record.source, record.finished_at, record.ok) == (
        "sipd",
        "push-0",  # the service's push source without a name
        NOW,
        True,
    )
    assert record.size_bytes is None
    obs = record.to_observation()
    assert (obs.ok, obs.last_success_at, obs.source) == (True, NOW, "push-0")


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
        targets=TARGETS,
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
        ({"source": "evil\n"}, 422),  # "$" in a pattern would have let the newline through
        ({"source": "dump"}, 422),  # a files source: the agent checks it, a push cannot
        ({"source": "made-up-1"}, 422),
        (b"{}" + b" " * 70_000, 413),
        # out of range (FAULTS 40): each was an HTTP 500, or a 202 the writer then dropped
        (b"[" * 50_000, 400),  # 50,000 brackets fit in the 64 KiB a push may send
        (b'{"detail": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", 400),
        (b'{"a":' * 12_000, 400),
        ({"finished_at": "0001-01-01T00:00:00+07:00"}, 422),
        ({"finished_at": "0001-01-01T00:00:00Z"}, 422),
        ({"finished_at": "1969-12-31T23:59:59Z"}, 422),
        ({"finished_at": "9999-12-31T23:59:59-12:00"}, 422),
        ({"finished_at": "9999-12-31T23:59:59Z"}, 422),
        ({"size_bytes": 2**63}, 422),
        ({"size_bytes": 10**30}, 422),
    ],
)
def test_bad_bodies_are_rejected(body: object, status: int) -> None:
    err = _error(body)
    assert err.status_code == status
    assert err.message


def test_the_largest_size_and_the_epoch_itself_are_accepted() -> None:
    record = _parse({"finished_at": "1970-01-01T00:00:00Z", "size_bytes": 2**63 - 1})
    assert (record.finished_at.timestamp(), record.size_bytes) == (0.0, 2**63 - 1)


def test_a_push_names_one_of_its_push_sources_or_gets_the_default() -> None:
    assert _parse({"source": "pg-dump"}, "simpeg").source == "pg-dump"
    assert _parse({}, "simpeg").source == "push-1"  # the one without a name
    assert _parse({"source": "push"}, "sipd").source == "push-0"  # the old default label
    err = _error({"source": "dump"})
    assert "files source" in err.message
    assert "push-0" in err.message  # says what it may name


def _service(backups: list[dict[str, object]]) -> Service:
    return Service.model_validate(
        {
            "id": "sipd",
            "name": "SIPD",
            "provider": "Bappeda",
            "group": "layanan_publik",
            "classification": "normal",
            "checks": [{"type": "tcp", "address": "127.0.0.1:9"}],
            "backups": backups,
        }
    )


def test_the_default_push_source_is_the_unnamed_one_else_the_only_one() -> None:
    files = {"type": "files", "path": "/x/*.gz"}
    mixed = push_targets(_service([files, {"type": "push", "name": "a"}, {"type": "push"}]))
    assert (mixed.push, mixed.default, dict(mixed.polled)) == (
        ("a", "push-2"),
        "push-2",
        {"files-0": "files"},
    )
    only = push_targets(_service([{"type": "push", "name": "nightly"}]))
    assert (only.push, only.default) == (("nightly",), "nightly")
    named = push_targets(_service([{"type": "push", "name": "a"}, {"type": "push", "name": "b"}]))
    assert named.default is None
    with pytest.raises(PushError, match="name the push source"):
        named.resolve(None)
    assert push_targets(_service([files])).push == ()


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
    with pytest.raises(PushError, match="before 1970-01-01"):
        parse_mark_time("0001-01-01", now=NOW, zone=jakarta)  # was an OverflowError traceback
    with pytest.raises(PushError, match="future"):
        parse_mark_time("9999-12-31T23:59:59-12:00", now=NOW)
