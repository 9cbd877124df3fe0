"""Regression: a second in-process open must not drop the first connection's POSIX locks.

Closing any descriptor of a file drops every POSIX lock the process holds on it. When the
writer's open read the database header with a plain ``open()``/``close()``, the agent's
locks vanished, the next reader in another process believed it was the last connection and
deleted the live WAL: every later write went to an unlinked file and was lost.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.store.database import Store
from tests.fakes import FakeClock
from tests.store.conftest import at, make_round

READ = (
    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
    "print(c.execute('SELECT count(*) FROM rounds').fetchone()[0]); c.close()"
)


def other_process_count(db: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", READ, str(db)], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def test_second_open_keeps_the_wal_visible_to_other_processes(
    tmp_path: Path, clock: FakeClock
) -> None:
    agent_store = Store.open(tmp_path, clock=clock)  # the agent's own connection
    writer = Store.open_file(
        tmp_path / "pantau.db", quick_check=False, recover_corrupt=False, clock=clock
    )
    try:
        for i in range(3):
            writer.append_rounds([make_round("svc", at(i))])
            assert other_process_count(tmp_path / "pantau.db") == i + 1
            assert (tmp_path / "pantau.db-wal").exists()
    finally:
        writer.close()
        agent_store.close()
