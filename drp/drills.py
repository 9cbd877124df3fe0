"""Restore drills (SPEC §4): prove a backup can be restored, how long it takes, how old its data is.

An automated drill, in a fresh scratch directory under ``drill.scratch_dir`` (default: the
system temp dir):

1. restores — with the configured ``restore_command`` (``sh -c``, cwd and ``PANTAU_SCRATCH_DIR``
   = the scratch dir) when there is one, else from the first backup source that can restore
   (:class:`drp.sources.Restorable`: restic restores its newest snapshot, borg extracts its newest
   archive). Either way files land under their original absolute path without the leading
   ``/`` (``DIR/srv/app/db.sql``). A restore command may print a line
   ``PANTAU_DATA_AS_OF=<ISO 8601>`` to say how old its data is;
2. runs ``verify_command`` (``sh -c``, cwd = scratch dir; ``PANTAU_SCRATCH_DIR``,
   ``PANTAU_SERVICE`` and ``PANTAU_DATA_AS_OF`` set): exit 0 means the data is good;
3. deletes the scratch directory, whatever happened.

``restore_seconds`` (monotonic clock) covers the restore step only and is compared with the RTO;
the data age (restore start − snapshot time) is compared with the RPO. ``ok`` says whether the
restore and the verification worked; missing the RTO or RPO is reported in ``rto_met`` /
``rpo_met``, not as a failed drill. ``drill.timeout`` bounds the whole drill. Restores take the
repository lock (unlike checks): a prune must not delete data under a running restore.

Reasons: ``no_restore_method``, ``scratch_error``, ``restore_failed``, ``verify_failed``,
``timeout``, and the repository reasons of :mod:`drp.sources` (``wrong_password``, ``repo_locked``,
``no_snapshots``, …).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config.katalog import source_name
from agent.config.models import DrillSettings, Service
from agent.core.clock import Clock
from agent.core.durations import format_duration
from agent.core.scrub import mask
from drp.registry import build_source
from drp.sources import (
    CommandResult,
    CommandRunner,
    Restorable,
    SourceFailure,
    SourceSettings,
    redact,
)

log = logging.getLogger(__name__)

#: Drills get their own runner: a restore may take hours and must not hold a slot of the checks.
DRILL_RUNNER = CommandRunner(limit=1, max_stdout=1024 * 1024)
_AS_OF_PREFIX = "PANTAU_DATA_AS_OF="


@dataclass(frozen=True)
class DrillResult:
    """The outcome of one restore drill (automated or recorded by hand)."""

    service: str
    method: str  # "restic:<source>", "borg:<source>", "command" or "manual"
    ok: bool
    reason: str  # '' when ok
    started_at: datetime  # aware UTC, start of the restore
    restored_at: datetime | None  # end of the restore
    data_as_of: datetime | None  # time of the restored snapshot
    restore_seconds: float | None
    files_restored: int | None
    bytes_restored: int | None
    verify_exit_code: int | None
    detail: str
    rto_met: bool | None  # None when no RTO or no measured restore
    rpo_met: bool | None  # None when no RPO or the data age is unknown

    @property
    def data_age(self) -> timedelta | None:
        """Restore start − snapshot time: how much data a real recovery would have lost."""
        return None if self.data_as_of is None else self.started_at - self.data_as_of


def _judge(
    restore_seconds: float | None,
    started: datetime,
    data_as_of: datetime | None,
    rto: timedelta | None,
    rpo: timedelta | None,
) -> tuple[bool | None, bool | None]:
    rto_met = None
    if rto is not None and restore_seconds is not None:
        rto_met = restore_seconds <= rto.total_seconds()
    rpo_met = None
    if rpo is not None and data_as_of is not None:
        rpo_met = started - data_as_of <= rpo
    return rto_met, rpo_met


def manual_drill(
    started: datetime,
    restored: datetime,
    data_as_of: datetime | None,
    rto: timedelta | None,
    rpo: timedelta | None,
    *,
    service: str = "",
    detail: str = "",
) -> DrillResult:
    """A drill done by hand and recorded with ``pantau drill record``."""
    for name, value in (("started", started), ("restored", restored), ("data_as_of", data_as_of)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must carry a UTC offset")
    if restored < started:
        raise ValueError("the restore cannot end before it started")
    if data_as_of is not None and data_as_of > started:
        raise ValueError("data_as_of cannot be after the restore started")
    seconds = (restored - started).total_seconds()
    rto_met, rpo_met = _judge(seconds, started, data_as_of, rto, rpo)
    return DrillResult(
        service=service,
        method="manual",
        ok=True,
        reason="",
        started_at=started.astimezone(UTC),
        restored_at=restored.astimezone(UTC),
        data_as_of=data_as_of.astimezone(UTC) if data_as_of else None,
        restore_seconds=seconds,
        files_restored=None,
        bytes_restored=None,
        verify_exit_code=None,
        detail=redact(detail),
        rto_met=rto_met,
        rpo_met=rpo_met,
    )


def _count(root: str) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
    return files, size


def _remove(root: str) -> str:
    """Delete the scratch dir; restored read-only directories are made writable first."""

    def retry(func: Callable[..., object], path: str, _exc: object) -> None:
        for p in (os.path.dirname(path), path):
            with contextlib.suppress(OSError):
                os.chmod(p, 0o700)
        func(path)

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(root, onexc=retry)
        else:  # ``onerror`` is deprecated from 3.12 on
            shutil.rmtree(root, onerror=retry)
    except OSError as exc:
        return f"; scratch dir {root} not fully removed: {exc.strerror}"
    return ""


def _data_as_of(stdout: bytes) -> datetime | None:
    found = None
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(_AS_OF_PREFIX):
            found = line[len(_AS_OF_PREFIX) :].strip()
    if found is None:
        return None
    try:
        parsed = datetime.fromisoformat(found)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


class _Drill:
    """One drill run; the steps share the deadline and the scratch directory."""

    def __init__(
        self,
        service: Service,
        settings: DrillSettings,
        clock: Clock,
        runner: CommandRunner,
        state_dir: Path | None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.clock = clock
        self.runner = runner
        self.state_dir = state_dir
        self.secrets: tuple[str, ...] = ()  # password values to scrub from the detail
        self.deadline = clock.monotonic() + settings.timeout.total_seconds()

    def remaining(self) -> float:
        left = self.deadline - self.clock.monotonic()
        if left <= 0:
            raise SourceFailure(
                "timeout",
                f"the drill exceeded its timeout of {format_duration(self.settings.timeout)}",
            )
        return left

    def base_env(self, scratch: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(PANTAU_SCRATCH_DIR=scratch, PANTAU_SERVICE=self.service.id)
        return env

    async def shell(self, command: str, scratch: str, env: dict[str, str]) -> CommandResult:
        # An administrator's command: not reniced (it may restore a production database).
        return await self.runner.run(
            ["/bin/sh", "-c", command],
            env=env,
            time_limit=self.remaining(),
            cwd=scratch,
            low_priority=False,
        )

    async def restore(self, scratch: str) -> tuple[str, datetime | None, SourceFailure | None]:
        """Run the restore step; return (method, data_as_of, why it failed or None)."""
        command = self.settings.restore_command
        if command:
            result = await self.shell(command, scratch, self.base_env(scratch))
            failure = None if result.returncode == 0 else _command_failure(result)
            return "command", _data_as_of(result.stdout), failure
        sources = SourceSettings(clock=self.clock, runner=self.runner, state_dir=self.state_dir)
        for index, backup in enumerate(self.service.backups):
            source = build_source(backup, source_name(backup, index), sources)
            if isinstance(source, Restorable):
                self.secrets = source.secrets()
                restored = await source.restore(scratch, self.remaining)
                method = f"{source.kind}:{source.name}"
                return method, restored.snapshot.time, restored.failure
        raise SourceFailure(
            "no_restore_method", "no restore_command and no restic or borg backup source to restore"
        )


@dataclass
class _Outcome:
    """What a drill found out so far (mutable while the drill runs)."""

    started: datetime
    method: str = "none"
    restore_seconds: float | None = None
    restored: bool = False
    data_as_of: datetime | None = None
    files: int | None = None
    size: int | None = None
    verify_code: int | None = None
    reason: str = ""
    detail: str = ""

    def fail(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail


async def run_drill(
    service: Service,
    *,
    clock: Clock,
    settings: DrillSettings | None = None,
    scratch_root: Path | None = None,
    runner: CommandRunner | None = None,
    state_dir: Path | None = None,
) -> DrillResult:
    """Run an automated restore drill for ``service`` (see the module docstring).

    Drill failures are in the result, never raised. ``settings`` defaults to
    ``service.drp.drill``; ``scratch_root`` to ``settings.scratch_dir`` or the system temp dir;
    ``state_dir`` is the one the agent gives its sources (:class:`drp.sources.SourceSettings`).
    """
    if settings is None:
        settings = service.drp.drill if service.drp else DrillSettings()
    drill = _Drill(service, settings, clock, runner or DRILL_RUNNER, state_dir)
    out = _Outcome(started=clock.now())
    root = scratch_root or settings.scratch_dir or Path(tempfile.gettempdir())
    try:
        root.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=f"pantau-drill-{service.id}-", dir=root)
    except OSError as exc:
        out.fail("scratch_error", f"cannot create a scratch dir in {root}: {exc.strerror}")
        return _result(service, out)
    try:
        try:
            # Each command gets the time left; this outer bound also covers the listing and the
            # file count (the margin lets a command's own timeout report first).
            async with asyncio.timeout(settings.timeout.total_seconds() + 5):
                await _steps(drill, scratch, out)
        except TimeoutError:
            out.fail(
                "timeout", f"the drill exceeded its timeout of {format_duration(settings.timeout)}"
            )
        except SourceFailure as exc:
            out.fail(exc.reason, exc.detail)
        except Exception as exc:  # the CLI and scheduler get a result, not a traceback
            log.exception("drill of %s failed", service.id)
            out.fail("drill_error", f"{type(exc).__name__}: {exc}")
    finally:
        # Deleting may take a while for a big restore: off the event loop. Also on cancel.
        out.detail += await asyncio.to_thread(_remove, scratch)
    out.detail = mask(out.detail, drill.secrets)
    return _result(service, out)


async def _steps(drill: _Drill, scratch: str, out: _Outcome) -> None:
    clock = drill.clock
    out.started = clock.now()
    t0 = clock.monotonic()
    out.method, out.data_as_of, failure = await drill.restore(scratch)
    out.restore_seconds = clock.monotonic() - t0
    if failure is not None:
        out.fail(failure.reason, failure.detail)
        return
    out.restored = True
    out.files, out.size = await asyncio.to_thread(_count, scratch)
    out.detail = f"{out.method}: {out.files} files, {out.size} bytes in {out.restore_seconds:.1f} s"
    verify_command = drill.settings.verify_command
    if not verify_command:
        return
    env = drill.base_env(scratch)
    env["PANTAU_DATA_AS_OF"] = out.data_as_of.isoformat() if out.data_as_of else ""
    verify = await drill.shell(verify_command, scratch, env)
    out.verify_code = verify.returncode
    if verify.timed_out:
        out.fail("timeout", out.detail + "; verify_command did not finish within the drill timeout")
    elif verify.returncode != 0:
        tail = (verify.stderr or verify.stdout).decode("utf-8", "replace").strip()
        out.fail("verify_failed", out.detail + f"; verify exit {verify.returncode}: {tail}")
    else:
        out.detail += "; verify ok"


def _command_failure(result: CommandResult) -> SourceFailure:
    if result.timed_out:
        return SourceFailure("timeout", "restore_command did not finish within the drill timeout")
    tail = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
    return SourceFailure(
        "restore_failed", redact(f"restore_command exit {result.returncode}: {tail}")
    )


def _result(service: Service, out: _Outcome) -> DrillResult:
    ok = out.reason == ""
    # A failed drill proves nothing about RTO or RPO.
    rto_met, rpo_met = (
        _judge(out.restore_seconds, out.started, out.data_as_of, service.rto, service.rpo)
        if ok
        else (None, None)
    )
    restored_at = None
    if out.restored and out.restore_seconds is not None:
        # start + monotonic duration: immune to a wall-clock step during the restore
        restored_at = out.started + timedelta(seconds=out.restore_seconds)
    return DrillResult(
        service=service.id,
        method=out.method,
        ok=ok,
        reason=out.reason,
        started_at=out.started,
        restored_at=restored_at,
        data_as_of=out.data_as_of,
        restore_seconds=out.restore_seconds,
        files_restored=out.files,
        bytes_restored=out.size,
        verify_exit_code=out.verify_code,
        detail=redact(out.detail, limit=500),
        rto_met=rto_met,
        rpo_met=rpo_met,
    )
