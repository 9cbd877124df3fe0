"""The ``files`` backup source: the newest modification time among files matching a glob.

Rules, in the order they apply to each matching regular file:

- smaller than ``min_size`` (default 1 byte: empty dumps) → ignored;
- modified more than ``skew`` (5 min) in the future → the whole source reports
  ``future_mtime``: a wrong clock or a bad copy must never look like a fresh backup;
- modified within the last ``settle`` (60 s) → still being written (``pg_dump | gzip`` touches
  the file on every write), ignored for now. We chose the mtime rule over "the size changed between
  two stats" because it needs one pass and catches writers that pause for less than the window; a
  minute's delay in noticing a backup is nothing against an RPO of hours;
- otherwise a candidate: the newest candidate's mtime is the backup's finish time.

Glob syntax is the shell's: ``*``, ``?``, ``[...]`` within one path component, ``**`` for any
number of directories. Like :mod:`glob`, wildcards do not match names starting with a dot (rsync
and many tools write temporary files as ``.name.XXXX``). ``**`` does not follow symlinked
directories (no loops). A missing base directory is ``no_files``; an unreadable base directory
(the part of the pattern before the first wildcard) is ``unreadable``; unreadable directories
below it are skipped and counted in ``detail`` (a root-only ``lost+found`` must not fail every
check). The scan runs in a worker thread under the source's timeout (a hung NFS mount gives
``timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

from agent.config.models import FilesBackup
from agent.core.clock import Clock, SystemClock
from agent.core.durations import format_duration
from agent.core.model import CLOCK_SKEW, BackupObservation
from drp.sources import SourceSettings, failed, redact

log = logging.getLogger(__name__)

SETTLE = timedelta(seconds=60)
SKEW = CLOCK_SKEW
_MAGIC = frozenset("*?[")


@dataclass
class _Scan:
    files: set[str] = field(default_factory=set)
    skipped_dirs: int = 0


def _has_magic(part: str) -> bool:
    return any(c in _MAGIC for c in part)


def split_pattern(pattern: str) -> tuple[str, list[str]]:
    """Split a glob into its literal base directory and the remaining components."""
    parts = os.path.expanduser(pattern).split("/")
    i = 0
    while i < len(parts) - 1 and not _has_magic(parts[i]):
        i += 1
    base = "/".join(parts[:i])
    if not base:
        base = "/" if pattern.startswith("/") else "."
    rest = [p for p in parts[i:] if p]
    if rest and rest[-1] == "**":  # "dir/**" means every file below dir
        rest.append("*")
    return base, rest


def _matches(name: str, part: str) -> bool:
    if name.startswith(".") and not part.startswith("."):
        return False
    return fnmatchcase(name, part)


def _walk(directory: str, rest: list[str], scan: _Scan, *, top: bool) -> None:
    """Collect files under ``directory`` matching ``rest``; errors below the top are counted."""
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError:
        if top:
            raise
        scan.skipped_dirs += 1
        return
    _match(entries, rest, scan)


def _match(entries: list[os.DirEntry[str]], rest: list[str], scan: _Scan) -> None:
    part, tail = rest[0], rest[1:]
    if part == "**":
        _match(entries, tail, scan)  # ``**`` standing for no directory at all
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                _walk(entry.path, rest, scan, top=False)
        return
    for entry in entries:
        if not _matches(entry.name, part):
            continue
        try:
            if not tail:
                if entry.is_file():
                    scan.files.add(entry.path)
            elif entry.is_dir():
                _walk(entry.path, tail, scan, top=False)
        except OSError:
            scan.skipped_dirs += 1


def scan_files(
    source: str,
    pattern: str,
    *,
    now: datetime,
    min_size: int = 1,
    settle: timedelta = SETTLE,
    skew: timedelta = SKEW,
) -> BackupObservation:
    """Apply the module's rules to the files matching ``pattern`` as of ``now`` (blocking I/O)."""
    base, rest = split_pattern(pattern)
    scan = _Scan()
    try:
        if not rest:
            raise NotADirectoryError(f"{pattern!r} has no file name part")
        _walk(base, rest, scan, top=True)
    except FileNotFoundError:
        return failed(source, "no_files", redact(f"directory {base} does not exist"))
    except OSError as exc:
        return failed(source, "unreadable", redact(f"cannot list {base}: {exc.strerror or exc}"))

    empty = unsettled = 0
    newest: tuple[datetime, int, str] | None = None
    future: tuple[datetime, str] | None = None
    for path in scan.files:
        try:
            st = os.stat(path)
        except OSError:
            continue  # removed between listing and stat (rotation): not a candidate
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_size < min_size:
            empty += 1
            continue
        mtime = datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC)
        if mtime > now + skew:
            if future is None or mtime > future[0]:
                future = (mtime, path)
            continue
        if mtime > now - settle:
            unsettled += 1
            continue
        if newest is None or mtime > newest[0]:
            newest = (mtime, st.st_size, path)

    skipped = f"; {scan.skipped_dirs} unreadable directories skipped" if scan.skipped_dirs else ""
    if future is not None:
        ahead = future[0] - now
        return failed(
            source,
            "future_mtime",
            redact(
                f"{future[1]} is dated {future[0].isoformat()}, {int(ahead.total_seconds())} s "
                "in the future: check the clocks of this host and of the backup writer"
            ),
        )
    if newest is None:
        seen = len(scan.files)
        why = f"no file matches {pattern}"
        if seen:
            why = f"{seen} files match {pattern}: {empty} smaller than {min_size} bytes"
            why += f", {unsettled} still being written (modified in the last {format_duration(settle)})"
        return failed(source, "no_files", redact(why + skipped))
    mtime, size, path = newest
    return BackupObservation(
        source=source,
        ok=True,
        last_success_at=mtime,
        size_bytes=size,
        reason="",
        detail=redact(f"{path}{skipped}"),
    )


