"""Building a service's pollable sources from its configuration."""

from __future__ import annotations

from agent.config.models import Service
from drp import BorgSource, FilesSource, ResticSource, build_sources, source_name


def test_sources_are_built_and_named_like_checks() -> None:
    service = Service.model_validate(
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
    sources = build_sources(service.backups)
    assert [(type(s), s.name, s.kind) for s in sources] == [
        (FilesSource, "files-0", "files"),
        (ResticSource, "offsite", "restic"),
        (BorgSource, "borg-3", "borg"),
    ]
    assert source_name(service.backups[1], 1) == "push-1"  # push is fed by requests
