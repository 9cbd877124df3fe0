"""The Dockerfile: hadolint-clean, and what it builds runs as documented (checked without Docker)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, require_tool, run, stages
from tests.deploy.dockerlib import DockerIgnore, build_context, copy_sources


def _final_user_ids() -> tuple[int, int]:
    user = stages()[-1].last("USER")
    assert user is not None, "the runtime stage must set USER"
    uid, _, gid = user.args.partition(":")
    # Numeric ids, so Kubernetes' runAsNonRoot can verify them without reading /etc/passwd.
    assert uid.isdigit(), f"USER {user.args!r}: use a numeric uid"
    assert gid.isdigit(), f"USER {user.args!r}: use a numeric gid"
    return int(uid), int(gid)


@pytest.mark.integration
def test_hadolint_reports_nothing() -> None:
    hadolint = require_tool("hadolint")
    result = run(
        [hadolint, "--no-color", "--format", "json", "--failure-threshold", "style", "Dockerfile"]
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_two_stages_on_the_same_tagged_slim_python() -> None:
    builder, runtime = stages()
    assert builder.name == "builder"
    # Same base: the venv's bin/python is a symlink to the base image's interpreter.
    assert builder.base == runtime.base
    image, _, tag = builder.base.partition(":")
    assert image == "python"
    assert tag.split("@")[0] not in {"", "latest"}
    assert "-slim" in tag
    major, minor = (int(n) for n in tag.split("-")[0].split(".")[:2])
    assert (major, minor) >= (3, 11)  # pyproject: requires-python >= 3.11


def test_builder_builds_the_wheel_and_a_venv_the_runtime_copies() -> None:
    builder, runtime = stages()
    script = " ".join(i.args for i in builder.all("RUN"))
    # python3, not python: a Debian base (CI builds on one) has no `python` or global `pip`.
    assert "python3 -m venv /opt/pantau/venv" in script
    assert "/opt/pantau/venv/bin/pip wheel . --no-deps" in script
    copies = [copy_sources(i) for i in runtime.all("COPY")]
    assert ({"from": "builder"}, ["/opt/pantau/venv"], "/opt/pantau/venv") in copies
    assert runtime.env()["PATH"].startswith("/opt/pantau/venv/bin:")


def test_runs_as_the_non_root_pantau_user_with_fixed_ids() -> None:
    uid, gid = _final_user_ids()
    assert uid != 0
    assert gid != 0
    creation = " ".join(i.args for i in stages()[-1].all("RUN"))
    # The user the image creates is the user it runs as.
    assert f'groupadd --system --gid "{gid}" pantau' in creation
    assert f'useradd --system --uid "{uid}"' in creation
    assert "install -d -o pantau -g pantau -m 0750 /var/lib/pantau" in creation


def test_entrypoint_cmd_volumes_port_and_environment() -> None:
    runtime = stages()[-1]
    entrypoint, cmd = runtime.last("ENTRYPOINT"), runtime.last("CMD")
    assert entrypoint is not None
    assert cmd is not None
    assert entrypoint.exec_form() == ["pantau"]
    assert cmd.exec_form() == ["run", "-c", "/etc/pantau/pantau.yaml"]
    volume = runtime.last("VOLUME")
    assert volume is not None
    assert volume.exec_form() == ["/etc/pantau", "/var/lib/pantau"]
    assert [i.args for i in runtime.all("EXPOSE")] == ["9717"]
    env = runtime.env()
    assert env["PANTAU_LISTEN"] == "0.0.0.0:9717"
    assert env["PANTAU_DATA_DIR"] == "/var/lib/pantau"
    assert env["TZ"] == "UTC"


def test_healthcheck_runs_the_python_script_against_healthz() -> None:
    runtime = stages()[-1]
    healthcheck = runtime.last("HEALTHCHECK")
    assert healthcheck is not None
    flags, words = healthcheck.flags_and_words()
    assert set(flags) >= {"interval", "timeout", "start-period", "retries"}
    # The script's own timeout must stay below Docker's, or Docker kills it without a message.
    assert flags["timeout"] == "5s"
    assert words[0] == "CMD"
    command = json.loads(healthcheck.args[healthcheck.args.index("[") :])
    assert command == ["python3", "/usr/local/bin/pantau-healthcheck"]
    assert ({"chmod": "0755"}, ["deploy/healthcheck.py"], "/usr/local/bin/pantau-healthcheck") in [
        copy_sources(i) for i in runtime.all("COPY")
    ]


def test_oci_labels_carry_the_pyproject_version() -> None:
    labels = " ".join(i.args for i in stages()[-1].all("LABEL"))
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert f'org.opencontainers.image.version="{version}"' in labels
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels


def test_dockerignore_sends_the_sources_and_nothing_private(tmp_path: Path) -> None:
    sent = build_context(REPO, tmp_path)
    assert "pyproject.toml" in sent
    assert "README.md" in sent  # pyproject's readme: the wheel build fails without it
    assert "agent/cli/main.py" in sent
    assert "config/pantau.example.yaml" in sent
    assert "deploy/healthcheck.py" in sent
    private = [p for p in sent if p.split("/")[0] in {".git", ".venv", "data", "reports", "tests"}]
    assert private == []
    assert [p for p in sent if "__pycache__" in p or p.endswith(".pyc")] == []


def test_dockerignore_rules_follow_docker_semantics() -> None:
    ignore = DockerIgnore.parse("*\n!agent/\n**/__pycache__\n")
    assert ignore.excluded(".venv/bin/python")
    assert not ignore.excluded("agent/cli/main.py")
    assert ignore.excluded("agent/__pycache__/cli.cpython-311.pyc")
    assert ignore.excluded("probes/http.py")


def test_every_copy_source_is_in_the_build_context(context_dir: Path) -> None:
    for stage in stages():
        for instruction in stage.all("COPY"):
            flags, sources, _ = copy_sources(instruction)
            if "from" in flags:
                continue
            for source in sources:
                assert (context_dir / source).exists(), (
                    f"Dockerfile line {instruction.line}: COPY {source} is missing from the "
                    "build context (check .dockerignore)"
                )
