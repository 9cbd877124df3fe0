"""FAULTS 42 in-process and against a second process: one agent per data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.core.errors import EXIT_USAGE, StoreError
from agent.store.database import Store
from agent.store.lock import LOCK_FILENAME, DataDirLock, agent_holds
from tests.fakes import FakeClock

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, f"{os.getpid()}\\n".encode(), 0)
print("locked", flush=True)
time.sleep(60)
"""


def test_the_lock_file_names_its_holder_and_a_second_lock_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with DataDirLock.acquire(data) as held:
        assert held.path == data / LOCK_FILENAME
        assert (data / LOCK_FILENAME).read_text() == f"{os.getpid()}\n"
        assert agent_holds(data) is True
        # flock locks belong to one open file description: a second open in the same
        # process is refused like another process would be.
        with pytest.raises(StoreError) as info:
            DataDirLock.acquire(data)
        assert info.value.exit_code == EXIT_USAGE
        message = str(info.value)
        assert f"pid {os.getpid()}" in message
        assert str(data) in message
        assert "agent.data_dir" in message
    assert agent_holds(data) is False
    DataDirLock.acquire(data).release()  # free again once released


def test_no_lock_file_means_no_agent(tmp_path: Path) -> None:
    assert agent_holds(tmp_path) is False
    assert not (tmp_path / LOCK_FILENAME).exists()  # looking never creates it


def test_a_killed_holder_leaves_a_stale_pid_but_no_stale_lock(tmp_path: Path) -> None:
    lock_file = tmp_path / LOCK_FILENAME
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_file)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=f"pid {proc.pid}\\)"):
            DataDirLock.acquire(tmp_path)
        assert agent_holds(tmp_path) is True
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert lock_file.read_text() == f"{proc.pid}\n"  # the stale pid is still written there
    with DataDirLock.acquire(tmp_path):
        assert lock_file.read_text() == f"{os.getpid()}\n"


def test_the_lock_leaves_sqlite_locks_alone(tmp_path: Path, clock: FakeClock) -> None:
    """Taking and dropping the lock opens and closes a descriptor: it must not be the
    database's (closing one drops the process's POSIX locks on it)."""
    store = Store.open(tmp_path, clock=clock)
    try:
        with store.transaction():
            DataDirLock.acquire(tmp_path).release()
            assert agent_holds(tmp_path) is False
        assert store.integrity_check() == []
    finally:
        store.close()
