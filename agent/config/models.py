"""Configuration models (SPEC §3): frozen, strict, unknown keys rejected.

Load a file with :func:`agent.config.loader.load_config`; these models only describe the shape.
Strict mode means no silent coercion: ``"no"`` is not a boolean and ``"0755"`` is not a number.
Durations are strings with a unit (``30s``) parsed to ``timedelta``.
"""

from __future__ import annotations

import re
import socket
from abc import abstractmethod
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    WithJsonSchema,
)

from agent.core.addresses import split_host_port
from agent.core.durations import format_duration, parse_duration
from agent.core.model import FLAP_THRESHOLD, FLAP_WINDOW
from agent.core.pedoman import Classification, Group, Impact

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$", "examples": ["30s"]}
    ),
]


def _positive(td: timedelta) -> timedelta:
    if td <= timedelta(0):
        raise ValueError("must be greater than zero")
    return td


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]


def _parse_time(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hour, minute = (int(p) for p in value.split(":"))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise ValueError('a time of day must be a quoted "HH:MM" string, e.g. "07:30"')


TimeOfDay = Annotated[
    time,
    BeforeValidator(_parse_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$"}),
]


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Asia/Jakarta)"
        ) from None
    return name


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


def _check_hostport(value: str) -> str:
    split_host_port(value)
    return value


