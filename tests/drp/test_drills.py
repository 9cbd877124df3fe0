"""Restore drills with real restic and borg restores, verify commands and clean-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config.models import Service
from agent.core.clock import SystemClock
from drp.drills import DrillResult, manual_drill, run_drill
from tests.drp.conftest import (
    BorgRepo,
    ResticRepo,
    borg_exclusive_lock,
    restic_exclusive_lock,
)

pytestmark = pytest.mark.integration

# the restored copy of data/db.sql sits under its absolute path inside the scratch dir
VERIFY = 'grep -q "hello from the database" "$PANTAU_SCRATCH_DIR{path}/db.sql"'


def _service(backups: list[dict[str, object]], drill: dict[str, object] | None = None) -> Service:
    return Service.model_validate(
        {
            "id": "sipd",
            "name": "SIPD",
            "provider": "Bappeda",
            "group": "administrasi_pemerintahan",
            "classification": "kritis",
            "checks": [{"type": "tcp", "address": "127.0.0.1:9"}],
            "rpo": "24h",
            "rto": "1h",
            "drp": {"document": "DRP-SIPD.pdf", "drill": drill or {}},
            "backups": backups,
        }
    )


def _restic(repo: ResticRepo) -> dict[str, object]:
    return {
        "type": "restic",
        "repository": str(repo.path),
        "password_file": str(repo.password_file),
    }


def _borg(repo: BorgRepo) -> dict[str, object]:
    return {
        "type": "borg",
        "repository": str(repo.path),
        "passphrase_file": str(repo.passphrase_file),
    }


def _drill(service: Service, scratch: Path, state_dir: Path | None = None) -> DrillResult:
    return asyncio.run(
        run_drill(service, clock=SystemClock(), scratch_root=scratch, state_dir=state_dir)
    )


def test_restic_drill_restores_the_newest_snapshot_and_verifies(
    restic_repo: ResticRepo, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    restic_repo.backup(now - timedelta(hours=30))
    (restic_repo.data / "db.sql").write_text("hello from the database\nnewer\n")
    snap_time = (now - timedelta(hours=2)).replace(microsecond=0)
    restic_repo.backup(snap_time)
    verify = (
        VERIFY.format(path=restic_repo.data)
        + ' && grep -q newer "$PANTAU_SCRATCH_DIR'
        + str(restic_repo.data)
        + '/db.sql"'
    )
    scratch = tmp_path / "scratch"
    result = _drill(_service([_restic(restic_repo)], {"verify_command": verify}), scratch)
    assert result.ok, result
    assert result.reason == ""
    assert result.method == "restic:restic-0"
    assert result.data_as_of == snap_time
    assert result.verify_exit_code == 0
    assert result.files_restored == 2
    assert result.bytes_restored == 30 + 1000  # "hello from the database\nnewer\n" + notes
    assert result.restore_seconds is not None
    assert result.restored_at == result.started_at + timedelta(seconds=result.restore_seconds)
    assert result.data_age is not None
    assert timedelta(hours=2) <= result.data_age < timedelta(hours=2, minutes=5)
    assert (result.rto_met, result.rpo_met) == (True, True)  # seconds < 1 h; ~2 h < 24 h
    assert list(scratch.iterdir()) == []  # scratch dir removed


def test_failing_verify_fails_the_drill(restic_repo: ResticRepo, tmp_path: Path) -> None:
    restic_repo.backup(datetime.now(UTC) - timedelta(days=2))
    verify = 'echo "checksum mismatch" >&2; exit 3'
    result = _drill(_service([_restic(restic_repo)], {"verify_command": verify}), tmp_path / "s")
    assert (result.ok, result.reason, result.verify_exit_code) == (False, "verify_failed", 3)
    assert "checksum mismatch" in result.detail
    assert result.files_restored == 2  # the restore itself worked
    assert (result.rto_met, result.rpo_met) == (None, None)  # a failed drill proves nothing
    assert list((tmp_path / "s").iterdir()) == []


def test_old_snapshot_misses_the_rpo(restic_repo: ResticRepo, tmp_path: Path) -> None:
    restic_repo.backup(datetime.now(UTC) - timedelta(days=2))
    result = _drill(_service([_restic(restic_repo)]), tmp_path / "s")
    assert result.ok, result
    assert (result.rto_met, result.rpo_met) == (True, False)  # data ~48 h old > rpo 24 h


def test_restore_of_a_locked_restic_repo_fails_repo_locked(
    restic_repo: ResticRepo, tmp_path: Path
) -> None:
    # Checks list --no-lock, but a restore takes the lock: a prune must not delete under it.
    restic_repo.backup(datetime.now(UTC) - timedelta(hours=1))
    with restic_exclusive_lock(restic_repo):
        result = _drill(_service([_restic(restic_repo)]), tmp_path / "s")
    assert (result.ok, result.reason) == (False, "repo_locked")
    assert result.data_as_of is not None  # the listing worked; the restore was refused
    assert list((tmp_path / "s").iterdir()) == []


def test_borg_drill_extracts_the_newest_archive(borg_repo: BorgRepo, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    borg_repo.create("old", now - timedelta(days=3))
    borg_repo.create("new", now - timedelta(hours=1))
    verify = VERIFY.format(path=borg_repo.data)
    result = _drill(
        _service([_borg(borg_repo)], {"verify_command": verify}),
        tmp_path / "scratch",
        state_dir=tmp_path / "state",
    )
    assert result.ok, result
    assert result.method == "borg:borg-0"
    assert result.data_as_of == now - timedelta(hours=1)
    assert (result.files_restored, result.bytes_restored) == (2, 24 + 1000)
    assert (result.verify_exit_code, result.rto_met, result.rpo_met) == (0, True, True)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_borg_drill_on_a_locked_repo_fails_repo_locked(borg_repo: BorgRepo, tmp_path: Path) -> None:
    borg_repo.create("a", datetime.now(UTC) - timedelta(hours=1))
    with borg_exclusive_lock(borg_repo):
        # the listing itself waits for the lock (5 s) and gives up
        result = _drill(_service([_borg(borg_repo)]), tmp_path / "s", state_dir=tmp_path)
    assert (result.ok, result.reason) == (False, "repo_locked")


def test_restore_command_with_reported_data_age(tmp_path: Path) -> None:
    source = tmp_path / "dump.sql"
    source.write_text("hello from the database\n")
    as_of = (datetime.now(UTC) - timedelta(hours=30)).replace(microsecond=0)
    restore = f'cp {source} "$PANTAU_SCRATCH_DIR/" && echo PANTAU_DATA_AS_OF={as_of.isoformat()}'
    verify = 'test "$(pwd)" = "$PANTAU_SCRATCH_DIR" && grep -q hello dump.sql'
    service = _service([], {"restore_command": restore, "verify_command": verify})
    result = _drill(service, tmp_path / "s")
    assert result.ok, result
    assert result.method == "command"
    assert result.data_as_of == as_of
    assert (result.files_restored, result.bytes_restored) == (1, 24)
    assert (result.rto_met, result.rpo_met) == (True, False)  # 30 h > 24 h


def test_failing_restore_command(tmp_path: Path) -> None:
    service = _service([], {"restore_command": "echo 'no space left' >&2; exit 2"})
    result = _drill(service, tmp_path / "s")
    assert (result.ok, result.reason) == (False, "restore_failed")
    assert "no space left" in result.detail
    assert result.restored_at is None


def test_drill_timeout_kills_the_restore_and_cleans_up(tmp_path: Path) -> None:
    marker = tmp_path / "s"
    service = _service([], {"restore_command": "touch partial; sleep 60", "timeout": "1s"})
    result = _drill(service, marker)
    assert (result.ok, result.reason) == (False, "timeout")
    assert list(marker.iterdir()) == []


def test_no_restore_method(tmp_path: Path) -> None:
    result = _drill(_service([{"type": "push"}]), tmp_path / "s")
    assert (result.ok, result.reason) == (False, "no_restore_method")


def test_scratch_root_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _drill(_service([], {"restore_command": "true"}), blocker / "scratch")
    assert (result.ok, result.reason) == (False, "scratch_error")


def test_manual_drill_record() -> None:
    started = datetime(2024, 6, 10, 8, 0, tzinfo=UTC)
    restored = datetime(2024, 6, 10, 9, 30, tzinfo=UTC)  # 1.5 h
    data = datetime(2024, 6, 9, 20, 0, tzinfo=UTC)  # data 12 h old at the start
    result = manual_drill(started, restored, data, rto=timedelta(hours=4), rpo=timedelta(hours=6))
    assert result.restore_seconds == 5400  # 1.5 h
    assert result.data_age == timedelta(hours=12)
    assert (result.ok, result.method, result.rto_met, result.rpo_met) == (
        True,
        "manual",
        True,
        False,
    )
    with pytest.raises(ValueError, match="before it started"):
        manual_drill(restored, started, None, None, None)
    with pytest.raises(ValueError, match="offset"):
        manual_drill(started.replace(tzinfo=None), restored, None, None, None)
