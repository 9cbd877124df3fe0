"""Strict YAML loading with source positions.

PyYAML follows YAML 1.1, which silently turns ``12:30`` into 750, ``no``/``on`` into booleans
and ``0755`` into 493, and keeps the last of two duplicate keys. pantau composes the node tree
itself and resolves plain scalars with a YAML 1.2-core-like subset instead:

- ``true``/``false`` (any case) are booleans; ``yes``/``no``/``on``/``off`` stay strings;
- ``null``, ``~`` and empty are null;
- decimal integers without a leading zero, and floats, are numbers; ``0755`` and ``12:30``
  stay strings (a strict model then rejects them where a number is expected);
- ISO 8601 dates and timestamps become ``date``/``datetime``.

Duplicate mapping keys are errors that cite both lines. ``${VAR}`` and ``${VAR:-default}`` are
expanded in scalars (an undefined variable without default is an error), ``$$`` is a literal
``$``. Every value's position is recorded by its key path for error messages.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from agent.errors import ConfigProblem

PathKey = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*)?\.[0-9]+([eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[-+]\d{1,2}(:?\d{2})?)?$"
)
_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LoadedYaml:
    """A parsed document, the position of every key path, and problems found while loading."""

    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    #: key paths whose value came (partly) from an environment variable: treated as secret.
    from_env: set[PathKey] = field(default_factory=set)


def format_path(path: PathKey) -> str:
    """Render a key path as ``services[3].checks[0].url``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Builder:
    def __init__(self, filename: str, environ: Mapping[str, str]) -> None:
        self.filename = filename
        self.environ = environ
        self.result = LoadedYaml(data=None)

    def problem(self, node: yaml.Node, path: PathKey, message: str) -> None:
        self.result.problems.append(
            ConfigProblem(
                self.filename,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                format_path(path),
                message,
            )
        )

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.result.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                key_node.value == "<<" and key_node.style is None
            ):
                self.problem(key_node, path, "YAML merge keys (<<) are not supported")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "mapping keys must be plain strings")
                continue
            key = str(key_node.value)
            if key in first_line:
                self.problem(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first defined on line {first_line[key]})",
                )
                continue
            first_line[key] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*path, key))
            # Point errors about a key at the key itself, not at its value.
            self.result.marks[(*path, key)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
        return out

    def _expand(self, text: str, node: yaml.Node, path: PathKey) -> str:
        def repl(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            self.result.from_env.add(path)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            self.problem(node, path, f"undefined environment variable ${{{name}}}")
            return ""

        return _ENV.sub(repl, text)

    def _scalar(self, node: yaml.ScalarNode, path: PathKey) -> Any:
        tag = node.tag
        text = self._expand(node.value, node, path) if "$" in node.value else node.value
        if node.style in ("'", '"', "|", ">"):
            return text
        if tag != "tag:yaml.org,2002:str":
            # An explicit tag like !!int or !!float: honour only the common ones.
            if tag == "tag:yaml.org,2002:int" and _INT.match(text):
                return int(text.replace("_", ""))
            if tag == "tag:yaml.org,2002:float":
                try:
                    return float(text)
                except ValueError:
                    pass
        return resolve_plain(text)


def resolve_plain(text: str) -> Any:
    """Type a plain (unquoted) scalar the strict way described in the module docstring."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text):
        return float(text.replace("_", ""))
    if _DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    if _TIMESTAMP.match(text):
        try:
            return dt.datetime.fromisoformat(text.replace("z", "Z").replace(" ", "T", 1))
        except ValueError:
            return text
    return text


class _Composer(yaml.SafeLoader):
    """A loader used only to compose nodes (no implicit YAML 1.1 typing is applied)."""


# Remove every implicit resolver so composed scalars keep the plain str tag unless explicit.
_Composer.yaml_implicit_resolvers = {}


def load_yaml(text: str, filename: str, environ: Mapping[str, str] | None = None) -> LoadedYaml:
    """Parse ``text``; syntax errors become a single located problem."""
    builder = _Builder(filename, os.environ if environ is None else environ)
    try:
        loader = _Composer(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        message = f"YAML syntax error: {exc.problem or exc.context}"
        builder.result.problems.append(ConfigProblem(filename, line, col, "", message))
        return builder.result
    except yaml.YAMLError as exc:
        builder.result.problems.append(ConfigProblem(filename, None, None, "", f"YAML error: {exc}"))
        return builder.result
    if node is None:
        builder.result.data = {}
        return builder.result
    builder.result.data = builder.build(node, ())
    return builder.result
