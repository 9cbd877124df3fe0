"""The two written forms of a duration: katalog style and Indonesian words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.core.durations import format_duration, format_duration_words


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=1), "1d"),
        (timedelta(days=1, hours=2, seconds=3), "1d2h3s"),
        (timedelta(seconds=-45), "-45s"),
    ],
)
def test_katalog_style_uses_the_largest_units(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(days=1), "24h"),  # as admins write an RPO, not 1d
        (timedelta(hours=72), "72h"),
        (timedelta(hours=4), "4h"),
        # not a whole number of hours, or less than one: the compact form
        (timedelta(hours=25, minutes=30), "1d1h30m"),
        (timedelta(minutes=30), "30m"),
        (timedelta(0), "0s"),
    ],
)
def test_whole_hours_are_written_in_hours(td: timedelta, text: str) -> None:
    assert format_duration(td, whole_hours=True) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 detik"),
        (15, "15 detik"),
        (60, "1 menit"),
        (21 * 60 + 36, "21 menit"),  # seconds dropped once it lasts a minute
        (3600 + 5 * 60, "1 jam 5 menit"),
        (3600 + 30, "1 jam"),
        (7200, "2 jam"),
        (3 * 86400 + 4 * 3600, "3 hari 4 jam"),
        (86400 + 5 * 60, "1 hari"),  # minutes dropped once it lasts a day
        (-90, "0 detik"),
    ],
)
def test_words_round_down_for_prose(seconds: int, text: str) -> None:
    assert format_duration_words(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 detik"),
        (45, "45 detik"),
        (90 * 60, "1 jam 30 menit"),
        (21 * 60 + 36, "21 menit 36 detik"),
        (3600 + 30, "1 jam 30 detik"),  # zero units are left out
        (2 * 86400 + 3 * 3600, "2 hari 3 jam"),
        (86400 + 5 * 60 + 3, "1 hari 5 menit 3 detik"),
        (-90, "0 detik"),
    ],
)
def test_exact_words_keep_every_unit_to_the_second(seconds: int, text: str) -> None:
    assert format_duration_words(timedelta(seconds=seconds), exact=True) == text


def test_fractions_of_a_second_are_dropped() -> None:
    assert format_duration_words(timedelta(seconds=59.9)) == "59 detik"
    assert format_duration_words(timedelta(seconds=59.9), exact=True) == "59 detik"