class FilesSource:
    """Checks a :class:`~agent.config.models.FilesBackup` (see the module docstring for the rules)."""

    kind = "files"

    def __init__(
        self,
        config: FilesBackup,
        name: str,
        *,
        clock: Clock | None = None,
        settle: timedelta = SETTLE,
        skew: timedelta = SKEW,
    ) -> None:
        self.config = config
        self.name = name
        self._clock = clock or SystemClock()
        self._settle = settle
        self._skew = skew
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: FilesBackup, name: str, settings: SourceSettings) -> FilesSource:
        """The source for ``config`` (it runs no program and keeps no state on disk)."""
        return cls(config, name, clock=settings.clock)

    async def check(self) -> BackupObservation:
        """Scan in a worker thread within the configured timeout; never raise.

        The scan gets its own daemon thread rather than the loop's shared executor: a hung NFS
        mount then blocks neither other work queued on that pool nor the agent's shutdown. While
        a previous scan is still stuck, no second thread is started.
        """
        if self._thread is not None and self._thread.is_alive():
            return failed(
                self.name, "timeout", "the previous listing is still blocked (hung mount?)"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BackupObservation] = loop.create_future()
        now = self._clock.now()

        def work() -> None:
            try:
                result = scan_files(
                    self.name,
                    self.config.path,
                    now=now,
                    min_size=self.config.min_size,
                    settle=self._settle,
                    skew=self._skew,
                )
            except Exception as exc:  # handed to the awaiting side, which logs it
                with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                    loop.call_soon_threadsafe(_settle_future, future, None, exc)
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_future, future, result, None)

        self._thread = threading.Thread(target=work, name=f"pantau-files-{self.name}", daemon=True)
        self._thread.start()
        try:
            async with asyncio.timeout(self.config.timeout.total_seconds()):
                return await future
        except TimeoutError:
            return failed(
                self.name,
                "timeout",
                f"listing took longer than {format_duration(self.config.timeout)}",
            )
        except Exception as exc:  # a bug here must not stop the agent (DataDog's AgentCheck.run)
            log.exception("files source %s failed", self.name)
            return failed(self.name, "source_error", f"{type(exc).__name__}: {exc}")


def _settle_future(
    future: asyncio.Future[BackupObservation],
    result: BackupObservation | None,
    exc: Exception | None,
) -> None:
    if future.done():  # the waiter timed out or was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    elif result is not None:
        future.set_result(result)
