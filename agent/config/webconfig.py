"""The ``agent.web_config`` file: TLS and basic auth in the Prometheus exporter-toolkit format.

The same file an admin writes for node_exporter works here (``--web.config.file``)::

    tls_server_config: {cert_file, key_file, client_ca_file, client_auth_type, min_version, ...}
    http_server_config: {http2, headers}
    basic_auth_users: {name: bcrypt hash}
    rate_limit: {interval, burst}

Differences, each an error at load rather than a silently ignored key: Python's ``ssl`` cannot
accept a client certificate without verifying it, so ``RequestClientCert`` and
``RequireAnyClientCert`` are refused; Go cipher-suite and curve names and
``client_allowed_sans`` are not supported. ``http2`` is accepted and ignored (pantau serves
HTTP/1.1). Relative paths are relative to the file, as in exporter-toolkit.

Basic auth follows exporter-toolkit's handler: an unknown user is checked against a decoy hash
so that response time does not reveal which users exist, only one bcrypt check runs at a time,
and a successful check is cached (keyed by an HMAC of the credentials under a per-process key)
so a scraper does not pay ~60 ms of bcrypt on every scrape. :meth:`WebConfig.cached_basic_auth`
answers a cached success without waiting for the bcrypt lock; a cache miss blocks for one
bcrypt check, so async servers call :meth:`WebConfig.check_basic_auth` in a worker thread
(the agent keeps one of its own for it: ``agent.runtime.auth_gate``).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import bcrypt
from pydantic import AfterValidator, Field, PrivateAttr, ValidationError

from agent.config.loader import _convert, _locate, _resolve_paths
from agent.config.models import Model, PathField, PositiveDuration
from agent.config.yamlload import PathKey, format_path, load_yaml
from agent.core.errors import ConfigError, ConfigProblem

_BCRYPT = re.compile(r"^\$2[abxy]?\$(\d{2})\$[./A-Za-z0-9]{53}$")
_HEADERS: dict[str, tuple[str, ...]] = {  # allowed names → allowed values (empty: any)
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CACHE_SIZE = 128
HASH_HELP = "generate one with: htpasswd -nBC 10 '' | tr -d ':\\n'"


def _check_hash(value: str) -> str:
    if not _BCRYPT.match(value):
        raise ValueError(f"not a bcrypt hash ($2y$10$... with 53 characters after it); {HASH_HELP}")
    return value


BcryptHash = Annotated[str, AfterValidator(_check_hash)]
TLSVersionName = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
ClientAuthType = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "RequireClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]


class TLSServerConfig(Model):
    """``tls_server_config``: the server certificate and client-certificate policy."""

    cert: str | None = None  # inline PEM instead of cert_file
    key: str | None = Field(None, json_schema_extra={"writeOnly": True})
    client_ca: str | None = None
    cert_file: PathField | None = None
    key_file: PathField | None = None
    client_auth_type: ClientAuthType = "NoClientCert"
    client_ca_file: PathField | None = None
    min_version: TLSVersionName = "TLS12"
    max_version: TLSVersionName = "TLS13"
    prefer_server_cipher_suites: bool = True
    cipher_suites: list[str] = Field(default_factory=list)
    curve_preferences: list[str] = Field(default_factory=list)
    client_allowed_sans: list[str] | None = None


class HTTPServerConfig(Model):
    """``http_server_config``: extra response headers (``http2`` is accepted and ignored)."""

    http2: bool = True
    headers: dict[str, str] = Field(default_factory=dict)


class RateLimit(Model):
    """``rate_limit``: a token bucket refilled every ``interval``, holding up to ``burst``."""

    interval: PositiveDuration = timedelta(seconds=1)
    burst: int = Field(20, ge=1)


class WebConfig(Model):
    """A loaded web config; build the server's TLS context and check basic auth with it."""

    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    basic_auth_users: dict[str, BcryptHash] = Field(default_factory=dict)
    rate_limit: RateLimit | None = None

    _cache: OrderedDict[bytes, None] = PrivateAttr(default_factory=OrderedDict)
    _cache_key: bytes = PrivateAttr(default_factory=lambda: secrets.token_bytes(32))
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)  # one bcrypt at a time
    _cache_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _rate_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _decoy: bytes | None = PrivateAttr(None)
    _tokens: float = PrivateAttr(0.0)
    _refilled: float | None = PrivateAttr(None)

    @property
    def tls_enabled(self) -> bool:
        """Whether the endpoint serves HTTPS."""
        return self.tls_server_config is not None

    @property
    def auth_required(self) -> bool:
        """Whether requests need basic auth (no users configured: like exporter-toolkit, no)."""
        return bool(self.basic_auth_users)

    @property
    def response_headers(self) -> dict[str, str]:
        """Headers to add to every response (validated at load)."""
        return dict(self.http_server_config.headers)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server-side TLS context, or ``None`` without ``tls_server_config``.

        Raises :class:`ConfigError` when a certificate, key or CA cannot be loaded.
        """
        tls = self.tls_server_config
        if tls is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
        if tls.prefer_server_cipher_suites:
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        try:
            _load_chain(ctx, tls)
        except (OSError, ssl.SSLError) as exc:
            raise _tls_error(
                "cert_file", f"cannot load the certificate/key: {_reason(exc)}"
            ) from None
        if tls.client_ca_file is not None or tls.client_ca is not None:
            try:
                if tls.client_ca_file is not None:
                    ctx.load_verify_locations(cafile=str(tls.client_ca_file))
                else:
                    ctx.load_verify_locations(cadata=tls.client_ca)
            except (OSError, ssl.SSLError) as exc:
                raise _tls_error(
                    "client_ca_file", f"cannot load the client CA: {_reason(exc)}"
                ) from None
        ctx.verify_mode = {
            "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
            "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
        }.get(tls.client_auth_type, ssl.CERT_NONE)
        return ctx

    def cached_basic_auth(self, authorization_header: str | None) -> bool:
        """True when these credentials passed a bcrypt check before (microseconds, no bcrypt).

        A scraper's credentials are answered from here, so it never waits behind the bcrypt
        checks of a password flood (FAULTS 33); False means "ask :meth:`check_basic_auth`".
        """
        if not self.basic_auth_users:
            return True
        creds = _parse_basic(authorization_header)
        if creds is None or creds[0] not in self.basic_auth_users:
            return False
        digest = self._digest(*creds)
        with self._cache_lock:
            if digest in self._cache:
                self._cache.move_to_end(digest)
                return True
        return False

    def check_basic_auth(self, authorization_header: str | None) -> bool:
        """True when the ``Authorization`` header names a configured user and their password.

        Never raises: missing or malformed headers, unknown users, wrong, empty or over-long
        (> 72 bytes, which bcrypt 5 refuses with ``ValueError``) passwords all give False.
        A cache miss blocks for one bcrypt check (one at a time per process).
        """
        if not self.basic_auth_users:
            return True
        creds = _parse_basic(authorization_header)
        if creds is None:
            return False
        if self.cached_basic_auth(authorization_header):
            return True
        user, password = creds
        hashed = self.basic_auth_users.get(user) if user is not None else None
        with self._lock:
            # One bcrypt check whatever happens, so timing does not tell unknown users apart.
            target = hashed.encode() if hashed is not None else self._decoy_hash()
            ok = _bcrypt_matches(password, target) and hashed is not None and password != b""
        if ok:
            with self._cache_lock:
                self._cache[self._digest(user, password)] = None
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return ok

    def _digest(self, user: str | None, password: bytes) -> bytes:
        """The cache key: an HMAC under a per-process key, so the cache holds no password."""
        return hmac.digest(self._cache_key, (user or "").encode() + b"\0" + password, "sha256")

    def allow_request(self, now: float | None = None) -> bool:
        """Token-bucket rate limit of ``rate_limit``; always True when it is not configured."""
        if self.rate_limit is None:
            return True
        now = time.monotonic() if now is None else now
        interval = self.rate_limit.interval.total_seconds()
        with self._rate_lock:
            if self._refilled is None:
                self._tokens, self._refilled = float(self.rate_limit.burst), now
            elapsed = max(0.0, now - self._refilled)
            self._tokens = min(float(self.rate_limit.burst), self._tokens + elapsed / interval)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def _decoy_hash(self) -> bytes:
        """A hash of a random password at the users' highest cost (made once, lazily)."""
        if self._decoy is None:
            cost = max(int(h.split("$")[2]) for h in self.basic_auth_users.values())
            self._decoy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        return self._decoy


