"""Bounded connection attacks on a real agent's endpoint, from loopback only (FAULTS 32).

:class:`IdleAttack` opens connections that never finish a request head: most send nothing, every
fourth sends half a head (slowloris). Connections come from ``127.0.32.x`` so the ephemeral
ports of one address are never the limit; count and time are both bounded, and every socket
is closed at the end. :class:`LimitedAgent` runs ``pantau run`` with an open-file limit, like
the systemd unit's ``LimitNOFILE``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.integration.agentproc import AgentProcess, wait_for

PARTIAL_HEAD = b"GET /metrics HTTP/1.1\r\nHost: pantau\r\nUser-Agent: slow"


def raise_fd_limit(wanted: int) -> None:
    """Let this test process hold ``wanted`` descriptors (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def fd_headroom() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] - len(os.listdir("/proc/self/fd"))


class IdleAttack:
    """``count`` idle connections to ``listen``, opened by ``threads`` threads within ``within``
    seconds; see the module docstring."""

    def __init__(self, listen: str, count: int, *, threads: int = 8, within: float = 120.0):
        host, port = listen.rsplit(":", 1)
        self.target = (host, int(port))
        self.count = count
        self.sockets: list[socket.socket] = []
        self.failed = 0
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + within
        self.started = time.monotonic()
        self.opened_in: float | None = None
        self._threads = [
            threading.Thread(target=self._open, args=(k, threads), daemon=True)
            for k in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _open(self, first: int, step: int) -> None:
        mine: list[socket.socket] = []
        for i in range(first, self.count, step):
            if time.monotonic() > self._deadline:
                break
            s = socket.socket()
            s.settimeout(10)
            try:
                s.bind((f"127.0.32.{i % 250 + 1}", 0))
                s.connect(self.target)
                if i % 4 == 3:
                    s.sendall(PARTIAL_HEAD)
            except OSError:
                s.close()
                with self._lock:
                    self.failed += 1
                continue
            mine.append(s)
        with self._lock:
            self.sockets.extend(mine)
            self.opened_in = max(self.opened_in or 0.0, time.monotonic() - self.started)

    def join(self) -> None:
        for t in self._threads:
            t.join(max(0.0, self._deadline - time.monotonic()) + 15)

    @property
    def opening(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def closed_by_peer(self) -> int:
        """How many of the held connections the agent has closed (EOF or reset)."""
        poller = select.poll()
        by_fd = {s.fileno(): s for s in self.sockets}
        for fd in by_fd:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        closed = 0
        for fd, _ in poller.poll(0):
            try:
                data = by_fd[fd].recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                closed += 1  # reset
                continue
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                closed += 1
        return closed

    def close(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()
        self.sockets.clear()


class LimitedAgent(AgentProcess):
    """``pantau run`` with ``RLIMIT_NOFILE`` set to ``nofile`` (soft and hard)."""

    def __init__(self, config: Path, listen: str, nofile: int) -> None:
        self.config = config
        self.listen = listen
        self.log_path = config.parent / f"agent-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        argv = [sys.executable, "-m", "agent", "run", "-c", str(config), "--log-level", "info"]

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=limit
        )
        try:
            wait_for(self.healthy, 30, "the agent's /healthz")
        except BaseException:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
            raise

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
