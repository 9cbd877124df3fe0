"""The committed JSON Schema matches the models, and accepts the example config."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from agent.config.schema import render
from agent.config.yamlload import load_yaml

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_up_to_date() -> None:
    committed = (ROOT / "config" / "pantau.schema.json").read_text(encoding="utf-8")
    assert committed == render(), "run: python -m agent.config.schema > config/pantau.schema.json"


def test_example_config_validates_against_schema() -> None:
    schema = json.loads(render())
    text = (ROOT / "config" / "pantau.example.yaml").read_text(encoding="utf-8")
    data = load_yaml(text, "example", environ={}).data
    # The schema describes the YAML as written: dates and times are JSON strings there.
    data = json.loads(json.dumps(data, default=str))
    jsonschema.validate(data, schema)


def test_schema_rejects_unknown_keys() -> None:
    schema = json.loads(render())
    bad = {"agent": {"nmae": "x"}}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(bad))
    assert errors
