"""The real image: built from the Dockerfile by podman, then run from its own root filesystem.

``scripts/build-image.sh`` builds the Dockerfile on a debootstrapped Debian base (no Docker
Hub here). The container is started from what the build produced (the mounted image and its
inspected config, see ``imagelib``), never from the checkout, so these tests fail when the
image is wrong even if the Dockerfile's steps replay fine elsewhere.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require_binary
from tests.deploy.conftest import REPO, run
from tests.deploy.imagelib import Container, ImageConfig

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1800)]

TAG = "localhost/pantau:ci"
UID = GID = 10001
#: The first build debootstraps the base (about a minute) and installs from PyPI.
BUILD_TIMEOUT = 1500
#: The HEALTHCHECK's --start-period is 30 s; allow three times that on a busy machine.
STARTUP_SECONDS = 90.0

_SCRAPE = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
    sys.stdout.write(response.read().decode())
"""


def _require_root() -> None:
    if os.geteuid() != 0:
        message = "building and mounting the image needs root (sudo scripts/test.sh)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def podman() -> str:
    _require_root()
    for tool in ("debootstrap", "unshare", "nsenter", "chroot", "ip"):
        require_binary(tool)
    return require_binary("podman")


@pytest.fixture(scope="module")
def image(podman: str) -> str:
    """Build the image (cached base and layers make a rebuild of an unchanged tree quick)."""
    started = time.monotonic()
    built = run(["bash", "scripts/build-image.sh", TAG], timeout=BUILD_TIMEOUT)
    print(f"build-image.sh took {time.monotonic() - started:.0f} s")
    assert built.returncode == 0, built.stdout[-6000:] + built.stderr[-6000:]
    return TAG


@pytest.fixture(scope="module")
def config(podman: str, image: str) -> ImageConfig:
    return ImageConfig.inspect(podman, image)


@pytest.fixture(scope="module")
def root(podman: str, image: str) -> Iterator[Path]:
    """The image's root filesystem, mounted read-only by podman."""
    mounted = run([podman, "image", "mount", image], timeout=60)
    assert mounted.returncode == 0, mounted.stderr
    yield Path(mounted.stdout.strip())
    run([podman, "image", "unmount", image], timeout=60)


@pytest.fixture
def container(root: Path, config: ImageConfig, tmp_path: Path) -> Iterator[Container]:
    data_volumes = [v for v in config.volumes if v != "/etc/pantau"]
    box = Container(root, config, tmp_path / "container", data_volumes, tmp_path / "container.log")
    yield box
    box.stop()


def _finish(box: Container, timeout: float = 60) -> tuple[int, str]:
    assert box.process is not None
    code = box.process.wait(timeout=timeout)
    return code, box.output()


def test_image_config_is_what_the_dockerfile_declares(config: ImageConfig) -> None:
    assert config.user == f"{UID}:{GID}"
    assert config.entrypoint == ["pantau"]
    assert config.cmd == ["run", "-c", "/etc/pantau/pantau.yaml"]
    assert config.workdir == "/var/lib/pantau"
    assert config.volumes == ["/etc/pantau", "/var/lib/pantau"]
    assert config.exposed == ["9717/tcp"]
    assert config.stop_signal == "SIGTERM"
    assert config.healthcheck == ["CMD", "python3", "/usr/local/bin/pantau-healthcheck"]
    assert config.env["PATH"].startswith("/opt/pantau/venv/bin:")
    assert config.env["PANTAU_LISTEN"] == "0.0.0.0:9717"
    revision = run(["git", "rev-parse", "HEAD"]).stdout.strip()
    assert config.labels["org.opencontainers.image.revision"] == (revision or "unknown")
    assert config.labels["org.opencontainers.image.base.name"].startswith(
        "localhost/pantau-ci-base:"
    )


def test_files_are_owned_as_the_dockerfile_says(root: Path) -> None:
    def owner(path: str) -> tuple[int, int, int]:
        info = (root / path.lstrip("/")).lstat()
        return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)

    assert owner("/var/lib/pantau") == (UID, GID, 0o750)
    # The agent reads its katalog through the group and can change neither it nor the folder.
    assert owner("/etc/pantau") == (0, GID, 0o750)
    assert owner("/etc/pantau/pantau.yaml") == (0, GID, 0o640)
    assert owner("/usr/local/bin/pantau-healthcheck") == (0, 0, 0o755)
    ours_by_user: list[str] = []
    ours_by_group: list[str] = []
    writable_program: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            info = path.lstat()
            inside = "/" + path.relative_to(root).as_posix()
            if info.st_uid == UID:
                ours_by_user.append(inside)
            if info.st_gid == GID:
                ours_by_group.append(inside)
            is_link = stat.S_ISLNK(info.st_mode)
            if inside.startswith("/opt/pantau") and not is_link and info.st_mode & 0o022:
                writable_program.append(inside)
    # Non-root, and owning nothing but its data directory: the program cannot be rewritten.
    assert ours_by_user == ["/var/lib/pantau"]
    assert sorted(ours_by_group) == ["/etc/pantau", "/etc/pantau/pantau.yaml", "/var/lib/pantau"]
    assert writable_program == []
    assert owner("/opt/pantau/venv/bin/pantau")[:2] == (0, 0)


