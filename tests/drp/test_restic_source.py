"""The restic source against real restic repositories (and a few fake restic scripts)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config.models import ResticBackup
from agent.core.model import BackupObservation
from agent.engine.rpo import RpoState, rpo_status
from drp.restic import ResticSource
from drp.sources import CommandRunner
from tests.drp.conftest import RESTIC_PASSWORD, ResticRepo, restic_exclusive_lock

pytestmark = pytest.mark.integration


def _source(repo: ResticRepo, **overrides: object) -> ResticSource:
    fields: dict[str, object] = {
        "type": "restic",
        "repository": str(repo.path),
        "password_file": str(repo.password_file),
    }
    fields.update(overrides)
    config = ResticBackup.model_validate(fields)
    return ResticSource(config, "restic-0", cache_dir=repo.cache_dir)


def _check(source: ResticSource) -> BackupObservation:
    return asyncio.run(source.check())


def test_newest_snapshot_time_is_reported_exactly(restic_repo: ResticRepo) -> None:
    restic_repo.backup(datetime(2024, 9, 13, 2, 0, tzinfo=UTC))
    restic_repo.backup(datetime(2024, 9, 14, 2, 0, tzinfo=UTC))
    restic_repo.backup(datetime(2024, 9, 12, 2, 0, tzinfo=UTC))  # older, created last
    obs = _check(_source(restic_repo))
    assert obs.ok, obs
    assert obs.reason == ""
    assert obs.last_success_at == datetime(2024, 9, 14, 2, 0, tzinfo=UTC)
    # restore size of the snapshot: 24 bytes of db.sql + 1000 of notes.txt = 1024 (+ no dirs)
    assert obs.size_bytes == 1024
    # age at 2024-09-15 08:00 = 30 h > rpo 24 h
    status = rpo_status(
        [obs.last_success_at], timedelta(hours=24), datetime(2024, 9, 15, 8, 0, tzinfo=UTC)
    )
    assert status.age == timedelta(hours=30)
    assert status.state is RpoState.BREACHED


def test_host_tag_and_path_filters_select_snapshots(restic_repo: ResticRepo) -> None:
    restic_repo.backup(datetime(2024, 9, 10, tzinfo=UTC), "--host", "db1", "--tag", "daily,db")
    restic_repo.backup(datetime(2024, 9, 11, tzinfo=UTC), "--host", "db1", "--tag", "daily")
    restic_repo.backup(datetime(2024, 9, 12, tzinfo=UTC), "--host", "web1", "--tag", "daily,db")
    obs = _check(_source(restic_repo, host="db1", tags=["daily", "db"]))
    assert obs.last_success_at == datetime(2024, 9, 10, tzinfo=UTC)  # needs both tags, host db1
    obs = _check(_source(restic_repo, host="db1"))
    assert obs.last_success_at == datetime(2024, 9, 11, tzinfo=UTC)
    obs = _check(_source(restic_repo, paths=[str(restic_repo.data)]))
    assert obs.last_success_at == datetime(2024, 9, 12, tzinfo=UTC)
    obs = _check(_source(restic_repo, paths=["/nowhere"]))
    assert (obs.ok, obs.reason) == (False, "no_snapshots")


def test_snapshot_dated_in_the_future_is_not_trusted(restic_repo: ResticRepo) -> None:
    # made on a host whose clock runs a day ahead
    restic_repo.backup(datetime.now(UTC) + timedelta(days=1))
    obs = _check(_source(restic_repo))
    assert (obs.ok, obs.reason, obs.last_success_at) == (False, "future_time", None)


def test_empty_repository_has_no_snapshots(restic_repo: ResticRepo) -> None:
    obs = _check(_source(restic_repo))
    assert (obs.ok, obs.reason, obs.last_success_at) == (False, "no_snapshots", None)


def test_wrong_password_is_reported_without_the_password(
    restic_repo: ResticRepo, tmp_path: Path
) -> None:
    restic_repo.backup(datetime(2024, 9, 14, tzinfo=UTC))
    bad = tmp_path / "bad-password"
    bad.write_text("not the password\n")
    obs = _check(_source(restic_repo, password_file=str(bad)))
    assert (obs.ok, obs.reason) == (False, "wrong_password")
    assert "not the password" not in obs.detail


def test_password_from_environment_variable(
    restic_repo: ResticRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    restic_repo.backup(datetime(2024, 9, 14, tzinfo=UTC))
    monkeypatch.setenv("SIPD_RESTIC_PW", RESTIC_PASSWORD)
    obs = _check(_source(restic_repo, password_file=None, password_env="SIPD_RESTIC_PW"))
    assert obs.ok, obs
    monkeypatch.delenv("SIPD_RESTIC_PW")
    obs = _check(_source(restic_repo, password_file=None, password_env="SIPD_RESTIC_PW"))
    assert (obs.ok, obs.reason) == (False, "password_missing")
    assert "SIPD_RESTIC_PW" in obs.detail


def test_missing_password_file_is_password_missing(restic_repo: ResticRepo, tmp_path: Path) -> None:
    obs = _check(_source(restic_repo, password_file=str(tmp_path / "nope")))
    assert (obs.ok, obs.reason) == (False, "password_missing")


def test_missing_repository(restic_repo: ResticRepo, tmp_path: Path) -> None:
    obs = _check(_source(restic_repo, repository=str(tmp_path / "no-such-repo")))
    assert (obs.ok, obs.reason) == (False, "repo_not_found")


def test_exclusively_locked_repository_is_still_read(restic_repo: ResticRepo) -> None:
    # A prune (exclusive lock) must not make the check fail: snapshots are listed --no-lock.
    # (Restores do take the lock: see test_drills.)
    restic_repo.backup(datetime(2024, 9, 14, tzinfo=UTC))
    with restic_exclusive_lock(restic_repo):
        assert any((restic_repo.path / "locks").iterdir())
        obs = _check(_source(restic_repo))
    assert obs.ok, obs
    assert obs.last_success_at == datetime(2024, 9, 14, tzinfo=UTC)


def test_missing_binary() -> None:
    config = ResticBackup(type="restic", repository="/srv/x", binary="restic-does-not-exist")
    obs = _check(ResticSource(config, "restic-0"))
    assert (obs.ok, obs.reason) == (False, "binary_missing")
    assert "restic-does-not-exist" in obs.detail


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_hanging_restic_is_killed_at_the_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    fake = _script(tmp_path / "restic", f"echo $$ > {pidfile}\nexec sleep 60\n")
    config = ResticBackup.model_validate(
        {"type": "restic", "repository": "/srv/x", "binary": str(fake), "timeout": "1s"}
    )
    source = ResticSource(config, "restic-0", runner=CommandRunner(kill_grace=0.5))
    start = time.monotonic()
    obs = _check(source)
    elapsed = time.monotonic() - start
    assert (obs.ok, obs.reason) == (False, "timeout")
    assert 0.9 < elapsed < 1.5 + 0.5  # timeout 1 s (+ SIGTERM is obeyed at once) ± 0.5 s
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists()


def test_password_and_repository_never_reach_the_command_line_or_detail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = tmp_path / "args"
    fake = _script(
        tmp_path / "restic",
        f'echo "$@" > {args}\necho "Fatal: boom $RESTIC_PASSWORD $RESTIC_REPOSITORY" >&2\nexit 1\n',
    )
    monkeypatch.setenv("PW_VAR", "s3cr3t-value")
    config = ResticBackup.model_validate(
        {
            "type": "restic",
            "repository": "rest:https://backup:hunter2@backup.example/sipd",
            "password_env": "PW_VAR",
            "binary": str(fake),
        }
    )
    obs = _check(ResticSource(config, "restic-0"))
    assert (obs.ok, obs.reason) == (False, "command_failed")
    argv = args.read_text()
    assert "s3cr3t" not in argv
    assert "hunter2" not in argv
    assert "s3cr3t" not in obs.detail
    assert "hunter2" not in obs.detail
    assert "https://backup:***@backup.example/sipd" in obs.detail


def test_garbage_output_is_a_parse_error(tmp_path: Path) -> None:
    fake = _script(tmp_path / "restic", 'echo "[{\\"time\\": 17}]"\n')
    config = ResticBackup(type="restic", repository="/srv/x", binary=str(fake))
    obs = _check(ResticSource(config, "restic-0"))
    assert (obs.ok, obs.reason) == (False, "parse_error")


def test_size_is_computed_once_per_snapshot(restic_repo: ResticRepo, tmp_path: Path) -> None:
    # A wrapper counts how often `restic stats` runs across three checks of the same snapshot.
    calls = tmp_path / "stats-calls"
    wrapper = _script(
        tmp_path / "restic-wrapper",
        f'case "$1" in stats) echo x >> {calls};; esac\nexec restic "$@"\n',
    )
    restic_repo.backup(datetime(2024, 9, 14, tzinfo=UTC))
    source = _source(restic_repo, binary=str(wrapper))
    sizes = [_check(source).size_bytes for _ in range(3)]
    assert sizes == [1024, 1024, 1024]
    assert calls.read_text().count("x") == 1
