"""Scrubbing credentials out of text: the same answers as before, in linear time, and a clip
that never lets half a credential through (FAULTS 29, 34)."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.scrub import clip_scrubbed, mask, scrub_url

# The patterns scrub_url used before FAULTS 34 (quadratic on long runs of letters): the
# reference for what must be hidden.
_OLD_USERINFO = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*)(:[^/@\s]*)?@"
)
_OLD_QUERY = re.compile(
    r"(?i)([?&](?:password|passwd|pass|token|access_token|api_key|apikey|secret|key|auth)=)[^&#\s]*"
)


def old_scrub_url(text: str) -> str:
    text = _OLD_USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)
    return _OLD_QUERY.sub(r"\1***", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pw@host/x", "https://user:***@host/x"),
        ("1http://u:p@h", "1http://u:***@h"),  # the scheme starts at its first letter
        ("x://y://u:p@h", "x://y://u:***@h"),
        ("see https://u:pw@h/ and ftp://a:b@c", "see https://u:***@h/ and ftp://a:***@c"),
        ("https://h/?token=abc&b=1&API_KEY=z#f", "https://h/?token=***&b=1&API_KEY=***#f"),
        ("https://host:8080/path", "https://host:8080/path"),
    ],
)
def test_scrub_url_hides_userinfo_passwords_and_query_secrets(text: str, expected: str) -> None:
    assert scrub_url(text) == expected


_PIECES = st.sampled_from(
    [
        *("a", "Z", "1", "+", ".", "-", ":", "/", "//", "://", "@", "?", "&", "#", "=", " ", "\n"),
        *("http", "token=", "?key=", "&pass=", "s3cr3t"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_linear_scrub_url_answers_exactly_as_the_old_patterns(text: str) -> None:
    assert scrub_url(text) == old_scrub_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1_000_000,  # one run of scheme letters: the old pattern rescanned it from each one
        "1a" * 500_000,
        "x://" * 250_000,
        "http://" + "a:" * 500_000,
        "Illegal header value '" * 45_000,
        "&token=" * 140_000,
    ],
    ids=["letters", "digit-letter", "schemes", "userinfo-colons", "header-quotes", "tokens"],
)
def test_a_megabyte_of_hostile_text_is_scrubbed_in_linear_time(text: str) -> None:
    # Quadratic scrubbing took 4 s for 60 KB of letters (about 20 min for this megabyte);
    # linear takes tens of milliseconds. The bound is generous for a shared, noisy machine.
    start = time.monotonic()
    scrub_url(text)
    assert time.monotonic() - start < 5.0


PASSWORD = "QQQQQQQQ"  # "Q" appears nowhere else in the generated texts


_WORDS = st.sampled_from(
    [
        "error:",
        "backup",
        "gagal",
        f"https://admin:{PASSWORD}@nas.example/",
        f"https://x.example/?token={PASSWORD}&v=1",
        f"sftp://u:{PASSWORD}@10.0.0.5:22/srv",
        f"known-{PASSWORD}-secret",
        "http://plain.example/path",
        "a" * 50,
    ]
)
_TEXTS = st.lists(
    st.tuples(_WORDS, st.sampled_from([" ", "\n", "\t", "  "])), min_size=1, max_size=30
).map(lambda parts: "".join(w + sep for w, sep in parts))


@settings(max_examples=500, deadline=None)
@given(_TEXTS, st.integers(min_value=2, max_value=400), st.booleans())
def test_no_part_of_a_credential_survives_the_clip(text: str, limit: int, keep_end: bool) -> None:
    out = clip_scrubbed(text, limit, keep_end=keep_end, secrets=[PASSWORD])
    assert "Q" not in out
    assert len(out) <= limit


def test_the_clip_keeps_the_chosen_end_and_marks_the_cut() -> None:
    text = "first words " + "x" * 10_000 + " last words"
    assert clip_scrubbed(text, 30, keep_end=True) == "… last words"
    assert clip_scrubbed(text, 30) == "first words …"
    assert clip_scrubbed("short https://u:p@h", 300) == "short https://u:***@h"
    # Scrubbing may lengthen a text that fitted ("p" → "***"): still at most the limit.
    assert clip_scrubbed("short https://u:p@h", 19) == "short https://u:**…"


def test_mask_replaces_the_longest_secret_first() -> None:
    assert mask("token abcdef and abc", ["abc", "abcdef", ""]) == "token *** and ***"
