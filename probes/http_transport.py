"""The HTTP probe's transport: httpx, with names resolved by :mod:`probes.resolve`.

httpx connects through anyio, which resolves a host name with ``loop.getaddrinfo`` on the
loop's shared default executor: a hung resolver used to park a thread there per HTTP check
until everything else queued behind them (``/api/v1/status`` took 7 s, FAULTS 35). This
transport gives httpcore a network backend that asks the one bounded resolver pool and then
connects to the addresses in order; the URL, the ``Host`` header and the TLS server name stay
the configured host name, so certificates are verified against it as before.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable

import httpcore
import httpx

from agent.core.addresses import is_ip
from probes.resolve import resolve_system

__all__ = ["ResolvingBackend", "resolving_transport"]

_SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
#: Deadline of a lookup when httpcore passes no connect timeout (the probe's own overall
#: deadline still applies around everything).
_NO_TIMEOUT_LOOKUP = 30.0


class ResolvingBackend(httpcore.AsyncNetworkBackend):
    """anyio's backend, but host names go through :func:`probes.resolve.resolve_system`.

    ``unanswered`` names the host whose lookup was still running when the probe's deadline
    cancelled it (the probe reports ``dns_timeout`` then, not a connect ``timeout``); a probe
    resets it before each run (one probe never runs twice at once).
    """

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self.unanswered: str | None = None

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host`` on the bounded pool, then try each address in resolver order."""
        if is_ip(host):
            addresses = [host]
        else:
            try:
                within = timeout if timeout is not None else _NO_TIMEOUT_LOOKUP
                addresses = await resolve_system(host, socket.AF_UNSPEC, within)
            except (TimeoutError, asyncio.CancelledError):
                self.unanswered = host
                raise
        last: Exception | None = None
        # A dead IPv6 route must not hide a working IPv4 one; the probe's deadline bounds this.
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        if last is not None:
            raise last
        raise socket.gaierror(socket.EAI_NONAME, "no addresses")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unchanged (no names involved)."""
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        """Unchanged."""
        await self._inner.sleep(seconds)


class _Transport(httpx.AsyncHTTPTransport):
    def __init__(self, ssl_context: ssl.SSLContext, backend: ResolvingBackend) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx takes no network backend, so its connection pool is replaced by an equal one
        # that has ours; keep-alive stays off (a probe must see what a new visitor sees).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_keepalive_connections=0, network_backend=backend
        )


def resolving_transport(
    ssl_context: ssl.SSLContext, backend: ResolvingBackend
) -> httpx.AsyncBaseTransport:
    """An httpx transport whose connections resolve names through ``backend``."""
    return _Transport(ssl_context, backend)