def _bcrypt_matches(password: bytes, hashed: bytes) -> bool:
    try:
        if len(password) > 72:
            # bcrypt 5 raises ValueError here (FAULTS 28); still spend one check's time.
            bcrypt.checkpw(password[:72], hashed)
            return False
        return bool(bcrypt.checkpw(password, hashed))
    except ValueError:
        return False


def _parse_basic(header: str | None) -> tuple[str | None, bytes] | None:
    """``(user, password)`` from ``Basic base64(user:password)``; user None if not UTF-8."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except ValueError:  # binascii.Error, or non-ASCII characters in the header
        return None
    user, sep, password = raw.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None, password


def _load_chain(ctx: ssl.SSLContext, tls: TLSServerConfig) -> None:
    if tls.cert_file is not None and tls.key_file is not None:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        return
    # ssl loads certificates only from files: put inline PEM in a private temporary directory.
    with tempfile.TemporaryDirectory(prefix="pantau-tls-") as tmp:
        cert = Path(tls.cert_file) if tls.cert_file else Path(tmp, "cert.pem")
        key = Path(tls.key_file) if tls.key_file else Path(tmp, "key.pem")
        for path, text in ((cert, tls.cert), (key, tls.key)):
            if text is not None and str(path).startswith(tmp):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
        ctx.load_cert_chain(str(cert), str(key))


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc.strerror)


def _tls_error(key: str, message: str) -> ConfigError:
    return ConfigError(
        [ConfigProblem("web config", None, None, f"tls_server_config.{key}", message)]
    )


def _rules(config: WebConfig) -> list[tuple[PathKey, str]]:
    """Cross-field rules (exporter-toolkit's, plus what Python's ssl cannot do)."""
    out: list[tuple[PathKey, str]] = []
    for name, value in config.http_server_config.headers.items():
        path: PathKey = ("http_server_config", "headers", name)
        if name not in _HEADERS:
            out.append((path, f"header {name!r} cannot be set; allowed: {', '.join(_HEADERS)}"))
        elif _HEADERS[name] and value not in _HEADERS[name]:
            out.append((path, f"must be one of {', '.join(_HEADERS[name])}"))
    tls = config.tls_server_config
    if tls is None:
        return out
    base: PathKey = ("tls_server_config",)
    for inline, file in (("cert", "cert_file"), ("key", "key_file")):
        given = [k for k in (inline, file) if getattr(tls, k) is not None]
        if not given:
            out.append(((*base, file), f"required: one of {inline} or {file}"))
        elif len(given) == 2:
            out.append(((*base, inline), f"give either {inline} or {file}, not both"))
    has_ca = tls.client_ca_file is not None or tls.client_ca is not None
    kind = tls.client_auth_type
    if kind in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
        out.append(((*base, "client_auth_type"), "not supported: Python's ssl verifies every "
                    "client certificate; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"))  # fmt: skip
    elif kind == "NoClientCert" and has_ca:
        out.append(((*base, "client_auth_type"), "a client CA is configured without a client "
                    "auth policy; set RequireAndVerifyClientCert"))  # fmt: skip
    elif kind != "NoClientCert" and not has_ca:
        out.append(((*base, "client_ca_file"), f"required for client_auth_type {kind}"))
    if _TLS_VERSIONS[tls.min_version] > _TLS_VERSIONS[tls.max_version]:
        out.append(((*base, "min_version"), "is higher than max_version"))
    for key in ("cipher_suites", "curve_preferences", "client_allowed_sans"):
        if getattr(tls, key):
            out.append(((*base, key), "not supported by pantau (Python ssl); remove it"))
    return out


def parse_web_config(text: str, filename: str, base_dir: Path | None = None) -> WebConfig:
    """Validate web-config YAML; every problem is reported with ``file:line:col``."""
    loaded = load_yaml(text, filename)
    problems = list(loaded.problems)
    data: Any = loaded.data
    if problems and data is None:
        raise ConfigError(problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([*problems, ConfigProblem(filename, 1, 1, "", "must be a YAML mapping")])
    config: WebConfig | None = None
    try:
        config = WebConfig.model_validate(data)
    except ValidationError as exc:
        for p in _convert(exc, loaded, filename):
            if p.message.startswith("unknown key"):
                p = replace(p, message="unknown key (see config/web-config.example.yml)")
            problems.append(p)
    if config is not None:
        if base_dir is not None:
            config = _resolve_paths(config, base_dir.resolve())
        rules = _rules(config)
        for path, message in rules:
            line, col = _locate(loaded, path)
            problems.append(ConfigProblem(filename, line, col, format_path(path), message))
        if not rules and not problems:
            try:
                config.ssl_context()  # certificates and keys must load now, not at first scrape
            except ConfigError as exc:
                for p in exc.problems:
                    line, col = _locate(loaded, ("tls_server_config", p.path.split(".")[-1]))
                    problems.append(ConfigProblem(filename, line, col, p.path, p.message))
    if problems or config is None:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise ConfigError(problems)
    return config


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read and validate the web config at ``path``; relative paths are relative to it."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            [ConfigProblem(str(file), None, None, "", f"cannot read: {reason}")]
        ) from None
    return parse_web_config(text, str(file), base_dir=file.parent)
