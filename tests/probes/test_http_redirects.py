"""Redirects to another origin drop every configured header and credential (FAULTS 38).

Two real servers on 127.0.0.1, two ports: two origins (scheme, host and port). httpx itself
drops only Authorization, so an ``X-Api-Key`` used to follow the redirect to the other origin.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.probes.servers import HttpApp, Request, ThreadedTcpServer, respond
from tests.probes.support import probe_once

SECRETS = {"x-api-key": "k-0123456789", "cookie": "session=s3cr3t", "x-tenant": "kota"}
AUTH = "Basic " + base64.b64encode(b"admin:hunter2").decode()


@dataclass
class Origins:
    a: str  # http://127.0.0.1:<port a>
    b: str  # http://127.0.0.1:<port b>
    seen_a: list[Request]
    seen_b: list[Request]


class Hops(HttpApp):
    """Redirects as the path says: ``/to-b`` (other origin), ``/same`` (same origin),
    ``/to-b-and-back`` (to the other origin and back to this one); anything else is 200."""

    other = ""

    async def route(self, req: Request, w: asyncio.StreamWriter) -> None:
        here = f"http://{req.headers['host']}"
        moves = {
            "/to-b": f"{self.other}/landing",
            "/same": "/landing",
            "/to-b-and-back": f"{self.other}/back?to={here}/landing",
        }
        if req.path == "/back":
            await respond(w, 302, b"", (("Location", f"{self.other}/landing"),))
        elif req.path.startswith("/to-b/"):  # /to-b/<name> → the other origin's /landing/<name>
            await respond(w, 302, b"", (("Location", f"{self.other}/landing{req.path[5:]}"),))
        elif req.path in moves:
            await respond(w, 302, b"", (("Location", moves[req.path]),))
        else:
            await respond(w, 200, b"landed ok")


@pytest.fixture(scope="module")
def origins() -> Iterator[Origins]:
    app_a, app_b = Hops(), Hops()
    with ThreadedTcpServer(app_a) as a, ThreadedTcpServer(app_b) as b:
        base_a, base_b = f"http://127.0.0.1:{a.port}", f"http://127.0.0.1:{b.port}"
        app_a.other, app_b.other = base_b, base_a
        yield Origins(base_a, base_b, app_a.requests, app_b.requests)


def check(url: str, **fields: object) -> dict[str, object]:
    return {
        "type": "http",
        "url": url.replace("http://", "http://admin:hunter2@"),  # URL credentials
        "headers": {
            "X-Api-Key": SECRETS["x-api-key"],
            "Cookie": SECRETS["cookie"],
            "X-Tenant": SECRETS["x-tenant"],
        },
        **fields,
    }


def carries_secrets(req: Request) -> list[str]:
    found = [name for name, value in SECRETS.items() if req.headers.get(name) == value]
    return found + (["authorization"] if "authorization" in req.headers else [])


def test_a_redirect_to_another_origin_drops_every_configured_header_and_credential(
    origins: Origins,
) -> None:
    origins.seen_a.clear()
    origins.seen_b.clear()
    result = probe_once(check(f"{origins.a}/to-b"))
    assert result.success, result
    (first,), (landing,) = origins.seen_a, origins.seen_b
    assert sorted(carries_secrets(first)) == ["authorization", "cookie", "x-api-key", "x-tenant"]
    assert first.headers["authorization"] == AUTH
    assert carries_secrets(landing) == []
    assert landing.headers["user-agent"].startswith("pantau-probe/")  # pantau's own stay


def test_a_same_origin_redirect_keeps_them(origins: Origins) -> None:
    origins.seen_a.clear()
    probe_once(check(f"{origins.a}/same"))
    assert [len(carries_secrets(r)) for r in origins.seen_a] == [4, 4]


def test_back_on_the_checks_own_origin_they_are_sent_again(origins: Origins) -> None:
    origins.seen_a.clear()
    origins.seen_b.clear()
    probe_once(check(f"{origins.a}/to-b-and-back"))
    assert [len(carries_secrets(r)) for r in origins.seen_a] == [4, 4]
    assert [carries_secrets(r) for r in origins.seen_b] == [[]]


def test_follow_redirects_trusted_sends_them_to_every_origin(origins: Origins) -> None:
    origins.seen_b.clear()
    probe_once(check(f"{origins.a}/to-b", follow_redirects_trusted=True))
    (landing,) = origins.seen_b
    assert sorted(carries_secrets(landing)) == ["authorization", "cookie", "x-api-key", "x-tenant"]
