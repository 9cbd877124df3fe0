"""The files source: newest settled, non-empty file; future times and unreadable dirs are errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config.models import FilesBackup
from agent.core.model import BackupObservation
from drp.files import FilesSource, scan_files, split_pattern
from tests.conftest import require_binary
from tests.fakes import FakeClock

NOW = datetime(2024, 9, 15, 8, 0, tzinfo=UTC)


def _file(path: Path, at: datetime, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    ts = at.timestamp()
    os.utime(path, (ts, ts))
    return path


def _check(pattern: str, now: datetime = NOW, **cfg: object) -> BackupObservation:
    config = FilesBackup.model_validate({"type": "files", "path": pattern, **cfg})
    return asyncio.run(FilesSource(config, "files-0", clock=FakeClock(now)).check())


def test_newest_file_is_chosen(tmp_path: Path) -> None:
    _file(tmp_path / "sipd-13.sql.gz", NOW - timedelta(days=2))
    _file(tmp_path / "sipd-14.sql.gz", NOW - timedelta(hours=6), size=123)
    _file(tmp_path / "sipd-12.sql.gz", NOW - timedelta(days=3))
    _file(tmp_path / "other.txt", NOW - timedelta(minutes=5))  # does not match
    obs = _check(f"{tmp_path}/*.sql.gz")
    assert obs.ok
    assert obs.last_success_at == NOW - timedelta(hours=6)
    assert obs.size_bytes == 123
    assert obs.detail.endswith("sipd-14.sql.gz")


def test_empty_files_are_ignored(tmp_path: Path) -> None:
    _file(tmp_path / "old.sql.gz", NOW - timedelta(days=1))
    _file(tmp_path / "new.sql.gz", NOW - timedelta(hours=1), size=0)  # failed dump
    assert _check(f"{tmp_path}/*.sql.gz").last_success_at == NOW - timedelta(days=1)


def test_min_size_is_configurable(tmp_path: Path) -> None:
    _file(tmp_path / "old.sql.gz", NOW - timedelta(days=1), size=5000)
    _file(tmp_path / "new.sql.gz", NOW - timedelta(hours=1), size=20)  # gzip header only
    obs = _check(f"{tmp_path}/*.sql.gz", min_size=1024)
    assert obs.last_success_at == NOW - timedelta(days=1)


def test_file_still_being_written_is_ignored(tmp_path: Path) -> None:
    _file(tmp_path / "done.sql.gz", NOW - timedelta(days=1))
    _file(tmp_path / "growing.sql.gz", NOW - timedelta(seconds=5))  # within the 60 s window
    assert _check(f"{tmp_path}/*.sql.gz").last_success_at == NOW - timedelta(days=1)
    # once it has been quiet for 61 s, it counts
    later = NOW + timedelta(seconds=56)
    assert _check(f"{tmp_path}/*.sql.gz", now=later).last_success_at == NOW - timedelta(seconds=5)


def test_file_just_written_on_the_real_clock_is_not_yet_a_backup(tmp_path: Path) -> None:
    (tmp_path / "dump.sql").write_text("being written")
    config = FilesBackup(type="files", path=f"{tmp_path}/*.sql")
    obs = asyncio.run(FilesSource(config, "files-0").check())  # SystemClock
    assert (obs.ok, obs.reason) == (False, "no_files")
    assert "1 still being written" in obs.detail


def test_future_mtime_is_never_fresh(tmp_path: Path) -> None:
    _file(tmp_path / "good.sql.gz", NOW - timedelta(hours=2))
    _file(tmp_path / "bad.sql.gz", NOW + timedelta(days=30))
    obs = _check(f"{tmp_path}/*.sql.gz")
    assert (obs.ok, obs.reason, obs.last_success_at) == (False, "future_mtime", None)
    assert "bad.sql.gz" in obs.detail


def test_small_clock_skew_is_not_future(tmp_path: Path) -> None:
    # 2 minutes ahead (NFS server clock): within the 5 min skew, treated as being written.
    _file(tmp_path / "a.sql.gz", NOW + timedelta(minutes=2))
    obs = _check(f"{tmp_path}/*.sql.gz")
    assert (obs.ok, obs.reason) == (False, "no_files")


def test_missing_directory_is_no_files(tmp_path: Path) -> None:
    obs = _check(f"{tmp_path}/absent/*.sql.gz")
    assert (obs.ok, obs.reason) == (False, "no_files")
    assert "does not exist" in obs.detail


def test_nothing_matches(tmp_path: Path) -> None:
    _file(tmp_path / "x.txt", NOW - timedelta(days=1))
    obs = _check(f"{tmp_path}/*.sql.gz")
    assert (obs.ok, obs.reason) == (False, "no_files")


def test_recursive_glob_and_hidden_files(tmp_path: Path) -> None:
    _file(tmp_path / "2024" / "09" / "a.sql.gz", NOW - timedelta(hours=3))
    _file(tmp_path / "2024" / "08" / "b.sql.gz", NOW - timedelta(days=20))
    _file(tmp_path / "top.sql.gz", NOW - timedelta(days=2))
    _file(tmp_path / "2024" / ".c.sql.gz.tmp", NOW - timedelta(hours=1))  # rsync temp name
    _file(tmp_path / ".hidden" / "d.sql.gz", NOW - timedelta(hours=1))
    assert _check(f"{tmp_path}/**/*.sql.gz").last_success_at == NOW - timedelta(hours=3)
    assert _check(f"{tmp_path}/**").last_success_at == NOW - timedelta(hours=3)
    assert _check(f"{tmp_path}/*/08/*.gz").last_success_at == NOW - timedelta(days=20)


def test_recursive_glob_does_not_follow_symlink_loops(tmp_path: Path) -> None:
    _file(tmp_path / "d" / "a.sql.gz", NOW - timedelta(hours=3))
    (tmp_path / "d" / "loop").symlink_to(tmp_path)
    assert _check(f"{tmp_path}/**/*.sql.gz").last_success_at == NOW - timedelta(hours=3)


def test_a_literal_path_works_as_a_marker_file(tmp_path: Path) -> None:
    _file(tmp_path / "last-backup.ok", NOW - timedelta(hours=1))
    assert _check(f"{tmp_path}/last-backup.ok").last_success_at == NOW - timedelta(hours=1)


def test_split_pattern() -> None:
    assert split_pattern("/srv/backup/*.gz") == ("/srv/backup", ["*.gz"])
    assert split_pattern("/srv/**") == ("/srv", ["**", "*"])
    assert split_pattern("/*/x") == ("/", ["*", "x"])
    assert split_pattern("rel/a?/b") == ("rel", ["a?", "b"])


def test_unreadable_directory(tmp_path: Path) -> None:
    readable = tmp_path / "readable"
    _file(readable / "a.sql.gz", NOW - timedelta(hours=1))
    locked = tmp_path / "locked"
    _file(locked / "a.sql.gz", NOW - timedelta(hours=1))
    locked.chmod(0o000)
    patterns = [f"{readable}/*.gz", f"{locked}/*.gz"]
    try:
        if os.geteuid() == 0:
            # root reads everything: look from a child without the DAC-override capabilities
            setpriv = require_binary("setpriv")
            code = (
                "import sys; from datetime import datetime; from drp.files import scan_files\n"
                "now = datetime.fromisoformat(sys.argv[1])\n"
                "for p in sys.argv[2:]: print(scan_files('f', p, now=now).reason or 'ok')\n"
            )
            argv = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", sys.executable]
            out = subprocess.run(
                [*argv, "-c", code, NOW.isoformat(), *patterns],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        else:
            out = [scan_files("f", p, now=NOW).reason or "ok" for p in patterns]
    finally:
        locked.chmod(0o755)
    assert out == ["ok", "unreadable"]


def test_unreadable_subdirectory_is_skipped_and_counted(tmp_path: Path) -> None:
    # A directory below the base that cannot be entered (here: a symlink loop, which even root
    # cannot follow; for a service user it is a root-only lost+found) does not fail the check.
    _file(tmp_path / "a" / "x.gz", NOW - timedelta(hours=1))
    (tmp_path / "b").symlink_to("b")
    obs = scan_files("f", f"{tmp_path}/*/*.gz", now=NOW)
    assert obs.ok
    assert obs.last_success_at == NOW - timedelta(hours=1)
    assert "1 unreadable directories skipped" in obs.detail


def test_hung_listing_times_out_and_is_not_piled_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in for a hung NFS mount: the scan blocks until released.
    release = threading.Event()
    calls: list[str] = []

    def hung_scan(source: str, pattern: str, **_kw: object) -> BackupObservation:
        calls.append(pattern)
        release.wait(30)
        return BackupObservation(source, True, NOW, 1, "", "")

    monkeypatch.setattr("drp.files.scan_files", hung_scan)
    config = FilesBackup.model_validate({"type": "files", "path": f"{tmp_path}/*", "timeout": "1s"})
    source = FilesSource(config, "files-0", clock=FakeClock(NOW))
    try:
        start = time.monotonic()
        first = asyncio.run(source.check())
        assert 0.9 < time.monotonic() - start < 1.5  # 1 s timeout ± 0.5 s
        assert (first.ok, first.reason) == (False, "timeout")
        second = asyncio.run(source.check())  # still stuck: no second thread
        assert (second.ok, second.reason) == (False, "timeout")
        assert "still blocked" in second.detail
        assert len(calls) == 1
    finally:
        release.set()


def test_a_bug_in_the_scan_becomes_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object, **_kw: object) -> BackupObservation:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("drp.files.scan_files", broken)
    obs = _check(f"{tmp_path}/*")
    assert (obs.ok, obs.reason) == (False, "source_error")
    assert "ZeroDivisionError" in obs.detail