HostPort = Annotated[str, AfterValidator(_check_hostport)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9_-]+$", min_length=1, max_length=64)]
Percent = Annotated[float, Field(gt=0, le=100)]
Lax = Strict(False)  # enums, paths and dates may be given as strings
GroupField = Annotated[Group, Lax]
ClassificationField = Annotated[Classification, Lax]
ImpactField = Annotated[Impact, Lax]
PathField = Annotated[Path, Lax]
DateField = Annotated[date, Lax]
DateTimeField = Annotated[datetime, Lax]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Model(BaseModel):
    """Base of every config model: frozen, strict types, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WorkingHours(Model):
    """Working hours for SLA response accounting (Lampiran SLA)."""

    days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    start: TimeOfDay = time(7, 30)
    end: TimeOfDay = time(16, 0)
    holidays: list[DateField] = []


class ReportSettings(Model):
    """The monthly Formulir: where and when the running agent writes it."""

    enabled: bool = True
    output_dir: PathField | None = None  # default: <data_dir>/reports
    day: int = Field(1, ge=1, le=28)
    at: TimeOfDay = time(1, 0)
    formats: list[Literal["csv", "pdf"]] = ["csv", "pdf"]
    organization: str = "Pemerintah Daerah"
    agency: str = ""
    signatory_name: str = ""
    signatory_title: str = "Penanggung Jawab Penyedia Layanan"
    signatory_id: str = ""  # NIP
    city: str = ""
    email_to: list[str] = []
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password_file: PathField | None = None
    email_from: str | None = None


class FailedAuthLimit(Model):
    """Per client address: ``burst`` failed logins at once, then one more every ``interval``."""

    burst: int = Field(10, ge=1, le=10_000)
    interval: PositiveDuration = timedelta(seconds=6)


class HttpSettings(Model):
    """``agent.http``: how the endpoint holds against idle connections and password floods."""

    #: A request head must be complete this long after the connection opened (or after its
    #: first byte on a kept-alive connection): slowloris and half-open connections are closed.
    header_timeout: PositiveDuration = timedelta(seconds=10)
    #: A kept-alive connection with no request is closed after this.
    idle_timeout: PositiveDuration = timedelta(seconds=60)
    #: Body, handling and response of one request; a client that stops reading its response
    #: for this long is cut off.
    request_timeout: PositiveDuration = timedelta(seconds=30)
    #: Open connections at most; never more than the open-file limit leaves after keeping half
    #: of it (and 2 per concurrent round) for probes, the store and backups.
    max_connections: int = Field(512, ge=1, le=1_000_000)
    #: ``null`` turns the per-client limit of failed basic-auth attempts off.
    failed_auth_limit: FailedAuthLimit | None = FailedAuthLimit()


class AgentSettings(Model):
    """The ``agent:`` section."""

    name: str = Field(default_factory=socket.gethostname)
    timezone: Annotated[str, AfterValidator(_check_zone)] = "Asia/Jakarta"
    data_dir: PathField = Path("/var/lib/pantau")
    listen: HostPort = "127.0.0.1:9717"
    web_config: PathField | None = None
    working_hours: WorkingHours = WorkingHours()
    retention: PositiveDuration = timedelta(days=35)
    max_concurrency: int = Field(100, ge=1, le=10_000)
    drill_max_age: PositiveDuration = timedelta(days=365)
    #: Checks of the agent's own connectivity (gateway, a well-known host). While all of them
    #: fail, rounds are recorded as unknown: the agent is isolated, services are not down.
    connectivity: list[Check] = []
    report: ReportSettings = ReportSettings()
    http: HttpSettings = HttpSettings()


class Defaults(Model):
    """The ``defaults:`` section, applied to every service that does not override it."""

    interval: PositiveDuration = timedelta(seconds=30)
    timeout: PositiveDuration = timedelta(seconds=10)
    failure_threshold: int = Field(2, ge=1, le=100)
    recovery_threshold: int = Field(1, ge=1, le=100)
    max_body_bytes: int = Field(1_048_576, ge=1)
    backup_interval: PositiveDuration = timedelta(minutes=15)
    #: Flap detection: this many up↔bad changes within ``flap_window`` make a flapping period
    #: (one gangguan; ``pantau_service_flapping`` 1 while the window holds them).
    flap_threshold: int = Field(FLAP_THRESHOLD, ge=2, le=1000)
    flap_window: PositiveDuration = FLAP_WINDOW


class AvailabilityTargets(Model):
    """Default availability target in percent per classification."""

    kritis: Percent = 99.5
    esensial: Percent = 99.0
    normal: Percent = 98.0


class FulfilmentTargets(Model):
    """Tabel 4.1 overrides; ``layanan_publik.normal`` is not given by the Pedoman."""

    layanan_publik: dict[ClassificationField, PositiveDuration] = {}
    administrasi_pemerintahan: dict[ClassificationField, PositiveDuration] = {}


class Host(Model):
    """A machine whose utilisation is sampled with psutil (the agent's own machine)."""

    id: Identifier
    filesystems: list[str] = ["/"]
    interfaces: list[str] = []
    link_capacity_mbps: Annotated[float, Field(gt=0)] | None = None
    interval: PositiveDuration = timedelta(seconds=30)


class BasicAuth(Model):
    username: str
    password: str | None = Field(None, json_schema_extra={"writeOnly": True})
    password_file: PathField | None = None


class CheckBase(Model):
    """What every check kind has; a kind adds its ``type`` literal, its fields and its component.

    A new kind also needs a probe registered under its ``type`` (:mod:`probes.registry`).
    """

    name: Identifier | None = None  # the `check` label; default: "<type>-<index>"
    impact: ImpactField = Impact.MAJOR
    timeout: PositiveDuration | None = None
    degraded_latency: PositiveDuration | None = None

    @property
    @abstractmethod
    def component(self) -> str:
        """What the check watches, as a gangguan ticket names it (komponen terkait/terdampak)."""


class HttpCheck(CheckBase):
    """HTTP(S) request; TLS certificate expiry is read on every https check."""

    type: Literal["http"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    headers: dict[str, str] = {}
    body: str | None = None
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = None  # default: 2xx
    expect_body: str | None = None
    expect_body_regex: Annotated[str, AfterValidator(_check_regex)] | None = None
    follow_redirects: bool = True
    #: curl's --location-trusted (FAULTS 38): off, a redirect to another origin drops them.
    follow_redirects_trusted: bool = Field(
        False,
        description=(
            "Send the configured headers, basic_auth, bearer token and URL credentials to every "
            "origin a redirect leads to. Off (default): only to the check's own origin "
            "(scheme, host and port)."
        ),
    )
    max_redirects: int = Field(10, ge=0, le=50)
    tls_verify: bool = True
    ca_file: PathField | None = None
    basic_auth: BasicAuth | None = None
    bearer_token_file: PathField | None = None
    max_body_bytes: int | None = Field(None, ge=1)

    @property
    def component(self) -> str:
        """Scheme, host, port and path: never credentials or a query string on a form."""
        u = urlsplit(self.url)
        host = f"[{u.hostname}]" if ":" in (u.hostname or "") else u.hostname
        return f"{u.scheme}://{host}{f':{u.port}' if u.port else ''}{u.path}"


class TcpCheck(CheckBase):
    """TCP connect within the timeout."""

    type: Literal["tcp"]
    address: HostPort

    @property
    def component(self) -> str:
        """``tcp <host:port>``."""
        return f"tcp {self.address}"


class DnsCheck(CheckBase):
    """A name resolves (optionally to the expected addresses)."""

    type: Literal["dns"]
    query: str
    record_type: Literal["A", "AAAA", "ANY"] = "ANY"
    expect_addresses: list[str] = []
    #: ask this server (ip:port) instead of the system resolver
    resolver: HostPort | None = None

    @property
    def component(self) -> str:
        """``dns <name>``."""
        return f"dns {self.query}"


Check = Annotated[HttpCheck | TcpCheck | DnsCheck, Field(discriminator="type")]


class BackupBase(Model):
    name: Identifier | None = None  # the `source` label; default: "<type>-<index>"
    interval: PositiveDuration | None = None
    timeout: PositiveDuration = timedelta(seconds=120)


class FilesBackup(BackupBase):
    """Newest mtime among files matching a glob (empty and still-growing files ignored)."""

    type: Literal["files"]
    path: str
    min_size: int = Field(1, ge=0)


class ResticBackup(BackupBase):
    type: Literal["restic"]
    repository: str
    password_file: PathField | None = None
    password_env: str | None = None
    host: str | None = None
    tags: list[str] = []
    paths: list[str] = []
    binary: str = "restic"


class BorgBackup(BackupBase):
    type: Literal["borg"]
    repository: str
    passphrase_file: PathField | None = None
    passphrase_env: str | None = None
    glob: str | None = None
    binary: str = "borg"


class PushBackup(BackupBase):
    """Backups reported by scripts: POST /api/v1/backups/{service} or `pantau backup mark`."""

    type: Literal["push"]


Backup = Annotated[
    FilesBackup | ResticBackup | BorgBackup | PushBackup, Field(discriminator="type")
]


class DrillSettings(Model):
    """Automated restore drill."""

    schedule: Literal["monthly", "quarterly", "yearly"] | None = None
    restore_command: str | None = None
    verify_command: str | None = None
    scratch_dir: PathField | None = None
    timeout: PositiveDuration = timedelta(hours=4)


class Drp(Model):
    """Disaster recovery plan register entry."""

    document: str
    last_drill: DateField | None = None
    drill: DrillSettings = DrillSettings()


class MaintenanceWindow(Model):
    """Planned maintenance; naive times are in the agent's time zone."""

    start: DateTimeField
    end: DateTimeField
    reason: str = ""


class Service(Model):
    """One Layanan of the katalog."""

    id: Identifier
    name: str
    description: str = ""
    provider: str
    technical_manager: str = ""
    group: GroupField
    classification: ClassificationField
    url: str = ""
    contact: str = ""
    support_hours: str = ""
    availability_target: Percent | None = None
    fulfilment_target: PositiveDuration | None = None
    urgency: Literal[1, 2, 3] | None = None
    host: Identifier | None = None
    interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None
    failure_threshold: int | None = Field(None, ge=1, le=100)
    recovery_threshold: int | None = Field(None, ge=1, le=100)
    checks: list[Check] = Field(min_length=1)
    rpo: PositiveDuration | None = None
    rto: PositiveDuration | None = None
    drp: Drp | None = None
    backups: list[Backup] = []
    maintenance: list[MaintenanceWindow] = []
    capacity_plan: str = ""  # Rencana peningkatan kapasitas, free text for the Formulir


class Config(Model):
    """The whole configuration file."""

    agent: AgentSettings = AgentSettings()
    defaults: Defaults = Defaults()
    availability_targets: AvailabilityTargets = AvailabilityTargets()
    fulfilment_targets: FulfilmentTargets = FulfilmentTargets()
    hosts: list[Host] = []
    services: list[Service] = []


AgentSettings.model_rebuild()
