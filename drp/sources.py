"""What every backup source returns and offers (checking, and restoring for drills), and the
subprocess runner the repository sources share.

A backup source answers one question — *when did the newest good backup finish?* — and returns
a frozen :class:`BackupObservation`. Like a probe, it never raises: a broken repository is data.

Reasons (``BackupObservation.reason``; empty when ``ok``)::

    no_files          no settled, non-empty file matches the glob (or its directory is missing)
    future_mtime      a matching file is dated beyond the allowed clock skew: its time is untrusted
    future_time       the newest snapshot/archive is dated beyond the skew (the backup host's clock)
    unreadable        the glob's base directory (or the file) cannot be read
    no_snapshots      the repository holds no snapshot/archive matching the filters
    wrong_password    the repository rejected the password / passphrase
    password_missing  no password configured, or its file / environment variable is unreadable
    repo_locked       the repository is locked by another process (transient: backup/prune runs)
    repo_not_found    no repository at the configured location
    binary_missing    the restic / borg program is not installed (or not executable)
    timeout           the check did not finish within its timeout (the process was killed)
    parse_error       the program's output was not the JSON we expected
    command_failed    the program failed for another reason (exit code and stderr tail in detail)
    source_error      a bug inside the source (logged; the agent carries on)

``repo_locked`` and ``timeout`` are usually transient. No reason ever resets the last known good
backup time: :func:`agent.engine.rpo.merge` keeps it.

Subprocesses run through one :class:`CommandRunner`: a semaphore caps how many run at once (so a
hundred repository checks cannot starve the agent of CPU), each runs under ``nice`` in its own
session (no controlling terminal: restic and borg cannot block on a password prompt) and, on
timeout or cancellation, its whole process group is terminated, then killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from agent.core.clock import Clock
from agent.core.model import CLOCK_SKEW, BackupObservation
from agent.core.scrub import clip_scrubbed, mask

log = logging.getLogger(__name__)


#: Longest ``detail`` we keep: enough for a stderr tail, short enough for a metric label or a log.
MAX_DETAIL = 300


class SourceFailure(Exception):
    """Internal to the sources: a check failed with a reason; turned into an observation."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Snapshot:
    """The newest snapshot (restic) or archive (borg) of a repository.

    ``time`` is when that backup *started* (restic's snapshot time, borg's archive time): the
    moment its data is from, which is what RPO measures.
    """

    id: str
    time: datetime  # aware UTC
    size_bytes: int | None = None


def observe_snapshot(
    source: str, snap: Snapshot, *, now: datetime, label: str, size_wanted: bool
) -> BackupObservation:
    """The observation for a repository's newest snapshot; a future-dated one is not trusted."""
    if snap.time > now + CLOCK_SKEW:
        ahead = int((snap.time - now).total_seconds())
        return failed(
            source,
            "future_time",
            f"{label} is dated {snap.time.isoformat()}, {ahead} s in the future: "
            "check the clock of the host that made it",
        )
    detail = label + (" (size unknown)" if size_wanted and snap.size_bytes is None else "")
    return BackupObservation(source, True, snap.time, snap.size_bytes, "", clip(detail))


def failed(source: str, reason: str, detail: str) -> BackupObservation:
    """An observation that proves nothing (``ok=False``)."""
    return BackupObservation(source, False, None, None, reason, clip(detail))


@dataclass(frozen=True)
class SourceSettings:
    """What a source takes from the agent besides its own configuration (see :mod:`drp.registry`)."""

    clock: Clock | None = None  # default: the system clock
    runner: CommandRunner | None = None  # default: :data:`DEFAULT_RUNNER`
    #: e.g. ``<data_dir>/drp``, for restic's cache and borg's base dir; default: the user's home
    state_dir: Path | None = None


class BackupSource(Protocol):
    """One configured backup source, ready to be checked."""

    #: the ``source`` label (configured name or ``<type>-<index>``)
    name: str
    #: the backup's ``type`` (its key in :data:`drp.registry.SOURCES`)
    kind: str

    async def check(self) -> BackupObservation:
        """Look once within the source's timeout; never raise."""
        ...


@dataclass(frozen=True)
class Restored:
    """The restore step of a drill: what was restored, and whether that worked."""

    snapshot: Snapshot
    failure: SourceFailure | None  # why the restore failed; None when it worked


@runtime_checkable
class Restorable(Protocol):
    """A source a restore drill can restore from (:mod:`drp.drills`)."""

    name: str
    kind: str

    def secrets(self) -> tuple[str, ...]:
        """Password values that must never appear in a drill's detail."""
        ...

    async def restore(self, target: str, time_left: Callable[[], float]) -> Restored:
        """Restore the newest backup into ``target``; raise :class:`SourceFailure` when there
        is nothing to restore. ``time_left()`` gives the drill's remaining seconds."""
        ...


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """One line, at most ``limit`` characters (the end is kept: errors come last)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def redact(text: str, secrets: Sequence[str] = (), limit: int = MAX_DETAIL) -> str:
    """:func:`clip`, with any of ``secrets`` a program echoed back masked and URL credentials
    scrubbed. The text is clipped *before* it is scrubbed (:func:`agent.core.scrub.clip_scrubbed`):
    a 64 KiB stderr tail or pushed detail costs no more than 300 characters (FAULTS 34)."""
    return clip_scrubbed(" ".join(mask(text, secrets).split()), limit, keep_end=True)


@dataclass(frozen=True)
class CommandResult:
    """How a subprocess ended. ``returncode`` is ``None`` when it was killed after the timeout."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    seconds: float  # monotonic
    stdout_truncated: bool = False


