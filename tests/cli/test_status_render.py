"""How ``pantau status`` draws its document: zones with their abbreviations, colour only when
asked and never alone, and the exit status scripts read."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.cli.status import exit_status, local_time, status_lines

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def service(sid: str, state: str = "up", rpo: str | None = None) -> dict[str, Any]:
    return {
        "id": sid,
        "state": state,
        "since": "2026-12-08T01:30:00+00:00",
        "month_to_date": {
            "availability_pct": 99.912,
            "target_pct": 99.5,
            "met": True,
            "down_minutes": 0.0,
            "coverage_pct": 100.0,
        },
        "open_incidents": [],
        "backup": None
        if rpo is None
        else {"state": rpo, "newest_at": None, "age_hours": None, "rpo_hours": 24.0},
        "drp": None,
        "rpo_hours": 24.0 if rpo else None,
        "rto_hours": None,
    }


def document(*services: dict[str, Any], zone: str = "Asia/Jakarta") -> dict[str, Any]:
    return {
        "agent": "srv-app-01",
        "generated_at": "2026-12-08T01:52:29+00:00",
        "timezone": zone,
        "period": "Des-2026",
        "services": list(services),
        "hosts": [],
    }


@pytest.mark.parametrize(
    ("zone", "header", "since"),
    [
        ("Asia/Jakarta", "2026-12-08 08:52:29 WIB", "2026-12-08 08:30 WIB"),  # UTC+7
        ("Asia/Makassar", "2026-12-08 09:52:29 WITA", "2026-12-08 09:30 WITA"),  # UTC+8
        ("Asia/Jayapura", "2026-12-08 10:52:29 WIT", "2026-12-08 10:30 WIT"),  # UTC+9
    ],
)
def test_times_are_in_the_agents_zone_with_its_abbreviation(
    zone: str, header: str, since: str
) -> None:
    lines = status_lines(document(service("sipd"), zone=zone))
    assert lines[0] == f"agen srv-app-01 — {header} — periode Des-2026"
    assert since in next(line for line in lines if line.startswith("sipd"))
    assert "UTC" not in "\n".join(lines)


def test_local_time_of_a_missing_time_is_a_dash() -> None:
    assert local_time(None, ZoneInfo("Asia/Jakarta")) == "–"


def test_colour_only_when_asked_and_the_words_say_the_same() -> None:
    doc = document(service("sipd", "down", rpo="breached"), service("lapor", rpo="unknown"))
    plain = status_lines(doc)
    coloured = status_lines(doc, color=True)
    assert not any(ANSI.search(line) for line in plain)
    assert any("\x1b[31m" in line for line in coloured)  # red for down / terlampaui
    # Stripping the escape codes gives the plain table byte for byte: the colour is padded
    # outside the column and adds nothing the words do not already say.
    assert [ANSI.sub("", line) for line in coloured] == plain
    text = "\n".join(plain)
    assert re.search(r"^sipd +down ", text, re.M)
    assert re.search(r"^sipd +– +– +24 jam +terlampaui$", text, re.M)
    assert re.search(r"^lapor +– +– +24 jam +tanpa data$", text, re.M)


@pytest.mark.parametrize(
    ("services", "code"),
    [
        ([service("a"), service("b", rpo="ok")], 0),
        ([service("a", "unknown"), service("b", "maintenance", rpo="unknown")], 0),
        ([service("a", "degraded")], 0),
        ([service("a"), service("b", "down")], 1),
        ([service("a"), service("b", rpo="breached")], 1),
    ],
)
def test_exit_1_only_when_a_service_is_down_or_an_rpo_is_breached(
    services: list[dict[str, Any]], code: int
) -> None:
    assert exit_status(document(*services)) == code


def test_state_words_are_the_pdfs() -> None:
    states = ["up", "degraded", "down", "maintenance", "unknown"]
    doc = document(*(service(f"s{i}", st) for i, st in enumerate(states)))
    rows = [re.split(r" {2,}", line) for line in status_lines(doc) if re.match(r"s\d ", line)]
    assert [r[1] for r in rows] == ["normal", "degradasi", "down", "pemeliharaan", "tanpa data"]
