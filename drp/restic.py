"""The ``restic`` backup source: the newest snapshot of a repository.

Runs ``restic snapshots --json --no-lock`` (``--no-lock``: a read-only listing needs no lock, so
a running backup or prune never makes the check fail and the monitor never writes to the
repository). The repository goes in ``RESTIC_REPOSITORY`` and the password in
``RESTIC_PASSWORD_FILE`` / ``RESTIC_PASSWORD`` — never on the command line, where ``ps`` shows it.

Filters: ``host`` → ``--host``; ``tags`` → one ``--tag a,b`` (a snapshot needs *all* listed
tags); each of ``paths`` → ``--path`` (a snapshot must include every listed path).

Size: the snapshot's ``summary.total_bytes_processed`` when restic writes one (0.17+);
otherwise ``restic stats <id> --json --no-lock`` (restore size), run once per new snapshot and
remembered, so a repository costs one extra command per new backup, not per check.

stderr is mapped to reasons from the messages restic 0.14–0.17 prints (and the exit codes 10,
11, 12 that 0.17 added).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from agent.config.models import ResticBackup
from agent.core.clock import Clock, SystemClock
from agent.core.model import BackupObservation
from drp.sources import (
    DEFAULT_RUNNER,
    BinaryMissingError,
    CommandResult,
    CommandRunner,
    Snapshot,
    SourceFailure,
    child_env,
    clip,
    failed,
    observe_snapshot,
    resolve_binary,
    scrub,
)

log = logging.getLogger(__name__)

_PASSWORD_VARS = ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND")
_REPO_VARS = ("RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE")

#: (substring of stderr, reason) — first match wins; lower-case comparison
_STDERR_REASONS = (
    ("wrong password", "wrong_password"),
    ("no key found", "wrong_password"),
    ("empty password", "password_missing"),
    ("resolving password failed", "password_missing"),
    ("reading repository password from stdin", "password_missing"),
    ("already locked", "repo_locked"),
    ("unable to create lock", "repo_locked"),
    ("is there a repository at the following location", "repo_not_found"),
    ("repository does not exist", "repo_not_found"),
    ("unable to open config file", "repo_not_found"),
    ("unable to open repository", "repo_unreachable"),
)
#: exit codes introduced in restic 0.17
_EXIT_REASONS = {10: "repo_not_found", 11: "repo_locked", 12: "wrong_password"}


def parse_time(text: object) -> datetime:
    """restic's RFC 3339 time (nanoseconds, any offset) → aware UTC; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"time is not a string: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"time without offset: {text!r}")
    return parsed.astimezone(UTC)


def classify(result: CommandResult, program: str, secrets: tuple[str, ...] = ()) -> SourceFailure:
    """Turn a failed restic run into a reason and a scrubbed one-line detail."""
    if result.timed_out:
        return SourceFailure("timeout", f"{program} did not finish within {result.seconds:.0f} s")
    err = result.stderr.decode("utf-8", "replace")
    low = err.lower()
    reason = next((r for needle, r in _STDERR_REASONS if needle in low), None)
    if reason is None:
        reason = _EXIT_REASONS.get(result.returncode or 0, "command_failed")
    detail = clip(scrub(f"{program} exit {result.returncode}: {err.strip()}", secrets))
    return SourceFailure(reason, detail)


