"""Load and validate a configuration file, reporting every problem with ``file:line:col``.

Two passes run on every load and their problems are reported together:

1. structural validation by the pydantic models (types, unknown keys, ranges);
2. katalog rules on the raw document: duplicate ids, unknown host references, ``kritis``
   services without ``rpo``/``rto``/``drp``, maintenance windows that end before they start,
   a fulfilment target that the Pedoman does not give and the file does not configure.

A file with any problem raises :class:`~agent.core.errors.ConfigError`; nothing is half-applied.
Secret values never appear in messages: pydantic's input values are not printed.
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from agent.config.models import Config
from agent.config.yamlload import LoadedYaml, PathKey, format_path, gc_paused, load_yaml
from agent.core.errors import ConfigError, ConfigProblem
from agent.core.pedoman import Classification, Group, fulfilment_target

_MESSAGES = {
    "extra_forbidden": "unknown key (check the spelling; see config/pantau.schema.json)",
    "missing": "required key is missing",
}


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the configuration at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(str(file), None, None, "", "file not found (use --config/-c FILE)")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            [ConfigProblem(str(file), None, None, "", f"cannot read: {reason}")]
        ) from None
    return parse_config(text, str(file), environ=environ, base_dir=file.parent)


def parse_config(
    text: str,
    filename: str = "pantau.yaml",
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate YAML text; relative paths are taken relative to ``base_dir``."""
    with gc_paused():
        return _parse(text, filename, environ, base_dir)


