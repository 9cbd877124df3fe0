"""Any failed reload sets ``pantau_config_last_reload_successful`` to 0 and says why, also for
failures nobody planned for (FAULTS 19, 36); the real process is in tests/integration."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from agent.config.loader import load_config
from agent.config.models import Config
from agent.core.errors import ConfigError
from agent.runtime import runner as runner_module
from agent.runtime.reload import load_for_reload
from agent.runtime.runner import Agent
from tests.integration.agentproc import Target, free_port, http_service, write_config
from tests.runtime.test_agent import sample

METRIC = "pantau_config_last_reload_successful"


def _config(tmp_path: Path, target: Target) -> Path:
    return write_config(
        tmp_path / "pantau.yaml",
        data_dir=tmp_path / "data",
        listen=f"127.0.0.1:{free_port()}",
        services=http_service("portal", target.url),
    )


def test_an_unexpected_error_while_loading_or_applying_is_a_failed_reload(
    tmp_path: Path,
    target: Target,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = _config(tmp_path, target)

    def broken_load(path: Path) -> tuple[Config, None]:
        raise RecursionError("maximum recursion depth exceeded")

    async def scenario() -> None:
        agent = Agent(load_config(cfg), cfg)
        await agent.start()
        try:
            assert sample(agent, METRIC) == 1
            with monkeypatch.context() as m:
                m.setattr(runner_module, "load_for_reload", broken_load)
                assert await agent.reload() is False
            assert sample(agent, METRIC) == 0
            assert await agent.reload() is True
            assert sample(agent, METRIC) == 1
            with monkeypatch.context() as m:

                def boom(config: Config) -> None:
                    raise RuntimeError("host sampler exploded")

                m.setattr(agent, "_apply_hosts", boom)
                assert await agent.reload() is False
            assert sample(agent, METRIC) == 0
        finally:
            await agent.stop()

    with caplog.at_level(logging.ERROR, logger="pantau.agent"):
        asyncio.run(scenario())
    failures = [r.getMessage() for r in caplog.records if "reload from" in r.getMessage()]
    assert len(failures) == 2
    assert str(cfg) in failures[0]
    assert "keeping the running configuration" in failures[0]
    assert "RecursionError: maximum recursion depth exceeded" in failures[0]
    assert "may be applied in part" in failures[1]


def test_load_for_reload_names_the_check_whose_ca_file_cannot_be_read(
    tmp_path: Path, target: Target
) -> None:
    cfg = _config(tmp_path, target)
    text = cfg.read_text().replace('url: "', f'ca_file: {tmp_path / "none.pem"}, url: "')
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"services\[portal\]\.checks\[0\]\.ca_file: cannot load"):
        load_for_reload(cfg)
