"""What the image installs runs: the builder's wheel in a fresh venv, driven like the container.

The image's environment (ENV), command (ENTRYPOINT + CMD) and config (the file COPYed to
/etc/pantau/pantau.yaml) are read from the Dockerfile; only paths that are volumes in the
image (/var/lib/pantau) and the port are moved into the test's temporary directory.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.conftest import run, stages
from tests.deploy.dockerlib import copy_sources

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _image_file(context: Path, image_path: str) -> Path:
    """The build-context file the runtime stage COPYs to ``image_path``."""
    for instruction in stages()[-1].all("COPY"):
        flags, sources, dest = copy_sources(instruction)
        if dest == image_path and "from" not in flags:
            return context / sources[0]
    raise AssertionError(f"the Dockerfile does not COPY anything to {image_path}")


def _image_command(context: Path) -> list[str]:
    """ENTRYPOINT + CMD with the config path mapped back to the build context."""
    runtime = stages()[-1]
    entrypoint, cmd = runtime.last("ENTRYPOINT"), runtime.last("CMD")
    assert entrypoint is not None
    assert cmd is not None
    words = [*(entrypoint.exec_form() or []), *(cmd.exec_form() or [])]
    return [str(_image_file(context, w)) if w.startswith("/etc/pantau/") else w for w in words]


@pytest.fixture(scope="module")
def venv(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the builder's pantau wheel, installed offline from the wheelhouse."""
    path = tmp_path_factory.mktemp("image") / "venv"
    created = run([sys.executable, "-m", "venv", str(path)])
    assert created.returncode == 0, created.stderr
    (wheel,) = wheelhouse.glob("pantau-*.whl")
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    installed = run([*pip, "--no-index", "--find-links", str(wheelhouse), str(wheel)])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return path


def _image_env(venv: Path, data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    env.update(stages()[-1].env())
    env["PATH"] = f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["PANTAU_DATA_DIR"] = str(data_dir)
    env.update(overrides)
    return env


def test_installed_console_script_answers_help(venv: Path) -> None:
    result = run([str(venv / "bin" / "pantau"), "--help"])
    assert result.returncode == 0, result.stderr
    assert "check" in result.stdout
    assert "run" in result.stdout


def test_builders_import_check_passes_in_the_fresh_venv(venv: Path) -> None:
    # The builder RUNs `python -c "<import every module>"`: replay it against this venv.
    (step,) = [i for i in stages()[0].all("RUN") if "pkgutil.walk_packages" in i.args]
    python, flag, code = shlex.split(step.args)
    assert (python, flag) == ("/opt/pantau/venv/bin/python", "-c")
    result = run([str(venv / "bin" / "python"), "-c", code])
    assert result.returncode == 0, result.stderr


#: One module of every package of the house (docs/architecture.md): a subpackage missing from the
#: wheel (``[tool.setuptools.packages.find]``) fails here, not in a user's first run.
ONE_MODULE_EACH = (
    "agent.core.clock",
    "agent.config.loader",
    "agent.engine.availability",
    "agent.store.database",
    "agent.reports.status",
    "agent.reports.fleet.report",
    "agent.runtime.runner",
    "agent.cli.main",
    "probes.http",
    "drp.restic",
    "exporters.metrics",
    "exporters.pdf.report",
)


def test_wheel_carries_every_subpackage(venv: Path, tmp_path: Path) -> None:
    code = (
        "import importlib, sys; "
        "files = [importlib.import_module(m).__file__ for m in sys.argv[1:]]; "
        "print('\\n'.join(files))"
    )
    # Run outside the checkout so nothing can be imported from the work tree.
    result = run([str(venv / "bin" / "python"), "-c", code, *ONE_MODULE_EACH], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = result.stdout.split()
    assert len(files) == len(ONE_MODULE_EACH)
    assert all(f.startswith(str(venv)) for f in files), files


def test_image_config_checks_ok_with_the_image_environment(
    venv: Path, context_dir: Path, tmp_path: Path
) -> None:
    command = _image_command(context_dir)
    config = command[command.index("-c") + 1]
    env = _image_env(venv, tmp_path)
    result = run(["pantau", "check", "-c", config], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # The example config reads ${PANTAU_LISTEN}: in the image the agent listens on all addresses.
    assert "0.0.0.0:9717" in result.stdout


def test_image_command_serves_healthz_and_stops_cleanly_on_sigterm(
    venv: Path, context_dir: Path, tmp_path: Path
) -> None:
    port = _free_port()
    env = _image_env(venv, tmp_path, PANTAU_LISTEN=f"127.0.0.1:{port}")
    probe = [
        str(venv / "bin" / "python"),
        str(_image_file(context_dir, "/usr/local/bin/pantau-healthcheck")),
    ]
    log = tmp_path / "agent.log"
    with log.open("w") as out:
        agent = subprocess.Popen(_image_command(context_dir), env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        healthy = run(probe, env=env, timeout=10)
        while healthy.returncode != 0 and time.monotonic() < deadline and agent.poll() is None:
            time.sleep(0.3)
            healthy = run(probe, env=env, timeout=10)
        assert healthy.returncode == 0, healthy.stdout + log.read_text()
        assert healthy.stdout.strip() == f"http://127.0.0.1:{port}/healthz: HTTP 200"
        agent.send_signal(signal.SIGTERM)  # docker stop
        assert agent.wait(timeout=20) == 0, log.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(timeout=10)
