"""Backups reported by scripts: ``POST /api/v1/backups/{service}`` and ``pantau backup mark``.

The request body is optional; when given it is a JSON object with these optional fields::

    finished_at  ISO 8601 with a UTC offset ("2024-09-14T02:10:00+07:00", "...Z"); default: now
    size_bytes   integer >= 0
    status       "success" (default) | "failure"
    source       the ``source`` label, [a-z0-9_-]{1,64}; default "push"
    detail       free text, at most 300 characters kept (credentials in URLs are scrubbed)

Status codes carried by :class:`PushError`: 404 unknown service, 413 body too large, 400 not
JSON / not an object / wrong type / unknown field / unparseable time, 422 well-formed but not
acceptable (time in the future beyond the skew, time without offset, negative size, unknown
status). Unknown fields are rejected rather than ignored so that a typo (``finishedAt``) never
silently records "now".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from agent.core.durations import format_duration
from agent.core.errors import PantauError
from agent.core.model import CLOCK_SKEW, BackupObservation
from drp.sources import redact

#: how far in the future a reported time may be (the reporter's clock may run a little ahead)
PUSH_SKEW = CLOCK_SKEW
MAX_BODY = 64 * 1024
_FIELDS = frozenset({"finished_at", "size_bytes", "status", "source", "detail"})
_SOURCE = re.compile(r"^[a-z0-9_-]{1,64}$")


class PushError(PantauError):
    """A push was rejected; ``status_code`` is the HTTP status to answer with."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


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


def parse_push_body(
    body: bytes, *, now: datetime, service_ids: set[str] | frozenset[str], service: str
) -> PushRecord:
    """Validate a push for ``service``; raise :class:`PushError` with the status to answer."""
    if service not in service_ids:
        raise PushError(404, f"unknown service {service!r}: no service with a push backup source")
    if len(body) > MAX_BODY:
        raise PushError(413, f"body larger than {MAX_BODY} bytes")
    data: object = {}
    if body.strip():
        try:
            data = json.loads(body)
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
        finished_at = parsed.astimezone(UTC)
        if finished_at > now + PUSH_SKEW:
            raise PushError(
                422,
                f"finished_at {raw_time!r} is in the future (more than {format_duration(PUSH_SKEW)} ahead): "
                "check the clock of the reporting host",
            )

    size = data.get("size_bytes")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool):
            raise PushError(400, "size_bytes must be an integer")
        if size < 0:
            raise PushError(422, "size_bytes must not be negative")

    status = data.get("status", "success")
    if not isinstance(status, str):
        raise PushError(400, "status must be a string")
    if status not in ("success", "failure"):
        raise PushError(422, f"status {status!r} is not 'success' or 'failure'")

    source = data.get("source", "push")
    if not isinstance(source, str):
        raise PushError(400, "source must be a string")
    if not _SOURCE.match(source):
        raise PushError(422, "source must match [a-z0-9_-]{1,64}")

    detail = data.get("detail", "")
    if not isinstance(detail, str):
        raise PushError(400, "detail must be a string")

    return PushRecord(
        service=service,
        source=source,
        finished_at=finished_at,
        ok=status == "success",
        size_bytes=size,
        detail=redact(detail),
        received_at=now,
    )


def parse_mark_time(text: str, *, now: datetime, zone: tzinfo = UTC) -> datetime:
    """The ``--at`` of ``pantau backup mark``: ISO 8601; a time without offset is in ``zone``
    (pass the agent's time zone, as for maintenance windows). Future times beyond the skew are
    refused, like pushes. Raises :class:`PushError` (its ``message`` is for the terminal)."""
    parsed = _parse_iso(text, "--at")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    at = parsed.astimezone(UTC)
    if at > now + PUSH_SKEW:
        raise PushError(422, f"--at {text!r} is in the future")
    return at
