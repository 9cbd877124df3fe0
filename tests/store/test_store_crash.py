"""FAULTS row 10: ``kill -9`` during writes, 20 times — only whole transactions survive."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from agent.store.database import Store

ROWS_PER_BATCH = 25  # every batch writes exactly this many rounds and transitions
KILLS = 20

# The writing child: the agent's path (StoreWriter) or one explicit transaction per batch
# (what the CLI does). Each batch's rows carry the tag <prefix>-<N> in reasons / reason.
CHILD = """
import itertools, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from agent.core.model import Round, State, Transition
from agent.store.database import Store
from agent.store.writer import StoreWriter
from probes.base import Outcome

path, mode, prefix, n = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store.open_file(path)
writer = StoreWriter(path, batch_interval=0.01, max_batch=20).start() if mode == "writer" else None
t0 = datetime(2024, 9, 1, tzinfo=UTC)
print("ready", flush=True)
for b in itertools.count():
    tag, when = f"{prefix}-{b}", t0 + timedelta(seconds=b)
    rounds = [Round("svc", when, Outcome.DOWN, (tag,)) for _ in range(n)]
    transitions = [Transition("svc", when, State.DOWN, tag) for _ in range(n)]
    if writer is not None:
        writer.append_rounds(rounds)
        writer.append_transitions(transitions)
        writer.save_machine_states({"svc": {"tag": tag}})
        while writer.queue_depth > 500:  # stay below the queue bound: nothing is dropped
            time.sleep(0.001)
    else:
        with store.transaction():
            store.append_rounds(rounds)
            store.append_transitions(transitions)
            store.save_machine_states({"svc": {"tag": tag}})
"""


def _tag_counts(conn: sqlite3.Connection, sql: str) -> dict[str, int]:
    return {tag: n for tag, n in conn.execute(sql).fetchall()}


def _check_whole(path: Path) -> int:
    """Open like the agent does and verify every batch present is complete; return batches."""
    with Store.open_file(path) as store:  # quick_check on open: a damaged file would move
        assert store.moved_aside is None
        assert store.integrity_check() == []
        states = store.load_machine_states()
    conn = sqlite3.connect(path)
    try:
        rounds = _tag_counts(
            conn, "SELECT json_extract(reasons, '$[0]'), count(*) FROM rounds GROUP BY 1"
        )
        transitions = _tag_counts(conn, "SELECT reason, count(*) FROM transitions GROUP BY 1")
    finally:
        conn.close()
    assert set(rounds.values()) <= {ROWS_PER_BATCH}, rounds
    assert set(transitions.values()) <= {ROWS_PER_BATCH}, transitions
    if "svc" in states:
        # The saved machine state never runs ahead of the transitions it summarises.
        assert states["svc"]["tag"] in transitions
    # Batches of "direct" children: one transaction wrote rounds and transitions together.
    direct = {t for t in transitions if t.split("-")[0].endswith("d")}
    assert direct == {t for t in rounds if t.split("-")[0].endswith("d")}
    return len(transitions)


def test_kill_9_mid_write_keeps_only_whole_transactions(tmp_path: Path) -> None:
    path = tmp_path / "pantau.db"
    rng = random.Random(10)  # reproducible kill points
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    batches_seen = 0
    for i in range(KILLS):
        mode = "writer" if i % 2 == 0 else "direct"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), mode, f"k{i}{mode[0]}", str(ROWS_PER_BATCH)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ready", child.stderr.read() if child.stderr else ""
            time.sleep(rng.uniform(0.05, 0.4))
            assert child.poll() is None, "the writer stopped by itself"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(10)
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
        assert child.returncode == -signal.SIGKILL
        batches = _check_whole(path)
        assert batches >= batches_seen  # committed batches never disappear
        batches_seen = batches
    assert batches_seen > KILLS  # the children really wrote between kills
