"""``systemd-analyze`` checks of a unit file, shared by the unit and install.sh tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import require_binary
from tests.deploy.conftest import run

EXEC = "/opt/pantau/venv/bin/pantau"
#: systemd-analyze security's exposure scale is 0.0-10.0; --threshold takes it times ten. The
#: unit scores 1.7 ("OK") on systemd 252; 2.5 leaves room for other versions' weightings.
EXPOSURE_THRESHOLD = 25


def verify_unit(unit: Path, executable: Path, workdir: Path) -> None:
    """Run ``systemd-analyze verify`` and ``security`` on ``unit`` with ExecStart -> executable.

    verify fails on a missing ExecStart binary, so the copy points at a real one; everything
    else is checked as written. Any output at all (warnings included) fails the check.
    """
    analyze = require_binary("systemd-analyze")
    text = unit.read_text(encoding="utf-8")
    assert f"ExecStart={EXEC} " in text
    copy = workdir / "pantau.service"  # the file name is the unit name
    copy.write_text(text.replace(f"ExecStart={EXEC} ", f"ExecStart={executable} "), "utf-8")
    verified = run([analyze, "verify", str(copy)], timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (verified.stdout + verified.stderr).strip() == ""
    security = run(
        [analyze, "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(copy)],
        timeout=60,
    )
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr
