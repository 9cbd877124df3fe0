"""The endpoint's connections under idle, half-open and slow clients (FAULTS 32).

About 1,100 connections that never finished a request head used to exhaust the agent's file
descriptors (16,500 under the systemd unit's ``LimitNOFILE``): every probe failed, a false Mayor
ticket opened, ``/metrics`` stopped answering and asyncio logged "socket.accept() out of system
resource" some 440,000 times a minute. Every accepted connection now goes through a
:class:`GuardedConnection` in front of aiohttp's handler::

    accept ─► at the cap? ─► make room: close the oldest connection that is not inside a
                              request (idle or half-open); if none, close the new one
           ─► TLS handshake + request head within header_timeout, else closed
           ─► request (body, handling) within request_timeout, else 408; a client that stops
              reading its response for request_timeout is cut off
           ─► kept alive: the next request within idle_timeout, else closed

The cap is ``agent.http.max_connections`` but never more than half the open-file limit less
one accept batch (128): the rest stays for probes, the store and backups. Connections that make room go oldest
first, so a real client (whose head follows its connect at once) is served while an attacker
holds the rest. :class:`AcceptErrorLog` reports accept failures (something else took the
descriptors) once a minute with a count instead of once per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from agent.config.models import HttpSettings
from agent.core.clock import Clock
from exporters.metrics import MetricsCache

__all__ = [
    "ACCEPT_BATCH",
    "AcceptErrorLog",
    "ConnectionGuard",
    "GuardedConnection",
    "connection_cap",
]

log = logging.getLogger("pantau.http")

_HEAD_END = b"\r\n\r\n"
_PEEK_AT_MOST = 32  # silent connections looked at per eviction (a flood of talkers: bounded)
_EARLY_LIMIT = 64 * 1024  # bytes held while a TLS handshake completes (a head is ~1 KiB)
ProtocolFactory = Callable[[], asyncio.Protocol]


#: The listen backlog, which is also how many connections asyncio accepts in one go before
#: any of them is seen (and counted) here.
ACCEPT_BATCH = 128


def connection_cap(max_connections: int) -> tuple[int, int | None]:
    """The effective connection cap and the soft open-file limit it was derived from: half
    the limit stays for probes, the store and backups, less one accept batch."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return max_connections, None
    return min(max_connections, max(16, soft // 2 - ACCEPT_BATCH)), soft


class ConnectionGuard:
    """Counts, caps and times the endpoint's connections; one per listening socket."""

    def __init__(
        self,
        settings: Callable[[], HttpSettings],
        metrics: MetricsCache,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self.ssl_context = ssl_context
        self._open: set[GuardedConnection] = set()
        # Evictable connections, oldest first: those that never sent a byte go before those
        # that did (a half-sent head, a kept-alive connection between requests).
        self._silent: OrderedDict[GuardedConnection, None] = OrderedDict()
        self._idle: OrderedDict[GuardedConnection, None] = OrderedDict()
        self._by_handler: dict[object, GuardedConnection] = {}
        self._cap_for: int | None = None
        self.cap = 0

    @property
    def settings(self) -> HttpSettings:
        """``agent.http`` as currently configured (a reload applies new timeouts at once)."""
        return self._settings()

    @property
    def open_connections(self) -> int:
        """Connections counted against the cap."""
        return len(self._open)

    def limit(self) -> int:
        """The cap for the current settings (the open-file limit is read once per setting)."""
        wanted = self.settings.max_connections
        if self._cap_for != wanted:
            self.cap, soft = connection_cap(wanted)
            self._cap_for = wanted
            if self.cap < wanted:
                log.warning(
                    "the endpoint accepts at most %d connections (agent.http.max_connections "
                    "%d): half of the open-file limit %s stays for probes and the store",
                    self.cap,
                    wanted,
                    soft,
                )
        return self.cap

    def factory(self, inner: ProtocolFactory) -> ProtocolFactory:
        """A protocol factory for ``loop.create_server`` wrapping aiohttp's ``inner``."""
        return lambda: GuardedConnection(self, inner)

    def refused(self, reason: str) -> None:
        """Count a closed connection or refused request (``pantau_http_refused_total``)."""
        self._metrics.inc_http_refused(reason)

    # -- bookkeeping, called by the connections ------------------------------------------------

    def admit(self, conn: GuardedConnection) -> bool:
        """Count ``conn`` in, making room if needed; False when every connection is busy."""
        if len(self._open) >= self.limit():
            victim = self._victim()
            if victim is None:
                return False
            victim.close("evicted")
        self._open.add(conn)
        self._silent[conn] = None
        return True

    def _victim(self) -> GuardedConnection | None:
        """The oldest silent connection, else the oldest idle one. A "silent" one whose bytes
        wait unread in the kernel (the loop has not got to it in a flood) has spoken."""
        for _ in range(min(len(self._silent), _PEEK_AT_MOST)):
            oldest = next(iter(self._silent))
            if not oldest.has_unread_bytes():
                return oldest
            self.spoke(oldest)
        return next(iter(self._silent), None) or next(iter(self._idle), None)

    def spoke(self, conn: GuardedConnection) -> None:
        """``conn`` sent its first bytes: it is evicted only after every silent one."""
        if conn in self._silent:
            del self._silent[conn]
            self._idle[conn] = None

    def attach(self, conn: GuardedConnection, handler: object) -> None:
        self._by_handler[handler] = conn

    def busy(self, conn: GuardedConnection) -> None:
        self._silent.pop(conn, None)
        self._idle.pop(conn, None)

    def idle(self, conn: GuardedConnection) -> None:
        if conn in self._open:
            self._idle[conn] = None
            self._idle.move_to_end(conn)

    def forget(self, conn: GuardedConnection) -> None:
        self._open.discard(conn)
        self._silent.pop(conn, None)
        self._idle.pop(conn, None)
        if conn.handler is not None:
            self._by_handler.pop(conn.handler, None)

    def connection_of(self, request: web.BaseRequest) -> GuardedConnection | None:
        """The connection a request arrived on (None for one made without the guard)."""
        return self._by_handler.get(request.protocol)


class GuardedConnection(asyncio.Protocol):
    """One accepted connection: timeouts and the cap around aiohttp's ``RequestHandler``.

    States: ``head`` (waiting for a complete request head, evictable), ``busy`` (a request
    is being handled), ``idle`` (kept alive between requests, evictable).
    """

    def __init__(self, guard: ConnectionGuard, inner: ProtocolFactory) -> None:
        self._guard = guard
        self._make_inner = inner
        self.handler: asyncio.Protocol | None = None
        self._raw: asyncio.Transport | None = None
        self._app: asyncio.Transport | None = None  # raw, or TLS once the handshake is done
        self._timer: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._state = "head"
        self._tail = b""
        self._active = 0
        self._closed = False
        self._early: list[bytes] = []

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        guard = self._guard
        if not guard.admit(self):
            self._closed = True
            guard.refused("over_capacity")
            transport.abort()
            return
        # One deadline covers the TLS handshake and the request head.
        self._arm(guard.settings.header_timeout.total_seconds(), "header_timeout")
        if guard.ssl_context is None:
            self._app = transport
        else:
            # The TLS layer will read the ClientHello, not this protocol: look whether it is
            # there already, so a real client is not taken for a silent one.
            if self.has_unread_bytes():
                guard.spoke(self)
            task = asyncio.get_running_loop().create_task(self._handshake(guard.ssl_context))
            task.add_done_callback(_ignore_result)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self.handler is None:
            if self._app is None:
                # TLS: the client's first bytes can come before start_tls() has returned.
                self._early.append(data)
                if sum(map(len, self._early)) > _EARLY_LIMIT:
                    self.close("header_timeout")
                return
            # aiohttp's handler (and its task) is made only once the client says something:
            # a connection that stays silent costs this object and a timer, nothing more.
            self.handler = self._attach(self._app)
            self._guard.spoke(self)
        if self._state == "idle":  # the next request of a kept-alive connection begins
            self._state = "head"
            self._arm(self._guard.settings.header_timeout.total_seconds(), "header_timeout")
        if self._state == "head":
            seen = self._tail + data
            if _HEAD_END in seen:
                self._start_busy()
            else:
                self._tail = seen[-3:]
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        if self.handler is None:
            return None
        return self.handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._cancel_timers()
        self._guard.forget(self)
        if self.handler is not None:
            handler, self.handler = self.handler, None
            handler.connection_lost(exc)

    def pause_writing(self) -> None:
        # The client is not reading what we send: it has request_timeout to start again.
        if self._stall is None and not self._closed:
            seconds = self._guard.settings.request_timeout.total_seconds()
            loop = asyncio.get_running_loop()
            self._stall = loop.call_later(seconds, self.close, "write_stall")
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if self.handler is not None:
            self.handler.resume_writing()

    # -- requests (called by the middleware) ---------------------------------------------------

    def request_started(self) -> None:
        """A request of this connection reached the app: no head deadline, not evictable."""
        self._active += 1
        self._start_busy()

    def request_finished(self) -> None:
        """The app answered: kept alive, the connection is idle (evictable) again."""
        self._active = max(0, self._active - 1)
        if self._active == 0 and not self._closed:
            self._state, self._tail = "idle", b""
            self._arm(self._guard.settings.idle_timeout.total_seconds(), "idle_timeout")
            self._guard.idle(self)

    def close(self, reason: str | None) -> None:
        """Cut the connection off now (no TLS goodbye), counting why (None: not counted)."""
        if self._closed:
            return
        self._closed = True
        self._cancel_timers()
        self._guard.forget(self)
        if reason is not None:
            self._guard.refused(reason)
        if self._raw is not None:
            self._raw.abort()

    def has_unread_bytes(self) -> bool:
        """Whether the client has sent bytes nobody has read yet (a peek: nothing is consumed)."""
        raw = self._raw
        sock = raw.get_extra_info("socket") if raw is not None and not self._closed else None
        if sock is None:
            return False
        try:
            # The transport's own descriptor, wrapped without a dup (none may be left to dup).
            peek = socket.socket(fileno=sock.fileno())
        except OSError:
            return False
        try:
            return bool(peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:  # nothing yet (EAGAIN), or the peer is gone
            return False
        finally:
            peek.detach()

    # -- inside --------------------------------------------------------------------------------

    def _attach(self, transport: asyncio.Transport) -> asyncio.Protocol:
        handler = self._make_inner()
        self._guard.attach(self, handler)
        handler.connection_made(transport)
        return handler

    async def _handshake(self, context: ssl.SSLContext) -> None:
        raw = self._raw
        assert raw is not None
        loop = asyncio.get_running_loop()
        seconds = self._guard.settings.header_timeout.total_seconds()
        try:
            # The head deadline above bounds this too (it aborts the raw transport).
            tls = await loop.start_tls(
                raw, self, context, server_side=True, ssl_handshake_timeout=seconds
            )
        except (OSError, ssl.SSLError, RuntimeError, TimeoutError):
            self.close(None)  # a failed handshake is the client's problem, not a refusal
            return
        if tls is None or self._closed:
            return
        self._app = tls
        self._guard.spoke(self)
        early, self._early = self._early, []
        for data in early:
            self.data_received(data)

    def _start_busy(self) -> None:
        if self._state != "busy":
            self._state = "busy"
            self._cancel_timer()
            self._guard.busy(self)

    def _arm(self, seconds: float, reason: str) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(seconds, self.close, reason)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cancel_timers(self) -> None:
        self._cancel_timer()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failed handshake is already counted


class AcceptErrorLog:
    """A loop exception handler that reports accept failures once a minute with a count.

    asyncio reports every failed ``accept()`` (up to 128 per wake-up, each retried a second
    later): out of descriptors, that was hundreds of thousands of log lines a minute.
    """

    def __init__(self, clock: Clock, metrics: MetricsCache, every: float = 60.0) -> None:
        self._clock = clock
        self._metrics = metrics
        self._every = every
        self._count = 0
        self._last: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if not message.startswith("socket.accept() out of system resource"):
            loop.default_exception_handler(context)
            return
        self._count += 1
        self._metrics.inc_http_refused("accept_error")
        now = self._clock.monotonic()
        if self._last is None or now - self._last >= self._every:
            exc = context.get("exception")
            reason = getattr(exc, "strerror", None) or str(exc)
            log.error(
                "the endpoint cannot accept connections: %s (%d times since the last report; "
                "is the open-file limit too low?)",
                reason,
                self._count,
            )
            self._last, self._count = now, 0
