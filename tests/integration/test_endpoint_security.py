"""Secrets at the real HTTP endpoint of a running agent (FAULTS 28 and 29).

FAULTS 28: with basic auth on, every wrong, empty, unknown, over-long (bcrypt 5 raises
``ValueError`` past 72 bytes) or malformed credential gets 401 with ``WWW-Authenticate``, never
500, and no password reaches the log. FAULTS 29: credentials of the *probed* services (URL
userinfo, an ``Authorization`` header, a ``?token=`` query) never show in ``/metrics``,
``/api/v1/status``, the log (debug level, error lines included), ``pantau probe`` / ``check`` /
``status`` output or the SQLite store.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from tests.integration.agentproc import (
    AgentProcess,
    free_port,
    http_service,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

# Test credentials, each distinctive enough that finding it in output is never a coincidence.
ADMIN_PASSWORD = "C0rrect-Horse-Battery"
LONG_PASSWORD = "L" * 60 + "0ng-Pass-72b"  # exactly 72 bytes, bcrypt's limit
WRONG_PASSWORD = "Wr0ng-Guess-91"
OVERSIZE_PASSWORD = "X" * 90 + "0versize10"  # 100 bytes
assert len(LONG_PASSWORD.encode()) == 72
assert len(OVERSIZE_PASSWORD.encode()) == 100

URL_PASSWORD = "S3cretUserinfo"
HEADER_TOKEN = "T0kenHeader77"
QUERY_TOKEN = "T0kenQuery55"


def basic(user: str | bytes, password: str | bytes) -> str:
    raw = (user if isinstance(user, bytes) else user.encode()) + b":"
    raw += password if isinstance(password, bytes) else password.encode()
    return "Basic " + base64.b64encode(raw).decode()


def request(
    listen: str,
    method: str,
    path: str,
    authorization: str | None = None,
    source: str | None = None,
) -> tuple[int, http.client.HTTPResponse, bytes]:
    """One request on a fresh connection (from loopback address ``source`` when given: the
    agent limits failed logins per client address); any status is returned, none raised."""
    host, port = listen.rsplit(":", 1)
    bind = (source, 0) if source else None
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=bind)
    try:
        headers = {"Authorization": authorization} if authorization is not None else {}
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp, resp.read()
    finally:
        conn.close()


def raw_status(listen: str, head: bytes) -> int:
    """Send raw request bytes (headers HTTP clients refuse to send) and read the status code."""
    host, port = listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


class DebugAgent(AgentProcess):
    """``pantau run --log-level debug``: the chattiest log is the hardest one to keep clean."""

    def __init__(self, config: Path, listen: str) -> None:
        self.config = config
        self.listen = listen
        self.log_path = config.parent / f"agent-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "-c", str(config), "--log-level", "debug"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.healthy, 20, "the agent's /healthz")


class RecordingTarget:
    """An HTTP target on 127.0.0.1 that records what probes sent (path, Authorization)."""

    def __init__(self) -> None:
        self.status = 200
        self.seen: list[tuple[str, str | None]] = []
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.seen.append((self.path, self.headers.get("Authorization")))
                body = b"ok\n"
                self.send_response(target.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    """Agents appended here are stopped at teardown (SIGTERM, bounded wait, then kill)."""
    running: list[AgentProcess] = []
    yield running
    for agent in running:
        if agent.proc.poll() is None:
            agent.stop()


@pytest.fixture
def auth_agent(tmp_path: Path, agents: list[AgentProcess]) -> AgentProcess:
    """An agent with basic auth (users ``admin`` and ``long``), plain HTTP, no probe target."""
    users = {
        # Cost 4 (the minimum) keeps the test fast; the agent reads the cost from the hash.
        name: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()
        for name, pw in (("admin", ADMIN_PASSWORD), ("long", LONG_PASSWORD))
    }
    web = tmp_path / "web.yml"
    web.write_text(
        "basic_auth_users:\n" + "".join(f"  {u}: '{h}'\n" for u, h in users.items()),
        encoding="utf-8",
    )
    listen = f"127.0.0.1:{free_port()}"
    # The probed port is closed: this agent is about its own endpoint, not its targets.
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=http_service("portal", f"http://127.0.0.1:{free_port()}/"),
        extra=f"  web_config: {web}",
    )
    agent = AgentProcess(cfg, listen)  # waits on /healthz, which needs no credentials
    agents.append(agent)
    return agent


BAD_CREDENTIALS: dict[str, str | None] = {
    "no header": None,
    "wrong password": basic("admin", WRONG_PASSWORD),
    "empty password": basic("admin", ""),
    "empty user and password": basic("", ""),
    "unknown user": basic("nobody", ADMIN_PASSWORD),
    "100-byte password": basic("admin", OVERSIZE_PASSWORD),
    # bcrypt only looks at 72 bytes: the right 72 plus 28 more must not pass as the right one.
    "right 72 bytes plus 28 more": basic("long", LONG_PASSWORD + "y" * 28),
    "password with an extra colon part": basic("admin", ADMIN_PASSWORD + ":x"),
    "scheme only": "Basic",
    "scheme and a space": "Basic ",
    "not base64": "Basic !!!not-base64!!!",
    "base64 without a colon": "Basic " + base64.b64encode(b"admin").decode(),
    "base64 with trailing junk": basic("admin", ADMIN_PASSWORD) + " junk",
    "user name not UTF-8": basic(b"\xff\xfe", ADMIN_PASSWORD),
    "password not UTF-8": basic("admin", b"\xff\xfe\xfd"),
    "bearer scheme": f"Bearer {ADMIN_PASSWORD}",
    "digest scheme": 'Digest username="admin", realm="pantau"',
}


def test_every_bad_credential_gets_401_with_www_authenticate_never_500(
    auth_agent: AgentProcess,
) -> None:
    listen = auth_agent.listen
    # Each kind from its own address: four failures each stay under a client's allowance of
    # ten (the eleventh gets 429, see test_failed_logins_are_limited_per_client_address).
    for i, (what, header) in enumerate(BAD_CREDENTIALS.items()):
        for method, path in (
            ("GET", "/metrics"),
            ("GET", "/api/v1/status"),
            ("GET", "/"),
            ("POST", "/api/v1/backups/portal"),
        ):
            status, resp, _ = request(listen, method, path, header, source=f"127.0.28.{i + 1}")
            assert status == 401, f"{what}: {method} {path} gave {status}"
            assert resp.getheader("WWW-Authenticate") == 'Basic realm="pantau"', what


def test_the_right_credentials_pass_and_do_not_open_the_door_to_wrong_ones(
    auth_agent: AgentProcess,
) -> None:
    listen = auth_agent.listen
    right = basic("admin", ADMIN_PASSWORD)
    status, _, body = request(listen, "GET", "/metrics", right)
    assert status == 200
    assert b"pantau_service_info{" in body
    status, _, body = request(listen, "GET", "/api/v1/status", right)
    assert status == 200
    assert json.loads(body)["services"][0]["id"] == "portal"
    # Authenticated, the push endpoint answers for itself (no push source configured: 404).
    status, _, _ = request(listen, "POST", "/api/v1/backups/portal", right)
    assert status == 404
    # Exactly 72 bytes is bcrypt's limit and still a valid password.
    assert request(listen, "GET", "/metrics", basic("long", LONG_PASSWORD))[0] == 200
    # The scheme name is case-insensitive (RFC 7235; Go's BasicAuth agrees).
    assert request(listen, "GET", "/metrics", "basic " + right.split(" ", 1)[1])[0] == 200
    # A success is cached; the cache must not let a wrong password of the same user through.
    for _ in range(3):
        assert request(listen, "GET", "/metrics", right)[0] == 200
        assert request(listen, "GET", "/metrics", basic("admin", WRONG_PASSWORD))[0] == 401
        assert request(listen, "GET", "/metrics", basic("admin", ADMIN_PASSWORD[:-1]))[0] == 401


def test_a_burst_of_bad_credentials_all_get_401(auth_agent: AgentProcess) -> None:
    listen = auth_agent.listen
    headers = [basic("admin", WRONG_PASSWORD), basic("admin", OVERSIZE_PASSWORD),
               basic("nobody", "x"), basic("admin", "")] * 10  # fmt: skip
    # Ten clients (addresses) with four bad logins each, all at once.
    jobs = [(h, f"127.0.27.{i % 10 + 1}") for i, h in enumerate(headers)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(
            pool.map(lambda j: request(listen, "GET", "/metrics", j[0], source=j[1])[0], jobs)
        )
    assert statuses == [401] * len(headers)
    assert request(listen, "GET", "/metrics", basic("admin", ADMIN_PASSWORD))[0] == 200


def test_failed_logins_are_limited_per_client_address(auth_agent: AgentProcess) -> None:
    listen = auth_agent.listen
    right, wrong = basic("admin", ADMIN_PASSWORD), basic("admin", WRONG_PASSWORD)
    assert request(listen, "GET", "/metrics", right, source="127.0.0.1")[0] == 200
    attacker = "127.0.29.1"
    # The default allowance: ten failures at once get the honest 401 ...
    for _ in range(10):
        assert request(listen, "GET", "/metrics", wrong, source=attacker)[0] == 401
    # ... then 429 with Retry-After (one more every 6 s), without a bcrypt check; an over-long
    # password is no different (never 500, FAULTS 28).
    for header in (wrong, basic("admin", OVERSIZE_PASSWORD), basic("admin", ""), None):
        status, resp, body = request(listen, "GET", "/metrics", header, source=attacker)
        assert status == 429, header
        assert 1 <= int(resp.getheader("Retry-After") or 0) <= 6
        assert resp.getheader("WWW-Authenticate") is None
        assert b"too many failed login attempts" in body
    # Credentials that passed before are answered from the cache, from any address, so a
    # scraper sharing an address with an attacker keeps scraping.
    assert request(listen, "GET", "/metrics", right, source=attacker)[0] == 200
    # Other clients keep their own allowance.
    assert request(listen, "GET", "/metrics", wrong, source="127.0.29.2")[0] == 401
    throttled = auth_agent.get("/metrics", headers={"Authorization": right}).decode()
    assert 'pantau_http_refused_total{reason="auth_throttled"} 4' in throttled


def test_raw_non_ascii_authorization_bytes_get_401(auth_agent: AgentProcess) -> None:
    # http.client refuses to send these bytes; a hostile client does not.
    head = (
        b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Basic \xc3\xa9\xff\xfe\x80==\r\nConnection: close\r\n\r\n"
    )
    assert raw_status(auth_agent.listen, head) == 401
    head = (
        b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: \xe2\x98\x83 \xe2\x98\x83\r\nConnection: close\r\n\r\n"
    )
    assert raw_status(auth_agent.listen, head) == 401
    assert auth_agent.proc.poll() is None


def test_healthz_answers_without_credentials_and_the_log_holds_no_password(
    auth_agent: AgentProcess,
) -> None:
    listen = auth_agent.listen
    status, _, body = request(listen, "GET", "/healthz")
    assert status == 200
    assert json.loads(body)["status"] in ("ok", "degraded")
    for header in BAD_CREDENTIALS.values():
        request(listen, "GET", "/metrics", header)
    request(listen, "GET", "/metrics", basic("admin", ADMIN_PASSWORD))
    request(listen, "GET", "/metrics", basic("long", LONG_PASSWORD))
    assert auth_agent.stop() == 0
    log = auth_agent.log()
    assert "unauthorized request" in log  # refusals are logged ...
    for secret in (ADMIN_PASSWORD, LONG_PASSWORD, WRONG_PASSWORD, OVERSIZE_PASSWORD):
        assert secret not in log  # ... without the password
    for header in BAD_CREDENTIALS.values():
        if header and " " in header:
            token = header.split(" ", 1)[1]
            assert len(token) < 8 or token not in log  # nor the encoded header
    assert basic("admin", ADMIN_PASSWORD).split(" ", 1)[1] not in log


def _secret_services(port: int) -> str:
    base = f"127.0.0.1:{port}"

    def service(sid: str, check: str) -> str:
        return (
            f"  - id: {sid}\n    name: Layanan {sid}\n    provider: Diskominfo\n"
            f"    group: layanan_publik\n    classification: esensial\n"
            f"    checks:\n      - {check}\n"
        )

    return (
        service("userinfo", f'{{name: web, type: http, url: "http://probeuser:{URL_PASSWORD}@{base}/health"}}')
        + service("bearer", f'{{name: web, type: http, url: "http://{base}/health", headers: {{Authorization: "Bearer {HEADER_TOKEN}"}}}}')
        + service("query", f'{{name: web, type: http, url: "http://{base}/health?token={QUERY_TOKEN}"}}')
    )  # fmt: skip


def test_probe_credentials_never_leak_into_metrics_status_logs_cli_or_store(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    target = RecordingTarget()
    listen = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=data,
        listen=listen,
        services=_secret_services(target.port),
    )
    sids = ("userinfo", "bearer", "query")
    shown: dict[str, str] = {}  # where → text, all checked at the end

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "agent", *args, "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        shown[f"pantau {' '.join(args)} (exit {proc.returncode})"] = proc.stdout + proc.stderr
        return proc

    def snapshot(phase: str) -> None:
        shown[f"/metrics {phase}"] = agent.get("/metrics").decode()
        om = {"Accept": "application/openmetrics-text;version=1.0.0"}
        shown[f"/metrics openmetrics {phase}"] = agent.get("/metrics", headers=om).decode()
        shown[f"/api/v1/status {phase}"] = agent.get("/api/v1/status", timeout=10).decode()

    def reasons_are(reason: str) -> bool:
        doc = agent.status()
        return all(
            f"web:{reason}" in s.get("last_reasons", []) for s in doc["services"] if s["id"] in sids
        )

    try:
        assert cli("check").returncode == 0
        assert cli("probe").returncode == 0
        agent = DebugAgent(cfg, listen)
        agents.append(agent)
        wait_for(
            lambda: all(agent.metric(f'pantau_service_up{{service="{s}"}}') == 1 for s in sids),
            20,
            "all three services up",
        )
        snapshot("while up")

        target.status = 503
        wait_for(lambda: reasons_are("http_status:503"), 20, "http_status:503 everywhere")
        wait_for(
            lambda: all(agent.service(s)["state"] == "down" for s in sids), 20, "all down (503)"
        )
        snapshot("while 503")
        assert cli("probe").returncode == 1
    finally:
        target.close()
    # The probes did send the secrets, so not finding them below means something.
    sent = set(target.seen)
    assert ("/health", basic("probeuser", URL_PASSWORD)) in sent
    assert ("/health", f"Bearer {HEADER_TOKEN}") in sent
    assert (f"/health?token={QUERY_TOKEN}", None) in sent

    # The target is gone: connection errors now, with exception texts in the log.
    wait_for(lambda: reasons_are("connection_refused"), 20, "connection_refused everywhere")
    snapshot("while refused")
    probe = cli("probe")
    assert probe.returncode == 1
    assert "connection_refused" in probe.stdout
    assert agent.stop() == 0
    shown["agent log"] = agent.log()
    assert "service userinfo is down since" in shown["agent log"]
    cli("status")
    cli("status", "--json")
    with sqlite3.connect(data / "pantau.db") as db:
        shown["pantau.db"] = "\n".join(db.iterdump())
        rounds = db.execute("SELECT COUNT(*) FROM rounds WHERE service IN (?, ?, ?)", sids)
        assert rounds.fetchone()[0] >= 9  # at least 3 rounds each were stored and searched

    secrets = {
        "URL password": URL_PASSWORD,
        "header token": HEADER_TOKEN,
        "query token": QUERY_TOKEN,
        "encoded URL credentials": basic("probeuser", URL_PASSWORD).split(" ", 1)[1],
    }
    leaks = [
        f"{name} in {where}"
        for where, text in shown.items()
        for name, secret in secrets.items()
        if secret in text
    ]
    assert leaks == []
