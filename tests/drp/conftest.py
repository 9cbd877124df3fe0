"""Real restic and borg repositories in ``tmp_path`` for the DRP tests.

Snapshot times are set explicitly (``restic backup --time``, ``borg create --timestamp``, both in
UTC) so tests can assert exact times instead of "roughly now".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import require_binary

RESTIC_PASSWORD = "correct horse battery staple"
BORG_PASSPHRASE = "borg-secret-passphrase"


@dataclass
class ResticRepo:
    """A restic repository with a password file and a private cache."""

    path: Path
    password_file: Path
    cache_dir: Path
    data: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RESTIC_REPOSITORY": str(self.path),
            "RESTIC_PASSWORD_FILE": str(self.password_file),
            "RESTIC_CACHE_DIR": str(self.cache_dir),
            "TZ": "UTC",  # --time is read in local time
        }

    def backup(self, at: datetime, *extra: str) -> None:
        """Back up ``data`` with the snapshot time ``at`` (UTC)."""
        stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        subprocess.run(
            ["restic", "backup", "--quiet", "--time", stamp, *extra, str(self.data)],
            env=self.env(),
            check=True,
            capture_output=True,
        )


@dataclass
class BorgRepo:
    """A borg repository (repokey encryption) with a passphrase file and a private base dir."""

    path: Path
    passphrase_file: Path
    base_dir: Path
    data: Path
    archives: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BORG_REPO": str(self.path),
            "BORG_PASSPHRASE": BORG_PASSPHRASE,
            "BORG_BASE_DIR": str(self.base_dir),
        }

    def create(self, name: str, at: datetime) -> None:
        """Archive ``data`` as ``name`` with the archive time ``at`` (UTC)."""
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        subprocess.run(
            ["borg", "create", "--timestamp", stamp, f"::{name}", str(self.data)],
            env=self.env(),
            check=True,
            capture_output=True,
        )
        self.archives.append(name)


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "db.sql").write_text("hello from the database\n")
    (data / "sub" / "notes.txt").write_text("x" * 1000)
    return data


@pytest.fixture(scope="session")
def _restic_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``restic init`` per session (its key derivation is slow); tests get copies."""
    require_binary("restic")
    root = tmp_path_factory.mktemp("restic-template")
    pw = root / "restic-password"
    pw.write_text(RESTIC_PASSWORD + "\n")
    repo = ResticRepo(root / "restic-repo", pw, root / "restic-cache", root)
    subprocess.run(["restic", "init"], env=repo.env(), check=True, capture_output=True)
    return repo.path


@pytest.fixture(scope="session")
def _borg_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``borg init`` per session; tests get copies (same repository id, own base dir)."""
    require_binary("borg")
    root = tmp_path_factory.mktemp("borg-template")
    repo = BorgRepo(root / "borg-repo", root / "unused", root / "borg-base", root)
    subprocess.run(
        ["borg", "init", "--encryption=repokey"], env=repo.env(), check=True, capture_output=True
    )
    return repo.path


@pytest.fixture
def restic_repo(tmp_path: Path, _restic_template: Path) -> ResticRepo:
    require_binary("restic")
    pw = tmp_path / "restic-password"
    pw.write_text(RESTIC_PASSWORD + "\n")
    repo = ResticRepo(tmp_path / "restic-repo", pw, tmp_path / "restic-cache", _data(tmp_path))
    shutil.copytree(_restic_template, repo.path)
    return repo


@pytest.fixture
def borg_repo(tmp_path: Path, _borg_template: Path) -> BorgRepo:
    require_binary("borg")
    pf = tmp_path / "borg-passphrase"
    pf.write_text(BORG_PASSPHRASE + "\n")
    repo = BorgRepo(tmp_path / "borg-repo", pf, tmp_path / "borg-base", _data(tmp_path))
    shutil.copytree(_borg_template, repo.path)
    return repo


def _wait_for(predicate: object, what: str, limit: float = 15.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def restic_exclusive_lock(restic_repo: ResticRepo) -> Iterator[ResticRepo]:
    """Hold an exclusive restic lock: ``restic key passwd`` takes one, then waits on stdin for
    the new password. Closing stdin makes it give up and remove its lock."""
    proc = subprocess.Popen(
        ["restic", "key", "passwd"],
        env=restic_repo.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    locks = restic_repo.path / "locks"
    try:
        _wait_for(lambda: any(locks.iterdir()), "restic's exclusive lock")
        yield restic_repo
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def borg_exclusive_lock(borg_repo: BorgRepo) -> Iterator[BorgRepo]:
    """Hold borg's exclusive lock with ``borg with-lock REPO sleep 60``."""
    proc = subprocess.Popen(
        ["borg", "with-lock", str(borg_repo.path), "sleep", "60"],
        env=borg_repo.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(lambda: (borg_repo.path / "lock.exclusive").exists(), "borg's exclusive lock")
        yield borg_repo
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # borg and its sleep child
        proc.wait()
