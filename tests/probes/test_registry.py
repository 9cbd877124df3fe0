"""The probe registry: one probe per check ``type``, with effective timeout and body limit."""

from __future__ import annotations

import asyncio
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter

from agent.config.models import Check
from agent.core.clock import SystemClock
from probes.base import Probe
from probes.dns import DnsProbe
from probes.http import HttpProbe
from probes.registry import PROBES, build_probe, effective_timeout
from probes.tcp import TcpProbe

CHECK: TypeAdapter[Check] = TypeAdapter(Check)


def _check_types() -> set[str]:
    """The ``type`` literals of the ``Check`` discriminated union."""
    union, _discriminator = get_args(Check)
    return {get_args(m.model_fields["type"].annotation)[0] for m in get_args(union)}


def test_every_check_type_has_a_probe_and_every_probe_a_check_type() -> None:
    assert set(PROBES) == _check_types()


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_each_probe_is_registered_under_its_own_kind(kind: str) -> None:
    assert getattr(PROBES[kind], "kind", None) == kind


def build(fields: dict[str, Any], timeout: float = 10.0) -> Probe:
    return build_probe(
        CHECK.validate_python(fields), timeout=timeout, max_body_bytes=1024, clock=SystemClock()
    )


@pytest.mark.parametrize(
    ("fields", "cls", "kind"),
    [
        ({"type": "http", "url": "http://127.0.0.1:9/"}, HttpProbe, "http"),
        ({"type": "tcp", "address": "127.0.0.1:5432"}, TcpProbe, "tcp"),
        ({"type": "dns", "query": "localhost"}, DnsProbe, "dns"),
    ],
)
def test_each_check_type_gets_its_probe(fields: dict[str, Any], cls: type, kind: str) -> None:
    probe = build(fields)
    assert isinstance(probe, cls)
    assert probe.kind == kind
    asyncio.run(probe.aclose())


def test_check_timeout_is_used_but_never_above_the_service_timeout() -> None:
    shorter = CHECK.validate_python({"type": "tcp", "address": "127.0.0.1:1", "timeout": "2s"})
    longer = CHECK.validate_python({"type": "tcp", "address": "127.0.0.1:1", "timeout": "1m"})
    plain = CHECK.validate_python({"type": "tcp", "address": "127.0.0.1:1"})
    assert effective_timeout(shorter, 10.0) == 2.0
    assert effective_timeout(longer, 10.0) == 10.0  # capped: rounds must not overlap
    assert effective_timeout(plain, 10.0) == 10.0


def test_http_body_limit_prefers_the_checks_own_value() -> None:
    own = build({"type": "http", "url": "http://127.0.0.1:9/", "max_body_bytes": 10})
    default = build({"type": "http", "url": "http://127.0.0.1:9/"})
    assert isinstance(own, HttpProbe)
    assert isinstance(default, HttpProbe)
    assert (own._max_body, default._max_body) == (10, 1024)
    asyncio.run(own.aclose())
    asyncio.run(default.aclose())
