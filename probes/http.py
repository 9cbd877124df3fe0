"""HTTP(S) probe.

One overall deadline (``asyncio.timeout``) covers connect, TLS, headers, redirects and body:
httpx's own timeouts are per read, so a server trickling a byte every 0.3 s would never trip
them. Every run opens a fresh connection (keep-alive off: a probe must see what a new visitor
sees) through one ``AsyncClient`` per probe and one ``SSLContext`` per (tls_verify, ca_file),
because building either costs more CPU than a whole loopback probe. Host names are resolved by
the one bounded lookup pool (:mod:`probes.http_transport`), never on the loop's default executor.

Judging, in order: the status against ``expect_status`` (default any 2xx), then the body
against ``expect_body`` / ``expect_body_regex``. The body is only read when a body rule exists,
and then at most ``max_body_bytes`` *after* decompression: we decode gzip/deflate ourselves
with a bounded ``zlib`` output, since httpx inflates each 64 KiB network read whole (a gzip bomb
is ~1000:1, so one read can become 64 MiB). Redirects are followed here, not by httpx, so a
redirect's own body is never read, and every configured header and credential is dropped when
the origin changes (unless ``follow_redirects_trusted``).

The leaf certificate's notAfter is read on every https response; when verification fails, a
short unverified handshake fetches it anyway, so an expired certificate's expiry is exported.
Credentials never reach ``reason``, ``detail`` or logs: URL userinfo becomes an Authorization
header, texts pass :func:`probes.base.scrub_url`, and known secret values are masked.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import re
import socket
import ssl
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from cryptography import x509

from agent.config.models import HttpCheck
from agent.core.addresses import is_ip
from agent.core.clock import Clock
from agent.core.errors import ConfigError, ConfigProblem
from agent.core.model import Outcome
from agent.core.scrub import clip_scrubbed, mask, scrub_url
from probes.base import ProbeResult, ProbeSettings
from probes.http_transport import ResolvingBackend, resolving_transport
from probes.reasons import reason_for
from probes.resolve import resolve_system

__all__ = ["HttpProbe", "ssl_context"]

logger = logging.getLogger("pantau.probes")
_USER_AGENT = "pantau-probe/0.1"
_DEFAULT_HEADERS = {"User-Agent": _USER_AGENT, "Accept-Encoding": "gzip, deflate"}


#: Secret values of every HTTP probe built in this process (passwords, tokens, header values),
#: masked wherever probe text is shown. Rotated secrets stay listed: a few strings at most.
_SECRETS: set[str] = set()
# The quoted value of h11's "Illegal header value b'...'"; an unclosed quote (a clipped text)
# runs to the end. Each match consumes what it scanned, so the pattern stays linear.
_HEADER_ERROR = re.compile(
    r"""(Illegal header (?:value|name) )b?(?:'[^']*(?:'|\Z)|"[^"]*(?:"|\Z))"""
)
#: Longest ``detail`` of a failed HTTP probe: a peer's error text is clipped to it before scrubbing.
MAX_DETAIL = 300


def _scrub(text: str) -> str:
    return _HEADER_ERROR.sub(r"\1***", scrub_url(mask(text, _SECRETS)))


