"""The agent's own HTTP endpoint (SPEC §6), an aiohttp app on ``agent.listen``.

prometheus-client's built-in server has no authentication and binds every interface, so the
agent serves ``/metrics`` itself, with the exporter-toolkit web config (TLS, basic auth):

    GET  /metrics                   Prometheus text, or OpenMetrics when asked; gzip when accepted
    GET  /healthz                   liveness + health (no auth: it reveals only ok/degraded)
    GET  /api/v1/status             JSON, the same data as ``pantau status --json``
    POST /api/v1/backups/{service}  a backup script reports a finished backup

A scrape only reads the metrics cache: it never waits for probe work (FAULTS 27). Wrong, empty
or over-long credentials get 401, never 500 (FAULTS 28); the password is never logged. A client
out of failed attempts gets 429 without a bcrypt check, and cached credentials never wait for
one (:mod:`agent.runtime.auth_gate`, FAULTS 33). Idle, half-open and slow connections are timed
out and capped below the open-file limit (:mod:`agent.runtime.http_guard`, FAULTS 32).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from agent.config.models import HttpSettings
from agent.config.webconfig import WebConfig
from agent.core.addresses import split_host_port
from agent.core.clock import Clock
from agent.runtime.auth_gate import AuthGate, Verdict
from agent.runtime.http_guard import ACCEPT_BATCH, AcceptErrorLog, ConnectionGuard
from exporters.metrics import CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT, MetricsCache, negotiate

log = logging.getLogger("pantau.http")

MAX_PUSH_BODY = 64 * 1024
LINGER = 2.0  # seconds
LISTEN_QUEUE = 4096  # connections the kernel holds until accepted (capped by somaxconn)


class AgentView(Protocol):
    """What the HTTP app needs from the running agent."""

    @property
    def metrics(self) -> MetricsCache:
        """The cache ``/metrics`` renders."""
        ...

    @property
    def web_config(self) -> WebConfig | None:
        """TLS and basic auth of the endpoint (``None``: neither)."""
        ...

    @property
    def clock(self) -> Clock:
        """The agent's clock (for rate-limiting the log of refused requests)."""
        ...

    @property
    def http_settings(self) -> HttpSettings:
        """``agent.http``: timeouts, the connection cap, the failed-login limit."""
        ...

    def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded", ...}``."""
        ...

    async def status_async(self) -> dict[str, Any]:
        """The status document of ``/api/v1/status`` (store reads off the event loop)."""
        ...

    async def push_backup(self, service: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Validate and store a pushed backup; return an HTTP status and a JSON body."""
        ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False, default=str).encode(),
        content_type="application/json",
    )


def accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip;q=0`` refuses it)."""
    for part in (header or "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() not in ("gzip", "*"):
            continue
        q = next((p.partition("=")[2] for p in params if p.startswith("q=")), "1")
        try:
            return float(q) > 0
        except ValueError:
            return False
    return False


class DeniedLog:
    """Logs refused requests at most once a minute (a scraper with a stale password would
    otherwise write a line per scrape), with how many were refused meanwhile."""

    def __init__(self, clock: Clock, every: float = 60.0) -> None:
        self.clock = clock
        self.every = every
        self.count = 0
        self.throttled = 0
        self.last: float | None = None

    def note(self, remote: str, path: str, throttled: bool = False) -> None:
        self.count += 1
        self.throttled += throttled
        now = self.clock.monotonic()
        if self.last is None or now - self.last >= self.every:
            log.warning(
                "unauthorized request (%d refused since the last report, %d of them with 429: "
                "too many failed attempts or checks waiting)",
                self.count,
                self.throttled,
                extra={"path": path, "remote": remote},
            )
            self.last, self.count, self.throttled = now, 0, 0


def _too_many(verdict: Verdict) -> web.Response:
    text = (
        "too many failed login attempts from your address; retry later\n"
        if verdict.outcome == "throttled"
        else "too many logins being checked; retry later\n"
    )
    return web.Response(status=429, text=text, headers={"Retry-After": str(verdict.retry_after)})


def build_app(view: AgentView, guard: ConnectionGuard | None = None) -> web.Application:
    """The aiohttp application serving ``view`` (its connections counted by ``guard``)."""
    denied = DeniedLog(view.clock)
    gate = AuthGate(view.clock)

    @web.middleware
    async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Outermost: a request is "busy" (no head deadline, never evicted) from here on, and
        # its body, auth check and handling get request_timeout together.
        conn = guard.connection_of(request) if guard is not None else None
        if conn is not None:
            conn.request_started()
        deadline = asyncio.timeout(view.http_settings.request_timeout.total_seconds())
        try:
            async with deadline:
                return await handler(request)
        except TimeoutError:
            if not deadline.expired():
                raise
            view.metrics.inc_http_refused("request_timeout")
            response = web.Response(status=408, text="request timeout\n")
            response.force_close()
            return response
        finally:
            if conn is not None:
                conn.request_finished()

    @web.middleware
    async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
        wc = view.web_config
        if wc is not None and request.path != "/healthz":
            if not wc.allow_request():
                return web.Response(status=429, text="too many requests\n")
            if wc.auth_required:
                header = request.headers.get("Authorization")
                limit = view.http_settings.failed_auth_limit
                verdict = await gate.check(wc, header, request.remote, limit)
                if verdict.outcome != "ok":
                    denied.note(request.remote or "?", request.path, verdict.outcome != "denied")
                if verdict.outcome in ("throttled", "busy"):
                    view.metrics.inc_http_refused(f"auth_{verdict.outcome}")
                    return _too_many(verdict)
                if verdict.outcome == "denied":
                    return web.Response(
                        status=401,
                        text="unauthorized\n",
                        headers={"WWW-Authenticate": 'Basic realm="pantau"'},
                    )
        response = await handler(request)
        if wc is not None:
            response.headers.update(wc.response_headers)
        return response

    async def metrics(request: web.Request) -> web.Response:
        openmetrics = negotiate(request.headers.get("Accept"))
        compress = accepts_gzip(request.headers.get("Accept-Encoding"))
        # The cache keeps the compressed body too, until something changes.
        body = view.metrics.render(openmetrics, compress=compress)
        headers = {"Content-Type": CONTENT_TYPE_OPENMETRICS if openmetrics else CONTENT_TYPE_TEXT}
        if compress:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def healthz(request: web.Request) -> web.Response:
        return _json(view.health())

    async def status(request: web.Request) -> web.Response:
        return _json(await view.status_async())

    async def push(request: web.Request) -> web.Response:
        service = request.match_info["service"]
        if request.content_length is not None and request.content_length > MAX_PUSH_BODY:
            return _json({"error": f"body larger than {MAX_PUSH_BODY} bytes"}, 413)
        body = b""
        try:
            # read(n) returns what has arrived so far: a body in two TCP segments would be
            # judged by its first half. Read to the end (request_timeout bounds a slow one).
            while len(body) <= MAX_PUSH_BODY:
                chunk = await request.content.read(MAX_PUSH_BODY + 1 - len(body))
                if not chunk:
                    break
                body += chunk
        except (ConnectionError, asyncio.IncompleteReadError):
            return _json({"error": "incomplete body"}, 400)
        if len(body) > MAX_PUSH_BODY:
            return _json({"error": f"body larger than {MAX_PUSH_BODY} bytes"}, 413)
        code, payload = await view.push_backup(service, body)
        return _json(payload, code)

    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text=(
                "<html><head><title>pantau</title></head><body><h1>pantau</h1><ul>"
                '<li><a href="/metrics">/metrics</a></li>'
                '<li><a href="/api/v1/status">/api/v1/status</a></li>'
                '<li><a href="/healthz">/healthz</a></li></ul></body></html>'
            ),
            content_type="text/html",
        )

    async def close_gate(app: web.Application) -> None:
        gate.close()

    app = web.Application(middlewares=[timing, security], client_max_size=MAX_PUSH_BODY)
    app.on_cleanup.append(close_gate)
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/api/v1/backups/{service}", push)
    return app


class _GuardedSite(web.TCPSite):
    """aiohttp's TCP site with every connection made through a :class:`ConnectionGuard`
    (which also does the TLS handshake, so half-open TLS connections count too)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner, host, port, reuse_address=True, backlog=ACCEPT_BATCH)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site; the server is made here
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.factory(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]
        for listening in self._server.sockets:
            # A deeper kernel queue than asyncio's accept batch: under a connection flood a
            # real client's SYN must not be dropped (and sent again a second later, so a scrape
            # took 1.05 s) before the agent accepts it.
            with listening.dup() as sock:
                sock.listen(LISTEN_QUEUE)


async def start_server(
    view: AgentView, listen: str, ssl_context: ssl.SSLContext | None
) -> web.AppRunner:
    """Start serving; raise ``OSError`` when the address cannot be bound."""
    guard = ConnectionGuard(lambda: view.http_settings, view.metrics, ssl_context)
    guard.limit()  # logs a cap lowered by the open-file limit now, not at the first client
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(AcceptErrorLog(view.clock, view.metrics))
    idle = view.http_settings.idle_timeout.total_seconds()
    runner = web.AppRunner(
        build_app(view, guard),
        access_log=None,
        handle_signals=False,
        keepalive_timeout=idle,
        # A body left unread (a 401 to a push, a 408) is drained this long before the
        # connection closes, so the client reads its answer instead of a reset.
        lingering_time=LINGER,
    )
    await runner.setup()
    host, port = split_host_port(listen)
    site = _GuardedSite(runner, host, port, guard)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
