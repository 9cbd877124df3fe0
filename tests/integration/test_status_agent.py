"""``pantau status`` beside the real agent: what an admin of a Kritis service asks first.

A breached RPO, a stale drill, a drill slower than the RTO, an open P1 and a full filesystem (a
small tmpfs, filled) each show in the table and in ``--json``, with the figures ``/metrics``
shows; times render in WIB, WITA and WIT; the exit status is 1 while a service is down or an
RPO is breached and 0 once both are fixed; ``--watch`` redraws until Ctrl-C; colour only on a
terminal. Every case also checks that the agent stays up, ``/metrics`` answers within 1 s and
no gangguan is invented for a healthy service.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import IN_CI
from tests.integration.agentproc import AgentProcess, Target, free_port, wait_for, write_config

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def pantau(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def status_json(cfg: Path) -> tuple[int, dict[str, Any]]:
    proc = pantau("status", "-c", str(cfg), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def service_of(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in doc["services"] if s["id"] == sid)


def assert_agent_healthy(agent: AgentProcess) -> None:
    """The agent is up and a scrape answers within 1 s."""
    assert agent.proc.poll() is None, agent.log()
    started = time.monotonic()
    body = agent.get("/metrics", timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert b"pantau_agent_info" in body


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, filled until the kernel says ENOSPC."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs: {exc!r}")
        pytest.skip(f"cannot mount a tmpfs: {exc!r}")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):
                for _ in range(1024):  # 1 MiB in 4 KiB writes, at most: bounded
                    os.write(fd, b"\0" * 4096)
            with pytest.raises(OSError, match="No space left") as info:
                os.write(fd, b"\0" * 4096)
            assert info.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30, check=False)


def kritis_portal(url: str, dumps: Path) -> str:
    """Publik + kritis: a Mayor gangguan is P1. RPO 1 h on a files source; the katalog's last
    drill is from January 2023 (older than the default 365-day drill age)."""
    return f"""\
  - id: portal
    name: Portal Layanan Publik
    provider: Diskominfo
    group: layanan_publik
    classification: kritis
    host: local
    checks:
      - {{name: web, type: http, url: "{url}"}}
    rpo: 1h
    rto: 4h
    drp: {{document: DRP-PORTAL.pdf, last_drill: 2023-01-10}}
    backups:
      - {{name: dumps, type: files, path: "{dumps}/*.sql.gz", interval: 1s}}
"""


def healthy_arsip(url: str) -> str:
    """An esensial service that stays up, with a DRP whose last drill took longer than its RTO."""
    return f"""\
  - id: arsip
    name: Arsip Dinamis
    provider: Sekretariat
    group: administrasi_pemerintahan
    classification: esensial
    host: local
    checks:
      - {{name: web, type: http, url: "{url}"}}
    rto: 1h
    drp: {{document: DRP-ARSIP.pdf}}
