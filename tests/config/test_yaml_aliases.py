"""YAML aliases on a budget (FAULTS 36): an alias bomb, a cycle and a too-deep nesting are each
one located error and exit 2; aliases a katalog really uses keep working."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.config import yamlload
from agent.config.loader import parse_config
from agent.config.models import HttpCheck
from agent.config.yamlload import load_yaml
from agent.core.errors import ConfigError

#: 342 bytes that expand to 9⁹ ≈ 387 million values ("billion laughs"); PyYAML alone took
#: `pantau check` to 2 GiB and a traceback.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True)
)
CYCLE = "r: &r [1, *r]\n"

SERVICE = """\
services:
  - id: web
    name: Portal
    provider: Diskominfo
    group: layanan_publik
    classification: esensial
    checks: &checks
      - {type: http, url: "http://127.0.0.1:1/", headers: &h {X-Tenant: kota}}
  - id: api
    name: API
    provider: Diskominfo
    group: layanan_publik
    classification: esensial
    checks: *checks
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "pantau.yaml", environ={})
    return [str(p) for p in info.value.problems]


def test_the_bomb_is_refused_at_its_budget_with_a_location() -> None:
    assert len(BOMB) < 1024
    (problem,) = problems(BOMB)
    assert problem.startswith("pantau.yaml:1:")
    assert "aliases expand to more than 100,000 values" in problem


def test_a_self_referencing_anchor_is_a_located_cycle_not_a_recursion_error() -> None:
    assert problems(CYCLE) == [
        "pantau.yaml:1:4 r[1]: an alias refers to a value that contains it (a cycle); write it out"
    ]


def test_a_cycle_through_a_mapping_is_found_too() -> None:
    found = problems("a: &m {b: [*m]}\n")
    assert found == [
        "pantau.yaml:1:4 a.b[0]: an alias refers to a value that contains it (a cycle); "
        "write it out"
    ]


def test_aliases_cannot_nest_deeper_than_the_limit() -> None:
    # Each level is 10 deep and holds the previous one: 11 levels make 110 > 100.
    lines = ["l0: &l0 " + "[" * 10 + "x" + "]" * 10]
    lines += [f"l{i}: &l{i} " + "[" * 10 + f"*l{i - 1}" + "]" * 10 for i in range(1, 11)]
    (problem,) = problems("\n".join(lines) + "\n")
    assert "nested deeper than 100 levels" in problem
    assert problem.startswith("pantau.yaml:")


def test_shared_anchors_of_a_real_katalog_still_work() -> None:
    config = parse_config(SERVICE, "pantau.yaml", environ={})
    web, api = config.services
    assert web.checks == api.checks
    check = api.checks[0]
    assert isinstance(check, HttpCheck)
    assert check.headers == {"X-Tenant": "kota"}


def test_the_budget_grows_with_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # A big file may expand as many values as it holds itself: sharing stays affordable.
    monkeypatch.setattr(yamlload, "ALIAS_BUDGET", 10)
    shared = "s: &s [" + ", ".join(["v"] * 30) + "]\nt: *s\n"  # 31+ own nodes, 31 expanded
    assert not load_yaml(shared, "f.yaml").problems
    over = shared + "u: *s\n"  # 62 expanded > 10 and > the file's own ~36 nodes
    assert "aliases expand" in load_yaml(over, "f.yaml").problems[0].message


def _check_with_peak_rss(path: Path) -> tuple[int, str, int]:
    """``pantau check`` in a child process: exit code, stderr and its peak RSS in KiB."""
    code = textwrap.dedent(
        f"""
        import resource, sys
        from agent.cli.main import main
        try:
            main(["check", "-c", {str(path)!r}])
        except SystemExit as exc:
            status = exc.code
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"PEAK {{peak}}", file=sys.stderr)
        sys.exit(status)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    peak = int(run.stderr.rsplit("PEAK ", 1)[1])
    return run.returncode, run.stderr, peak


@pytest.mark.parametrize(("name", "text"), [("bomb", BOMB), ("cycle", CYCLE)])
def test_pantau_check_exits_2_with_the_location_and_bounded_memory(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    code, stderr, peak_kib = _check_with_peak_rss(path)
    print(f"FAULTS 36: pantau check {name}: exit {code}, peak RSS {peak_kib / 1024:.0f} MiB")
    assert code == 2
    assert f"{path}:1:" in stderr
    assert "Traceback" not in stderr
    assert peak_kib < 200 * 1024  # before: 2 GiB for the bomb (the interpreter alone is ~40 MiB)
