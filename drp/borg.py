"""The ``borg`` backup source: the newest archive of a Borg 1.x repository.

Runs ``borg --log-json --lock-wait N list --json --last 1 [--glob-archives GLOB]``. Choices:

- The repository goes in ``BORG_REPO``; a ``passphrase_file`` is read by us and handed to borg
  through a pipe (``BORG_PASSPHRASE_FD``): the passphrase is never in argv, in the environment of
  the child, or in a log. ``passphrase_env`` names a variable of the agent's environment whose
  value is passed as ``BORG_PASSPHRASE``. A trailing newline is stripped, as borg does.
- ``TZ=UTC``: borg 1.x prints archive times as *naive local* time; in UTC they are unambiguous.
- ``BORG_RELOCATED_REPO_ACCESS_IS_OK`` / ``BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK`` = yes:
  the monitor must never hang on a yes/no question. ``base_dir`` sets ``BORG_BASE_DIR`` (borg
  keeps its security and cache files there; the agent's data dir is a good home).
- Borg 1.x takes a shared lock to list; a ``borg create`` holds an exclusive one for its whole
  run, so a check during a backup waits ``lock_wait`` seconds and then reports ``repo_locked``
  (transient; the last known good time is kept). We do not use ``--bypass-lock``: opening a
  repository can replay segments and write an index, which must not race a running backup.
- Errors are mapped from ``--log-json`` message ids (``PassphraseWrong``, ``LockTimeout``,
  ``Repository.DoesNotExist``…), with stderr text as a fallback.
- Size: ``borg info --json --last 1`` (the archive's original size) once per new archive.
  It needs borg's chunk cache, which can take long to build the first time; a failed attempt
  is not retried until the next archive.
- A drill restores with ``borg extract ::ARCHIVE``, run in the drill's scratch dir.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from agent.config.models import BorgBackup
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

_PASSPHRASE_VARS = (
    "BORG_PASSPHRASE",
    "BORG_PASSCOMMAND",
    "BORG_PASSPHRASE_FD",
    "BORG_NEW_PASSPHRASE",
)
_MSGID_REASONS = {
    "PassphraseWrong": "wrong_password",
    "NoPassphraseFailure": "password_missing",
    "PasscommandFailure": "password_missing",
    "PasswordRetriesExceeded": "password_missing",
    "LockTimeout": "repo_locked",
    "LockFailed": "repo_locked",
    "LockError": "repo_locked",
    "Repository.DoesNotExist": "repo_not_found",
    "Repository.InvalidRepository": "repo_not_found",
    "Repository.ParentPathDoesNotExist": "repo_not_found",
    "ConnectionClosed": "repo_unreachable",
    "ConnectionClosedWithHint": "repo_unreachable",
}
_STDERR_REASONS = (
    ("passphrase supplied", "wrong_password"),
    ("can not acquire a passphrase", "password_missing"),
    ("failed to create/acquire the lock", "repo_locked"),
    ("does not exist", "repo_not_found"),
    ("is not a valid repository", "repo_not_found"),
    ("connection closed", "repo_unreachable"),
)
#: pipes hold at least 64 KiB; a passphrase longer than this could block our write
_MAX_PASSPHRASE = 16 * 1024


def parse_borg_time(text: object) -> datetime:
    """A borg time: naive means UTC (we run borg with ``TZ=UTC``); an offset is honoured."""
    if not isinstance(text, str):
        raise ValueError(f"time is not a string: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def read_failure(result: CommandResult) -> tuple[str, str]:
    """The reason of a failed borg run (``--log-json`` message ids first, then the text) and
    its error messages."""
    messages: list[str] = []
    reason: str | None = None
    for line in result.stderr.decode("utf-8", "replace").splitlines():
        # A prompt without a newline ("Enter passphrase for key …: ") can precede a JSON record.
        start = line.find('{"')
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            record = None
        if isinstance(record, dict):
            if reason is None:
                reason = _MSGID_REASONS.get(str(record.get("msgid", "")))
            if record.get("levelname") in ("ERROR", "CRITICAL"):
                messages.append(str(record.get("message", "")))
        elif line.strip():
            messages.append(line)
    text = " ".join(messages)
    if reason is None:
        low = text.lower()
        reason = next((r for needle, r in _STDERR_REASONS if needle in low), "command_failed")
    return reason, text


class BorgSource(RepositorySource[BorgBackup]):
    """Checks a :class:`~agent.config.models.BorgBackup` repository."""

    kind = "borg"

    def __init__(
        self,
        config: BorgBackup,
        name: str,
        *,
        runner: CommandRunner | None = None,
        base_dir: Path | None = None,
        lock_wait: int = 5,
        with_size: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(config, name, runner=runner, with_size=with_size, clock=clock)
        self._base_dir = base_dir
        self._lock_wait = lock_wait

    @classmethod
    def from_config(cls, config: BorgBackup, name: str, settings: SourceSettings) -> BorgSource:
        """The source for ``config``; borg's base dir is ``<state_dir>/borg``."""
        base = settings.state_dir / "borg" if settings.state_dir else None
        return cls(config, name, runner=settings.runner, base_dir=base, clock=settings.clock)

    def passphrase(self) -> bytes | None:
        """The configured passphrase (``None`` when none is configured: unencrypted repo or
        inherited ``BORG_PASS*``); raise :class:`SourceFailure` when it cannot be read."""
        cfg = self.config
        if cfg.passphrase_file is not None:
            try:
                with open(cfg.passphrase_file, "rb") as fh:
                    data = fh.read(_MAX_PASSPHRASE + 1)
            except OSError as exc:
                raise SourceFailure(
                    "password_missing",
                    f"cannot read passphrase_file {cfg.passphrase_file}: {exc.strerror}",
                ) from None
            if len(data) > _MAX_PASSPHRASE:
                raise SourceFailure("password_missing", "passphrase_file is larger than 16 KiB")
            return data.rstrip(b"\n")
        if cfg.passphrase_env is not None:
            value = os.environ.get(cfg.passphrase_env)
            if not value:
                raise SourceFailure(
                    "password_missing",
                    f"environment variable {cfg.passphrase_env} (passphrase_env) is not set",
                )
            return value.encode()
        return None

    def environment(self) -> dict[str, str]:
        """Child environment without any passphrase (see :meth:`run`)."""
        overrides = {
            "BORG_REPO": self.config.repository,
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_DISPLAY_PASSPHRASE": "no",
            "TZ": "UTC",
        }
        if self._base_dir is not None:
            overrides["BORG_BASE_DIR"] = str(self._base_dir)
        configured = self.config.passphrase_file or self.config.passphrase_env
        return child_env(overrides, remove=_PASSPHRASE_VARS if configured else ())

    async def run(
        self, *args: str, time_limit: float, cwd: str | os.PathLike[str] | None = None
    ) -> CommandResult:
        """Run ``borg --log-json --lock-wait N <args>`` with the passphrase on a pipe."""
        binary = self._binary()
        secret = self.passphrase()
        env = self.environment()
        argv = [binary, "--log-json", "--lock-wait", str(self._lock_wait), *args]
        read_fd: int | None = None
        try:
            if secret is not None:
                read_fd, write_fd = os.pipe()
                try:
                    os.write(write_fd, secret)  # fits the pipe buffer: nothing blocks
                finally:
                    os.close(write_fd)
                env["BORG_PASSPHRASE_FD"] = str(read_fd)
            fds = (read_fd,) if read_fd is not None else ()
            return await self._exec(argv, env=env, time_limit=time_limit, cwd=cwd, pass_fds=fds)
        finally:
            if read_fd is not None:
                os.close(read_fd)

    def secrets(self) -> tuple[str, ...]:
        """Passphrase values that must never appear in a detail (from ``passphrase_env``)."""
        env = self.config.passphrase_env
        value = os.environ.get(env) if env else None
        return (value,) if value else ()

    def _read_failure(self, result: CommandResult) -> tuple[str, str]:
        return read_failure(result)

    # -- listing, sizing, restoring ---------------------------------------------------------

    async def _newest(self, time_limit: float) -> Snapshot:
        """The newest archive (by time) matching ``glob``; ``id`` is the archive *name*."""
        select = ["--last", "1"] + (
            ["--glob-archives", self.config.glob] if self.config.glob else []
        )
        result = await self.run("list", "--json", *select, time_limit=time_limit)
        if result.returncode not in (0, 1):  # 1 is a borg warning: the listing is still valid
            raise self.failure(result, "borg list")
        return _parse_list(result)

    async def _size(self, snap: Snapshot, time_limit: float) -> int:
        info = await self.run("info", "--json", f"::{snap.id}", time_limit=time_limit)
        if info.returncode not in (0, 1):
            raise ValueError(self.failure(info, "borg info").detail)
        stats = json.loads(info.stdout)["archives"][0]["stats"]
        return byte_count(stats["original_size"], "original_size")

    def _label(self, snap: Snapshot) -> str:
        return f"archive {snap.id}"

    def _restore_args(self, snap: Snapshot, target: str) -> tuple[list[str], str | None]:
        return ["extract", f"::{snap.id}"], target  # borg extracts into its cwd


def _parse_list(result: CommandResult) -> Snapshot:
    if result.stdout_truncated:
        raise SourceFailure("parse_error", "borg list output too large")
    try:
        archives = json.loads(result.stdout)["archives"]
        snaps = [Snapshot(str(a["name"]), parse_borg_time(a["time"])) for a in archives]
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceFailure("parse_error", clip(f"borg list: {exc}")) from None
    if not snaps:
        raise SourceFailure("no_snapshots", "no archive matches the configured glob")
    return max(snaps, key=lambda s: s.time)
