"""A real agent whose *system* resolver is a fake DNS server on loopback (FAULTS 8, 33, 35).

glibc takes its name servers only from ``/etc/resolv.conf`` (without a port), so the agent runs
in its own mount namespace (``unshare --mount``) with a private resolv.conf bind-mounted over the
real one, naming a DNS server on a random ``127.53.x.y:53``: loopback only, nothing of the host
changes, and only the agent sees it. The server answers ``A`` for the names it is given, stays
silent for names starting with ``hung`` (a hung resolver), answers SERVFAIL for names starting
with ``fail`` and NXDOMAIN for everything else. Needs root (port 53, mount namespaces); tests
skip without it.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from tests.integration.agentproc import AgentProcess, wait_for

#: glibc gives up on a silent server after this (``options timeout:N attempts:1``), so every
#: thread stuck in libc comes back by itself: the attack is bounded.
LIBC_TIMEOUT = 20


def namespaces_available() -> str | None:
    """Why a namespaced agent cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (a DNS server on port 53 and a mount namespace)"
    if shutil.which("unshare") is None:
        return "needs unshare(1)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot create a mount namespace: {probe.stderr.decode(errors='replace')}"
    return None


class FakeSystemResolver:
    """The DNS server and the resolv.conf naming it; see the module docstring."""

    def __init__(self, directory: Path, answers: dict[str, str]) -> None:
        self.answers = {k.lower(): v for k, v in answers.items()}
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(50):  # other test runs on this machine may hold an address already
            self.address = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
            try:
                self._sock.bind((self.address, 53))
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free 127.53.x.y:53 for the fake resolver")
        self._sock.settimeout(0.1)
        self.resolv_conf = directory / "resolv.conf"
        self.resolv_conf.write_text(
            f"nameserver {self.address}\noptions timeout:{LIBC_TIMEOUT} attempts:1\n",
            encoding="ascii",
        )
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._running = False
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while self._running:
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(Exception):  # a malformed query is simply not answered
                self._answer(wire, peer)

    def _answer(self, wire: bytes, peer: tuple[str, int]) -> None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name.startswith("hung"):
            return  # silence: the resolver hangs
        response = dns.message.make_response(query)
        if name.startswith("fail"):
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.answers:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif rdtype == "A":
            rrset = dns.rrset.from_text(question.name, 60, "IN", "A", self.answers[name])
            response.answer.append(rrset)
        # AAAA of a known name: NOERROR without records (IPv4 only, like many servers).
        self._sock.sendto(response.to_wire(), peer)


class NamespacedAgent(AgentProcess):
    """``pantau run`` in a mount namespace where /etc/resolv.conf is ``resolver``'s."""

    def __init__(
        self,
        config: Path,
        listen: str,
        resolver: FakeSystemResolver,
        nofile: int | None = None,
    ) -> None:
        self.config = config
        self.listen = listen
        self.log_path = config.parent / f"agent-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        argv += [str(resolver.resolv_conf), sys.executable, "-m", "agent", "run", "-c", str(config)]
        argv += ["--log-level", os.environ.get("PANTAU_TEST_LOG_LEVEL", "info")]

        def limit() -> None:
            if nofile is not None:
                import resource

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


def skip_without_namespaces() -> None:
    reason = namespaces_available()
    if reason is not None:
        pytest.skip(reason)