def test_example_katalog_passes_check_in_the_image(
    container: Container, config: ImageConfig
) -> None:
    container.start([*config.entrypoint, "check", "-c", "/etc/pantau/pantau.yaml"])
    code, output = _finish(container)
    assert code == 0, output
    # The image's PANTAU_LISTEN reaches the example katalog's ${PANTAU_LISTEN:-...}.
    assert "0.0.0.0:9717" in output


def test_healthcheck_fails_while_nothing_listens(container: Container, config: ImageConfig) -> None:
    container.start(config.healthcheck[1:])
    code, output = _finish(container)
    assert code == 1, output
    assert output.startswith("http://127.0.0.1:9717/healthz: "), output


def _scrape(box: Container, path: str) -> subprocess.CompletedProcess[str]:
    return box.in_network([sys.executable, "-c", _SCRAPE, f"http://127.0.0.1:9717{path}"])


def test_image_command_serves_healthz_and_metrics_and_stops_on_sigterm(
    container: Container, config: ImageConfig
) -> None:
    agent = container.start([*config.entrypoint, *config.cmd])
    deadline = time.monotonic() + STARTUP_SECONDS
    health = container.exec(config.healthcheck[1:])
    while health.returncode != 0 and time.monotonic() < deadline and agent.poll() is None:
        time.sleep(1)
        health = container.exec(config.healthcheck[1:])
    assert health.returncode == 0, health.stdout + health.stderr + container.output()
    # The HEALTHCHECK maps the wildcard PANTAU_LISTEN to loopback inside the container.
    assert health.stdout.strip() == "http://127.0.0.1:9717/healthz: HTTP 200"

    # The example katalog checks the agent itself: its first rounds must come out up.
    wanted = 'pantau_probe_success{service="sipd",check="web",type="http"} 1'
    metrics = _scrape(container, "/metrics")
    while wanted not in metrics.stdout and time.monotonic() < deadline:
        time.sleep(1)
        metrics = _scrape(container, "/metrics")
    assert metrics.returncode == 0, metrics.stderr + container.output()
    assert wanted in metrics.stdout, metrics.stdout[-3000:] + container.output()
    assert 'pantau_agent_info{version="0.1.0"} 1' in metrics.stdout
    # No invented downtime (only the katalog's DNS check may fail: this network has no resolver).
    service_up = [
        line for line in metrics.stdout.splitlines() if line.startswith("pantau_service_up")
    ]
    assert service_up, "no pantau_service_up series"
    assert all(line.endswith(" 1") for line in service_up), service_up

    # Files as the Dockerfile says, seen by the running agent's user.
    assert container.exec(["id", "-u"]).stdout.strip() == str(UID)
    owned = container.exec(["stat", "-c", "%u:%g %a", "/var/lib/pantau", "pantau.db"])
    assert owned.stdout.split("\n")[:2] == [f"{UID}:{GID} 750", f"{UID}:{GID} 644"], owned
    for attempt in (
        ["sh", "-c", "echo >> /etc/pantau/pantau.yaml"],
        ["touch", "/etc/pantau/other.yaml"],
        ["touch", "/opt/pantau/venv/bin/pantau"],
    ):
        denied = container.exec(attempt)
        assert denied.returncode != 0, attempt
        assert "Permission denied" in denied.stderr, (attempt, denied.stderr)
    assert container.exec(["cat", "/etc/pantau/pantau.yaml"]).returncode == 0

    agent.send_signal(signal.SIGTERM)  # docker stop
    code, output = _finish(container, timeout=30)
    assert code == 0, output
    assert "Traceback" not in output, output


def test_documented_image_size_is_current(config: ImageConfig) -> None:
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    match = re.search(r"\*\*Image size\*\*[^*]*\*\*(\d+) MB\*\*", text)
    assert match, "docs/deploy.md lost its '**Image size** ... **N MB**' line"
    documented = int(match.group(1)) * 1_000_000  # podman's MB
    measured = config.size
    # 20 %: dependency releases move it a little; a new heavy dependency should be noticed.
    assert abs(measured - documented) <= documented // 5, (
        f"the image is {measured / 1e6:.0f} MB, docs/deploy.md says {match.group(1)} MB: update it"
    )


@pytest.mark.integration
def test_build_script_is_shellcheck_clean() -> None:
    shellcheck = require_binary("shellcheck")
    script = REPO / "scripts" / "build-image.sh"
    result = run([shellcheck, "--severity=style", "--shell=bash", str(script)])
    assert result.returncode == 0, result.stdout + result.stderr
