"""docker-compose.yml: parses, every mounted file exists (or is documented as generated), and
each container's configuration passes its own tool's check once laid out as compose mounts it.

Without a Docker engine, a service's filesystem is emulated by copying each bind mount's source
to ``<tmp>/<target>``; the real binaries (promtool) then check that tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import require_binary
from tests.deploy.conftest import REPO, require_tool, run, stages

COMPOSE = REPO / "docker-compose.yml"
GENERATED_RULES = "deploy/prometheus/pantau-rules.yml"
REGENERATE = f"pantau rules -c config/pantau.example.yaml > {GENERATED_RULES}"
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` with an empty environment: every variable needs a default."""

    def repl(match: re.Match[str]) -> str:
        assert match.group(2) is not None, f"{match.group(0)} has no default in {COMPOSE.name}"
        return match.group(2)

    return _INTERPOLATION.sub(repl, text)


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(_interpolate(COMPOSE.read_text(encoding="utf-8")))
    assert isinstance(data, dict)
    return data


def _service(name: str) -> dict[str, Any]:
    service = _compose()["services"][name]
    assert isinstance(service, dict)
    return service


@dataclass(frozen=True)
class Mount:
    """One ``volumes:`` entry in short syntax."""

    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith(("./", "/", "../"))


def _mounts(service: str) -> list[Mount]:
    mounts = []
    for entry in _service(service).get("volumes", []):
        assert isinstance(entry, str), "use the short volume syntax (source:target[:ro])"
        source, target, *mode = entry.split(":")
        mounts.append(Mount(source, target, mode == ["ro"]))
    return mounts


def _mirror(service: str, root: Path) -> Path:
    """Lay the service's bind mounts out under ``root`` as the container would see them."""
    for mount in _mounts(service):
        if not mount.is_bind:
            (root / mount.target.lstrip("/")).mkdir(parents=True, exist_ok=True)
            continue
        source = REPO / mount.source
        target = root / mount.target.lstrip("/")
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return root


def _flag(service: str, name: str, default: str) -> str:
    for arg in _service(service).get("command", []):
        if arg.startswith(f"--{name}="):
            return str(arg.split("=", 1)[1])
    return default


def test_compose_file_defines_the_three_services() -> None:
    compose = _compose()
    assert set(compose["services"]) == {"pantau", "prometheus", "grafana"}
    declared = set(compose.get("volumes", {}))
    used = {m.source for s in compose["services"] for m in _mounts(s) if not m.is_bind}
    assert used == declared, "named volumes must be declared at the top level (and all used)"


def test_every_bind_mount_source_exists() -> None:
    missing = [
        f"{name}: {mount.source}"
        for name in _compose()["services"]
        for mount in _mounts(name)
        if mount.is_bind and not (REPO / mount.source).exists()
    ]
    assert missing == []


def test_generated_rules_file_is_documented_with_its_command() -> None:
    # The only file the stack reads that is not in git until generated.
    for doc in ("docker-compose.yml", "deploy/prometheus/README.md", "docs/deploy.md"):
        assert REGENERATE in (REPO / doc).read_text(encoding="utf-8"), doc


def test_config_mounts_are_read_only_and_data_is_not() -> None:
    for name in _compose()["services"]:
        for mount in _mounts(name):
            assert mount.read_only == mount.is_bind, f"{name}: {mount}"


def test_ports_are_published_on_loopback_with_pinned_images() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is reachable from the LAN"
        image = service["image"]
        assert ":" in image
        assert not image.endswith(":latest")


def test_pantau_service_builds_the_image_and_runs_a_mounted_config() -> None:
    service = _service("pantau")
    assert (REPO / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    command = service["command"]
    assert command[:2] == ["run", "-c"]
    config = command[2]
    (conf_mount,) = [m for m in _mounts("pantau") if config.startswith(m.target + "/")]
    assert (REPO / conf_mount.source / config[len(conf_mount.target) + 1 :]).is_file()
    # The agent listens on the port the image EXPOSEs and compose publishes.
    (expose,) = stages()[-1].all("EXPOSE")
    assert service["environment"]["PANTAU_LISTEN"] == f"0.0.0.0:{expose.args}"
    assert service["ports"] == [f"127.0.0.1:{expose.args}:{expose.args}"]
    assert service["init"] is True
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]