class ResticSource:
    """Checks a :class:`~agent.config.models.ResticBackup` repository."""

    kind = "restic"

    def __init__(
        self,
        config: ResticBackup,
        name: str,
        *,
        runner: CommandRunner | None = None,
        cache_dir: Path | None = None,
        with_size: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._clock = clock or SystemClock()
        self._runner = runner or DEFAULT_RUNNER
        self._cache_dir = cache_dir
        self._with_size = with_size
        # (snapshot id, size or None when stats failed): one attempt per new snapshot
        self._size_cache: tuple[str, int | None] | None = None

    # -- building the command -----------------------------------------------------------------

    def environment(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """Child environment and the secret values to scrub; raise SourceFailure if unusable."""
        cfg = self.config
        overrides = {"RESTIC_REPOSITORY": cfg.repository}
        secrets: tuple[str, ...] = ()
        remove: tuple[str, ...] = _REPO_VARS
        if cfg.password_file is not None:
            overrides["RESTIC_PASSWORD_FILE"] = str(cfg.password_file)
            remove += _PASSWORD_VARS
        elif cfg.password_env is not None:
            value = os.environ.get(cfg.password_env)
            if not value:
                raise SourceFailure(
                    "password_missing",
                    f"environment variable {cfg.password_env} (password_env) is not set",
                )
            overrides["RESTIC_PASSWORD"] = value
            secrets = (value,)
            remove += _PASSWORD_VARS
        return child_env(overrides, remove=remove), secrets

    def argv(self, binary: str, *args: str) -> list[str]:
        """``restic <args>`` with the global flags we always want."""
        argv = (
            [binary, *args, "--no-lock"] if args[0] in ("snapshots", "stats") else [binary, *args]
        )
        if self._cache_dir is not None:
            argv += ["--cache-dir", str(self._cache_dir)]
        return argv

    def filters(self) -> list[str]:
        """``--host`` / ``--tag`` / ``--path`` from the configuration."""
        cfg = self.config
        out: list[str] = []
        if cfg.host:
            out += ["--host", cfg.host]
        if cfg.tags:
            out += ["--tag", ",".join(cfg.tags)]
        for path in cfg.paths:
            out += ["--path", path]
        return out

    # -- checking -------------------------------------------------------------------------------

    async def check(self) -> BackupObservation:
        """Newest snapshot time (and size when cheap); never raise."""
        try:
            snap = await self.newest_snapshot(size=self._with_size)
        except SourceFailure as exc:
            return failed(self.name, exc.reason, exc.detail)
        except Exception as exc:  # a bug must not stop the agent
            log.exception("restic source %s failed", self.name)
            return failed(self.name, "source_error", f"{type(exc).__name__}: {exc}")
        return observe_snapshot(
            self.name,
            snap,
            now=self._clock.now(),
            label=f"snapshot {snap.id[:8]}",
            size_wanted=self._with_size,
        )

    async def newest_snapshot(self, *, size: bool = False) -> Snapshot:
        """The newest snapshot matching the filters; raise :class:`SourceFailure` otherwise."""
        deadline = time.monotonic() + self.config.timeout.total_seconds()
        try:
            binary = resolve_binary(self.config.binary)
        except BinaryMissingError as exc:
            raise SourceFailure("binary_missing", str(exc)) from None
        env, secrets = self.environment()
        result = await self._run(self.argv(binary, "snapshots", "--json", *self.filters()), env)
        if result.returncode != 0:
            raise classify(result, "restic snapshots", secrets)
        snap = parse_snapshots(result)
        if not size or snap.size_bytes is not None:
            return snap
        if self._size_cache is not None and self._size_cache[0] == snap.id:
            return Snapshot(snap.id, snap.time, self._size_cache[1])
        remaining = deadline - time.monotonic()
        if remaining < 1:
            return snap
        self._size_cache = (snap.id, None)
        stats = await self._run(self.argv(binary, "stats", snap.id, "--json"), env, remaining)
        try:
            if stats.returncode != 0:
                raise ValueError(classify(stats, "restic stats", secrets).detail)
            total = json.loads(stats.stdout)["total_size"]
            if not isinstance(total, int) or isinstance(total, bool) or total < 0:
                raise ValueError(f"total_size is {total!r}")
        except (ValueError, KeyError, TypeError) as exc:
            log.info("restic source %s: size unknown: %s", self.name, scrub(str(exc), secrets))
            return snap
        self._size_cache = (snap.id, total)
        return Snapshot(snap.id, snap.time, total)

    async def _run(
        self, argv: list[str], env: dict[str, str], limit: float | None = None
    ) -> CommandResult:
        try:
            return await self._runner.run(
                argv, env=env, time_limit=limit or self.config.timeout.total_seconds()
            )
        except BinaryMissingError as exc:
            raise SourceFailure("binary_missing", str(exc)) from None


def parse_snapshots(result: CommandResult) -> Snapshot:
    """The newest entry of ``restic snapshots --json`` output."""
    if result.stdout_truncated:
        raise SourceFailure("parse_error", "restic snapshots output too large")
    try:
        data = json.loads(result.stdout or b"null")
        if data is None:
            data = []
        if not isinstance(data, list):
            raise ValueError("expected a JSON list")
        snaps: list[Snapshot] = []
        for item in data:
            summary = item.get("summary") or {}
            size = summary.get("total_bytes_processed")
            if not isinstance(size, int) or isinstance(size, bool):
                size = None
            snaps.append(Snapshot(str(item["id"]), parse_time(item["time"]), size))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SourceFailure("parse_error", clip(f"restic snapshots: {exc}")) from None
    if not snaps:
        raise SourceFailure("no_snapshots", "no snapshot matches the configured filters")
    return max(snaps, key=lambda s: s.time)