def _parse(
    text: str, filename: str, environ: Mapping[str, str] | None, base_dir: Path | None
) -> Config:
    loaded = load_yaml(text, filename, environ)
    problems = list(loaded.problems)
    data = loaded.data
    if loaded.problems and data is None:
        raise ConfigError(problems)
    if not isinstance(data, dict):
        problems.append(ConfigProblem(filename, 1, 1, "", "the file must be a YAML mapping"))
        raise ConfigError(problems)
    problems.extend(_katalog_rules(data, loaded, filename))
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_convert(exc, loaded, filename))
    if problems or config is None:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise ConfigError(_dedupe(problems))
    config = _localise_maintenance(config)
    if base_dir is not None:
        config = _resolve_paths(config, base_dir.resolve())
    return config


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in problems:
        key = (p.line, p.column, p.path, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _locate(loaded: LoadedYaml, path: PathKey) -> tuple[int | None, int | None]:
    for end in range(len(path), -1, -1):
        mark = loaded.locate(path[:end])
        if mark:
            return mark
    return None, None


def _yaml_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """Map a pydantic error location onto the document, dropping union tags like ``http``."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if isinstance(part, str) and node.get("type") == part:
                continue  # discriminated-union tag
            if isinstance(part, str) and not part.startswith("function-"):
                out.append(part)  # a missing key: still name it
            node = None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        else:
            out.append(part)
            node = None
    return tuple(out)


def _convert(exc: ValidationError, loaded: LoadedYaml, filename: str) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        path = _yaml_path(tuple(err["loc"]), loaded.data)
        kind = err["type"]
        message = _MESSAGES.get(kind, err["msg"])
        if kind == "union_tag_invalid":
            expected = err.get("ctx", {}).get("expected_tags", "")
            message = f"unknown type; expected one of {expected}"
            path = (*path, "type")
        elif kind == "union_tag_not_found":
            message = "'type' is required"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        line, col = _locate(loaded, path)
        problems.append(ConfigProblem(filename, line, col, format_path(path), message))
    return problems


def _katalog_rules(data: dict[str, Any], loaded: LoadedYaml, filename: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def add(path: PathKey, message: str) -> None:
        line, col = _locate(loaded, path)
        problems.append(ConfigProblem(filename, line, col, format_path(path), message))

    hosts: list[Any] = data["hosts"] if isinstance(data.get("hosts"), list) else []
    host_ids: dict[str, int] = {}
    for i, host in enumerate(hosts):
        if isinstance(host, dict) and isinstance(host.get("id"), str):
            hid = host["id"]
            if hid in host_ids:
                first = _locate(loaded, ("hosts", host_ids[hid], "id"))[0]
                add(("hosts", i, "id"), f"duplicate host id {hid!r} (first on line {first})")
            else:
                host_ids[hid] = i

    fulfilment = data.get("fulfilment_targets")
    configured: set[tuple[str, str]] = set()
    if isinstance(fulfilment, dict):
        for group, per_class in fulfilment.items():
            if isinstance(per_class, dict):
                configured |= {(str(group), str(c)) for c in per_class}

    services: list[Any] = data["services"] if isinstance(data.get("services"), list) else []
    service_ids: dict[str, int] = {}
    for i, svc in enumerate(services):
        if not isinstance(svc, dict):
            continue
        base: PathKey = ("services", i)
        sid = svc.get("id")
        if isinstance(sid, str):
            if sid in service_ids:
                first = _locate(loaded, ("services", service_ids[sid], "id"))[0]
                add((*base, "id"), f"duplicate service id {sid!r} (first on line {first})")
            else:
                service_ids[sid] = i
        host = svc.get("host")
        if isinstance(host, str) and host not in host_ids:
            known = ", ".join(sorted(host_ids)) or "none defined"
            add((*base, "host"), f"unknown host {host!r} (hosts: {known})")
        cls, group = svc.get("classification"), svc.get("group")
        if cls == Classification.KRITIS:
            for key in ("rpo", "rto", "drp"):
                if svc.get(key) is None:
                    add((*base, key), "required for classification kritis (Pedoman 4.1.2.1)")
        if (
            cls in set(Classification)
            and group in set(Group)
            and svc.get("fulfilment_target") is None
            and (group, cls) not in configured
            and fulfilment_target(Group(group), Classification(cls)) is None
        ):
            add(
                (*base, "fulfilment_target"),
                f"required: Tabel 4.1 gives no fulfilment target for {group}+{cls}; set it here "
                f"or in fulfilment_targets.{group}.{cls}",
            )
        windows = svc.get("maintenance")
        for j, window in enumerate(windows if isinstance(windows, list) else []):
            if not isinstance(window, dict):
                continue
            start, end = window.get("start"), window.get("end")
            if isinstance(start, datetime) and isinstance(end, datetime):
                if (start.tzinfo is None) == (end.tzinfo is None) and end <= start:
                    add(
                        (*base, "maintenance", j, "end"), "maintenance window ends before it starts"
                    )
            elif isinstance(start, date) or isinstance(end, date):
                bad = "start" if not isinstance(start, datetime) else "end"
                add(
                    (*base, "maintenance", j, bad),
                    "must be a date and time, e.g. 2024-09-14T22:00:00+07:00",
                )
    return problems


def _localise_maintenance(config: Config) -> Config:
    """Give naive maintenance times the agent's zone (the admin wrote local time)."""
    zone = ZoneInfo(config.agent.timezone)
    services = []
    changed = False
    for svc in config.services:
        windows = []
        for w in svc.maintenance:
            if w.start.tzinfo is None or w.end.tzinfo is None:
                changed = True
                w = w.model_copy(
                    update={
                        "start": w.start if w.start.tzinfo else w.start.replace(tzinfo=zone),
                        "end": w.end if w.end.tzinfo else w.end.replace(tzinfo=zone),
                    }
                )
            windows.append(w)
        services.append(svc.model_copy(update={"maintenance": windows}))
    if not changed:
        return config
    return config.model_copy(update={"services": services})


def _resolve_paths(model: Any, base: Path) -> Any:
    """Return ``model`` with every relative ``Path`` made relative to ``base``."""
    if isinstance(model, Path):
        return model if model.is_absolute() else base / model
    if isinstance(model, list):
        items = [_resolve_paths(m, base) for m in model]
        return model if all(a is b for a, b in zip(items, model, strict=True)) else items
    if isinstance(model, BaseModel):
        update = {}
        for name in _path_fields(type(model)):
            value = getattr(model, name)
            new = _resolve_paths(value, base)
            if new is not value:
                update[name] = new
        return model.model_copy(update=update) if update else model
    return model


@functools.cache
def _path_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """Fields of ``cls`` whose type can hold a ``Path`` (directly or in nested models)."""
    return tuple(
        name for name, field in cls.model_fields.items() if _may_hold_path(field.annotation, set())
    )


def _may_hold_path(tp: Any, seen: set[Any]) -> bool:
    if tp is Path:
        return True
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return False
        seen.add(tp)
        return any(_may_hold_path(f.annotation, seen) for f in tp.model_fields.values())
    return any(_may_hold_path(arg, seen) for arg in typing.get_args(tp))
