"""Shared test helpers.

``require_binary`` is how integration tests find real programs (prometheus, promtool, restic,
borg, pdftotext, ...): outside CI a missing one skips the test; with ``CI=true`` it fails, so CI
never silently skips.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    """Return the path of ``name``; skip (locally) or fail (CI=true) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"binary {name!r} not found on PATH (install it: see .ci/run)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path