class _ScrubFilter(logging.Filter):
    """httpx logs request URLs at INFO and httpcore logs exception texts (quoting an illegal
    header value) at DEBUG: both pass through :func:`_scrub` before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _scrub(record.getMessage())
        record.args = ()
        return True


# A filter on a parent logger does not see its children's records: name each logger.
_SCRUB_FILTER = _ScrubFilter()
for _name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2",
              "httpcore.proxy", "httpcore.socks"):  # fmt: skip
    logging.getLogger(_name).addFilter(_SCRUB_FILTER)


@functools.lru_cache(maxsize=64)
def _cached_context(verify: bool, ca_file: str | None, _ca_mtime_ns: int) -> ssl.SSLContext:
    if verify:
        # The system store (not certifi) so CAs an admin installed on the host count; a
        # ca_file replaces it, as in blackbox_exporter's tls_config.
        ctx = ssl.create_default_context(cafile=ca_file)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def ssl_context(verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    """The shared context for these settings (rebuilt when the ca_file changes on disk).

    Raises :class:`ConfigError` when ``ca_file`` cannot be read or holds no certificate.
    """
    if ca_file is None:
        return _cached_context(verify, None, 0)
    try:
        return _cached_context(verify, str(ca_file), ca_file.stat().st_mtime_ns)
    except (OSError, ssl.SSLError) as exc:
        message = f"cannot load CA certificates from {ca_file}: {exc.strerror or exc}"
        raise ConfigError([ConfigProblem("", None, None, "ca_file", message)]) from None


@dataclass
class _Attempt:
    """What one run learned so far (kept when a later step fails or times out)."""

    url: httpx.URL
    tls_expiry: datetime | None = None
    status: int | None = None


class _TooManyRedirects(Exception):
    pass


class _BoundedDecoder:
    """Content-Encoding decoder whose output per call never exceeds what we still want."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.strip().lower()
        self._zlib: zlib._Decompress | None = None
        self._raw_fallback = enc == "deflate"  # servers send zlib-wrapped or raw deflate
        if enc in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: detect gzip/zlib header

    def feed(self, data: bytes, room: int) -> bytes:
        if self._zlib is None:
            return data[:room]
        try:
            out = self._zlib.decompress(data, room)
        except zlib.error as exc:
            if not self._raw_fallback:
                raise httpx.DecodingError(f"bad compressed body: {exc}") from exc
            self._raw_fallback = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(data, room)
        self._raw_fallback = False  # only the very start can reveal a raw deflate stream
        return out


