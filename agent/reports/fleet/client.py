"""A small client for the Prometheus HTTP query API, as the fleet report needs it (SPEC §9).

Works with Prometheus and the stores that speak its API under ``/api/v1/`` (Thanos Query,
VictoriaMetrics, Mimir): only ``query`` and ``query_range`` are used, sent as form POSTs so a
long service selector never hits a URL length limit. The URL may carry a path prefix
(``https://mimir.example/prometheus``, VictoriaMetrics cluster ``.../select/0/prometheus``).
Range queries carry ``nocache=1``: without it VictoriaMetrics rounds ``start`` and ``end`` to
multiples of ``step``, which would move the report's per-block evaluation times.

Range queries are cut into chunks of at most :data:`MAX_POINTS` evaluation steps: Prometheus
refuses more than 11,000 points per series in one request (VictoriaMetrics' default limit is
30,000). The chunks' series are stitched together by their label sets.

Credentials come from the environment, because the command line is read by ``ps`` and shell
history; files, because the variables themselves are visible in ``/proc/<pid>/environ``::

    PANTAU_PROM_USERNAME            basic auth user name   } both or neither
    PANTAU_PROM_PASSWORD_FILE       file holding the password (one line)
    PANTAU_PROM_BEARER_TOKEN_FILE   file holding a bearer token (instead of basic auth)
    PANTAU_PROM_CA_FILE             PEM bundle to verify an https URL against (internal CA)

Every failure is a :class:`~agent.core.errors.ReportError` whose message names the URL (credentials
scrubbed) and what to do; a server's own error text (``errorType: error``) is passed on.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agent.core.errors import ReportError
from agent.core.scrub import scrub_url

log = logging.getLogger("pantau.report")

#: Prometheus answers "exceeded maximum resolution of 11,000 points per timeseries" above this.
MAX_POINTS = 11_000
ENV_USERNAME = "PANTAU_PROM_USERNAME"
ENV_PASSWORD_FILE = "PANTAU_PROM_PASSWORD_FILE"
ENV_BEARER_TOKEN_FILE = "PANTAU_PROM_BEARER_TOKEN_FILE"
ENV_CA_FILE = "PANTAU_PROM_CA_FILE"
#: A month of a large fleet can take a while to evaluate; a dead server fails much faster.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PromAuth:
    """How to authenticate to the query API (at most one of basic auth and bearer token)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    ca_file: Path | None = None

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for a bearer token (basic auth goes through httpx)."""
        return {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}

    def httpx_auth(self) -> httpx.BasicAuth | None:
        if self.username is None:
            return None
        return httpx.BasicAuth(self.username, self.password or "")


def _read_secret(variable: str, path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(
            f"cannot read {variable}={path}: {exc.strerror or exc} "
            "(the file must exist and be readable by this user)"
        ) from None
    secret = text.strip("\r\n")
    if not secret:
        raise ReportError(f"{variable}={path} is empty")
    return secret


#: What the settings are called where they come from (in error messages).
ENV_NAMES = {
    "username": ENV_USERNAME,
    "password_file": ENV_PASSWORD_FILE,
    "bearer_token_file": ENV_BEARER_TOKEN_FILE,
    "ca_file": ENV_CA_FILE,
}


def load_auth(
    username: str | None = None,
    password_file: str | None = None,
    bearer_token_file: str | None = None,
    ca_file: str | None = None,
    *,
    names: Mapping[str, str] = ENV_NAMES,
) -> PromAuth:
    """Check the settings and read the secret files; ``names`` label them in messages
    (the environment variables by default; a command line passes its option names)."""
    user, pw, token = username or None, password_file or None, bearer_token_file or None
    n = {**ENV_NAMES, **names}
    if token and (user or pw):
        raise ReportError(
            f"set either {n['bearer_token_file']} or {n['username']} + {n['password_file']}, "
            "not both"
        )
    if bool(user) != bool(pw):
        missing = n["password_file"] if user else n["username"]
        raise ReportError(
            f"basic auth needs both {n['username']} and {n['password_file']}: set {missing}"
        )
    if ca_file and not Path(ca_file).is_file():
        raise ReportError(f"{n['ca_file']}={ca_file} is not a readable file")
    return PromAuth(
        username=user,
        password=_read_secret(n["password_file"], pw) if pw else None,
        bearer_token=_read_secret(n["bearer_token_file"], token) if token else None,
        ca_file=Path(ca_file) if ca_file else None,
    )


def auth_from_env(environ: Mapping[str, str] | None = None) -> PromAuth:
    """Read the ``PANTAU_PROM_*`` variables (see the module docstring)."""
    env = os.environ if environ is None else environ
    return load_auth(
        env.get(ENV_USERNAME),
        env.get(ENV_PASSWORD_FILE),
        env.get(ENV_BEARER_TOKEN_FILE),
        env.get(ENV_CA_FILE),
    )


@dataclass(frozen=True)
class Series:
    """One series of a query answer: its labels and ``(unix seconds, value)`` samples."""

    labels: dict[str, str]
    values: list[tuple[float, float]]

    @property
    def key(self) -> Labels:
        return tuple(sorted(self.labels.items()))


def chunk_ranges(
    start: float, end: float, step: float, max_points: int = MAX_POINTS
) -> Iterator[tuple[float, float]]:
    """Split the evaluation grid ``start, start+step, …, ≤ end`` into ranges of ≤ ``max_points``.

    Consecutive ranges never share a point: the next one starts one step after the previous
    one ended, so stitching their answers neither loses nor repeats a sample.
    """
    if step <= 0 or max_points < 1:
        raise ValueError("step must be > 0 and max_points ≥ 1")
    if end < start:
        return
    points = math.floor((end - start) / step + 1e-9) + 1
    done = 0
    while done < points:
        n = min(max_points, points - done)
        yield start + done * step, start + (done + n - 1) * step
        done += n


def _error_text(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        body = resp.text.strip().replace("\n", " ")
        return body[:300] or resp.reason_phrase
    if isinstance(doc, dict) and doc.get("error"):
        kind = doc.get("errorType")
        return f"{kind}: {doc['error']}" if kind else str(doc["error"])
    return resp.reason_phrase


class PromClient:
    """Synchronous client of one query API; use as a context manager."""

    def __init__(
        self,
        url: str,
        auth: PromAuth | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_points: int = MAX_POINTS,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ReportError(f"--prometheus-url {scrub_url(url)!r}: expected http:// or https://")
        auth = auth or PromAuth()
        self.url = url.rstrip("/")
        self.shown_url = scrub_url(self.url)
        self.max_points = max_points
        self.requests = 0  # how many HTTP requests were sent (for the figures of the report)
        verify: Any = str(auth.ca_file) if auth.ca_file else True
        self._http = httpx.Client(
            auth=auth.httpx_auth(),
            headers={**auth.headers(), "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            verify=verify,
            follow_redirects=True,
        )

    def __enter__(self) -> PromClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _post(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self.url}/api/v1/{endpoint}"
        self.requests += 1
        try:
            resp = self._http.post(url, data=params)
        except httpx.TimeoutException:
            raise ReportError(
                f"Prometheus at {self.shown_url} did not answer in time "
                f"({endpoint} {params.get('query', '')[:80]!r}); try a larger --step"
            ) from None
        except httpx.HTTPError as exc:
            raise ReportError(
                f"cannot reach Prometheus at {self.shown_url}: {scrub_url(str(exc)) or type(exc).__name__} "
                "(check --prometheus-url and that the server is running)"
            ) from None
        if resp.status_code in (401, 403):
            raise ReportError(
                f"Prometheus at {self.shown_url} refused the query (HTTP {resp.status_code}: "
                f"{_error_text(resp)}); set {ENV_USERNAME} + {ENV_PASSWORD_FILE} or "
                f"{ENV_BEARER_TOKEN_FILE}"
            )
        if resp.status_code == 404:
            raise ReportError(
                f"{scrub_url(url)} not found (HTTP 404): is {self.shown_url} the base URL of a "
                "Prometheus-compatible query API (without /api/v1)?"
            )
        if resp.status_code >= 400:
            raise ReportError(
                f"Prometheus at {self.shown_url} answered HTTP {resp.status_code} to "
                f"{endpoint}: {_error_text(resp)}"
            )
        try:
            doc = resp.json()
        except ValueError:
            raise ReportError(
                f"Prometheus at {self.shown_url} answered {endpoint} with something that is not "
                f"JSON ({resp.headers.get('content-type', 'no content type')})"
            ) from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            text = doc.get("error", doc) if isinstance(doc, dict) else doc
            raise ReportError(f"Prometheus at {self.shown_url}: {endpoint} failed: {text}")
        for warning in doc.get("warnings") or ():
            log.warning("Prometheus %s: %s", self.shown_url, warning)
        data = doc.get("data")
        if not isinstance(data, dict):
            raise ReportError(f"Prometheus at {self.shown_url}: {endpoint} answer has no data")
        return data

    def query(self, expr: str, at: float) -> list[Series]:
        """An instant query evaluated at ``at`` (unix seconds): vector or matrix answer."""
        data = self._post("query", {"query": expr, "time": _ts(at)})
        return _parse(data, self.shown_url)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query over ``[start, end]`` every ``step`` seconds, chunked and stitched."""
        merged: dict[Labels, Series] = {}
        for a, b in chunk_ranges(start, end, step, self.max_points):
            params = {"query": expr, "start": _ts(a), "end": _ts(b), "step": f"{step:g}"}
            # VictoriaMetrics moves start/end to multiples of step unless the cache is off;
            # the report's evaluation times are chosen on purpose. Others ignore the parameter.
            data = self._post("query_range", {**params, "nocache": "1"})
            for s in _parse(data, self.shown_url):
                known = merged.get(s.key)
                if known is None:
                    merged[s.key] = s
                else:
                    known.values.extend(s.values)
        return list(merged.values())


def _ts(t: float) -> str:
    return f"{t:.3f}"


def _parse(data: dict[str, Any], where: str) -> list[Series]:
    kind = data.get("resultType")
    out: list[Series] = []
    try:
        for item in data.get("result") or ():
            labels = dict(item.get("metric") or {})
            if kind == "matrix":
                values = [(float(t), float(v)) for t, v in item.get("values") or ()]
            elif kind == "vector":
                t, v = item["value"]
                values = [(float(t), float(v))]
            else:
                raise ReportError(f"Prometheus at {where}: unexpected result type {kind!r}")
            out.append(Series(labels, values))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"Prometheus at {where}: malformed answer ({exc})") from None
    return out
