"""Helpers to build and run probes in tests (no pytest-asyncio: plain ``asyncio.run``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psutil
from pydantic import TypeAdapter

from agent.config.models import Check
from agent.core.clock import SystemClock
from probes.base import Probe, ProbeResult
from probes.registry import build_probe

_CHECK = TypeAdapter(Check)
DEFAULT_BODY_LIMIT = 1 << 20


def make_probe(
    fields: dict[str, Any], *, timeout: float = 2.0, max_body_bytes: int = DEFAULT_BODY_LIMIT
) -> Probe:
    """Build a probe from config-shaped fields, the way the agent does."""
    check = _CHECK.validate_python(fields)
    return build_probe(check, timeout=timeout, max_body_bytes=max_body_bytes, clock=SystemClock())


def run_probe(probe: Probe, times: int = 1) -> list[ProbeResult]:
    """Run ``probe`` ``times`` times in a fresh event loop, then close it."""

    async def main() -> list[ProbeResult]:
        try:
            return [await probe.run() for _ in range(times)]
        finally:
            await probe.aclose()

    return asyncio.run(main())


def probe_once(fields: dict[str, Any], **kwargs: Any) -> ProbeResult:
    """Build from ``fields``, run once, close."""
    return run_probe(make_probe(fields, **kwargs))[0]


class RssPeak:
    """Polls this process's RSS every 2 ms in a thread; ``growth`` is peak minus start."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._start = self._peak = self._process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)

    def _poll(self) -> None:
        while not self._done.wait(0.002):
            self._peak = max(self._peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self._peak - self._start
