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

A drill restores with ``restic restore <id> --target DIR`` (taking the lock).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from agent.config.models import ResticBackup
from agent.core.clock import Clock
from drp.repository import RepositorySource, byte_count
from drp.sources import (
    CommandResult,
    CommandRunner,
    Snapshot,
    SourceFailure,
    SourceSettings,
    child_env,
    clip,
)

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


def read_failure(result: CommandResult) -> tuple[str, str]:
    """The reason of a failed restic run (stderr first, then 0.17's exit codes) and its stderr."""
    err = result.stderr.decode("utf-8", "replace")
    low = err.lower()
    reason = next((r for needle, r in _STDERR_REASONS if needle in low), None)
    if reason is None:
        reason = _EXIT_REASONS.get(result.returncode or 0, "command_failed")
    return reason, err


class ResticSource(RepositorySource[ResticBackup]):
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
        super().__init__(config, name, runner=runner, with_size=with_size, clock=clock)
        self._cache_dir = cache_dir

    @classmethod
    def from_config(cls, config: ResticBackup, name: str, settings: SourceSettings) -> ResticSource:
        """The source for ``config``; restic's cache goes to ``<state_dir>/restic-cache``."""
        cache = settings.state_dir / "restic-cache" if settings.state_dir else None
        return cls(config, name, runner=settings.runner, cache_dir=cache, clock=settings.clock)

    # -- building the command -----------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """Child environment with the repository and password; raise SourceFailure if unusable."""
        cfg = self.config
        overrides = {"RESTIC_REPOSITORY": cfg.repository}
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
            remove += _PASSWORD_VARS
        return child_env(overrides, remove=remove)

    def secrets(self) -> tuple[str, ...]:
        """The password when it comes from ``password_env`` (a ``password_file`` wins over it)."""
        cfg = self.config
        if cfg.password_file is not None or cfg.password_env is None:
            return ()
        value = os.environ.get(cfg.password_env)
        return (value,) if value else ()

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

    async def run(
        self, *args: str, time_limit: float, cwd: str | os.PathLike[str] | None = None
    ) -> CommandResult:
        """Run ``restic <args>`` with the repository and password in the environment."""
        binary = self._binary()
        env = self.environment()
        return await self._exec(self.argv(binary, *args), env=env, time_limit=time_limit, cwd=cwd)

    def _read_failure(self, result: CommandResult) -> tuple[str, str]:
        return read_failure(result)

    # -- listing, sizing, restoring ---------------------------------------------------------

    async def _newest(self, time_limit: float) -> Snapshot:
        result = await self.run("snapshots", "--json", *self.filters(), time_limit=time_limit)
        if result.returncode != 0:
            raise self.failure(result, "restic snapshots")
        return parse_snapshots(result)

    async def _size(self, snap: Snapshot, time_limit: float) -> int:
        stats = await self.run("stats", snap.id, "--json", time_limit=time_limit)
        if stats.returncode != 0:
            raise ValueError(self.failure(stats, "restic stats").detail)
        return byte_count(json.loads(stats.stdout)["total_size"], "total_size")

    def _label(self, snap: Snapshot) -> str:
        return f"snapshot {snap.id[:8]}"

    def _restore_args(self, snap: Snapshot, target: str) -> tuple[list[str], str | None]:
        return ["restore", snap.id, "--target", target], None


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
