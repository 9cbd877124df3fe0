"""Helpers to run a real ``pantau run`` process and a controllable target on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Target:
    """An HTTP server on 127.0.0.1 whose answer the test switches (status code, delay)."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if target.delay:
                    time.sleep(target.delay)
                body = b"ok\n" if target.status == 200 else b"error\n"
                self.send_response(target.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class LoggedProcess:
    """A child process whose output goes to ``log_path``; :meth:`terminate` stops it."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; closes the log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class AgentProcess(LoggedProcess):
    """``pantau run -c CONFIG`` as a subprocess, with its stderr collected."""

    def __init__(self, config: Path, listen: str, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.listen = listen
        argv = [sys.executable, "-m", "agent", "run", "-c", str(config), "--log-level"]
        argv.append(os.environ.get("PANTAU_TEST_LOG_LEVEL", "info"))
        log_path = config.parent / f"agent-{time.monotonic_ns()}.log"
        super().__init__(argv, log_path, env={**os.environ, **(env or {})})
        try:
            wait_for(self.healthy, 20, "the agent's /healthz")
        except BaseException:
            # Never leave a hung agent or an open log behind (it would hide the real failure).
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
            raise

    def get(self, path: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> bytes:
        req = urllib.request.Request(f"http://{self.listen}{path}", headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bytes(resp.read())

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return json.loads(self.get("/healthz"))["status"] in ("ok", "degraded")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def metric(self, line_prefix: str) -> float | None:
        """The value of the first sample line starting with ``line_prefix``."""
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(line_prefix):
                return float(line.rsplit(" ", 1)[1])
        return None

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.get("/api/v1/status")))

    def service(self, sid: str) -> dict[str, Any]:
        return next(s for s in self.status()["services"] if s["id"] == sid)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("agent did not stop within the timeout on SIGTERM") from None
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._log.close()


def write_config(
    path: Path, *, data_dir: Path, listen: str, services: str, extra: str = ""
) -> Path:
    path.write_text(
        f"""\
agent:
  name: test-agent
  data_dir: {data_dir}
  listen: "{listen}"
{extra}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, recovery_threshold: 1}}
services:
{services}
""",
        encoding="utf-8",
    )
    return path


def http_service(sid: str, url: str, classification: str = "esensial") -> str:
    extra = ""
    if classification == "kritis":
        extra = "    rpo: 24h\n    rto: 4h\n    drp: {document: DRP.pdf}\n"
    return f"""\
  - id: {sid}
    name: Layanan {sid}
    provider: Diskominfo
    group: administrasi_pemerintahan
    classification: {classification}
    checks:
      - {{name: web, type: http, url: "{url}"}}
{extra}"""
