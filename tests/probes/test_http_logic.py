"""Pure HTTP logic of the probe over ``httpx.MockTransport``: auth, headers, redirects, decoding."""

from __future__ import annotations

import asyncio
import base64
import gzip
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config.models import HttpCheck
from agent.core.clock import SystemClock
from agent.core.model import Outcome
from probes.base import ProbeResult
from probes.http import HttpProbe

Handler = Callable[[httpx.Request], httpx.Response]


def run(fields: dict[str, Any], handler: Handler, times: int = 1) -> list[ProbeResult]:
    check = HttpCheck.model_validate({"type": "http", **fields})
    probe = HttpProbe(
        check,
        timeout=2.0,
        max_body_bytes=1 << 20,
        clock=SystemClock(),
        transport=httpx.MockTransport(handler),
    )

    async def main() -> list[ProbeResult]:
        try:
            return [await probe.run() for _ in range(times)]
        finally:
            await probe.aclose()

    return asyncio.run(main())


class Recorder:
    """A MockTransport handler that records requests and answers 200 'ok'.

    Bodies the probe must read are given as ``stream=httpx.ByteStream(...)``: a real transport
    hands over an unread stream, while ``content=`` would arrive already consumed.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, text="ok")


def test_basic_auth_password_file_is_sent_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    seen = Recorder()
    run(
        {"url": "https://svc/", "basic_auth": {"username": "admin", "password_file": str(secret)}},
        seen,
    )
    # base64("admin:s3cret") = "YWRtaW46czNjcmV0"
    assert seen.requests[0].headers["authorization"] == "Basic YWRtaW46czNjcmV0"


def test_password_file_is_read_again_on_every_run(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("one")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        secret.write_text("two")  # rotated between runs
        return httpx.Response(200)

    run(
        {"url": "https://svc/", "basic_auth": {"username": "u", "password_file": str(secret)}},
        handler,
        2,
    )
    assert [base64.b64decode(h.split()[1]).decode() for h in seen] == ["u:one", "u:two"]


def test_bearer_token_file_sets_authorization(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    seen = Recorder()
    run({"url": "https://svc/", "bearer_token_file": str(token)}, seen)
    assert seen.requests[0].headers["authorization"] == "Bearer tok-123"


def test_url_userinfo_becomes_a_header_and_leaves_the_url() -> None:
    seen = Recorder()
    run({"url": "https://admin:pw@svc/health"}, seen)
    request = seen.requests[0]
    assert request.url.userinfo == b""
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()


def test_configured_headers_method_and_body_are_sent() -> None:
    seen = Recorder()
    fields = {
        "url": "https://svc/api",
        "method": "POST",
        "body": '{"ping": 1}',
        "headers": {"X-Tenant": "kota-magelang", "User-Agent": "custom/1"},
    }
    run(fields, seen)
    request = seen.requests[0]
    assert (request.method, request.content) == ("POST", b'{"ping": 1}')
    assert request.headers["x-tenant"] == "kota-magelang"
    assert request.headers["user-agent"] == "custom/1"  # explicit headers win over ours


def test_authorization_is_dropped_when_a_redirect_changes_origin() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "svc" and request.url.path == "/":
            return httpx.Response(302, headers={"Location": "/same"})
        if request.url.path == "/same":
            return httpx.Response(302, headers={"Location": "https://elsewhere/"})
        return httpx.Response(200)

    run({"url": "https://svc/", "basic_auth": {"username": "u", "password": "p"}}, handler)
    assert ["authorization" in r.headers for r in seen] == [True, True, False]


def test_cookies_do_not_leak_from_one_run_into_the_next() -> None:
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})

    run({"url": "https://svc/"}, handler, times=2)
    assert cookies == [None, None]  # every run is a new visitor


@pytest.mark.parametrize(
    "encode",
    [
        gzip.compress,
        zlib.compress,  # "deflate" as RFC 9110 means it: zlib-wrapped
        lambda data: zlib.compress(data)[2:-4],  # "deflate" as some servers send it: raw
    ],
)
def test_compressed_bodies_are_decoded_before_matching(encode: Callable[[bytes], bytes]) -> None:
    encoding = "gzip" if encode is gzip.compress else "deflate"
    body = encode(b"<html>status: healthy</html>")

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "gzip, deflate"
        return httpx.Response(
            200, stream=httpx.ByteStream(body), headers={"Content-Encoding": encoding}
        )

    (result,) = run({"url": "https://svc/", "expect_body": "healthy"}, handler)
    assert (result.outcome, result.reason) == (Outcome.UP, "")


def test_corrupt_gzip_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        stream = httpx.ByteStream(b"not gzip at all")
        return httpx.Response(200, stream=stream, headers={"Content-Encoding": "gzip"})

    (result,) = run({"url": "https://svc/", "expect_body": "x"}, handler)
    assert (result.outcome, result.reason) == (Outcome.DOWN, "protocol_error")


def test_body_in_a_declared_charset_is_matched_as_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        text = "Layanan berjalan normal – café".encode("latin-1", errors="replace")
        headers = {"Content-Type": "text/plain; charset=latin-1"}
        return httpx.Response(200, stream=httpx.ByteStream(text), headers=headers)

    (result,) = run({"url": "https://svc/", "expect_body": "café"}, handler)
    assert result.outcome is Outcome.UP


def test_head_request_is_judged_by_status_only() -> None:
    seen = Recorder()
    (result,) = run({"url": "https://svc/", "method": "HEAD", "expect_body": "anything"}, seen)
    assert result.outcome is Outcome.UP


def test_missing_password_file_is_a_probe_error_not_a_crash(tmp_path: Path) -> None:
    fields = {
        "url": "https://svc/",
        "basic_auth": {"username": "u", "password_file": str(tmp_path / "nope")},
    }
    (result,) = run(fields, Recorder())
    assert (result.outcome, result.reason) == (Outcome.DOWN, "probe_error")
    assert "FileNotFoundError" in result.detail
