"""Disaster-recovery side of pantau (SPEC §4 RPO/RTO/drills).

- :mod:`drp.sources` — :class:`BackupObservation`, the source protocol, the shared subprocess
  runner; :mod:`drp.files`, :mod:`drp.restic`, :mod:`drp.borg` — the pollable sources.
- :mod:`drp.push` — backups reported by scripts (HTTP push, ``pantau backup mark``).
- :mod:`agent.engine.rpo` — pure math: merging observations, backup age, RPO compliance, RTO, drill age.
- :mod:`drp.drills` — restore drills (automated or recorded by hand).

This package computes and returns data; storing and exporting it is the agent's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agent.config.models import Backup, BorgBackup, FilesBackup, ResticBackup
from agent.core.clock import Clock
from agent.core.model import BackupObservation
from drp.borg import BorgSource
from drp.files import FilesSource
from drp.restic import ResticSource
from drp.sources import BackupSource, CommandRunner

__all__ = [
    "BackupObservation",
    "BackupSource",
    "BorgSource",
    "CommandRunner",
    "FilesSource",
    "ResticSource",
    "build_sources",
    "source_name",
]


def source_name(backup: Backup, index: int) -> str:
    """The ``source`` label: the configured name or ``<type>-<index>`` (like check names)."""
    return backup.name or f"{backup.type}-{index}"


def build_sources(
    backups: Sequence[Backup],
    *,
    clock: Clock | None = None,
    runner: CommandRunner | None = None,
    state_dir: Path | None = None,
) -> list[BackupSource]:
    """The pollable sources of one service (``push`` sources are fed by requests instead).

    ``state_dir`` (e.g. ``<data_dir>/drp``) holds restic's cache and borg's base dir; without it
    the tools use the agent user's home.
    """
    sources: list[BackupSource] = []
    for index, backup in enumerate(backups):
        name = source_name(backup, index)
        if isinstance(backup, FilesBackup):
            sources.append(FilesSource(backup, name, clock=clock))
        elif isinstance(backup, ResticBackup):
            cache = state_dir / "restic-cache" if state_dir else None
            sources.append(ResticSource(backup, name, runner=runner, cache_dir=cache, clock=clock))
        elif isinstance(backup, BorgBackup):
            base = state_dir / "borg" if state_dir else None
            sources.append(BorgSource(backup, name, runner=runner, base_dir=base, clock=clock))
    return sources
