"""deploy/healthcheck.py, the image's HEALTHCHECK, against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest
import trustme

from tests.deploy.conftest import REPO, run

SCRIPT = REPO / "deploy" / "healthcheck.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pantau_healthcheck", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load()


class _Handler(BaseHTTPRequestHandler):
    """/healthz answers with the server's ``status``; anything else 404."""

    server: _Server

    def do_GET(self) -> None:
        status = self.server.status if self.path == "/healthz" else 404
        body = b"ok\n" if status == 200 else b"not ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        del format, args


class _Server(ThreadingHTTPServer):
    status = 200


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "http://127.0.0.1:9717/healthz"),  # the image's PANTAU_LISTEN default
        ({"PANTAU_LISTEN": "0.0.0.0:9717"}, "http://127.0.0.1:9717/healthz"),
        ({"PANTAU_LISTEN": "127.0.0.1:8080"}, "http://127.0.0.1:8080/healthz"),
        ({"PANTAU_LISTEN": "[::]:9717"}, "http://[::1]:9717/healthz"),
        ({"PANTAU_LISTEN": ":9800"}, "http://127.0.0.1:9800/healthz"),
        ({"PANTAU_LISTEN": "9800"}, "http://127.0.0.1:9800/healthz"),
        ({"PANTAU_LISTEN": "[::1]:9717"}, "http://[::1]:9717/healthz"),
        (
            {"PANTAU_LISTEN": "0.0.0.0:9717", "PANTAU_HEALTHCHECK_URL": "https://h:1/healthz"},
            "https://h:1/healthz",
        ),
    ],
)
def test_url_is_derived_from_the_listen_address(environ: dict[str, str], url: str) -> None:
    assert healthcheck.healthz_url(environ) == url


def test_healthy_agent_exits_zero(server: _Server) -> None:
    port = server.server_address[1]
    result = run(
        [sys.executable, str(SCRIPT)], env={"PANTAU_LISTEN": f"0.0.0.0:{port}"}, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"http://127.0.0.1:{port}/healthz: HTTP 200"


def test_unhealthy_status_exits_one_and_says_why(server: _Server) -> None:
    server.status = 503
    port = server.server_address[1]
    result = run([sys.executable, str(SCRIPT)], env={"PANTAU_LISTEN": f"127.0.0.1:{port}"})
    assert result.returncode == 1
    assert result.stdout.strip() == f"http://127.0.0.1:{port}/healthz: HTTP 503"


def test_agent_not_listening_exits_one() -> None:
    port = _free_port()
    result = run([sys.executable, str(SCRIPT)], env={"PANTAU_LISTEN": f"127.0.0.1:{port}"})
    assert result.returncode == 1
    assert "refused" in result.stdout.lower()


def test_agent_that_never_answers_fails_within_the_script_timeout() -> None:
    # Accepts TCP connections (backlog) but never reads or answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/healthz"
        healthy, message = healthcheck.check(url, timeout=0.5)
    assert not healthy
    assert "timed out" in message


@pytest.fixture
def tls_server(server: _Server) -> _Server:
    """The same server behind TLS, with a certificate from a private CA (as admins have)."""
    ca = trustme.CA()
    cert = ca.issue_cert("pantau.example.go.id")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def test_tls_agent_needs_the_insecure_switch(tls_server: _Server) -> None:
    port = tls_server.server_address[1]
    env = {"PANTAU_HEALTHCHECK_URL": f"https://127.0.0.1:{port}/healthz"}
    refused = run([sys.executable, str(SCRIPT)], env=env)
    assert refused.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout
    accepted = run([sys.executable, str(SCRIPT)], env={**env, "PANTAU_HEALTHCHECK_INSECURE": "1"})
    assert accepted.returncode == 0, accepted.stdout
    assert accepted.stdout.strip() == f"https://127.0.0.1:{port}/healthz: HTTP 200"
