"""Which source serves each backup ``type`` (like healthchecks' ``TRANSPORTS``), for the agent's
polling and for restore drills alike.

Adding a backup source kind takes three files: its model in :mod:`agent.config.models` (a member
of the ``Backup`` union), its module in this package (a class with ``kind``, ``from_config`` and
``check``, and ``restore`` when a drill can restore from it, see
:class:`drp.sources.Restorable`), and one line in :data:`SOURCES`.
``tests/drp/test_registry.py`` fails while the union and the registry differ.
"""

from __future__ import annotations

from typing import Any, Protocol

from agent.config.models import Backup
from drp.borg import BorgSource
from drp.files import FilesSource
from drp.restic import ResticSource
from drp.sources import BackupSource, SourceSettings

__all__ = ["SOURCES", "SourceKind", "build_source", "is_pushed"]


class SourceKind(Protocol):
    """A source class as the registry sees it."""

    def from_config(self, config: Any, name: str, settings: SourceSettings) -> BackupSource:
        """The source for ``config``, a model of the ``type`` this class is registered under."""
        ...


#: backup ``type`` → its source class; ``None``: fed by requests, never polled (:mod:`drp.push`:
#: ``POST /api/v1/backups/{service}`` and ``pantau backup mark``)
SOURCES: dict[str, SourceKind | None] = {
    "files": FilesSource,
    "restic": ResticSource,
    "borg": BorgSource,
    "push": None,
}


def is_pushed(backup: Backup) -> bool:
    """Whether ``backup`` is fed by requests rather than polled."""
    return SOURCES[backup.type] is None


def build_source(
    backup: Backup, name: str, settings: SourceSettings | None = None
) -> BackupSource | None:
    """The source that checks ``backup`` under the label ``name``; ``None`` when it is pushed."""
    kind = SOURCES[backup.type]
    return None if kind is None else kind.from_config(backup, name, settings or SourceSettings())
