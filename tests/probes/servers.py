"""Real misbehaving servers on 127.0.0.1 for the probe tests.

Each server runs its own asyncio loop in a thread, so a probe under test shares nothing with
it but the loopback interface, and a busy test loop cannot make the server look slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]
GIB = 1 << 30


class ThreadedTcpServer:
    """``asyncio.start_server`` on 127.0.0.1:<free port> in a thread of its own."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> ThreadedTcpServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        # A connection the kernel accepted just before the stop may not have reached the loop
        # yet; Python 3.11 leaks its socket if the server closes first. Let it arrive, then
        # cancel handlers until nothing else runs, so each connection task aborts its own
        # transport (no unclosed-socket warnings).
        await asyncio.sleep(0.05)
        server.close()
        for _ in range(100):
            await asyncio.sleep(0)
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if not others:
                break
            for task in list(self._tasks):
                task.cancel()
            await asyncio.wait(others, timeout=0.1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The handler runs in a task of its own: cancelling asyncio's connection task itself
        # makes Python 3.11 log a spurious error at shutdown.
        task: asyncio.Task[None] = asyncio.create_task(self._handler(reader, writer))
        self._tasks.add(task)
        try:
            await task
        except (OSError, EOFError, ssl.SSLError, asyncio.CancelledError):
            pass  # the probe hung up (or the server stops): what many of these tests provoke
        finally:
            self._tasks.discard(task)
            writer.transport.abort()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HttpApp:
    """A tiny HTTP/1.1 server whose routes write raw bytes, however badly they like."""

    requests: list[Request] = field(default_factory=list)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        request = Request(method, target.split("?")[0], headers)
        self.requests.append(request)
        await self.route(request, writer)

    async def route(self, req: Request, w: asyncio.StreamWriter) -> None:
        path = req.path
        if m := re.fullmatch(r"/status/(\d+)", path):
            await respond(w, int(m[1]), b"status page")
        elif m := re.fullmatch(r"/redirect/(\d+)", path):
            n = int(m[1])
            if n == 0:
                await respond(w, 200, b"arrived ok")
            else:
                await respond(w, 302, b"", (("Location", f"/redirect/{n - 1}"),))
        elif path == "/loop":
            await respond(w, 302, b"", (("Location", "/loop"),))
        elif m := re.fullmatch(r"/slow/([\d.]+)", path):
            await asyncio.sleep(float(m[1]))
            await respond(w, 200, b"slow ok")
        elif path == "/never":
            await asyncio.sleep(3600)
        elif path == "/trickle-body":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            await trickle(w, b"x" * 1000)
        elif path == "/trickle-headers":
            await trickle(w, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 1000)
        elif path == "/huge":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % GIB)
            await stream_zeros(w, GIB, chunked=False)
        elif path in ("/endless", "/endless-ok"):
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            if path == "/endless-ok":
                w.write(b"6\r\nall ok\r\n")
            await stream_zeros(w, GIB, chunked=True)
        elif path == "/bomb":
            await gzip_bomb(w)
        elif path == "/reset":
            sock = w.get_extra_info("socket")
            # SO_LINGER with a zero timeout turns close() into an RST.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
        elif path == "/hangup":
            w.close()  # a clean FIN before any response
        elif path == "/long-first-line":
            # 100 KB instead of a status line: h11 quotes all of it in its error (FAULTS 34)
            w.write(b"https://user:hunter2@evil.example/ " + b"a" * 100_000 + b"\r\n\r\n")
            await w.drain()
        elif path == "/long-header-line":
            w.write(b"HTTP/1.1 200 OK\r\n" + b"X" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n")
            await w.drain()
        elif path == "/version":
            await respond(w, 200, b"service version: 1.2.3\n")
        else:
            await respond(w, 200, b"hello, all ok here")


async def respond(
    w: asyncio.StreamWriter, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()
) -> None:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    w.write(
        f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    await w.drain()
    w.close()


async def trickle(w: asyncio.StreamWriter, data: bytes) -> None:
    """One byte every 0.3 s: never idle long enough for a per-read timeout."""
    for i in range(len(data)):
        w.write(data[i : i + 1])
        await w.drain()
        await asyncio.sleep(0.3)


async def stream_zeros(w: asyncio.StreamWriter, total: int, *, chunked: bool) -> None:
    block = bytes(64 * 1024)
    frame = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
    for _ in range(total // len(block)):  # bounded: stops at 1 GiB even if nobody hangs up
        w.write(frame)
        await w.drain()


async def gzip_bomb(w: asyncio.StreamWriter) -> None:
    """1 GiB of zeros gzip-compressed (~1000:1), sent in ~64 KiB compressed chunks: each one
    network read inflates to ~64 MiB, which an unbounded decoder would hold at once."""
    w.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    for _ in range(16):  # 16 x 64 MiB = 1 GiB
        out = b"".join(compressor.compress(zeros) for _ in range(64))
        out += compressor.flush(zlib.Z_SYNC_FLUSH)
        w.write(b"%x\r\n%s\r\n" % (len(out), out))
        await w.drain()


async def accept_and_sleep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, then never send a byte (the request is not even read)."""
    await asyncio.sleep(3600)


class FakeDnsServer:
    """A UDP DNS server on 127.0.0.1 answering by name.

    ``nx.test`` → NXDOMAIN, ``fail.test`` → SERVFAIL, ``silent.test`` → no reply at all,
    any other name → A 192.0.2.10 and AAAA 2001:db8::10. ``queries`` counts what arrived.
    """

    def __init__(self) -> None:
        self.queries: list[tuple[str, str]] = []
        self.port = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeDnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._running = False
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while self._running:
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True)
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if name == "silent.test":
                continue
            response = dns.message.make_response(query)
            if name == "nx.test":
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif name == "fail.test":
                response.set_rcode(dns.rcode.SERVFAIL)
            elif rdtype in ("A", "AAAA"):
                address = "192.0.2.10" if rdtype == "A" else "2001:db8::10"
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, "IN", rdtype, address)
                )
            with contextlib.suppress(OSError):
                self._sock.sendto(response.to_wire(), peer)