class BinaryMissingError(Exception):
    """The program could not be found or executed."""


def resolve_binary(binary: str) -> str:
    """Absolute path of ``binary`` (a name on PATH or a path); raise :class:`BinaryMissingError`."""
    path = shutil.which(binary)
    if path is None:
        raise BinaryMissingError(f"{binary!r} not found on PATH or not executable")
    return path


class CommandRunner:
    """Runs subprocesses with a concurrency cap, low priority, output caps and a hard timeout.

    The semaphore is created per event loop (an ``asyncio.Semaphore`` is bound to the loop that
    first waits on it), so one runner can serve the agent and every ``asyncio.run`` in tests.
    The timeout starts when the process starts, not while it waits for a slot: queueing behind
    other sources is not the repository's fault.
    """

    def __init__(
        self,
        limit: int = 4,
        *,
        nice: int | None = 10,
        max_stdout: int = 32 * 1024 * 1024,
        max_stderr: int = 64 * 1024,
        kill_grace: float = 2.0,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._prefix: list[str] = []
        nice_path = shutil.which("nice") if nice else None
        if nice_path is not None:
            self._prefix = [nice_path, "-n", str(nice)]
        self._max_stdout = max_stdout
        self._max_stderr = max_stderr
        self._kill_grace = kill_grace
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        time_limit: float,
        cwd: str | os.PathLike[str] | None = None,
        pass_fds: Sequence[int] = (),
        low_priority: bool = True,
    ) -> CommandResult:
        """Run ``argv`` (``argv[0]`` already resolved) and collect its output.

        Raises :class:`BinaryMissingError` when the program cannot be executed; every other
        outcome (non-zero exit, timeout) is in the result. Cancelling the caller kills the process.
        """
        async with self._semaphore():
            return await self._run(argv, env, time_limit, cwd, pass_fds, low_priority)

    async def _run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        time_limit: float,
        cwd: str | os.PathLike[str] | None,
        pass_fds: Sequence[int],
        low_priority: bool,
    ) -> CommandResult:
        full = [*self._prefix, *argv] if low_priority else list(argv)
        log.debug("running %s", argv[0])
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *full,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(env),
                cwd=cwd,
                pass_fds=tuple(pass_fds),
                # Own session: no controlling terminal (no password prompt can block) and one
                # process group we can kill as a whole (ssh, rclone, shells and their children).
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise BinaryMissingError(f"cannot execute {argv[0]!r}: {exc.strerror}") from None
        assert proc.stdout is not None
        assert proc.stderr is not None
        out_task = asyncio.create_task(_drain(proc.stdout, self._max_stdout))
        err_task = asyncio.create_task(_drain(proc.stderr, self._max_stderr))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(time_limit):
                    await proc.wait()
                    # A grandchild may hold the pipes open after the child exits: the timeout
                    # bounds that too.
                    await asyncio.wait({out_task, err_task})
            except TimeoutError:
                timed_out = True
        finally:
            if proc.returncode is None or timed_out:
                await self._kill(proc)
            # Output read so far is kept; a reader still blocked on a leaked pipe is cancelled.
            done, pending = await asyncio.wait({out_task, err_task}, timeout=1.0)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        stdout, out_trunc = out_task.result() if out_task in done else (b"", False)
        stderr, _ = err_task.result() if err_task in done else (b"", False)
        return CommandResult(
            returncode=None if timed_out else proc.returncode,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            seconds=time.monotonic() - start,
            stdout_truncated=out_trunc,
        )

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the process group (restic and borg then release their locks), then SIGKILL."""
        for sig, wait in ((signal.SIGTERM, self._kill_grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                # Shielded so that a cancelled caller still reaps the child (no zombie).
                await asyncio.wait_for(asyncio.shield(proc.wait()), wait)
                break
            except TimeoutError:
                continue
        # The leader is gone; whatever is left of its group (a backgrounded grandchild) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


async def _drain(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Read a pipe to its end, keeping at most ``limit`` bytes (the rest is discarded)."""
    chunks: list[bytes] = []
    kept = 0
    truncated = False
    while chunk := await stream.read(65536):
        if kept < limit:
            piece = chunk[: limit - kept]
            chunks.append(piece)
            kept += len(piece)
            truncated = truncated or len(piece) < len(chunk)
        else:
            truncated = True
    return b"".join(chunks), truncated


def child_env(
    overrides: Mapping[str, str],
    *,
    remove: Sequence[str] = (),
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The agent's environment (cloud credentials, proxies live there) minus ``remove``, plus
    ``overrides``. Removing first means a configured password never mixes with an inherited one."""
    env = dict(os.environ if base is None else base)
    for key in remove:
        env.pop(key, None)
    env.update(overrides)
    return env


#: the shared runner used when a source is built without one
DEFAULT_RUNNER = CommandRunner()