"""


def write_dump(dumps: Path, name: str, age: timedelta) -> None:
    """A finished dump file written ``age`` ago (older than the source's 60 s settle time)."""
    path = dumps / name
    path.write_bytes(b"x" * 100)
    then = time.time() - age.total_seconds()
    os.utime(path, (then, then))


def test_breached_rpo_stale_drill_open_p1_and_full_filesystem_show_in_table_and_json(
    tmp_path: Path, full_disk: Path
) -> None:
    broken, healthy = Target(), Target()
    broken.status = 503
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    write_dump(dumps, "portal-1.sql.gz", timedelta(hours=3))
    listen = f"127.0.0.1:{free_port()}"
    hosts = (
        f"hosts:\n  - {{id: local, filesystems: [{full_disk}], interfaces: [lo],"
        " link_capacity_mbps: 100, interval: 1s}"
    )
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=kritis_portal(broken.url, dumps) + healthy_arsip(healthy.url),
        extra=f"  timezone: Asia/Jakarta\n{hosts}",
    )
    # A drill done by hand ten days ago: restored in 2 h against arsip's 1 h RTO.
    started = datetime.now(UTC) - timedelta(days=10)
    drill = pantau(
        "drill", "record", "arsip", "-c", str(cfg),
        "--started", started.isoformat(), "--restored", (started + timedelta(hours=2)).isoformat(),
    )  # fmt: skip
    assert drill.returncode == 1, drill.stderr  # the command itself says the RTO was missed
    agent = AgentProcess(cfg, listen)
    try:
        mount = str(full_disk)
        fs_metric = f'pantau_host_filesystem_utilization_ratio{{host="local",mountpoint="{mount}"}}'
        wait_for(
            lambda: agent.metric('pantau_incidents_open{service="portal",priority="P1"}') == 1,
            20,
            "P1 ticket",
        )
        wait_for(
            lambda: agent.metric('pantau_backup_rpo_breached{service="portal"}') == 1,
            20,
            "RPO breach",
        )
        wait_for(lambda: agent.metric(fs_metric) is not None, 20, "filesystem sample")
        # The CLI reads what the agent's writer committed (within ~0.5 s of the metrics).
        wait_for(
            lambda: bool(service_of(status_json(cfg)[1], "portal")["open_incidents"]),
            10,
            "the ticket in the store",
        )
        code, doc = status_json(cfg)
        assert code == 1  # portal is down and its RPO is breached
        portal, arsip = service_of(doc, "portal"), service_of(doc, "arsip")
        assert portal["state"] == "down"
        assert portal["backup"]["state"] == "breached"
        assert portal["backup"]["age_hours"] == pytest.approx(3.0, abs=0.1)
        metric_age = agent.metric('pantau_backup_age_seconds{service="portal"}')
        assert metric_age is not None
        assert portal["backup"]["age_hours"] == pytest.approx(metric_age / 3600, abs=0.02)
        assert portal["drp"]["last_drill"]["overdue"] is True
        assert (
            portal["drp"]["last_drill"]["at"]
            == datetime(2023, 1, 10, tzinfo=ZoneInfo("Asia/Jakarta")).astimezone(UTC).isoformat()
        )
        (p1,) = portal["open_incidents"]
        assert (p1["priority"], p1["impact"], p1["response_target_minutes"]) == (1, "major", 15.0)
        assert p1["acked_at"] is None
        (host,) = doc["hosts"]
        assert host["fullest_filesystem"]["mountpoint"] == mount
        assert host["fullest_filesystem"]["ratio"] == agent.metric(fs_metric) == 1.0
        assert host["link_capacity_mbps"] == 100.0
        # No gangguan invented for the healthy service; its slow drill is reported.
        assert arsip["state"] == "up"
        assert arsip["open_incidents"] == []
        assert arsip["drp"]["last_drill"]["within_rto"] is False
        assert agent.metric('pantau_incidents_open{service="arsip"') in (0, None)

        table = pantau("status", "-c", str(cfg))
        assert table.returncode == 1, table.stderr
        text = table.stdout
        assert not ANSI.search(text)  # not a terminal: no colour
        assert re.search(r"^agen test-agent — \d{4}-\d\d-\d\d \d\d:\d\d:\d\d WIB — periode ", text)
        assert re.search(
            r"^portal +down +\d{4}-\d\d-\d\d \d\d:\d\d WIB .* G-\d{4}-\d\d-\d{4} P1$", text, re.M
        )
        assert re.search(
            r"^portal +\d{4}-\d\d-\d\d \d\d:\d\d WIB +3\.0 jam +1 jam +terlampaui$", text, re.M
        )
        assert re.search(
            r"^portal +2023-01-10 00:00 WIB +– +4 jam +terlambat \(> 365 hari\)$", text, re.M
        )
        assert re.search(
            r"^arsip +.* WIB +berhasil, pulih dalam 2 jam +1 jam +melebihi RTO$", text, re.M
        )
        assert re.search(
            r"^G-\d{4}-\d\d-\d{4} +portal +P1 +Mayor +.* WIB +.* 15 menit +.* WIB +", text, re.M
        )
        assert re.search(
            rf"^local +[\d.]+% .*{re.escape(mount)} 100\.0% \(penuh\) +.* Mbps", text, re.M
        )
        assert "UTC" not in text
        assert_agent_healthy(agent)

        # The service recovers: still exit 1 while the RPO is breached ...
        broken.status = 200
        wait_for(lambda: service_of(status_json(cfg)[1], "portal")["state"] == "up", 20, "recovery")
        code, doc = status_json(cfg)
        assert (code, service_of(doc, "portal")["open_incidents"]) == (1, [])
        # ... and 0 once a fresh dump exists.
        write_dump(dumps, "portal-2.sql.gz", timedelta(minutes=2))
        wait_for(lambda: status_json(cfg)[0] == 0, 20, "exit 0 after a fresh backup")
        text = pantau("status", "-c", str(cfg)).stdout
        assert re.search(r"^portal +normal ", text, re.M)
        assert re.search(r"^portal +.* WIB +0\.0 jam +1 jam +ok$", text, re.M)
        assert "Gangguan terbuka: tidak ada" in text
        assert_agent_healthy(agent)
    finally:
        agent.stop()
        broken.close()
        healthy.close()


