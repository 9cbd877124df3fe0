"""Fixtures of the in-process agent tests."""

from tests.integration.conftest import target

__all__ = ["target"]
