"""What a SIGHUP reload loads before the running agent swaps anything (FAULTS 19, 36).

Everything that can fail is tried here, in a thread: the katalog file (YAML budget and model
validation), the web config with its TLS files, and every HTTP check's ``ca_file``. The swap
that follows only builds from what was loaded, so a bad file never half-applies.
"""

from __future__ import annotations

from pathlib import Path

from agent.config.loader import load_config
from agent.config.models import Check, Config, HttpCheck
from agent.config.webconfig import WebConfig, load_web_config
from agent.core.errors import ConfigError, ConfigProblem
from probes.http import ssl_context


def load_for_reload(path: Path) -> tuple[Config, WebConfig | None]:
    """The new configuration and web config; a :class:`ConfigError` when any part is bad."""
    new = load_config(path)
    web_config = load_web_config(new.agent.web_config) if new.agent.web_config else None
    if web_config is not None:
        web_config.ssl_context()  # fail now, not on the next connection
    checks: list[tuple[str, Check]] = [
        (f"agent.connectivity[{i}]", c) for i, c in enumerate(new.agent.connectivity)
    ]
    for svc in new.services:
        checks += [(f"services[{svc.id}].checks[{i}]", c) for i, c in enumerate(svc.checks)]
    problems = []
    for where, check in checks:
        if isinstance(check, HttpCheck) and check.ca_file is not None:
            try:
                ssl_context(check.tls_verify, check.ca_file)
            except ConfigError as exc:
                message = "; ".join(p.message for p in exc.problems)
                problems.append(ConfigProblem(str(path), None, None, f"{where}.ca_file", message))
    if problems:
        raise ConfigError(problems)
    return new, web_config
