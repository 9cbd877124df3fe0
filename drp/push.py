"""Backups reported by scripts: ``POST /api/v1/backups/{service}`` and ``pantau backup mark``.

The request body is optional; when given it is a JSON object with these optional fields::

    finished_at  ISO 8601 with a UTC offset ("2024-09-14T02:10:00+07:00", "...Z"), from
                 1970-01-01T00:00Z up to now (+ the clock skew); default: now
    size_bytes   integer, 0 <= size_bytes < 2^63 (what the store can keep)
    status       "success" (default) | "failure"
    source       the name of one of the service's ``{type: push}`` sources in the katalog;
                 default: its push source without a ``name`` (or its only push source)
    detail       free text, at most 300 characters kept (credentials in URLs are scrubbed)

A push speaks only for a push source the katalog names (FAULTS 37): a ``files``, ``restic`` or
``borg`` source is checked by the agent itself and a push can never make it look fresh, and a
made-up name is refused, so requests never create series or stored rows of their own.

Status codes carried by :class:`PushError`: 404 unknown service or one without a push source,
413 body too large, 400 not JSON / nested too deeply / not an object / wrong type / unknown
field / unparseable time, 422 well-formed but not acceptable (time in the future beyond the
skew, before 1970 or beyond the calendar, time without offset, size out of range, unknown
status, a source that is not one of the service's push sources). Unknown fields are rejected
rather than ignored so that a typo (``finishedAt``) never silently records "now". Whatever is
accepted fits the store: nothing answered 202 is dropped later (FAULTS 40).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from agent.config.katalog import source_name
from agent.config.models import Service
from agent.core.durations import format_duration
from agent.core.errors import PantauError
from agent.core.model import CLOCK_SKEW, BackupObservation
from drp.registry import is_pushed
from drp.sources import redact

#: how far in the future a reported time may be (the reporter's clock may run a little ahead)
PUSH_SKEW = CLOCK_SKEW
MAX_BODY = 64 * 1024
_FIELDS = frozenset({"finished_at", "size_bytes", "status", "source", "detail"})
_SOURCE = re.compile(r"[a-z0-9_-]{1,64}")  # used with fullmatch: "$" would accept "evil\n"
#: The earliest backup time accepted: older is a reporting host's broken clock.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: Sizes are kept as SQLite INTEGER (signed 64 bit).
MAX_SIZE = 2**63 - 1


class PushError(PantauError):
    """A push was rejected; ``status_code`` is the HTTP status to answer with."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class PushTargets:
    """The backup sources of one service, as far as a push may name them."""

    push: tuple[str, ...]  # labels of its push sources, katalog order
    default: str | None  # what a push without ``source`` reports for (None: must be named)
    polled: Mapping[str, str] = field(default_factory=dict)  # label → type, checked by the agent

    def resolve(self, requested: str | None) -> str:
        """The push source a request names (``None``: the default); :class:`PushError` 422
        for a polled source, a made-up or malformed name, or a missing name when one is needed.
        """
        names = ", ".join(self.push)
        # "push" is what pushes without a name were labelled before push sources had names.
        if requested is None or (requested == "push" and "push" not in self.push):
            if self.default is None:
                raise PushError(422, f"name the push source in 'source': one of {names}")
            return self.default
        if not _SOURCE.fullmatch(requested):
            raise PushError(422, "source must match [a-z0-9_-]{1,64}")
        if requested in self.push:
            return requested
        kind = self.polled.get(requested)
        if kind is not None:
            raise PushError(
                422,
                f"source {requested!r} is a {kind} source, which the agent checks itself: "
                f"a push may only report a push source ({names})",
            )
        raise PushError(422, f"unknown source {requested!r}: the push sources are {names}")


def push_targets(service: Service) -> PushTargets:
    """What pushes for ``service`` may name. The default is its push source without a ``name``
    (the first, if several), else its only push source; with several named ones a push must
    name one."""
    push: list[str] = []
    unnamed: list[str] = []
    polled: dict[str, str] = {}
    for index, backup in enumerate(service.backups):
        label = source_name(backup, index)
        if is_pushed(backup):
            push.append(label)
            if backup.name is None:
                unnamed.append(label)
        else:
            polled[label] = backup.type
    default = unnamed[0] if unnamed else (push[0] if len(push) == 1 else None)
    return PushTargets(tuple(push), default, polled)


