"""The source registry: one source per backup ``type``, built and named like checks."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from agent.config.katalog import source_name
from agent.config.models import Backup, Service
from drp.borg import BorgSource
from drp.files import FilesSource
from drp.registry import SOURCES, build_source, is_pushed
from drp.restic import ResticSource
from drp.sources import Restorable, SourceSettings


def _backup_types() -> set[str]:
    """The ``type`` literals of the ``Backup`` discriminated union."""
    union, _discriminator = get_args(Backup)
    return {get_args(m.model_fields["type"].annotation)[0] for m in get_args(union)}


def _service() -> Service:
    return Service.model_validate(
        {
            "id": "sipd",
            "name": "SIPD",
            "provider": "Bappeda",
            "group": "layanan_publik",
            "classification": "normal",
            "checks": [{"type": "tcp", "address": "127.0.0.1:9"}],
            "backups": [
                {"type": "files", "path": "/srv/backup/*.gz"},
                {"type": "push"},
                {"type": "restic", "repository": "/srv/restic", "name": "offsite"},
                {"type": "borg", "repository": "/srv/borg"},
            ],
        }
    )


def test_every_backup_type_has_a_source_and_every_source_a_backup_type() -> None:
    assert set(SOURCES) == _backup_types()


@pytest.mark.parametrize("kind", sorted(k for k, cls in SOURCES.items() if cls is not None))
def test_each_source_is_registered_under_its_own_kind(kind: str) -> None:
    assert getattr(SOURCES[kind], "kind", None) == kind


def test_sources_are_built_and_named_like_checks() -> None:
    service = _service()
    built = [build_source(b, source_name(b, i)) for i, b in enumerate(service.backups)]
    assert [(type(s), s.name, s.kind) if s else None for s in built] == [
        (FilesSource, "files-0", "files"),
        None,  # push is fed by requests
        (ResticSource, "offsite", "restic"),
        (BorgSource, "borg-3", "borg"),  # numbered in the full list, like checks
    ]
    assert [is_pushed(b) for b in service.backups] == [False, True, False, False]


def test_the_state_dir_holds_restics_cache_and_borgs_base_dir(tmp_path: Path) -> None:
    service = _service()
    settings = SourceSettings(state_dir=tmp_path)
    restic = build_source(service.backups[2], "offsite", settings)
    borg = build_source(service.backups[3], "borg-3", settings)
    assert isinstance(restic, ResticSource)
    assert isinstance(borg, BorgSource)
    assert "--cache-dir" in (argv := restic.argv("restic", "snapshots"))
    assert argv[argv.index("--cache-dir") + 1] == str(tmp_path / "restic-cache")
    assert borg.environment()["BORG_BASE_DIR"] == str(tmp_path / "borg")


def test_repository_sources_can_be_drilled_and_files_cannot() -> None:
    service = _service()
    built = [build_source(b, source_name(b, i)) for i, b in enumerate(service.backups)]
    assert [isinstance(s, Restorable) for s in built] == [False, False, True, True]
