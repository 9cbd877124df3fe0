"""Credentials out of text shown to people: URLs in details, logs, labels and reports.

Texts come from peers (a status line, a pushed ``detail``, a program's stderr), so their length
is the peer's choice. Two rules keep scrubbing cheap whatever arrives (FAULTS 34):

- every pattern runs in linear time: a match may only *start* where the construct can begin
  (a scheme at the start of its run of scheme characters), and a match that has begun always
  succeeds or fails within its own word, so the regex engine never rescans the rest of the text
  from each position (the old scheme pattern took 4 s on 60 KB of letters);
- :func:`clip_scrubbed` clips *before* scrubbing. The word the clip cuts through is dropped
  whole: URL credentials and query tokens never contain whitespace, so no half of one can
  survive the clip unrecognised. Known secret values are replaced in the whole text first
  (``str.replace``: linear, and exact even where the clip would have halved a secret).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# ``scheme://user:password@``; the scheme starts with a letter, which need not be the first
# character of its run (``1http://`` → scheme ``http``): ``pre`` takes the leading non-letters.
_USERINFO = re.compile(
    r"(?<![a-zA-Z0-9+.-])(?P<pre>[0-9+.-]*)(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)"
    r"(?P<user>[^/@:\s]*)(?::[^/@\s]*)?@"
)
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:password|passwd|pass|token|access_token|api_key|apikey|secret|key|auth)=)[^&#\s]*"
)
_WORD = re.compile(r"\S*")
ELLIPSIS = "…"


def scrub_url(text: str) -> str:
    """Hide credentials in URLs: ``https://user:pw@host/?token=x`` → ``https://user:***@host/?token=***``.

    Linear in ``len(text)``; still, clip long text first (:func:`clip_scrubbed`)."""
    text = _USERINFO.sub(lambda m: f"{m['pre']}{m['scheme']}{m['user']}:***@", text)
    return _QUERY_SECRET.sub(r"\1***", text)


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace each known secret value (longest first, so a secret containing another goes
    whole) with ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def clip_scrubbed(
    text: str, limit: int, *, keep_end: bool = False, secrets: Iterable[str] = ()
) -> str:
    """At most ``limit`` characters of ``text``, secrets masked and URL credentials scrubbed.

    The start is kept (``keep_end=False``: a message says what went wrong first) or the end
    (a program's errors come last). Where text was cut, ``…`` marks it and the word the cut
    went through is dropped (see the module docstring)."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    text = mask(text, secrets)
    room = limit - 1  # one character for the ellipsis
    if len(text) <= limit:
        window = text
    elif keep_end:
        window = text[-room:]
        if not text[-room - 1].isspace():
            window = window[_word_length(window) :]  # drop the partial word at the cut
    else:
        window = text[:room]
        if not text[room].isspace():
            window = window[: room - _word_length(window[::-1])]
    out = scrub_url(window)
    if window is text and len(out) <= limit:
        return out
    # Masks may lengthen the text; trimming what is already scrubbed reveals nothing.
    return ELLIPSIS + out[-room:] if keep_end else out[:room] + ELLIPSIS


def _word_length(text: str) -> int:
    """Length of the word ``text`` starts with (0 when it starts with whitespace)."""
    match = _WORD.match(text)
    return match.end() if match else 0