@dataclass(frozen=True)
class PushRecord:
    """One reported backup, validated."""

    service: str
    source: str
    finished_at: datetime  # aware UTC
    ok: bool
    size_bytes: int | None
    detail: str
    received_at: datetime  # aware UTC

    def to_observation(self) -> BackupObservation:
        """As a source observation (merge it with ``keep_newest=True``)."""
        if self.ok:
            return BackupObservation(
                self.source, True, self.finished_at, self.size_bytes, "", self.detail
            )
        detail = self.detail or f"reported failed at {self.finished_at.isoformat()}"
        return BackupObservation(self.source, False, None, None, "reported_failure", detail)


def _parse_iso(text: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise PushError(
            400, f"{what} {text!r} is not an ISO 8601 time (e.g. 2024-09-14T02:10:00+07:00)"
        ) from None


def _in_range(parsed: datetime, text: str, what: str, now: datetime) -> datetime:
    """``parsed`` (aware) in UTC, refused when it is before 1970, beyond the calendar or in
    the future beyond the skew."""
    try:
        at = parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # beyond year 1 or 9999 once in UTC
        at = EARLIEST - PUSH_SKEW if parsed.year < EARLIEST.year else now + 2 * PUSH_SKEW
    if at < EARLIEST:
        raise PushError(
            422,
            f"{what} {text!r} is before {EARLIEST:%Y-%m-%d}: check the clock of the reporting host",
        )
    if at > now + PUSH_SKEW:
        raise PushError(
            422,
            f"{what} {text!r} is in the future (more than {format_duration(PUSH_SKEW)} ahead): "
            "check the clock of the reporting host",
        )
    return at


def parse_push_body(
    body: bytes, *, now: datetime, targets: Mapping[str, PushTargets], service: str
) -> PushRecord:
    """Validate a push for ``service``; raise :class:`PushError` with the status to answer.

    ``targets`` holds the push sources of each service that has any."""
    target = targets.get(service)
    if target is None or not target.push:
        raise PushError(404, f"unknown service {service!r}: no service with a push backup source")
    if len(body) > MAX_BODY:
        raise PushError(413, f"body larger than {MAX_BODY} bytes")
    data: object = {}
    if body.strip():
        try:
            data = json.loads(body)
        except RecursionError:  # 50,000 brackets: the decoder gives up before the stack does
            raise PushError(400, "body is nested too deeply (send a flat JSON object)") from None
        except (ValueError, UnicodeDecodeError):
            raise PushError(400, "body is not valid JSON (send an object, or nothing)") from None
    if not isinstance(data, dict):
        raise PushError(400, "body must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise PushError(
            400, f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}"
        )

    finished_at = now
    raw_time = data.get("finished_at")
    if raw_time is not None:
        if not isinstance(raw_time, str):
            raise PushError(400, "finished_at must be a string")
        parsed = _parse_iso(raw_time, "finished_at")
        if parsed.tzinfo is None:
            raise PushError(422, f"finished_at {raw_time!r} needs a UTC offset (+07:00 or Z)")
        finished_at = _in_range(parsed, raw_time, "finished_at", now)

    size = data.get("size_bytes")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool):
            raise PushError(400, "size_bytes must be an integer")
        if not 0 <= size <= MAX_SIZE:
            raise PushError(422, f"size_bytes must be from 0 to {MAX_SIZE} (2^63 - 1)")

    status = data.get("status", "success")
    if not isinstance(status, str):
        raise PushError(400, "status must be a string")
    if status not in ("success", "failure"):
        raise PushError(422, f"status {status!r} is not 'success' or 'failure'")

    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise PushError(400, "source must be a string")

    detail = data.get("detail", "")
    if not isinstance(detail, str):
        raise PushError(400, "detail must be a string")

    return PushRecord(
        service=service,
        source=target.resolve(source),
        finished_at=finished_at,
        ok=status == "success",
        size_bytes=size,
        detail=redact(detail),
        received_at=now,
    )


def parse_mark_time(text: str, *, now: datetime, zone: tzinfo = UTC) -> datetime:
    """The ``--at`` of ``pantau backup mark``: ISO 8601; a time without offset is in ``zone``
    (pass the agent's time zone, as for maintenance windows). Times before 1970, beyond the
    calendar or in the future beyond the skew are refused, like pushes. Raises
    :class:`PushError` (its ``message`` is for the terminal)."""
    parsed = _parse_iso(text, "--at")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return _in_range(parsed, text, "--at", now)
