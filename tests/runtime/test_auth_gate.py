"""The endpoint's auth gate in process (the flood through the real agent is
``tests/integration/test_auth_flood.py``)."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import bcrypt
import pytest

from agent.config.models import FailedAuthLimit
from agent.config.webconfig import WebConfig, parse_web_config
from agent.runtime import auth_gate
from agent.runtime.auth_gate import AuthGate, Verdict, client_key
from tests.fakes import FakeClock

LIMIT = FailedAuthLimit(burst=3, interval=timedelta(seconds=10))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def web_config() -> WebConfig:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
    return parse_web_config(f"basic_auth_users:\n  admin: '{hashed}'\n", "web.yml")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 3, 0, tzinfo=UTC))


def check(gate: AuthGate, wc: WebConfig, header: str, remote: str, limit: Any = LIMIT) -> Verdict:
    return asyncio.run(gate.check(wc, header, remote, limit))


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same /64: the same client
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, "?"),
    ],
)
def test_a_client_is_its_address_and_an_ipv6_client_its_64(remote: str | None, key: str) -> None:
    assert client_key(remote) == key


def test_failures_spend_the_allowance_then_429_until_time_refills_it(
    web_config: WebConfig, clock: FakeClock
) -> None:
    gate = AuthGate(clock)
    wrong = basic("admin", "wrong")
    assert [check(gate, web_config, wrong, "192.0.2.1").outcome for _ in range(3)] == ["denied"] * 3
    throttled = check(gate, web_config, wrong, "192.0.2.1")
    assert throttled == Verdict("throttled", 10)  # one attempt comes back every 10 s
    clock.advance(4)
    assert check(gate, web_config, wrong, "192.0.2.1") == Verdict("throttled", 6)
    clock.advance(6)
    assert check(gate, web_config, wrong, "192.0.2.1").outcome == "denied"
    assert check(gate, web_config, wrong, "192.0.2.1").outcome == "throttled"
    # Another address has its own allowance.
    assert check(gate, web_config, wrong, "192.0.2.2").outcome == "denied"
    gate.close()


def test_a_success_gives_its_attempt_back_and_is_then_answered_from_the_cache(
    web_config: WebConfig, clock: FakeClock
) -> None:
    gate = AuthGate(clock)
    right, wrong = basic("admin", "right"), basic("admin", "wrong")
    for _ in range(5):  # successes never run the client out of attempts
        assert check(gate, web_config, right, "192.0.2.3").outcome == "ok"
    for _ in range(3):
        check(gate, web_config, wrong, "192.0.2.3")
    assert check(gate, web_config, wrong, "192.0.2.3").outcome == "throttled"
    # Cached credentials pass even from a throttled address (no bcrypt is needed for them).
    assert check(gate, web_config, right, "192.0.2.3").outcome == "ok"
    gate.close()


def test_without_a_limit_every_failure_is_a_401(web_config: WebConfig, clock: FakeClock) -> None:
    gate = AuthGate(clock)
    wrong = basic("admin", "wrong")
    outcomes = {check(gate, web_config, wrong, "192.0.2.4", None).outcome for _ in range(20)}
    assert outcomes == {"denied"}
    gate.close()


class _Recording(WebConfig):
    """A web config whose bcrypt check waits for ``release`` and records its thread."""

    release: ClassVar[threading.Event] = threading.Event()
    threads: ClassVar[list[str]] = []

    def check_basic_auth(self, authorization_header: str | None) -> bool:
        self.threads.append(threading.current_thread().name)
        self.release.wait(10)  # bounded
        return False


@pytest.fixture
def recording(web_config: WebConfig) -> Iterator[WebConfig]:
    _Recording.release.clear()
    _Recording.threads.clear()
    yield _Recording.model_validate({"basic_auth_users": web_config.basic_auth_users})
    _Recording.release.set()


def test_too_many_waiting_checks_get_429_at_once_and_keep_their_attempt(
    recording: WebConfig, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_gate, "MAX_PENDING", 2)
    gate = AuthGate(clock)
    limit = FailedAuthLimit(burst=10, interval=timedelta(seconds=10))

    async def main() -> list[Verdict]:
        waiting = [
            asyncio.create_task(gate.check(recording, basic("a", str(i)), "192.0.2.5", limit))
            for i in range(2)
        ]
        await asyncio.sleep(0.05)
        busy = await gate.check(recording, basic("a", "x"), "192.0.2.6", limit)
        _Recording.release.set()
        return [busy, *await asyncio.gather(*waiting)]

    busy, *rest = asyncio.run(main())
    assert busy == Verdict("busy", 1)
    assert [v.outcome for v in rest] == ["denied", "denied"]
    assert gate.pending == 0
    assert len(_Recording.threads) == 2  # the refused one never reached bcrypt
    gate.close()


def test_the_bcrypt_check_runs_on_its_own_thread_not_the_default_executor(
    recording: WebConfig, clock: FakeClock
) -> None:
    gate = AuthGate(clock)
    _Recording.release.set()

    async def main() -> Verdict:
        loop = asyncio.get_running_loop()
        # Fill the loop's default executor: the gate must not need it.
        blocker = threading.Event()
        stuck = [loop.run_in_executor(None, blocker.wait, 5) for _ in range(64)]
        try:
            return await asyncio.wait_for(
                gate.check(recording, basic("admin", "other"), "192.0.2.8", LIMIT), 5
            )
        finally:
            blocker.set()
            await asyncio.gather(*stuck)

    assert asyncio.run(main()).outcome == "denied"
    assert len(_Recording.threads) == 1
    assert _Recording.threads[0].startswith("pantau-auth")
    gate.close()
