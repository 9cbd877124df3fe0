"""deploy/pantau.service: hardened as documented, and accepted by systemd's own checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.deploy.conftest import REPO, run
from tests.deploy.unitcheck import EXEC, verify_unit

UNIT = REPO / "deploy" / "pantau.service"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values in order (systemd allows repeated keys such as Environment=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None, f"{line!r} outside a section"
        assert sep, f"{line!r} is not KEY=VALUE"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.integration
def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    executable = tmp_path / "pantau"
    executable.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    os.chmod(executable, 0o755)
    verify_unit(UNIT, executable, tmp_path)


def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    # Guards the check above: systemd-analyze really reports unknown directives.
    analyze = require_binary("systemd-analyze")
    executable = tmp_path / "pantau"
    executable.write_text("#!/bin/sh\n", encoding="utf-8")
    os.chmod(executable, 0o755)
    broken = tmp_path / "broken.service"
    broken.write_text(f"[Service]\nExecStart={executable}\nProtectSytem=strict\n", "utf-8")
    result = run([analyze, "verify", str(broken)], timeout=60)
    assert "ProtectSytem" in result.stdout + result.stderr


def test_runs_the_agent_as_the_static_pantau_user() -> None:
    service = parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]
    assert service["User"] == ["pantau"]
    assert service["Group"] == ["pantau"]
    assert "DynamicUser" not in service  # why: see the unit's header comment
    assert service["ExecStart"] == [f"{EXEC} run -c /etc/pantau/pantau.yaml"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]  # config errors: exit 2, do not loop
    assert int(service["TimeoutStopSec"][0]) >= 10
    assert "PANTAU_DATA_DIR=/var/lib/pantau" in service["Environment"]
    assert service["StateDirectory"] == ["pantau"]
    assert service["ConfigurationDirectory"] == ["pantau"]


def test_sandbox_directives_are_all_set() -> None:
    service = parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "CapabilityBoundingSet": "",
        "SystemCallFilter": "@system-service",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    }
    actual = {key: service.get(key, ["<missing>"])[-1] for key in expected}
    assert actual == expected


def test_backup_access_is_shown_as_commented_examples() -> None:
    lines = UNIT.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("#ReadOnlyPaths=-/srv/backup") for line in lines)
    # borg 1.x writes lock files even to list archives
    assert any(line.startswith("#ReadWritePaths=-/srv/borg") for line in lines)
