"""The exception → reason mapping, one branch of the drawn tree at a time."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Any

import dns.exception
import dns.message
import dns.resolver
import httpcore
import httpx
import pytest

from probes.reasons import reason_for


def raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    """``exc`` as it looks after ``raise exc from cause`` (chain attributes set)."""
    try:
        raise exc from cause
    except BaseException as caught:
        return caught


def verify_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = code
    return exc


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (10, "tls_expired"),
        (18, "tls_self_signed"),
        (19, "tls_self_signed"),
        (20, "tls_self_signed"),
        (21, "tls_self_signed"),
        (62, "tls_hostname"),
        (64, "tls_hostname"),
        (9, "tls_invalid"),  # not yet valid
        (23, "tls_invalid"),  # revoked
    ],
)
def test_certificate_verify_codes(code: int, reason: str) -> None:
    assert reason_for(verify_error(code)) == reason


def test_tls_reason_is_found_under_httpx_and_httpcore_wrappers() -> None:
    inner = raised(httpcore.ConnectError("handshake"), verify_error(10))
    outer = raised(httpx.ConnectError("handshake"), inner)
    assert reason_for(outer) == "tls_expired"


def test_other_ssl_errors_are_tls_invalid() -> None:
    assert reason_for(ssl.SSLError(1, "wrong version number")) == "tls_invalid"


def test_root_cause_wrapped_as_an_argument_is_followed() -> None:
    # httpcore raises ReadError(original) and the ``from`` link can get lost on the way up.
    broken = raised(RuntimeError("broken resource"), ConnectionResetError(errno.ECONNRESET, "x"))
    wrapper = httpcore.ReadError(broken)
    assert reason_for(raised(httpx.ReadError(""), wrapper)) == "connection_reset"


def dns_error(cls: type[dns.exception.DNSException], **kwargs: Any) -> BaseException:
    """Build a dnspython exception through ``type[...]``: its constructors are untyped."""
    return cls(**kwargs)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection_reset"),
        (BrokenPipeError(errno.EPIPE, "pipe"), "connection_reset"),
        (OSError(errno.ENETUNREACH, "no route"), "network_unreachable"),
        (OSError(errno.EHOSTUNREACH, "no route to host"), "network_unreachable"),
        (OSError(errno.ETIMEDOUT, "timed out"), "timeout"),
        (ConnectionRefusedError(), "connection_refused"),  # raised without an errno
        (socket.gaierror(socket.EAI_NONAME, "unknown"), "dns_nxdomain"),
        (socket.gaierror(socket.EAI_AGAIN, "temporary"), "dns_servfail"),
        (socket.gaierror(socket.EAI_FAIL, "failed"), "dns_servfail"),
        (TimeoutError(), "timeout"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.TooManyRedirects("loop"), "too_many_redirects"),
        (httpx.RemoteProtocolError("illegal status line"), "protocol_error"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "connection_reset",
        ),
        (httpx.DecodingError("bad gzip"), "protocol_error"),
        (httpx.UnsupportedProtocol("ftp"), "protocol_error"),
        (dns_error(dns.resolver.NXDOMAIN), "dns_nxdomain"),
        (dns_error(dns.resolver.NoAnswer), "dns_nxdomain"),
        (dns_error(dns.resolver.LifetimeTimeout, timeout=1.0, errors=[]), "dns_timeout"),
        (
            dns_error(
                dns.resolver.NoNameservers,
                request=dns.message.make_query("x.test", "A"),
                errors=[],
            ),
            "dns_servfail",
        ),
        (RuntimeError("bug"), "probe_error"),
        (OSError("no errno at all"), "probe_error"),
    ],
)
def test_leaf_exceptions(exc: BaseException, reason: str) -> None:
    assert reason_for(exc) == reason


def test_asyncio_timeout_wrapping_cancellation_is_timeout() -> None:
    assert reason_for(raised(TimeoutError(), asyncio.CancelledError())) == "timeout"


def test_anyio_all_attempts_failed_uses_the_group_members() -> None:
    group = ExceptionGroup(
        "multiple connection attempts failed",
        [
            ConnectionRefusedError(errno.ECONNREFUSED, "::1 refused"),
            ConnectionRefusedError(errno.ECONNREFUSED, "127.0.0.1 refused"),
        ],
    )
    outer = raised(OSError("All connection attempts failed"), group)
    assert reason_for(raised(httpx.ConnectError("x"), outer)) == "connection_refused"


def test_exception_group_of_unknown_errors_falls_back_to_the_wrapper() -> None:
    group = ExceptionGroup("g", [RuntimeError("a")])
    assert reason_for(raised(httpx.ReadTimeout("t"), group)) == "timeout"


def test_cyclic_chain_terminates() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__cause__ = b, a
    assert reason_for(a) == "probe_error"


def test_suppressed_context_is_not_followed() -> None:
    def fail() -> None:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "irrelevant")
        except OSError:
            raise RuntimeError("new problem") from None

    with pytest.raises(RuntimeError) as info:
        fail()
    assert reason_for(info.value) == "probe_error"
