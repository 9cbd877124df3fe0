"""The Pedoman tables as data (Tabel 4.1, 4.2, 4.3, Lampiran SLA)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.core.pedoman import (
    SLA_RESOLUTION,
    Classification,
    Group,
    Impact,
    fulfilment_target,
    priority,
    response_target,
)

K, E, N = Classification.KRITIS, Classification.ESENSIAL, Classification.NORMAL
PUB, ADM = Group.LAYANAN_PUBLIK, Group.ADMINISTRASI_PEMERINTAHAN


@pytest.mark.parametrize(
    ("group", "cls", "hours"),
    [(ADM, K, 12), (PUB, K, 24), (ADM, E, 48), (PUB, E, 36), (ADM, N, 72)],
)
def test_fulfilment_target_tabel_4_1(group: Group, cls: Classification, hours: int) -> None:
    assert fulfilment_target(group, cls) == timedelta(hours=hours)


def test_publik_normal_fulfilment_target_is_not_given() -> None:
    assert fulfilment_target(PUB, N) is None


@pytest.mark.parametrize(
    ("impact", "group", "expected"),
    [
        (Impact.MAJOR, PUB, (1, 2, 3)),
        (Impact.MAJOR, ADM, (2, 3, 4)),
        (Impact.MINOR, PUB, (3, 4, 5)),
        (Impact.MINOR, ADM, (4, 5, 6)),
    ],
)
def test_priority_tabel_4_2(impact: Impact, group: Group, expected: tuple[int, int, int]) -> None:
    assert (
        priority(impact, group, K),
        priority(impact, group, E),
        priority(impact, group, N),
    ) == expected


@pytest.mark.parametrize(
    ("prio", "minutes"), [(1, 15), (2, 30), (3, 60), (4, 90), (5, 120), (6, 150)]
)
def test_response_target_tabel_4_3(prio: int, minutes: int) -> None:
    assert response_target(prio) == timedelta(minutes=minutes)


def test_sla_resolution_by_urgency() -> None:
    assert [SLA_RESOLUTION[u] // timedelta(hours=1) for u in (1, 2, 3)] == [48, 72, 120]


def test_group_codes_tabel_2_2() -> None:
    assert (PUB.code, ADM.code) == ("RAL.01", "RAL.02")
