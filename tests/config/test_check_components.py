"""Each check kind names its component for a gangguan ticket (komponen terkait/terdampak)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from agent.config.models import Check

CHECK: TypeAdapter[Check] = TypeAdapter(Check)


@pytest.mark.parametrize(
    ("fields", "component"),
    [
        # no credentials or query string on a form; the port only when the URL has one
        (
            {"type": "http", "url": "https://ops:pw@sipd.example.go.id:8443/health?token=x"},
            "https://sipd.example.go.id:8443/health",
        ),
        ({"type": "http", "url": "http://sipd.example.go.id"}, "http://sipd.example.go.id"),
        ({"type": "http", "url": "http://[::1]:8080/up"}, "http://[::1]:8080/up"),
        ({"type": "tcp", "address": "10.0.0.5:5432"}, "tcp 10.0.0.5:5432"),
        ({"type": "dns", "query": "sipd.example.go.id"}, "dns sipd.example.go.id"),
    ],
)
def test_each_check_names_what_it_watches(fields: dict[str, Any], component: str) -> None:
    assert CHECK.validate_python(fields).component == component
