"""The report model's derived values and text helpers, against hand-computed numbers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from agent.core.errors import ReportError
from agent.core.pedoman import Classification, Impact
from exporters.advice import capacity_advice, missed_target_causes
from exporters.report_model import (
    Availability,
    Drill,
    Drp,
    FilesystemUsage,
    Gangguan,
    Metric,
    Utilisation,
    days_until_full,
)
from exporters.report_text import format_bytes, format_number, minutes
from tests.reports.sample import GIB, aduan, portal, sample_report, sipd, wib


class TestDaysUntilFull:
    def test_free_space_divided_by_daily_growth(self) -> None:
        # 100 GiB disk, 40 GiB used → 60 GiB free; 0.5 GiB/day → 60 / 0.5 = 120 days.
        assert days_until_full(40 * GIB, 100 * GIB, 0.5 * GIB) == pytest.approx(120.0)

    def test_fractional_days_are_kept(self) -> None:
        # 1000 bytes free at 300 bytes/day → 1000 / 300 = 3.333… days.
        assert days_until_full(9000, 10_000, 300) == pytest.approx(3.3333333)

    def test_not_growing_never_fills(self) -> None:
        assert days_until_full(40, 100, 0) is None
        assert days_until_full(40, 100, -5) is None  # shrinking

    def test_already_full_is_zero_days(self) -> None:
        assert days_until_full(100, 100, 1) == 0.0
        assert days_until_full(120, 100, 0) == 0.0  # over-full (reserved blocks)

    def test_unknown_size_has_no_projection(self) -> None:
        assert days_until_full(0, 0, 10) is None

    def test_filesystem_usage_uses_the_helper(self) -> None:
        fs = FilesystemUsage("/data", 180 * GIB, 200 * GIB, 1.0 * GIB)
        # 20 GiB free / 1 GiB a day = 20 days; 180 / 200 = 90 %.
        assert fs.days_until_full == pytest.approx(20.0)
        assert fs.used_pct == pytest.approx(90.0)


class TestCapacityAdvice:
    def test_filling_disk_and_cpu_pressure_are_advised(self) -> None:
        advice = capacity_advice(sipd())
        assert advice == [
            "Filesystem /var/lib/postgresql diperkirakan penuh dalam ±20 hari (bertambah "
            "1,0 GiB/hari, terpakai 90,0 %): tambah kapasitas atau kurangi data.",
            "CPU p95 86,4 % (> 80 %): beban tinggi berkelanjutan, tambah vCPU atau "
            "optimalkan beban.",
        ]

    def test_disk_beyond_horizon_and_ram_below_threshold_are_quiet(self) -> None:
        # "/" fills in 120 days (> 90-day horizon); RAM p95 72 % ≤ 80 %.
        text = " ".join(capacity_advice(sipd()))
        assert "Filesystem / " not in text
        assert "RAM" not in text

    def test_full_disk_that_does_not_grow_is_still_advised(self) -> None:
        service = dataclasses.replace(
            portal(), filesystems=[FilesystemUsage("/srv", 95 * GIB, 100 * GIB, 0.0)]
        )
        assert capacity_advice(service) == [
            "Filesystem /srv terpakai 95,0 %: sediakan ruang cadangan."
        ]

    def test_bandwidth_pressure_is_relative_to_link_capacity(self) -> None:
        u = Utilisation(host="h", bandwidth=Metric(50.0, 85.0), link_capacity_mbps=100.0)
        # 85 Mbps / 100 Mbps = 85 % > 80 %.
        (advice,) = capacity_advice(dataclasses.replace(portal(), utilisation=u))
        assert advice.startswith("Bandwidth p95 85,0 Mbps = 85,0 % dari kapasitas 100 Mbps")

    def test_ram_pressure_uses_p95_not_average(self) -> None:
        u = Utilisation(host="h", ram=Metric(50.0, 80.1))
        (advice,) = capacity_advice(dataclasses.replace(portal(), utilisation=u))
        assert advice.startswith("RAM p95 80,1 % (> 80 %)")


class TestAvailabilityMet:
    def test_exactly_the_target_is_met(self) -> None:
        assert Availability(99.5, 99.5).met is True

    def test_float_noise_below_the_target_still_meets_it(self) -> None:
        # (up + degraded) / observed can land on 99.49999999999999 for an exact 99.5 %.
        assert Availability(99.5, 99.49999999999999).met is True

    def test_just_below_the_target_is_missed_and_shown_below(self) -> None:
        a = Availability(99.5, 99.4996)
        assert a.met is False
        # floored to 3 decimals: 99.4996 → 99.499 (rounding would show 99.500 = "met")
        assert format_number(99.4996, 3, floor=True) == "99.499"

    def test_no_data_is_neither_met_nor_missed(self) -> None:
        assert Availability(98.0, None).met is None


class TestFormatting:
    def test_rounds_half_up_in_decimal(self) -> None:
        assert format_number(0.125, 2) == "0.13"  # binary float would give 0.12
        assert format_number(2.675, 2) == "2.68"  # 2.675 is 2.67499999… in binary

    def test_floor_keeps_any_downtime_below_100(self) -> None:
        # 10 s down in 30 days: 100 × (1 − 10 / 2 592 000) = 99.99961…
        assert format_number(100 * (1 - 10 / 2_592_000), 3, floor=True) == "99.999"

    def test_indonesian_grouping_and_decimal_comma(self) -> None:
        assert format_number(43200, 2, decimal_mark=",", group=".") == "43.200,00"

    def test_negative_zero_is_plain_zero(self) -> None:
        assert format_number(-0.001, 2) == "0.00"

    def test_non_finite_numbers_are_refused(self) -> None:
        with pytest.raises(ReportError, match="nan"):
            format_number(float("nan"), 2)

    def test_fifteen_seconds_is_a_quarter_minute(self) -> None:
        assert minutes(timedelta(seconds=15)) == 0.25

    def test_bytes_in_binary_units(self) -> None:
        assert format_bytes(512) == "512 B"
        assert format_bytes(1.5 * GIB) == "1,5 GiB"


class TestDerivedServiceValues:
    def test_storage_is_the_fullest_filesystem(self) -> None:
        # "/" is 40 %, "/var/lib/postgresql" is 90 %.
        assert sipd().storage_pct == pytest.approx(90.0)

    def test_longest_recovery_and_rto_count_only_mayor(self) -> None:
        s = sipd()
        assert s.longest_recovery == timedelta(minutes=21, seconds=36)
        assert s.over_rto == 0  # 21m36s ≤ 4 h
        tight = dataclasses.replace(s, drp=dataclasses.replace(s.drp, rto=timedelta(minutes=15)))
        # only G-0001 (Mayor, 21m36s) exceeds 15 min; G-0002 is Minor.
        assert tight.over_rto == 1

    def test_no_rto_means_over_rto_does_not_apply(self) -> None:
        assert aduan().over_rto is None

    def test_causes_of_a_missed_target_come_from_the_gangguan(self) -> None:
        # 4 gangguan: #0, #2 Mayor 10 min "Server aplikasi mati" → 2×, 20 min;
        # #1, #3 Minor 5 min 'Jaringan putus, "ISP"' → 2×, 10 min. Longest total first.
        assert missed_target_causes(aduan(4)) == [
            "Server aplikasi mati (2×, 20 menit)",
            'Jaringan putus, "ISP" (2×, 10 menit)',
        ]

    def test_operator_causes_win_and_met_targets_have_none(self) -> None:
        assert missed_target_causes(portal()) == ["=Agen berhenti\nsejak 1 Sep", "Host dimatikan"]
        assert missed_target_causes(sipd()) == []

    def test_drill_passes_only_within_rto(self) -> None:
        drp = Drp(rto=timedelta(hours=1))
        ok = Drill(at=wib(2024, 9, 1), success=True, recovery_time=timedelta(minutes=59))
        slow = dataclasses.replace(ok, recovery_time=timedelta(minutes=61))
        failed = dataclasses.replace(ok, success=False)
        assert drp.drill_within_rto(ok) is True
        assert drp.drill_within_rto(slow) is False
        assert drp.drill_within_rto(failed) is False
        assert Drp().drill_within_rto(ok) is None  # no RTO to judge against

    def test_drill_data_age_is_judged_against_rpo(self) -> None:
        drp = Drp(rpo=timedelta(hours=24))
        fresh = Drill(at=wib(2024, 9, 1), success=True, data_age=timedelta(hours=24))
        stale = dataclasses.replace(fresh, data_age=timedelta(hours=24, seconds=1))
        assert drp.drill_within_rpo(fresh) is True  # exactly the RPO is within it
        assert drp.drill_within_rpo(stale) is False
        assert drp.drill_within_rpo(dataclasses.replace(fresh, data_age=None)) is None


class TestRecap:
    def test_counts_by_classification(self) -> None:
        report = sample_report()
        assert (report.met_count, len(report.missed), report.no_data_count) == (1, 1, 1)
        recap = report.by_classification
        assert [(r.total, r.met, r.missed, r.no_data) for r in recap.values()] == [
            (1, 1, 0, 0),  # kritis: sipd met
            (1, 0, 1, 0),  # esensial: aduan missed
            (1, 0, 0, 1),  # normal: portal without data
        ]
        assert list(recap) == [
            Classification.KRITIS,
            Classification.ESENSIAL,
            Classification.NORMAL,
        ]

    def test_recovery_recap(self) -> None:
        r = sample_report().recovery
        # RPO: sipd (26.5 h > 24 h → missed), portal (no backup data).
        assert (r.with_rpo, r.rpo_met, r.rpo_missed, r.rpo_no_data) == (2, 0, 1, 1)
        # RTO: sipd (1 Mayor, 21m36s ≤ 4 h) and portal (none).
        assert (r.with_rto, r.mayor_with_rto, r.over_rto) == (2, 1, 0)
        assert (r.drills, r.drills_passed) == (1, 1)

    def test_missed_are_sorted_by_shortfall(self) -> None:
        report = sample_report()
        worse = dataclasses.replace(aduan(), id="worse", availability=Availability(99.0, 95.0))
        report = dataclasses.replace(report, services=[*report.services, worse])
        assert [s.id for s in report.missed] == ["worse", "aduan"]

    def test_period_label_and_name(self) -> None:
        report = sample_report()
        assert report.period_label == "Sep-2024"
        assert report.period_name == "September 2024"


class TestValidation:
    def test_naive_generated_at_is_refused(self) -> None:
        with pytest.raises(ReportError, match="timezone-aware"):
            dataclasses.replace(sample_report(), generated_at=datetime(2024, 10, 1))  # noqa: DTZ001

    def test_month_out_of_range_is_refused(self) -> None:
        with pytest.raises(ReportError, match="month 13"):
            dataclasses.replace(sample_report(), period=(2024, 13))

    def test_unknown_zone_is_refused(self) -> None:
        with pytest.raises(ReportError, match="Mars/Olympus"):
            dataclasses.replace(sample_report(), timezone="Mars/Olympus")

    def test_duplicate_service_ids_are_refused(self) -> None:
        with pytest.raises(ReportError, match="more than once"):
            dataclasses.replace(sample_report(), services=[sipd(), sipd()])

    def test_gangguan_is_frozen(self) -> None:
        g = Gangguan("x", datetime(2024, 9, 1, tzinfo=UTC), None, timedelta(0), Impact.MAJOR, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            g.cause = "changed"  # type: ignore[misc]
