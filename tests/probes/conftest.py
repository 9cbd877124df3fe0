"""Fixtures: real servers on 127.0.0.1 and certificates made with trustme."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from tests.probes.servers import FakeDnsServer, HttpApp, ThreadedTcpServer, accept_and_sleep


@dataclass
class HttpTarget:
    app: HttpApp
    base: str  # http://127.0.0.1:<port>
    port: int


@pytest.fixture(scope="module")
def http_target() -> Iterator[HttpTarget]:
    app = HttpApp()
    with ThreadedTcpServer(app) as server:
        yield HttpTarget(app, f"http://127.0.0.1:{server.port}", server.port)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never sends a byte."""
    with ThreadedTcpServer(accept_and_sleep) as server:
        yield server.port


@pytest.fixture(scope="module")
def dns_server() -> Iterator[FakeDnsServer]:
    with FakeDnsServer() as server:
        yield server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _serve_tls(context: ssl.SSLContext) -> Iterator[HttpTarget]:
    app = HttpApp()
    with ThreadedTcpServer(app, ssl_context=context) as server:
        yield HttpTarget(app, f"https://127.0.0.1:{server.port}", server.port)


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


#: notAfter of the expired certificate (trustme keeps whole seconds)
EXPIRED_AT = datetime(2024, 1, 31, 17, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def good_tls(ca: trustme.CA) -> Iterator[HttpTarget]:
    yield from _serve_tls(_server_context(ca.issue_cert("127.0.0.1", "localhost")))


@pytest.fixture(scope="module")
def expired_tls(ca: trustme.CA) -> Iterator[HttpTarget]:
    cert = ca.issue_cert(
        "127.0.0.1",
        not_before=EXPIRED_AT - timedelta(days=90),
        not_after=EXPIRED_AT,
    )
    yield from _serve_tls(_server_context(cert))


@pytest.fixture(scope="module")
def wrong_host_tls(ca: trustme.CA) -> Iterator[HttpTarget]:
    yield from _serve_tls(_server_context(ca.issue_cert("pantau.test")))


@pytest.fixture(scope="module")
def self_signed_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpTarget]:
    """A server presenting a self-signed certificate (a CA certificate as its own leaf)."""
    own = trustme.CA()
    folder = tmp_path_factory.mktemp("selfsigned")
    cert, key = folder / "cert.pem", folder / "key.pem"
    own.cert_pem.write_to_path(str(cert))
    own.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    yield from _serve_tls(context)
