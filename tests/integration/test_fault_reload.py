"""SIGHUP with a hostile or broken file: the real agent keeps its configuration and its memory
(FAULTS 36, and FAULTS 19 again against these files).

Before: an alias bomb grew the running agent to 1.4 GB, ``&r [1, *r]`` ended the reload task in
a RecursionError logged only as "Task exception was never retrieved", and
``pantau_config_last_reload_successful`` stayed 1. Every failure below must set it to 0, log the
file, line and reason, and leave the running services as they were; each good reload between
them sets it back to 1, so each 0 is that failure's own.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.config.test_yaml_aliases import BOMB, CYCLE
from tests.integration.agentproc import (
    AgentProcess,
    Target,
    free_port,
    http_service,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

RELOAD_METRIC = "pantau_config_last_reload_successful"
MAX_RSS_GROWTH = 50 * 1024 * 1024  # bytes; the bomb took the agent to 1.4 GB


def _reload(agent: AgentProcess, cfg: Path, text: str, expect: int) -> None:
    cfg.write_text(text, encoding="utf-8")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: agent.metric(RELOAD_METRIC) == expect, 20, f"{RELOAD_METRIC} {expect}")


def _scrape_seconds(agent: AgentProcess) -> float:
    start = time.monotonic()
    agent.get("/metrics", timeout=5.0)
    return time.monotonic() - start


def test_bad_files_by_sighup_keep_config_and_memory_and_each_sets_the_metric_to_0(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    cfg = tmp_path / "pantau.yaml"
    write_config(
        cfg, data_dir=tmp_path / "data", listen=listen, services=http_service("portal", target.url)
    )
    good = cfg.read_text(encoding="utf-8")
    with_second = good.replace("services:\n", "services:\n" + http_service("second", target.url))
    agent = AgentProcess(cfg, listen)
    process = psutil.Process(agent.proc.pid)
    lines_of_good = good.count("\n")
    scrapes: list[float] = []
    try:
        wait_for(lambda: agent.metric('pantau_service_up{service="portal"}') == 1, 15, "portal up")
        rss_before = process.memory_info().rss

        # 1. the alias bomb (appended: its first line is the file's line lines_of_good + 1)
        _reload(agent, cfg, good + BOMB, 0)
        rss_after = process.memory_info().rss
        scrapes.append(_scrape_seconds(agent))
        log = agent.log()
        assert f"{cfg}:{lines_of_good + 1}:" in log
        assert "aliases expand to more than 100,000 values" in log
        assert rss_after - rss_before < MAX_RSS_GROWTH, (rss_before, rss_after)

        # 2. a good file with a second service: swapped in, metric back to 1
        _reload(agent, cfg, with_second, 1)
        wait_for(lambda: agent.metric('pantau_service_up{service="second"}') == 1, 15, "second")

        # 3. a self-referencing anchor: located, no RecursionError; both services kept
        _reload(agent, cfg, good + CYCLE, 0)
        assert f"{cfg}:{lines_of_good + 1}:4 r[1]: an alias refers to a value that contains it" in (
            agent.log()
        )
        scrapes.append(_scrape_seconds(agent))
        assert agent.metric('pantau_service_info{service="second"') is not None

        # 4. a CA file that cannot be read, on a new service: nothing half-applied
        _reload(agent, cfg, with_second, 1)
        bad_ca = with_second.replace(
            "services:\n",
            "services:\n"
            + http_service("third", target.url).replace(
                'url: "', f'ca_file: {tmp_path / "missing-ca.pem"}, url: "'
            ),
        )
        _reload(agent, cfg, bad_ca, 0)
        assert "services[third].checks[0].ca_file: cannot load CA certificates" in agent.log()
        assert agent.metric('pantau_service_info{service="third"') is None

        # 5. a body regex that does not compile: found when loading, located
        _reload(agent, cfg, with_second, 1)
        _reload(agent, cfg, with_second.replace('url: "', 'expect_body_regex: "([x", url: "', 1), 0)
        assert "expect_body_regex: invalid regular expression" in agent.log()
        scrapes.append(_scrape_seconds(agent))

        # Through it all: the running services kept probing, nothing was invented.
        assert agent.service("portal")["state"] == "up"
        assert agent.service("second")["state"] == "up"
        assert agent.metric('pantau_service_downtime_seconds_total{service="portal"}') == 0
        rss_end = process.memory_info().rss
    finally:
        assert agent.stop() == 0
    log = agent.log()
    print(
        f"FAULTS 36/19: RSS {rss_before / 2**20:.1f} MiB before the bomb, "
        f"{rss_after / 2**20:.1f} MiB after it, {rss_end / 2**20:.1f} MiB at the end; "
        f"slowest scrape {max(scrapes):.3f} s"
    )
    assert "Task exception was never retrieved" not in log
    assert "RecursionError" not in log
    assert log.count("configuration reload from") == 4  # one line per failed reload
    assert max(scrapes) < 1.0
