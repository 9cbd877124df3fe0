"""Durations and the strict YAML scalar rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from agent.config.yamlload import load_yaml, resolve_plain
from agent.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("4h", timedelta(hours=4)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("bad", ["", "30", "30 s", "s", "-5m", "5 minutes", "1h 30m"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_numbers_are_not_durations() -> None:
    with pytest.raises(ValueError, match="unit"):
        parse_duration(30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12:30", "12:30"),  # YAML 1.1: 750
        ("no", "no"),  # YAML 1.1: False
        ("on", "on"),  # YAML 1.1: True
        ("0755", "0755"),  # YAML 1.1: 493
        ("true", True),
        ("False", False),
        ("42", 42),
        ("-3", -3),
        ("99.5", 99.5),
        ("~", None),
        ("2024-06-10", date(2024, 6, 10)),
    ],
)
def test_plain_scalars_follow_strict_rules(text: str, expected: object) -> None:
    assert resolve_plain(text) == expected


def test_timestamps_keep_their_offset() -> None:
    value = resolve_plain("2024-09-14T22:00:00+07:00")
    assert isinstance(value, datetime)
    assert value.utcoffset() == timedelta(hours=7)


def test_quoted_scalars_stay_strings() -> None:
    assert load_yaml("a: \"0755\"\nb: 'no'\n", "x", environ={}).data == {"a": "0755", "b": "no"}


def test_merge_keys_are_refused() -> None:
    loaded = load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n", "x", environ={})
    assert any("merge keys" in p.message for p in loaded.problems)