class HttpProbe:
    """One configured HTTP check, ready to run repeatedly."""

    kind = "http"

    def __init__(
        self,
        check: HttpCheck,
        *,
        timeout: float,
        max_body_bytes: int,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._check = check
        self._timeout = timeout
        self._max_body = max_body_bytes
        self._clock = clock
        url = httpx.URL(check.url)
        self._url_user = (url.username, url.password) if url.userinfo else None
        self._url = url.copy_with(userinfo=b"") if url.userinfo else url
        self._shown_url = scrub_url(check.url)
        #: lower-cased names of the headers the check sets (they may carry secrets)
        self._configured = frozenset(k.lower() for k in check.headers)
        # Validated by the model: a bad regex is a located error when the file is loaded.
        self._regex = re.compile(check.expect_body_regex) if check.expect_body_regex else None
        self._reads_body = check.method != "HEAD" and bool(check.expect_body or self._regex)
        literal = check.basic_auth.password if check.basic_auth is not None else None
        _SECRETS.update(v for k, v in check.headers.items() if _maybe_secret_header(k, v))
        _SECRETS.update(p for p in (url.password, literal) if p)
        self._cert_cache: tuple[bytes, datetime] | None = None
        if not check.tls_verify:
            logger.warning(
                "check %s: TLS certificate verification is disabled (tls_verify: false) for %s",
                check.name or "http",
                self._shown_url,
            )
        context = ssl_context(check.tls_verify, check.ca_file)
        self._backend: ResolvingBackend | None = None
        if transport is None:
            self._backend = ResolvingBackend()
            transport = resolving_transport(context, self._backend)
        self._client = httpx.AsyncClient(
            verify=context,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,  # measure the service itself, not a proxy from the environment
            transport=transport,
        )

    @classmethod
    def from_check(cls, check: HttpCheck, settings: ProbeSettings) -> HttpProbe:
        """The probe for ``check``; its own ``max_body_bytes`` wins over the default."""
        own = check.max_body_bytes
        limit = own if own is not None else settings.max_body_bytes
        return cls(check, timeout=settings.timeout, max_body_bytes=limit, clock=settings.clock)

    async def run(self) -> ProbeResult:
        """Request once within the deadline and judge the answer; never raises."""
        started_at = self._clock.now()
        start = self._clock.monotonic()
        attempt = _Attempt(url=self._url)
        if self._backend is not None:
            self._backend.unanswered = None
        try:
            async with asyncio.timeout(self._timeout):
                reason, detail = await self._exchange(attempt)
        except _TooManyRedirects:
            reason, detail = "too_many_redirects", f"more than {self._check.max_redirects}"
        except TimeoutError as exc:
            reason, detail = "timeout", self._describe(exc)
            if self._backend is not None and self._backend.unanswered is not None:
                host = self._backend.unanswered
                reason, detail = "dns_timeout", f"no answer from the name resolver for {host}"
        except Exception as exc:  # a down target is data: map every failure to a reason
            reason, detail = reason_for(exc), self._describe(exc)
            remaining = self._timeout - (self._clock.monotonic() - start)
            if reason.startswith("tls_") and attempt.url.scheme == "https" and remaining > 0:
                attempt.tls_expiry = await self._peek_expiry(attempt.url, remaining)
        latency = self._clock.monotonic() - start
        outcome = Outcome.DOWN if reason else Outcome.UP
        slow = self._check.degraded_latency
        if outcome is Outcome.UP and slow is not None and latency > slow.total_seconds():
            outcome, reason = Outcome.DEGRADED, "slow"
            detail = f"took {latency:.3f}s, over degraded_latency {slow.total_seconds():g}s"
        return ProbeResult(
            outcome=outcome,
            started_at=started_at,
            latency=latency,
            reason=reason,
            detail=detail,
            status_code=attempt.status,
            tls_expiry=attempt.tls_expiry,
        )

    async def aclose(self) -> None:
        """Close the client (and any connection still open)."""
        await self._client.aclose()

    async def _exchange(self, attempt: _Attempt) -> tuple[str, str]:
        """Send, follow redirects, judge; returns (reason, detail), reason "" when good."""
        check = self._check
        self._client.cookies.clear()  # every run is a new visitor
        headers = self._headers()
        request = self._client.build_request(
            check.method, self._url, headers=headers, content=check.body
        )
        redirects = 0
        while True:
            attempt.url = request.url
            response = await self._client.send(request, stream=True)
            try:
                attempt.status = response.status_code
                self._note_certificate(response, attempt)
                nxt = response.next_request if check.follow_redirects else None
                if nxt is None:
                    return await self._judge(response)
            finally:
                await response.aclose()  # keep-alive is off: this closes the connection
            redirects += 1
            if redirects > check.max_redirects:
                raise _TooManyRedirects
            request = self._redirected(nxt, headers)

    def _redirected(self, request: httpx.Request, sent: httpx.Headers) -> httpx.Request:
        """The next hop with the configured headers only where they may go (FAULTS 38).

        httpx drops only Authorization (and keeps it on an http→https upgrade); a secret can sit
        in any header (``X-Api-Key``), so every header the check configures, and the
        Authorization built from basic_auth, a bearer token or URL credentials, goes to the
        check's own origin only: same scheme, host and port, as curl does since 7.83.
        ``follow_redirects_trusted`` sends them everywhere (curl's ``--location-trusted``).
        """
        url = request.url.copy_with(userinfo=b"") if request.url.userinfo else request.url
        headers = httpx.Headers(request.headers)
        for name in {*self._configured, "authorization"}:
            headers.pop(name, None)
        if self._check.follow_redirects_trusted or _origin(url) == _origin(self._url):
            headers.update({k: v for k, v in sent.items() if k in self._configured})
            if "authorization" in sent:
                headers["Authorization"] = sent["authorization"]
        else:
            # pantau's own defaults stay (they carry nothing secret).
            for name, value in _DEFAULT_HEADERS.items():
                headers.setdefault(name, value)
        return httpx.Request(
            request.method,
            url,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )

    async def _judge(self, response: httpx.Response) -> tuple[str, str]:
        check, code = self._check, response.status_code
        expected = check.expect_status
        if (code not in expected) if expected else not 200 <= code < 300:
            wanted = ", ".join(map(str, expected)) if expected else "2xx"
            return f"http_status:{code}", f"status {code}, expected {wanted}"
        if not self._reads_body:
            return "", f"status {code}"
        charset = response.charset_encoding or "utf-8"
        try:
            needle = check.expect_body.encode(charset) if check.expect_body else None
        except (LookupError, UnicodeError):
            charset, needle = "utf-8", check.expect_body.encode() if check.expect_body else None
        body, over = await self._read_body(response, None if self._regex else needle)
        text = body.decode(charset, errors="replace")
        ok = (not check.expect_body or check.expect_body in text) and (
            self._regex is None or self._regex.search(text) is not None
        )
        if ok:
            return "", f"status {code}, body matched"
        if over:
            return "body_too_large", f"no match in the first {self._max_body} bytes"
        return "body_mismatch", f"status {code}, body ({len(body)} bytes) does not match"

    async def _read_body(
        self, response: httpx.Response, stop_at: bytes | None
    ) -> tuple[bytes, bool]:
        """Decoded body up to the limit; True when there was more. Stops early at ``stop_at``."""
        decoder = _BoundedDecoder(response.headers.get("content-encoding", ""))
        limit, buf = self._max_body, bytearray()
        async for raw in response.aiter_raw():
            before = len(buf)
            # One byte more than the room left tells "larger than the limit" apart from "equal".
            buf += decoder.feed(raw, limit - before + 1)
            if len(buf) > limit:
                del buf[limit:]
                return bytes(buf), True
            if stop_at and buf.find(stop_at, max(0, before - len(stop_at) + 1)) >= 0:
                break
        return bytes(buf), False

    def _headers(self) -> httpx.Headers:
        headers = httpx.Headers(_DEFAULT_HEADERS)
        check, auth = self._check, None
        if check.bearer_token_file is not None:
            token = _read_secret(check.bearer_token_file)
            _SECRETS.add(token)
            auth = f"Bearer {token}"
        elif check.basic_auth is not None:
            password = check.basic_auth.password or ""
            if check.basic_auth.password_file is not None:
                # Read per run so a rotated secret is picked up without a reload.
                password = _read_secret(check.basic_auth.password_file)
                _SECRETS.add(password)
            auth = _basic(check.basic_auth.username, password)
        elif self._url_user is not None:
            auth = _basic(*self._url_user)
        if auth is not None:
            _SECRETS.add(auth.split(" ", 1)[1])
            headers["Authorization"] = auth
        headers.update(check.headers)  # explicit headers win, Authorization included
        return headers

    def _note_certificate(self, response: httpx.Response, attempt: _Attempt) -> None:
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            attempt.tls_expiry = self._expiry(ssl_object.getpeercert(binary_form=True))

    def _expiry(self, der: bytes | None) -> datetime | None:
        if not der:
            return None
        if self._cert_cache is None or self._cert_cache[0] != der:
            # Parsing costs ~0.1 ms; the same certificate comes back almost every run.
            self._cert_cache = (der, x509.load_der_x509_certificate(der).not_valid_after_utc)
        return self._cert_cache[1]

    async def _peek_expiry(self, url: httpx.URL, within: float) -> datetime | None:
        """notAfter from an unverified handshake (verification already failed); None on error."""
        host, port = url.host, url.port or 443
        try:
            async with asyncio.timeout(within):
                address = host
                if not is_ip(host):
                    address = (await resolve_system(host, socket.AF_UNSPEC, within))[0]
                _, writer = await asyncio.open_connection(
                    address, port, ssl=ssl_context(False, None), server_hostname=host
                )
        except Exception as exc:  # best effort: the probe already failed for a clear reason
            logger.debug("no certificate from %s: %s", self._shown_url, type(exc).__name__)
            return None
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            return self._expiry(ssl_object.getpeercert(binary_form=True) if ssl_object else None)
        finally:
            writer.transport.abort()  # no close_notify dance with a peer we do not trust

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no complete answer within {self._timeout:g}s"
        if isinstance(exc, httpx.LocalProtocolError | httpx.InvalidURL):
            return type(exc).__name__  # their messages can quote header values or the URL
        # A peer chooses how long this text is (a 100 KB status line is quoted whole): clip
        # first, then scrub the clip (FAULTS 34).
        text = clip_scrubbed(f"{type(exc).__name__}: {exc}", MAX_DETAIL, secrets=_SECRETS)
        return _HEADER_ERROR.sub(r"\1***", text)


_SENSITIVE_NAME = re.compile(r"(?i)auth|key|token|secret|pass|cookie|session|signature")


def _maybe_secret_header(name: str, value: str) -> bool:
    """Mask values of credential-like headers, and any long value (API keys hide anywhere);
    short ordinary values ("https", "*/*") would only garble texts if masked."""
    return len(value) >= 8 or (len(value) >= 3 and _SENSITIVE_NAME.search(name) is not None)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (the default port when none is written)."""
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


def _basic(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _read_secret(path: Path) -> str:
    """A secret file's content without the trailing newline editors add."""
    return path.read_text(encoding="utf-8").rstrip("\r\n")
