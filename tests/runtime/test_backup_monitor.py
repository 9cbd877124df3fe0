"""The agent's backup sources: polled ones get a job, pushed ones wait for requests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from agent.config.models import Config
from agent.runtime.backups import BackupMonitor
from exporters.metrics import MetricsCache
from tests.fakes import FakeClock


def test_a_polled_source_after_a_push_source_keeps_its_label(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "services": [
                {
                    "id": "sipd",
                    "name": "SIPD",
                    "provider": "Bappeda",
                    "group": "layanan_publik",
                    "classification": "normal",
                    "checks": [{"type": "tcp", "address": "127.0.0.1:9"}],
                    "backups": [
                        {"type": "push"},
                        {"type": "files", "path": str(tmp_path / "*.gz")},
                    ],
                }
            ]
        }
    )
    monitor = BackupMonitor(FakeClock(datetime(2024, 9, 14, tzinfo=UTC)), MetricsCache())
    jobs = monitor.configure(config, tmp_path / "data")
    # numbered in the full list (push-0, files-1), as the metrics and the store name them
    assert list(jobs) == ["_backup:sipd:files-1"]
    assert monitor.push_sources["sipd"].push == ("push-0",)
    assert monitor.push_sources["sipd"].default == "push-0"
    _interval, job = jobs["_backup:sipd:files-1"]

    async def poll() -> None:
        await job()

    asyncio.run(poll())
    assert set(monitor.states) == {("sipd", "files-1")}
    monitor.configure(config, tmp_path / "data")  # a reload keeps what the check found
    assert set(monitor.states) == {("sipd", "files-1")}