@pytest.mark.parametrize(
    ("zone", "abbreviation"),
    [("Asia/Jakarta", "WIB"), ("Asia/Makassar", "WITA"), ("Asia/Jayapura", "WIT")],
)
def test_times_render_in_the_agents_zone_and_a_healthy_agent_exits_0(
    tmp_path: Path, zone: str, abbreviation: str
) -> None:
    target = Target()
    listen = f"127.0.0.1:{free_port()}"
    services = f"""\
  - id: kepegawaian
    name: Sistem Kepegawaian
    provider: BKPSDM
    group: administrasi_pemerintahan
    classification: kritis
    checks:
      - {{name: web, type: http, url: "{target.url}"}}
    rpo: 24h
    rto: 4h
    drp: {{document: DRP.pdf}}
    backups: [{{type: push}}]
"""
    cfg = write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=listen,
        services=services,
        extra=f"  timezone: {zone}",
    )
    backed_up = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    mark = pantau("backup", "mark", "kepegawaian", "-c", str(cfg), "--at", backed_up.isoformat())
    assert mark.returncode == 0, mark.stderr
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: status_json(cfg)[1]["services"][0]["state"] == "up", 20, "state up")
        code, doc = status_json(cfg)
        assert code == 0  # up, RPO kept (never drilled is shown, not an exit reason)
        svc = doc["services"][0]
        assert doc["generated_at"].endswith("+00:00")  # --json stays UTC
        assert svc["since"].endswith("+00:00")
        assert svc["backup"]["newest_at"] == backed_up.isoformat()
        table = pantau("status", "-c", str(cfg))
        assert table.returncode == 0, table.stderr
        local = ZoneInfo(zone)
        since = datetime.fromisoformat(svc["since"]).astimezone(local)
        newest = backed_up.astimezone(local)
        assert re.search(
            rf"^agen test-agent — [\d-]+ [\d:]+ {abbreviation} — periode ", table.stdout
        )
        assert re.search(
            rf"^kepegawaian +normal +{since:%Y-%m-%d %H:%M} {abbreviation} ", table.stdout, re.M
        )
        assert re.search(
            rf"^kepegawaian +{newest:%Y-%m-%d %H:%M} {abbreviation} +2\.0 jam +24 jam +ok$",
            table.stdout,
            re.M,
        )
        assert re.search(r"^kepegawaian +belum pernah +– +4 jam +terlambat", table.stdout, re.M)
        assert "UTC" not in table.stdout
        assert_agent_healthy(agent)
    finally:
        agent.stop()
        target.close()


def _read(fd: int, done: Callable[[bytes], bool], timeout: float) -> bytes:
    """What a child writes to ``fd`` until ``done(output)``, EOF or ``timeout`` (bounded)."""
    out = b""
    deadline = time.monotonic() + timeout
    while not done(out) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO on a pty: the child closed its side
            break
        if not chunk:
            break
        out += chunk
    return out


def test_colour_on_a_terminal_only_watch_redraws_and_bad_options_exit_2(tmp_path: Path) -> None:
    target = Target()
    listen = f"127.0.0.1:{free_port()}"
    services = f"""\
  - id: web
    name: Web
    provider: Diskominfo
    group: layanan_publik
    classification: normal
    fulfilment_target: 72h
    checks:
      - {{name: web, type: http, url: "{target.url}"}}
"""
    cfg = write_config(
        tmp_path / "pantau.yaml", data_dir=tmp_path / "data", listen=listen, services=services
    )
    agent = AgentProcess(cfg, listen)
    try:
        wait_for(lambda: status_json(cfg)[1]["services"][0]["state"] == "up", 20, "state up")
        # On a terminal: the state word in green, padded outside the colour.
        for no_color, coloured in (("", True), ("1", False)):
            leader, follower = pty.openpty()
            env = {**os.environ, "NO_COLOR": no_color, "TERM": "xterm"}
            with subprocess.Popen(
                [sys.executable, "-m", "agent", "status", "-c", str(cfg)],
                stdout=follower, stderr=follower, env=env,
            ) as proc:  # fmt: skip
                os.close(follower)
                try:
                    raw = _read(leader, lambda _: False, 30).decode()
                    assert proc.wait(30) == 0, raw
                finally:
                    os.close(leader)
            assert ("\x1b[32mnormal" in raw) is coloured, raw
            assert re.search(r"^web +normal ", ANSI.sub("", raw).replace("\r", ""), re.M)

        # --watch into a pipe: the table again every second, plain, until Ctrl-C.
        with (tmp_path / "watch.err").open("w+") as err, subprocess.Popen(
            [sys.executable, "-m", "agent", "status", "-c", str(cfg), "--watch", "1"],
            stdout=subprocess.PIPE, stderr=err,
        ) as watch:  # fmt: skip
            assert watch.stdout is not None
            fd = watch.stdout.fileno()
            try:
                out = _read(fd, lambda o: o.count(b"agen test-agent") >= 3, 30)
                watch.send_signal(signal.SIGINT)
                code = watch.wait(15)
                out += _read(fd, lambda _: False, 5)
            finally:
                if watch.poll() is None:
                    watch.kill()
            err.seek(0)
            errors = err.read()
        text = out.decode()
        assert text.count("agen test-agent") >= 3, text
        assert code == 0, errors  # the last redraw: all up
        assert "Traceback" not in errors
        assert not ANSI.search(text)
        assert text.count("(diperbarui setiap 1 detik; Ctrl-C untuk berhenti)") >= 3
        assert "\n\nagen test-agent" in text  # redraws follow one another, a blank line apart

        for args, message in (
            (["--watch", "0"], "0 is not in the range x>=1"),
            (["--watch", "1", "--json"], "--watch redraws the table"),
        ):
            bad = pantau("status", "-c", str(cfg), *args)
            assert bad.returncode == 2
            assert message in bad.stderr
        assert_agent_healthy(agent)
    finally:
        agent.stop()
        target.close()
