"""A small katalog and a ticket factory shared by the gangguan tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.config.katalog import ServiceSettings, all_settings
from agent.config.loader import parse_config
from agent.config.models import MaintenanceWindow
from agent.core.model import Episode, State
from agent.engine.incidents import Gangguan, IncidentSettings, sync_incidents

WIB = ZoneInfo("Asia/Jakarta")
T0 = datetime(2024, 9, 10, 9, 0, tzinfo=WIB).astimezone(UTC)  # Tuesday 09:00 WIB
MIN = timedelta(minutes=1)

KATALOG = """
agent: {name: srv-app-01, timezone: Asia/Jakarta}
hosts: [{id: local}]
fulfilment_targets: {layanan_publik: {normal: 72h}}
services:
  - id: sipd
    name: Sistem Informasi Pemerintahan Daerah
    provider: Bappeda
    technical_manager: Diskominfo
    contact: helpdesk@example.go.id
    group: administrasi_pemerintahan
    classification: kritis
    host: local
    rpo: 24h
    rto: 4h
    drp: {document: DRP-SIPD.pdf}
    checks:
      - {type: http, url: "https://user:pw@sipd.example.go.id/health?token=abc"}
      - {type: tcp, address: "10.0.0.5:5432", impact: minor}
"""
for _g in ("layanan_publik", "administrasi_pemerintahan"):
    for _c in ("kritis", "esensial", "normal"):
        KATALOG += f"""
  - id: {_g[:6]}-{_c}
    name: Layanan {_g} {_c}
    provider: Dinas
    group: {_g}
    classification: {_c}
    checks: [{{type: dns, query: example.go.id}}]
"""
        if _c == "kritis":
            KATALOG += "    rpo: 24h\n    rto: 2h\n    drp: {document: DRP.pdf}\n"

CONFIG = parse_config(KATALOG)
SETTINGS = IncidentSettings("srv-app-01", WIB, all_settings(CONFIG))


def ticket(
    service: str = "sipd",
    start: datetime = T0,
    end: datetime | None = None,
    state: State = State.DOWN,
    now: datetime | None = None,
) -> Gangguan:
    ep = Episode(service, state, start, end, ("timeout",))
    (g,) = sync_incidents([], [ep], SETTINGS, now=now or start + 2 * MIN)
    return g


def with_maintenance(*windows: tuple[datetime, datetime, str]) -> ServiceSettings:
    """The sipd service with these maintenance windows ``(start, end, reason)`` instead."""
    st = SETTINGS.services["sipd"]
    found = [MaintenanceWindow(start=a, end=b, reason=why) for a, b, why in windows]
    return replace(st, service=st.service.model_copy(update={"maintenance": found}))
