"""JSON Schema of the configuration, generated from the models (for editor completion).

Regenerate the committed copy with ``python -m agent.config.schema > config/pantau.schema.json``;
a test fails when it is out of date.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from agent.config.models import Config


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a pantau configuration file."""
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pantau configuration"
    schema["description"] = "pantau.yaml — see README.md and the SPEC (section 3)."
    return schema


def render() -> str:
    """The schema as stable, pretty JSON text."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
