"""`promtool check metrics` lints a realistic /metrics (naming, help, units, counters)."""

from __future__ import annotations

import subprocess

from tests.conftest import require_binary
from tests.exporters.test_metrics_exposition import _filled


def test_promtool_finds_no_lint_problems_in_a_realistic_exposition() -> None:
    promtool = require_binary("promtool")
    cache = _filled()
    for i in range(20):  # a katalog-sized state on top of the hand-made one
        sid = f"layanan-{i}"
        cache.set_service_info(sid, name=f"Layanan {i}", provider="Diskominfo",
                               group="administrasi_pemerintahan", classification="esensial")  # fmt: skip
        cache.update_service(sid, state="up", availability_ratio=0.995, target_ratio=0.99,
                             downtime_seconds_total=30.0, outage_seconds=0.0, flapping=False)  # fmt: skip
        cache.update_probe(sid, "web", "http", success=True, duration_seconds=0.2,
                           http_status_code=200, tls_expiry_ts=1.8e9)  # fmt: skip
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=cache.render(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout + result.stderr == b""  # lint findings are printed, rc 3
