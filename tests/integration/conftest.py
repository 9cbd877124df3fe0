"""Fixtures shared by the integration tests of the real agent process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.agentproc import Target


@pytest.fixture
def target() -> Iterator[Target]:
    """A switchable HTTP target on 127.0.0.1 (``target.status = 503`` makes it fail)."""
    t = Target()
    yield t
    t.close()
