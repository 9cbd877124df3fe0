"""The borg source against real Borg 1.x repositories (and a fake borg script)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config.models import BorgBackup
from agent.core.model import BackupObservation
from drp.borg import BorgSource
from tests.drp.conftest import BORG_PASSPHRASE, BorgRepo, borg_exclusive_lock

pytestmark = pytest.mark.integration


def _source(repo: BorgRepo, *, lock_wait: int = 5, **overrides: object) -> BorgSource:
    fields: dict[str, object] = {
        "type": "borg",
        "repository": str(repo.path),
        "passphrase_file": str(repo.passphrase_file),
    }
    fields.update(overrides)
    config = BorgBackup.model_validate(fields)
    return BorgSource(config, "borg-0", base_dir=repo.base_dir, lock_wait=lock_wait)


def _check(source: BorgSource) -> BackupObservation:
    return asyncio.run(source.check())


def test_newest_archive_time_is_reported_in_utc(
    borg_repo: BorgRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    borg_repo.create("sipd-2024-09-14", datetime(2024, 9, 14, 2, 0, tzinfo=UTC))
    borg_repo.create("sipd-2024-09-12", datetime(2024, 9, 12, 2, 0, tzinfo=UTC))  # older, last
    # Borg prints naive local times; the agent's own zone must not shift them.
    monkeypatch.setenv("TZ", "Asia/Jakarta")
    obs = _check(_source(borg_repo))
    assert obs.ok, obs
    assert obs.last_success_at == datetime(2024, 9, 14, 2, 0, tzinfo=UTC)
    assert obs.size_bytes == 1024  # original size: 24 bytes of db.sql + 1000 of notes.txt
    assert "sipd-2024-09-14" in obs.detail


def test_glob_selects_archives(borg_repo: BorgRepo) -> None:
    borg_repo.create("db-1", datetime(2024, 9, 10, tzinfo=UTC))
    borg_repo.create("files-1", datetime(2024, 9, 11, tzinfo=UTC))
    obs = _check(_source(borg_repo, glob="db-*"))
    assert obs.last_success_at == datetime(2024, 9, 10, tzinfo=UTC)
    obs = _check(_source(borg_repo, glob="nothing-*"))
    assert (obs.ok, obs.reason) == (False, "no_snapshots")


def test_wrong_passphrase(borg_repo: BorgRepo, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("wrong-passphrase\n")
    obs = _check(_source(borg_repo, passphrase_file=str(bad)))
    assert (obs.ok, obs.reason) == (False, "wrong_password")
    assert "wrong-passphrase" not in obs.detail


def test_passphrase_from_environment_variable(
    borg_repo: BorgRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    borg_repo.create("a", datetime(2024, 9, 14, tzinfo=UTC))
    monkeypatch.setenv("SIPD_BORG", BORG_PASSPHRASE)
    obs = _check(_source(borg_repo, passphrase_file=None, passphrase_env="SIPD_BORG"))
    assert obs.ok, obs


def test_no_passphrase_configured_never_prompts(
    borg_repo: BorgRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("BORG_PASSPHRASE", "BORG_PASSCOMMAND", "BORG_PASSPHRASE_FD"):
        monkeypatch.delenv(var, raising=False)
    obs = _check(_source(borg_repo, passphrase_file=None))
    assert (obs.ok, obs.reason) == (False, "password_missing")


def test_unreadable_passphrase_file(borg_repo: BorgRepo, tmp_path: Path) -> None:
    obs = _check(_source(borg_repo, passphrase_file=str(tmp_path / "missing")))
    assert (obs.ok, obs.reason) == (False, "password_missing")


def test_missing_repository(borg_repo: BorgRepo, tmp_path: Path) -> None:
    obs = _check(_source(borg_repo, repository=str(tmp_path / "nothing-here")))
    assert (obs.ok, obs.reason) == (False, "repo_not_found")


def test_locked_repository_is_reported_after_lock_wait(borg_repo: BorgRepo) -> None:
    # `borg create` holds the exclusive lock for its whole run; we wait lock_wait, then say so.
    with borg_exclusive_lock(borg_repo):
        obs = _check(_source(borg_repo, lock_wait=1))
    assert (obs.ok, obs.reason) == (False, "repo_locked")


def test_missing_binary() -> None:
    config = BorgBackup(type="borg", repository="/srv/borg", binary="borg-does-not-exist")
    obs = _check(BorgSource(config, "borg-0"))
    assert (obs.ok, obs.reason) == (False, "binary_missing")


def test_passphrase_goes_through_a_pipe_not_the_environment(tmp_path: Path) -> None:
    # A fake borg reports what it can see: the passphrase must arrive only on the FD.
    seen = tmp_path / "seen"
    fake = tmp_path / "borg"
    fake.write_text(
        "#!/bin/sh\n"
        f'{{ echo "args: $*"; env | grep -c hunter2 || true; '
        f'echo "fd: $(cat /dev/fd/$BORG_PASSPHRASE_FD)"; }} > {seen}\n'
        'echo \'{"archives": [{"name": "a", "time": "2024-09-14T02:00:00.000000"}]}\'\n'
    )
    fake.chmod(0o755)
    pf = tmp_path / "pf"
    pf.write_text("hunter2\n")
    config = BorgBackup.model_validate(
        {"type": "borg", "repository": "/srv/borg", "passphrase_file": str(pf), "binary": str(fake)}
    )
    obs = asyncio.run(BorgSource(config, "borg-0", with_size=False).check())
    assert obs.last_success_at == datetime(2024, 9, 14, 2, 0, tzinfo=UTC)
    lines = seen.read_text().splitlines()
    assert "hunter2" not in lines[0]  # not in argv
    assert lines[1] == "0"  # not in the environment
    assert lines[2] == "fd: hunter2"  # trailing newline stripped, like borg does
