"""Tables of the Pedoman Manajemen Layanan SPBE (Perwal Kota Magelang 18/2024) as data.

- Tabel 2.1 / 4.1.2.1: classification (kritis, esensial, normal).
- Tabel 2.2: service groups (RAL.01 layanan publik, RAL.02 administrasi pemerintahan).
- Tabel 4.1: fulfilment target by group and classification.
- Tabel 4.2: priority from impact, group and classification.
- Tabel 4.3: response target by priority.
- Lampiran SLA: resolution time by urgency.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Classification(StrEnum):
    """Disruption tolerance: kritis (very low), esensial (higher), normal (high)."""

    KRITIS = "kritis"
    ESENSIAL = "esensial"
    NORMAL = "normal"

    @property
    def label(self) -> str:
        return {"kritis": "Kritis", "esensial": "Esensial", "normal": "Normal"}[self.value]


class Group(StrEnum):
    """Service group of Tabel 2.2."""

    LAYANAN_PUBLIK = "layanan_publik"
    ADMINISTRASI_PEMERINTAHAN = "administrasi_pemerintahan"

    @property
    def code(self) -> str:
        return "RAL.01" if self is Group.LAYANAN_PUBLIK else "RAL.02"

    @property
    def label(self) -> str:
        if self is Group.LAYANAN_PUBLIK:
            return "Layanan Publik"
        return "Administrasi Pemerintahan"


class Impact(StrEnum):
    """Mayor: the service is fully unavailable. Minor: up but degraded."""

    MAJOR = "major"
    MINOR = "minor"

    @property
    def label(self) -> str:
        return "Mayor" if self is Impact.MAJOR else "Minor"


#: Tabel 4.1 — fulfilment target. publik+normal is not given by the Pedoman: it must be configured.
FULFILMENT_TARGET: dict[tuple[Group, Classification], timedelta] = {
    (Group.ADMINISTRASI_PEMERINTAHAN, Classification.KRITIS): timedelta(hours=12),
    (Group.LAYANAN_PUBLIK, Classification.KRITIS): timedelta(hours=24),
    (Group.ADMINISTRASI_PEMERINTAHAN, Classification.ESENSIAL): timedelta(hours=48),
    (Group.LAYANAN_PUBLIK, Classification.ESENSIAL): timedelta(hours=36),
    (Group.ADMINISTRASI_PEMERINTAHAN, Classification.NORMAL): timedelta(hours=72),
}

_CLASS_INDEX = {Classification.KRITIS: 0, Classification.ESENSIAL: 1, Classification.NORMAL: 2}
#: Tabel 4.2 — the first priority number for (impact, group); classification adds 0/1/2.
_PRIORITY_BASE: dict[tuple[Impact, Group], int] = {
    (Impact.MAJOR, Group.LAYANAN_PUBLIK): 1,
    (Impact.MAJOR, Group.ADMINISTRASI_PEMERINTAHAN): 2,
    (Impact.MINOR, Group.LAYANAN_PUBLIK): 3,
    (Impact.MINOR, Group.ADMINISTRASI_PEMERINTAHAN): 4,
}

#: Tabel 4.3 — response target by priority (P1..P6).
RESPONSE_TARGET: dict[int, timedelta] = {
    1: timedelta(minutes=15),
    2: timedelta(minutes=30),
    3: timedelta(hours=1),
    4: timedelta(minutes=90),
    5: timedelta(hours=2),
    6: timedelta(minutes=150),
}

#: Lampiran SLA — resolution time by urgency level 1/2/3.
SLA_RESOLUTION: dict[int, timedelta] = {
    1: timedelta(hours=48),
    2: timedelta(hours=72),
    3: timedelta(hours=120),
}
#: Lampiran SLA — response within working hours.
SLA_RESPONSE_WORKING_HOURS = timedelta(hours=3)

#: Default SLA urgency per classification (pantau's choice: the Pedoman leaves it to the ticket).
DEFAULT_URGENCY: dict[Classification, int] = {
    Classification.KRITIS: 1,
    Classification.ESENSIAL: 2,
    Classification.NORMAL: 3,
}

#: Gambar 4.4 — a gangguan must be detected proactively within this time.
DETECTION_TARGET = timedelta(minutes=10)


def fulfilment_target(group: Group, classification: Classification) -> timedelta | None:
    """Tabel 4.1 target, or ``None`` for publik+normal (which the katalog must configure)."""
    return FULFILMENT_TARGET.get((group, classification))


def priority(impact: Impact, group: Group, classification: Classification) -> int:
    """Tabel 4.2: priority 1 (highest) .. 6."""
    return _PRIORITY_BASE[(impact, group)] + _CLASS_INDEX[classification]


def response_target(prio: int) -> timedelta:
    """Tabel 4.3: how quickly a gangguan of this priority must be responded to."""
    return RESPONSE_TARGET[prio]
