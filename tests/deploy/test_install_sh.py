"""deploy/install.sh on a clean directory root (--root): no real user, systemd or /opt touched."""

from __future__ import annotations

import os
import re
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.deploy.conftest import REPO, run
from tests.deploy.unitcheck import verify_unit

INSTALL = REPO / "deploy" / "install.sh"
EXAMPLE = REPO / "config" / "pantau.example.yaml"
UNIT = REPO / "deploy" / "pantau.service"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _install(root: Path, *options: str, timeout: float = 240) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DESTDIR" and not k.startswith("PANTAU_")}
    result = run(["bash", str(INSTALL), "--root", str(root), *options], env=env, timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.integration
def test_install_sh_is_shellcheck_clean() -> None:
    shellcheck = require_binary("shellcheck")
    result = run([shellcheck, "--severity=style", "--shell=bash", str(INSTALL)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_staged_install_lays_out_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    code, output = _install(root, "--no-venv")
    assert code == 0, output
    unit = root / "etc/systemd/system/pantau.service"
    assert unit.read_bytes() == UNIT.read_bytes()
    assert _mode(unit) == 0o644
    config = root / "etc/pantau/pantau.yaml"
    assert config.read_bytes() == EXAMPLE.read_bytes()
    assert _mode(config) == 0o640  # may name secret files: not world-readable
    assert (root / "etc/pantau/pantau.example.yaml").read_bytes() == EXAMPLE.read_bytes()
    assert _mode(root / "var/lib/pantau") == 0o750
    assert (root / "opt/pantau").is_dir()
    # The admin's shortcut points where the venv lives on the target system, not under DIR.
    assert os.readlink(root / "usr/local/bin/pantau") == "/opt/pantau/venv/bin/pantau"
    assert not (root / "opt/pantau/venv").exists()
    # Everything outside DIR is only printed, with the exact command.
    assert (
        "would run: useradd --system --gid pantau --home-dir /var/lib/pantau --no-create-home"
        " --shell /usr/sbin/nologin --comment pantau\\ monitoring\\ agent pantau"
    ) in output
    assert f"would run: chown pantau:pantau {root}/var/lib/pantau" in output
    assert "would run: systemctl daemon-reload" in output
    assert "would run: systemctl enable --now pantau" in output
    assert f"{root}/opt/pantau/venv/bin/python -m pip install" in output
    # Nothing but files under DIR: exactly these paths exist.
    created = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert created == [
        "etc/pantau/pantau.example.yaml",
        "etc/pantau/pantau.yaml",
        "etc/systemd/system/pantau.service",
    ]


def test_running_twice_keeps_the_admins_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert _install(root, "--no-venv")[0] == 0
    config = root / "etc/pantau/pantau.yaml"
    edited = EXAMPLE.read_text(encoding="utf-8").replace("srv-app-01", "srv-edited-by-admin")
    config.write_text(edited, encoding="utf-8")
    code, output = _install(root, "--no-venv")
    assert code == 0, output
    assert config.read_text(encoding="utf-8") == edited
    assert "kept existing" in output
    assert (root / "etc/pantau/pantau.example.yaml").read_bytes() == EXAMPLE.read_bytes()


def test_destdir_environment_variable_works_like_root(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    env["DESTDIR"] = str(tmp_path / "stage")
    result = run(["bash", str(INSTALL), "--no-venv"], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "stage/etc/systemd/system/pantau.service").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--bogus"], "unknown option: --bogus"),
        (["--wheel", "/nonexistent/pantau.whl"], "no such file"),
        (["--source", "/"], "must be a pantau checkout"),
        (["--python", "/nonexistent/python3"], "Python >= 3.11"),
    ],
)
def test_bad_options_exit_2_without_installing(
    tmp_path: Path, options: list[str], message: str
) -> None:
    root = tmp_path / "root"
    code, output = _install(root, *options)
    assert code == 2
    assert message in output
    assert not (root / "etc").exists()


def test_root_slash_is_refused() -> None:
    result = run(["bash", str(INSTALL), "--root", "/", "--no-venv"])
    assert result.returncode == 2
    assert "real system" in result.stderr


def test_help_and_docs_describe_every_option() -> None:
    # The options the parser accepts: its `--name)` case arms.
    accepted = re.findall(r"^\s+(--[a-z-]+)\)", INSTALL.read_text(encoding="utf-8"), re.M)
    assert len(accepted) >= 7
    result = run(["bash", str(INSTALL), "--help"])
    assert result.returncode == 0
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    for option in accepted:
        assert option in result.stdout
        assert f"`{option}" in docs


@pytest.mark.slow
@pytest.mark.integration
def test_staged_install_creates_a_working_venv_and_verifiable_unit(
    tmp_path: Path, wheelhouse: Path
) -> None:
    root = tmp_path / "root"
    options = ("--wheelhouse", str(wheelhouse), "--python", sys.executable)
    code, output = _install(root, *options)
    assert code == 0, output
    pantau = root / "opt/pantau/venv/bin/pantau"
    result = run([str(pantau), "--help"])
    assert result.returncode == 0, result.stderr
    assert "check" in result.stdout
    # install.sh validated the installed config with the installed pantau.
    assert f"configuration OK: {root}/etc/pantau/pantau.yaml" in output
    assert f"installed pantau {VERSION}" in output
    # The unit as installed, pointed at the staged executable, passes systemd's checks.
    verify_unit(root / "etc/systemd/system/pantau.service", pantau, tmp_path)
    # Second run: an upgrade in place, still fine.
    code, output = _install(root, *options)
    assert code == 0, output
    assert "upgrading pantau" in output
    assert run([str(pantau), "--help"]).returncode == 0


@pytest.mark.slow
def test_config_check_gates_the_install_and_reads_pantau_env(
    tmp_path: Path, wheelhouse: Path
) -> None:
    root = tmp_path / "root"
    options = ("--wheelhouse", str(wheelhouse), "--python", sys.executable)
    config = root / "etc/pantau/pantau.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("agent: {name: x}\nservices: [{id: Bad Id}]\n", encoding="utf-8")
    code, output = _install(root, *options)
    assert code == 1, output
    assert "the configuration is invalid" in output
    assert "systemctl daemon-reload" not in output
    # A secret from ${VAR} is undefined until pantau.env (the unit's EnvironmentFile) sets it.
    example = EXAMPLE.read_text(encoding="utf-8")
    assert "name: srv-app-01\n" in example
    config.write_text(example.replace("name: srv-app-01\n", "name: ${AGENT_NAME}\n"), "utf-8")
    code, output = _install(root, *options)
    assert code == 1, output
    (root / "etc/pantau/pantau.env").write_text(
        '# secrets for pantau.yaml\n\nAGENT_NAME="srv-from-env"\nnot an assignment\n', "utf-8"
    )
    code, output = _install(root, *options)
    assert code == 0, output
    assert "would run: systemctl daemon-reload" in output
