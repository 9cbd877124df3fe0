"""The writer's bounded queue and its drop policy (pure: no threads, no SQLite).

When the queue is full the **oldest raw rounds** go first, then the oldest host samples;
transitions, machine state, incidents, backups and drills are never dropped (they are rare,
so accepting them past the bound keeps memory small). Machine-state saves coalesce into one
pending op that moves to the back, so it always lands after every transition submitted
before it: a crash never leaves a saved state ahead of the history it summarises.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.store.database import Store


class OpKind(StrEnum):
    """What a queued write is; decides what may be dropped when the queue is full."""

    ROUNDS = "rounds"
    HOST_SAMPLE = "host_sample"
    TRANSITIONS = "transitions"
    MACHINE_STATES = "machine_states"
    INCIDENT = "incident"
    AUDIT = "audit"
    BACKUP = "backup"
    BACKUP_STATE = "backup_state"
    DRILL = "drill"
    OTHER = "other"


#: Dropped first-to-last when the queue is full; nothing else is ever dropped.
DROP_ORDER = (OpKind.ROUNDS, OpKind.HOST_SAMPLE)


@dataclass(frozen=True, eq=False)
class WriteOp:
    """One queued write: ``apply`` runs on the writer's :class:`Store` inside the batch."""

    kind: OpKind
    apply: Callable[[Store], object]
    rows: int = 1  # rows this op carries (what storage_dropped_total counts)
    payload: Any = None  # machine states, kept for coalescing


def states_op(data: dict[str, dict[str, Any]]) -> WriteOp:
    """The op saving machine-state snapshots ``data``."""
    return WriteOp(
        OpKind.MACHINE_STATES, lambda s: s.save_machine_states(data), len(data), payload=data
    )


class WriteQueue:
    """FIFO of :class:`WriteOp` with a soft bound; the caller serialises access."""

    def __init__(self, max_ops: int) -> None:
        self.max_ops = max_ops
        self._ops: deque[WriteOp] = deque()
        self._pending_states: WriteOp | None = None

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[WriteOp]:
        return iter(self._ops)

    def push(self, op: WriteOp) -> tuple[int, OpKind | None]:
        """Append ``op``; return the rows dropped to make room and their kind."""
        if op.kind is OpKind.MACHINE_STATES:
            op = self._coalesce(op)
        dropped: tuple[int, OpKind | None] = (0, None)
        if len(self._ops) >= self.max_ops:
            dropped = self._make_room()
        self._ops.append(op)
        return dropped

    def take(self, n: int) -> list[WriteOp]:
        """Remove and return the oldest ``n`` ops (fewer if fewer are queued)."""
        batch = [self._ops.popleft() for _ in range(min(n, len(self._ops)))]
        if self._pending_states is not None and any(op is self._pending_states for op in batch):
            self._pending_states = None  # taken: the next save starts a fresh op
        return batch

    def rows(self) -> int:
        """Rows carried by the queued ops."""
        return sum(op.rows for op in self._ops)

    def _coalesce(self, op: WriteOp) -> WriteOp:
        old = self._pending_states
        if old is not None:
            self._ops.remove(old)
            op = states_op({**old.payload, **op.payload})
        self._pending_states = op
        return op

    def _make_room(self) -> tuple[int, OpKind | None]:
        for kind in DROP_ORDER:
            for i, queued in enumerate(self._ops):
                if queued.kind is kind:
                    del self._ops[i]
                    return queued.rows, kind
        return 0, None
