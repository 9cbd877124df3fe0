"""The readable katalog summary printed by ``pantau check``."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from agent.config.katalog import all_settings
from agent.config.models import Config
from agent.core.durations import format_duration
from agent.core.pedoman import Classification


def _dur(td: object) -> str:
    """A katalog duration as admins write it (``24h``), or a dash where none is set."""
    return format_duration(td, whole_hours=True) if isinstance(td, timedelta) else "–"


def summary_lines(config: Config, source: str, today: date | None = None) -> list[str]:
    """Lines describing the katalog: counts, targets, RPO/RTO, derived fulfilment targets."""
    settings = all_settings(config)
    by_class = Counter(s.classification for s in config.services)
    lines = [
        f"{source}: OK — agent {config.agent.name!r}, zone {config.agent.timezone}, "
        f"listen {config.agent.listen}, data in {config.agent.data_dir}",
        f"{len(config.services)} services: "
        + ", ".join(f"{by_class.get(c, 0)} {c.value}" for c in Classification)
        + f"; {len(config.hosts)} host(s); "
        + f"{sum(len(s.checks) for s in config.services)} checks; "
        + f"{sum(len(s.backups) for s in config.services)} backup sources",
        "",
    ]
    header = (
        "ID",
        "KLASIFIKASI",
        "KELOMPOK",
        "TARGET",
        "PEMENUHAN",
        "RPO",
        "RTO",
        "CEK",
        "INTERVAL",
    )
    rows = [header]
    for svc in config.services:
        st = settings[svc.id]
        rows.append(
            (
                svc.id,
                svc.classification.value,
                svc.group.code,
                f"{st.availability_target:g}%",
                _dur(st.fulfilment_target),
                _dur(svc.rpo),
                _dur(svc.rto),
                str(len(svc.checks)),
                _dur(st.interval),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    warnings = drill_warnings(config, today or date.today())  # noqa: DTZ011 - a calendar date is wanted
    if warnings:
        lines.append("")
        lines.extend(f"warning: {w}" for w in warnings)
    return lines


def drill_warnings(config: Config, today: date) -> list[str]:
    """Kritis services whose DRP has never been drilled or was drilled too long ago."""
    out = []
    max_age = config.agent.drill_max_age
    for svc in config.services:
        if svc.drp is None:
            continue
        last = svc.drp.last_drill
        if last is None:
            out.append(f"{svc.id}: DRP {svc.drp.document!r} has never been drilled")
        elif (today - last) > max_age:
            out.append(f"{svc.id}: last DRP drill {last.isoformat()} is older than {_dur(max_age)}")
    return out
