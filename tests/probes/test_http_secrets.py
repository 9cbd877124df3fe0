"""Credentials in a probe's URL and headers never show in reason, detail or logs (FAULTS.md 29)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from agent.core.model import Outcome
from probes.base import ProbeResult
from tests.probes.conftest import HttpTarget
from tests.probes.support import probe_once

PASSWORD = "Hunter2-pw-7731"
TOKEN = "tok-9f8e7d6c5b"
API_KEY = "key-a1b2c3d4e5"
SECRETS = (PASSWORD, TOKEN, API_KEY)


def leaky(base: str, path: str, **fields: object) -> dict[str, object]:
    """An http check with credentials in the userinfo, the query string and a header."""
    scheme, rest = base.split("://", 1)
    url = f"{scheme}://admin:{PASSWORD}@{rest}{path}?token={TOKEN}&page=1"
    return {"type": "http", "url": url, "headers": {"X-Api-Key": API_KEY}, **fields}


def assert_no_secret(result: ProbeResult, caplog: pytest.LogCaptureFixture) -> None:
    shown = [result.reason, result.detail, *result.extra.values()]
    shown += [record.getMessage() for record in caplog.records]
    shown += [caplog.text]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text, f"secret leaked into {text!r}"


@pytest.fixture
def capture_everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # httpx logs request URLs at INFO, httpcore at DEBUG
    return caplog


def test_failing_status_shows_no_credentials(
    http_target: HttpTarget, capture_everything: pytest.LogCaptureFixture
) -> None:
    result = probe_once(leaky(http_target.base, "/status/503"))
    assert result.reason == "http_status:503"
    assert_no_secret(result, capture_everything)
    # ... while the credentials were really sent (userinfo became a Basic header).
    sent = http_target.app.requests[-1].headers
    assert sent["x-api-key"] == API_KEY
    assert sent["authorization"].startswith("Basic ")
    assert any("token=***" in r.getMessage() for r in capture_everything.records)


def test_timeout_shows_no_credentials(
    http_target: HttpTarget, capture_everything: pytest.LogCaptureFixture
) -> None:
    result = probe_once(leaky(http_target.base, "/never"), timeout=0.5)
    assert result.reason == "timeout"
    assert_no_secret(result, capture_everything)


def test_refused_connection_shows_no_credentials(
    capture_everything: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        result = probe_once(leaky(f"http://127.0.0.1:{sock.getsockname()[1]}", "/"))
    assert result.reason == "connection_refused"
    assert_no_secret(result, capture_everything)


def test_tls_failure_and_warning_show_no_credentials(
    expired_tls: HttpTarget, capture_everything: pytest.LogCaptureFixture
) -> None:
    failed = probe_once(leaky(expired_tls.base, "/"))
    assert failed.reason.startswith("tls_")
    assert_no_secret(failed, capture_everything)
    unverified = probe_once(leaky(expired_tls.base, "/", tls_verify=False))
    assert unverified.outcome is Outcome.UP
    assert any("admin:***@" in r.getMessage() for r in capture_everything.records)
    assert_no_secret(unverified, capture_everything)


def test_redirect_loop_shows_no_credentials(
    http_target: HttpTarget, capture_everything: pytest.LogCaptureFixture
) -> None:
    result = probe_once(leaky(http_target.base, "/loop"))
    assert result.reason == "too_many_redirects"
    assert_no_secret(result, capture_everything)


def test_illegal_header_value_error_does_not_echo_the_value(
    http_target: HttpTarget, capture_everything: pytest.LogCaptureFixture
) -> None:
    fields = leaky(http_target.base, "/")
    fields["headers"] = {"X-Api-Key": f"{API_KEY}\r\nInjected: yes"}
    result = probe_once(fields)
    assert result.outcome is Outcome.DOWN
    assert_no_secret(result, capture_everything)


def test_password_and_token_files_never_show(
    http_target: HttpTarget, tmp_path: Path, capture_everything: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "token").write_text(TOKEN)
    base = {"type": "http", "url": f"{http_target.base}/status/401"}
    basic = probe_once(
        {**base, "basic_auth": {"username": "u", "password_file": str(tmp_path / "pw")}}
    )
    bearer = probe_once({**base, "bearer_token_file": str(tmp_path / "token")})
    assert basic.reason == bearer.reason == "http_status:401"
    assert http_target.app.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert_no_secret(basic, capture_everything)
    assert_no_secret(bearer, capture_everything)
