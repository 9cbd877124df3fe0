"""Pieces the benchmarks share: a fast local HTTP target, child processes, /proc readings.

Imported by the scripts in this folder (run as ``python bench/<script>.py``, which puts the
folder on ``sys.path``). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent
NGINX_CONF = """worker_processes 1;
worker_rlimit_nofile 20000;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""
FALLBACK_SERVER = """import asyncio, sys
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n")
        await writer.drain()
    except Exception:
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await asyncio.sleep(3600)
asyncio.run(main())
"""
BLACKBOX_CONF = """modules:
  http_2xx:
    prober: http
    timeout: 10s
    http: {preferred_ip_protocol: ip4}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all threads), from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG = 1: the child gets SIGTERM if this benchmark is killed outright.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def log_tail(log: Path, lines: int = 15) -> str:
    """The end of a child's log, for an error message (the temp dir is gone afterwards)."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def child(
    argv: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (in the repository, so ``agent`` imports from it) until the block ends;
    it must listen on ``port`` within 60 s."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            preexec_fn=_die_with_parent,
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start (port {port}):\n{log_tail(log)}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def target(workdir: Path) -> Iterator[tuple[str, str]]:
    """A fast HTTP target answering 200 "ok" on every path: (base URL, description)."""
    port = free_port()
    nginx = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if nginx is not None:
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=workdir, port=port))
        argv = [nginx, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"]
        what = "nginx-light (1 worker)"
    else:
        (workdir / "server.py").write_text(FALLBACK_SERVER)
        argv = [sys.executable, str(workdir / "server.py"), str(port)]
        what = "asyncio server (nginx not found)"
    with child(argv, port, workdir / "target.log"):
        yield f"http://127.0.0.1:{port}/", what
