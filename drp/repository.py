"""What the restic and borg sources share: a repository of snapshots behind a command-line tool.

A repository source lists the newest snapshot (restic) or archive (borg) matching its filters;
its time is the backup's time. When wanted, the snapshot is sized by a second command within
what is left of the timeout, once per new snapshot: the size (or the failure to get it) is
remembered, so a repository costs one extra command per new backup, not per check. A restore
drill restores that same newest snapshot (:meth:`RepositorySource.restore`).

A subclass says how to run its tool (:meth:`~RepositorySource.run`), list, size and restore,
and how to read a failed run (:meth:`~RepositorySource.failure`).
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import timedelta
from typing import Generic, Protocol, TypeVar

from agent.core.clock import Clock, SystemClock
from agent.core.model import BackupObservation
from drp.sources import (
    DEFAULT_RUNNER,
    BinaryMissingError,
    CommandResult,
    CommandRunner,
    Restored,
    Snapshot,
    SourceFailure,
    failed,
    observe_snapshot,
    redact,
    resolve_binary,
)

log = logging.getLogger(__name__)


class RepositoryConfig(Protocol):
    """The settings every repository source has (``ResticBackup``, ``BorgBackup``)."""

    @property
    def timeout(self) -> timedelta: ...

    @property
    def binary(self) -> str: ...


C = TypeVar("C", bound=RepositoryConfig)


def byte_count(value: object, field: str) -> int:
    """A size from a tool's JSON output: a non-negative integer, else ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{field} is {value!r}")
    return value


class RepositorySource(ABC, Generic[C]):
    """Checks one repository (see the module docstring); a subclass names its ``kind``."""

    kind: str

    def __init__(
        self,
        config: C,
        name: str,
        *,
        runner: CommandRunner | None,
        with_size: bool,
        clock: Clock | None,
    ) -> None:
        self.config = config
        self.name = name
        self._clock = clock or SystemClock()
        self._runner = runner or DEFAULT_RUNNER
        self._with_size = with_size
        # (snapshot id, size or None when sizing failed): one attempt per new snapshot
        self._size_cache: tuple[str, int | None] | None = None

    # -- what a tool differs in --------------------------------------------------------------

    @abstractmethod
    def secrets(self) -> tuple[str, ...]:
        """Password values that must never appear in a detail or a log."""

    @abstractmethod
    async def run(
        self, *args: str, time_limit: float, cwd: str | os.PathLike[str] | None = None
    ) -> CommandResult:
        """Run the tool with ``args`` against the repository; raise :class:`SourceFailure`
        when it cannot be started (missing program, unreadable password)."""

    @abstractmethod
    def _read_failure(self, result: CommandResult) -> tuple[str, str]:
        """Why the tool failed: a reason of :mod:`drp.sources` and the tool's own words."""

    @abstractmethod
    async def _newest(self, time_limit: float) -> Snapshot:
        """List the repository: the newest matching snapshot, or raise :class:`SourceFailure`."""

    @abstractmethod
    async def _size(self, snap: Snapshot, time_limit: float) -> int:
        """The snapshot's size in bytes; ``ValueError``/``KeyError``/``TypeError``/``IndexError``
        when the tool cannot tell (the size is then unknown, the check still good)."""

    @abstractmethod
    def _label(self, snap: Snapshot) -> str:
        """How a detail names the snapshot (``snapshot 1a2b3c4d``, ``archive NAME``)."""

    @abstractmethod
    def _restore_args(self, snap: Snapshot, target: str) -> tuple[list[str], str | None]:
        """The tool's arguments that restore ``snap`` into ``target``, and the cwd to run in."""

    # -- shared ------------------------------------------------------------------------------

    def failure(self, result: CommandResult, program: str) -> SourceFailure:
        """The reason and scrubbed one-line detail of a failed (or killed) run of ``program``."""
        if result.timed_out:
            return SourceFailure(
                "timeout", f"{program} did not finish within {result.seconds:.0f} s"
            )
        reason, text = self._read_failure(result)
        detail = f"{program} exit {result.returncode}: {text.strip()}"
        return SourceFailure(reason, redact(detail, self.secrets()))

    def _binary(self) -> str:
        try:
            return resolve_binary(self.config.binary)
        except BinaryMissingError as exc:
            raise SourceFailure("binary_missing", str(exc)) from None

    async def _exec(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        time_limit: float,
        cwd: str | os.PathLike[str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> CommandResult:
        try:
            return await self._runner.run(
                argv, env=env, time_limit=time_limit, cwd=cwd, pass_fds=pass_fds
            )
        except BinaryMissingError as exc:
            raise SourceFailure("binary_missing", str(exc)) from None

    async def check(self) -> BackupObservation:
        """Newest snapshot time (and size when cheap); never raise."""
        try:
            snap = await self.newest(size=self._with_size)
        except SourceFailure as exc:
            return failed(self.name, exc.reason, exc.detail)
        except Exception as exc:  # a bug must not stop the agent
            log.exception("%s source %s failed", self.kind, self.name)
            return failed(self.name, "source_error", f"{type(exc).__name__}: {exc}")
        return observe_snapshot(
            self.name,
            snap,
            now=self._clock.now(),
            label=self._label(snap),
            size_wanted=self._with_size,
        )

    async def newest(self, *, size: bool = False) -> Snapshot:
        """The newest snapshot matching the filters, sized when ``size`` and time allow;
        raise :class:`SourceFailure` otherwise."""
        limit = self.config.timeout.total_seconds()
        deadline = time.monotonic() + limit
        snap = await self._newest(limit)
        if not size or snap.size_bytes is not None:
            return snap
        if self._size_cache is not None and self._size_cache[0] == snap.id:
            return Snapshot(snap.id, snap.time, self._size_cache[1])
        remaining = deadline - time.monotonic()
        if remaining < 1:
            return snap
        self._size_cache = (snap.id, None)
        try:
            total = await self._size(snap, remaining)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.info(
                "%s source %s: size unknown: %s",
                self.kind,
                self.name,
                redact(str(exc), self.secrets()),
            )
            return snap
        self._size_cache = (snap.id, total)
        return Snapshot(snap.id, snap.time, total)

    async def restore(self, target: str, time_left: Callable[[], float]) -> Restored:
        """Restore the newest snapshot into ``target`` (files land under their absolute path
        without the leading ``/``). Restores take the repository lock, unlike checks."""
        snap = await self.newest()
        args, cwd = self._restore_args(snap, target)
        result = await self.run(*args, time_limit=time_left(), cwd=cwd)
        if result.returncode == 0:
            return Restored(snap, None)
        return Restored(snap, self.failure(result, f"{self.kind} {args[0]}"))
