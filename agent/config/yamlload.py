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

Aliases are expanded on a budget (FAULTS 36): a kilobyte of nested anchors ("billion laughs")
would otherwise become 10⁹ values and gigabytes, and ``&r [1, *r]`` an endless recursion. An
alias that contains itself, expansion beyond :data:`ALIAS_BUDGET` values (or as many as the file
itself holds, when that is more) and nesting deeper than :data:`MAX_DEPTH` levels are each one
located error; building stops there, so memory stays bounded by the budget.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from agent.core.errors import ConfigProblem

PathKey = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(
    r"^[-+]?([0-9][0-9_]*)?\.[0-9]+([eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[-+]\d{1,2}(:?\d{2})?)?$"
)
#: Values that aliases may add to a document (more when the file itself holds more values): a
#: katalog that shares a few anchors between 2,000 services stays far below it.
ALIAS_BUDGET = 100_000
#: Nesting levels of the expanded document; a katalog needs about eight.
MAX_DEPTH = 100

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LoadedYaml:
    """A parsed document, its node tree (for positions), and problems found while loading."""

    data: Any
    root: yaml.Node | None = None
    problems: list[ConfigProblem] = field(default_factory=list)
    #: key paths whose value came (partly) from an environment variable: treated as secret.
    from_env: set[PathKey] = field(default_factory=set)

    def locate(self, path: PathKey) -> tuple[int, int] | None:
        """Line and column (1-based) of ``path``: a key's own position, an item's start."""
        node = self.root
        if node is None:
            return None
        mark = node.start_mark
        for part in path:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                for key_node, value_node in node.value:
                    if key_node.value == part:
                        mark, node = key_node.start_mark, value_node
                        break
                else:
                    return None
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return None
                node = node.value[part]
                mark = node.start_mark
            else:
                return None
        return mark.line + 1, mark.column + 1


def format_path(path: PathKey) -> str:
    """Render a key path as ``services[3].checks[0].url``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# A path while building is a cheap linked list (parent, key); made a tuple only when needed.
_Link = tuple[Any, str | int] | None


def _unlink(link: _Link) -> PathKey:
    parts: list[str | int] = []
    while link is not None:
        link, part = link
        parts.append(part)
    return tuple(reversed(parts))


_PLAIN_STR = "tag:yaml.org,2002:str"
_QUOTED = frozenset(("'", '"', "|", ">"))


class _Abort(Exception):
    """Building stopped at a problem that makes the rest of the document meaningless."""


class _Builder:
    def __init__(self, filename: str, environ: Mapping[str, str]) -> None:
        self.filename = filename
        self.environ = environ
        self.result = LoadedYaml(data=None)
        self.budget = ALIAS_BUDGET
        self._built: set[int] = set()  # nodes built once: building one again expands an alias
        self._open: set[int] = set()  # nodes being built: meeting one again is a cycle
        self._expanded = 0

    def problem(self, node: yaml.Node, link: _Link, message: str) -> None:
        self.result.problems.append(
            ConfigProblem(
                self.filename,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                format_path(_unlink(link)),
                message,
            )
        )

    def abort(self, node: yaml.Node, link: _Link, message: str) -> _Abort:
        self.problem(node, link, message)
        return _Abort(message)

    def build(self, node: yaml.Node, link: _Link, depth: int = 0) -> Any:
        key = id(node)
        if key in self._open:
            raise self.abort(
                node, link, "an alias refers to a value that contains it (a cycle); write it out"
            )
        if key in self._built:
            self._expanded += 1
            if self._expanded > self.budget:
                raise self.abort(
                    node,
                    link,
                    f"aliases expand to more than {self.budget:,} values (an alias bomb?); "
                    "write the values out or use fewer aliases",
                )
        if depth > MAX_DEPTH:
            raise self.abort(node, link, f"nested deeper than {MAX_DEPTH} levels")
        self._built.add(key)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, link)
        self._open.add(key)
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, link, depth)
            return [self.build(child, (link, i), depth + 1) for i, child in enumerate(node.value)]
        finally:
            self._open.discard(key)

    def _mapping(self, node: yaml.MappingNode, link: _Link, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, link, "mapping keys must be plain strings")
                continue
            key = str(key_node.value)
            if key_node.tag == "tag:yaml.org,2002:merge" or (key == "<<" and not key_node.style):
                self.problem(key_node, link, "YAML merge keys (<<) are not supported")
                continue
            if key in out:
                first = next(k for k, _ in node.value if k.value == key).start_mark.line + 1
                self.problem(
                    key_node, (link, key), f"duplicate key {key!r} (first defined on line {first})"
                )
                continue
            out[key] = self.build(value_node, (link, key), depth + 1)
        return out

    def _expand(self, text: str, node: yaml.Node, link: _Link) -> str:
        def repl(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            self.result.from_env.add(_unlink(link))
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            self.problem(node, link, f"undefined environment variable ${{{name}}}")
            return ""

        return _ENV.sub(repl, text)

    def _scalar(self, node: yaml.ScalarNode, link: _Link) -> Any:
        text = node.value
        if "$" in text:
            text = self._expand(text, node, link)
        if node.style in _QUOTED:
            return text
        tag = node.tag
        if tag != _PLAIN_STR:
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
    if text[:1].isalpha() and text.lower() not in ("true", "false", "null"):
        return text  # the common case: a word
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


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x


class _Composer(_BaseLoader):  # type: ignore[valid-type,misc]
    """A loader used only to compose nodes (no implicit YAML 1.1 typing is applied)."""

    def resolve(self, kind: type[yaml.Node], value: object, implicit: object) -> str:
        # Untagged nodes get the plain default tag; _Builder types plain scalars itself.
        if kind is yaml.ScalarNode:
            return "tag:yaml.org,2002:str"
        return "tag:yaml.org,2002:seq" if kind is yaml.SequenceNode else "tag:yaml.org,2002:map"


# Remove every implicit resolver so composed scalars keep the plain str tag unless explicit.
_Composer.yaml_implicit_resolvers = {}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a big tree of new objects is built.

    Composing a 2,000-service katalog creates ~300k container objects; the collector would
    walk them again and again while nothing is garbage yet (measured: 0.43 s with it paused,
    1.2–3 s without). Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
        builder.result.problems.append(
            ConfigProblem(filename, None, None, "", f"YAML error: {exc}")
        )
        return builder.result
    if node is None:
        builder.result.data = {}
        return builder.result
    builder.result.root = node
    builder.budget = max(ALIAS_BUDGET, _count_nodes(node))
    try:
        builder.result.data = builder.build(node, None)
    except _Abort:
        builder.result.data = None  # the located problem says why; nothing half-built is used
    return builder.result


def _count_nodes(root: yaml.Node) -> int:
    """Distinct nodes of the composed document (aliases share their anchor's node)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                stack.extend((key_node, value_node))
    return len(seen)
