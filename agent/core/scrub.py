"""Credentials out of text shown to people: URLs in details, logs, labels and reports."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*)(:[^/@\s]*)?@")
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:password|passwd|pass|token|access_token|api_key|apikey|secret|key|auth)=)[^&#\s]*"
)


def scrub_url(text: str) -> str:
    """Hide credentials in URLs: ``https://user:pw@host/?token=x`` → ``https://user:***@host/?token=***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)
    return _QUERY_SECRET.sub(r"\1***", text)