@pytest.mark.integration
def test_prometheus_config_passes_promtool_as_mounted(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    root = _mirror("prometheus", tmp_path)
    config = root / _flag("prometheus", "config.file", "/etc/prometheus/prometheus.yml").lstrip("/")
    rule_files = yaml.safe_load(config.read_text(encoding="utf-8"))["rule_files"]
    found = [p for pattern in rule_files for p in config.parent.glob(pattern)]
    if not found:
        # The generated rules are not there yet: check the config with a valid empty group,
        # as the brief for CI demands a rule_files entry that resolves.
        placeholder = config.parent / rule_files[0].replace("*", "placeholder")
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_text("groups: []\n", encoding="utf-8")
    result = run([promtool, "check", "config", str(config)], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rule files found" in result.stdout


@pytest.mark.integration
def test_documented_rules_command_yields_rules_prometheus_loads(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    pantau = require_tool("pantau")
    generated = run([pantau, "rules", "-c", "config/pantau.example.yaml"], timeout=60)
    assert generated.returncode == 0, generated.stderr
    # Put the output where compose mounts deploy/prometheus/ and let promtool load it from there.
    root = _mirror("prometheus", tmp_path)
    (rules_mount,) = [m for m in _mounts("prometheus") if m.source == "./deploy/prometheus"]
    rules_file = root / rules_mount.target.lstrip("/") / Path(GENERATED_RULES).name
    rules_file.write_text(generated.stdout, encoding="utf-8")
    config = root / _flag("prometheus", "config.file", "/etc/prometheus/prometheus.yml").lstrip("/")
    result = run([promtool, "check", "config", str(config)], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = [int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout)]
    assert counts, result.stdout
    assert sum(counts) > 0, result.stdout
    committed = REPO / GENERATED_RULES
    if committed.exists():
        assert committed.read_text(encoding="utf-8") == generated.stdout, (
            f"{GENERATED_RULES} is stale; regenerate it: {REGENERATE}"
        )


def test_prometheus_scrapes_the_pantau_service_port() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus.yml").read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "pantau"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    (expose,) = stages()[-1].all("EXPOSE")
    assert targets == [f"pantau:{expose.args}"]


def test_grafana_reads_the_dashboard_where_the_provider_looks(tmp_path: Path) -> None:
    root = _mirror("grafana", tmp_path)
    providers_dir = root / "etc/grafana/provisioning/dashboards"
    providers = [
        provider
        for path in sorted(providers_dir.glob("*.y*ml"))
        for provider in yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    ]
    assert providers, "config/grafana/provisioning/dashboards has no provider"
    for provider in providers:
        folder = root / provider["options"]["path"].lstrip("/")
        assert list(folder.glob("*.json")), f"no dashboard JSON mounted at {folder}"
    home = _service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (root / home.lstrip("/")).is_file()


def test_grafana_datasource_points_at_the_prometheus_service(tmp_path: Path) -> None:
    root = _mirror("grafana", tmp_path)
    (path,) = (root / "etc/grafana/provisioning/datasources").glob("*.y*ml")
    (source,) = yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    url = urlsplit(source["url"])
    listen = _flag("prometheus", "web.listen-address", ":9090")
    assert (url.hostname, str(url.port)) == ("prometheus", listen.rsplit(":", 1)[1])
    # Apart from the URL it is the data source the project ships for Grafana installs.
    shipped_path = REPO / "config/grafana/provisioning/datasources/prometheus.yml"
    (shipped,) = yaml.safe_load(shipped_path.read_text(encoding="utf-8"))["datasources"]
    assert {**source, "url": None} == {**shipped, "url": None}
    # Grafana's minimum step is the scrape interval of the pantau job.
    prometheus = yaml.safe_load((REPO / "deploy/prometheus.yml").read_text(encoding="utf-8"))
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def _docker_compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` (Debian's 1.29, or v2) on ``path``; needs no Docker engine."""
    tool = require_binary("docker-compose")
    env = {
        k: v for k, v in os.environ.items() if k not in {"GRAFANA_ADMIN_PASSWORD", "PANTAU_CONFIG"}
    }
    return run(
        [tool, "--file", str(path), "--project-directory", str(REPO), "config"],
        env=env,
        timeout=120,
    )


@pytest.mark.integration
def test_docker_compose_accepts_the_file_and_resolves_it() -> None:
    result = _docker_compose_config(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == {"pantau", "prometheus", "grafana"}
    # Fixed volume names: the data survives a checkout in a differently named folder.
    names = {key: volume["name"] for key, volume in resolved["volumes"].items()}
    assert names == {key: f"pantau_{key}" for key in names}
    assert resolved["services"]["pantau"]["build"]["context"] == str(REPO)
    assert resolved["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "admin"


@pytest.mark.integration
def test_docker_compose_rejects_a_misspelt_key(tmp_path: Path) -> None:
    # The check above is a real schema check, not just a YAML parse.
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE.read_text(encoding="utf-8").replace("\nservices:\n", "\nservicez:\n")
    broken.write_text(text, encoding="utf-8")
    result = _docker_compose_config(broken)
    assert result.returncode != 0
    assert "servicez" in result.stdout + result.stderr
