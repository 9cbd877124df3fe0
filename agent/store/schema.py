"""Opening ``pantau.db``: connection settings, corruption handling, schema migrations.

Connection settings and why:

- ``journal_mode=WAL`` + ``synchronous=NORMAL``: readers never block the writer; a crash
  (even ``kill -9``) keeps every committed transaction whole; a power cut may lose the last
  few transactions but never corrupts the file.
- ``busy_timeout``: another process holding the write lock (the CLI, a backup tool) makes
  writes wait instead of failing at once.
- ``auto_vacuum=INCREMENTAL`` (set before the first table exists) so retention can hand freed
  pages back to the file system with ``PRAGMA incremental_vacuum``; ``journal_size_limit``
  truncates a WAL that grew during a burst.
- ``foreign_keys=ON`` so an incident's audit trail goes with the incident.

A file that is not SQLite, or fails ``PRAGMA quick_check``, is moved aside to
``pantau.db.corrupt-<UTC timestamp>`` (with its ``-wal``/``-shm``) and a fresh database is
created; the lost stretch later reads as *no data*, never as downtime. The schema version is
``PRAGMA user_version``; :data:`MIGRATIONS` are applied in order, in one transaction. A step is
SQL text, or a function of the connection and the time for a data repair
(:mod:`agent.store.ticket_repair`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.core.errors import StoreError
from agent.store.lock import agent_holds
from agent.store.ticket_repair import ALIASES_TABLE, repair_tickets

log = logging.getLogger("pantau.store")

SQLITE_HEADER = b"SQLite format 3\x00"
#: SQLITE_CORRUPT and SQLITE_NOTADB: the file is damaged, not merely busy.
CORRUPT_CODES = frozenset({11, 26})
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
#: SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN: no room for a ``-shm``/``-wal``.
NO_ROOM_CODES = frozenset({8, 10, 13, 14})
#: A WAL of at most its header holds no frame (no transaction the database file lacks).
WAL_HEADER_BYTES = 32

_CORE = (
    """CREATE TABLE rounds (
        id INTEGER PRIMARY KEY,
        service TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('up', 'degraded', 'down')),
        reasons TEXT NOT NULL,
        agent_isolated INTEGER NOT NULL DEFAULT 0,
        checks TEXT NOT NULL)""",
    "CREATE INDEX rounds_service_at ON rounds (service, started_at)",
    # Retention deletes by time across services.
    "CREATE INDEX rounds_at ON rounds (started_at)",
    """CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        service TEXT NOT NULL,
        at INTEGER NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('up', 'degraded', 'down', 'maintenance', 'unknown')),
        reason TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX transitions_service_at ON transitions (service, at)",
    """CREATE TABLE machine_state (
        service TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE service_meta (
        service TEXT PRIMARY KEY,
        first_round_at INTEGER NOT NULL,
        last_round_at INTEGER NOT NULL) WITHOUT ROWID""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
)

_HOST = (
    # One row per host, 5-minute bucket and metric key; p95 is taken over the bucket means.
    """CREATE TABLE host_samples (
        host TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        key TEXT NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        last REAL NOT NULL,
        last_at INTEGER NOT NULL,
        PRIMARY KEY (host, bucket, key)) WITHOUT ROWID""",
    """CREATE TABLE host_fs (
        host TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        mountpoint TEXT NOT NULL,
        used_bytes INTEGER NOT NULL,
        total_bytes INTEGER NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (host, bucket, mountpoint)) WITHOUT ROWID""",
)

_INCIDENTS = (
    """CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        start_at INTEGER NOT NULL,
        end_at INTEGER,
        impact TEXT NOT NULL,
        status TEXT NOT NULL,
        blob TEXT NOT NULL,
        updated_at INTEGER NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX incidents_service_start ON incidents (service, start_at)",
    "CREATE INDEX incidents_start ON incidents (start_at)",
    """CREATE TABLE incident_audit (
        id INTEGER PRIMARY KEY,
        incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        action TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX incident_audit_incident ON incident_audit (incident_id, at)",
)

_DRP = (
    """CREATE TABLE backups (
        id INTEGER PRIMARY KEY,
        service TEXT NOT NULL,
        source TEXT NOT NULL,
        finished_at INTEGER NOT NULL,
        size_bytes INTEGER,
        status TEXT NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('push', 'mark', 'observed')),
        recorded_at INTEGER NOT NULL,
        UNIQUE (service, source, finished_at))""",
    "CREATE INDEX backups_service_finished ON backups (service, finished_at)",
    """CREATE TABLE backup_state (
        service TEXT NOT NULL,
        source TEXT NOT NULL,
        last_success_at INTEGER,
        last_error TEXT NOT NULL DEFAULT '',
        checked_at INTEGER NOT NULL,
        PRIMARY KEY (service, source)) WITHOUT ROWID""",
    """CREATE TABLE drills (
        id INTEGER PRIMARY KEY,
        service TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        restored_at INTEGER,
        data_as_of INTEGER,
        kind TEXT NOT NULL CHECK (kind IN ('automated', 'manual')),
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL)""",
    "CREATE INDEX drills_service_started ON drills (service, started_at)",
    """CREATE TABLE reports (
        period TEXT PRIMARY KEY,
        generated_at INTEGER NOT NULL,
        files TEXT NOT NULL) WITHOUT ROWID""",
)

_DROP_META = ("DROP TABLE meta",)

#: One step of a migration: SQL, or a data repair run with the migration's time.
Step = str | Callable[[sqlite3.Connection, datetime], None]

# One ticket per episode: ids merged into another ticket (never reused), and the repair of
# the duplicate tickets older versions opened after each restart.
_ONE_TICKET_PER_EPISODE: tuple[Step, ...] = (ALIASES_TABLE, repair_tickets)

#: Ordered schema migrations; migration ``n`` (1-based) brings ``user_version`` to ``n``.
#: Never edit a released step: append a new one.
MIGRATIONS: tuple[tuple[Step, ...], ...] = (
    _CORE,
    _HOST,
    _INCIDENTS,
    _DRP,
    _DROP_META,
    _ONE_TICKET_PER_EPISODE,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Opened:
    """A ready connection, and where a damaged file was moved (``None`` when it was fine)."""

    conn: sqlite3.Connection
    moved_aside: Path | None


class _Corrupt(Exception):
    """Internal: the file at ``path`` is damaged or not SQLite."""


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection with pantau's settings (see the module docstring)."""
    # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False lets a
    # Store be created in one thread and used in another (the Store serialises access).
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only effective before the first table
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("store %s: journal_mode is %s, not WAL (file system?)", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    except BaseException:
        conn.close()
        raise
    return conn


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection,
    migrations: tuple[tuple[Step, ...], ...] = MIGRATIONS,
    *,
    now: datetime | None = None,
) -> int:
    """Apply the missing ``migrations`` in one transaction; return the resulting version.

    ``now`` stamps what a data repair writes (the audit of merged tickets); the agent passes
    its clock's time.
    """
    target = len(migrations)
    version = user_version(conn)
    if version > target:
        raise StoreError(
            f"store schema version {version} is newer than this pantau knows ({target}): "
            "upgrade pantau or point agent.data_dir elsewhere"
        )
    if version == target:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = user_version(conn)  # re-read under the lock: another process may have won
        if version == 0 and _has_tables(conn):
            raise StoreError(
                "the database in agent.data_dir has tables but no pantau schema version: "
                "it belongs to another program; point agent.data_dir at a directory of its own"
            )
        at = now or datetime.now(UTC)
        for steps in migrations[version:]:
            for step in steps:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn, at)
        conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise
    if version < target:
        log.info("store schema migrated from version %d to %d", version, target)
    return target


def open_database(
    path: Path,
    *,
    busy_timeout: float,
    quick_check: bool,
    recover: bool,
    now: datetime,
    read_only: bool = False,
) -> Opened:
    """Open (creating, checking, migrating) the database at ``path``.

    A damaged file is moved aside and replaced by a fresh database (FAULTS row 13) when
    ``recover`` is set — only the agent at start-up should, never a CLI command or a second
    connection that could pull the file from under a running agent. Otherwise, and for any
    other failure (locked past ``busy_timeout``, permissions, a newer schema), it raises
    :class:`~agent.core.errors.StoreError`.

    ``read_only`` (the reading commands: status, incidents, report) makes the connection
    ``query_only``, and where SQLite finds no room for its ``-shm`` file (a full disk, a
    read-only mount) it falls back to :func:`open_snapshot`.
    """
    if read_only:
        try:
            return _open_reader(path, busy_timeout)
        except sqlite3.Error as exc:
            if _no_room(exc):
                return Opened(open_snapshot(path, exc), None)
            if is_corruption(exc):
                raise StoreError(
                    f"store {path} is damaged ({exc}); restart the agent to move it aside "
                    "and start a fresh database"
                ) from exc
            raise StoreError(
                f"cannot open store {path}: {exc}; check the disk and permissions"
            ) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Reading the header opens and closes the file, and closing any descriptor of a file
        # drops every POSIX lock this process holds on it, including those of other SQLite
        # connections: another process would then take itself for the last connection and
        # delete the live WAL. So only the first open of a process (the agent at start-up,
        # with ``recover``) reads it; other opens rely on SQLite's own errors.
        problem = _header_problem(path) if recover else None
        conn: sqlite3.Connection | None = None
        if problem is None:
            try:
                conn = connect(path, busy_timeout)
                _check(conn, quick_check)
            except (_Corrupt, sqlite3.DatabaseError) as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                if isinstance(exc, sqlite3.DatabaseError) and not is_corruption(exc):
                    raise
                problem = str(exc) or type(exc).__name__
        moved: Path | None = None
        if conn is None:
            if not recover:
                raise StoreError(
                    f"store {path} is damaged ({problem}); restart the agent to move it aside "
                    "and start a fresh database"
                )
            moved = move_aside(path, now)
            log.error(
                "store %s is damaged (%s): moved it to %s and started a fresh database; "
                "the time it covered will show as no data",
                path,
                problem,
                moved,
            )
            conn = connect(path, busy_timeout)
        try:
            migrate(conn, now=now)
        except BaseException:
            conn.close()
            raise
        return Opened(conn, moved)
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open store {path}: {exc}; check the disk and permissions"
        ) from exc
    except OSError as exc:
        raise StoreError(f"cannot open store {path}: {exc}") from exc


def _open_reader(path: Path, busy_timeout: float) -> Opened:
    # Not connect(): setting ``auto_vacuum`` may write the header even when it is unchanged,
    # which a full disk refuses (SQLITE_FULL) though a reader needs no room at all.
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        _check(conn, quick_check=False)
        migrate(conn)
        conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return Opened(conn, None)


def _no_room(exc: sqlite3.Error) -> bool:
    """Whether SQLite could not create or grow a file beside the database (``-shm``/``-wal``):
    a full disk (``SQLITE_FULL``, or ``SQLITE_IOERR`` when the ``-shm`` cannot be sized), or
    a directory this process may not write (``SQLITE_READONLY``, ``SQLITE_CANTOPEN``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in NO_ROOM_CODES


def open_snapshot(path: Path, cause: sqlite3.Error) -> sqlite3.Connection:
    """Read ``path`` without SQLite's ``-shm`` file: the database file as it stands
    (``immutable=1``), for reading commands on a full disk.

    In WAL mode every reader needs a 32 KiB ``-shm`` file, which a full disk cannot give, so
    ``pantau status`` could not read a store the agent had left whole. An immutable read takes
    no locks and ignores the WAL, so it is exact only when no agent writes the store and the
    WAL holds no transaction the database file lacks; otherwise this raises
    :class:`~agent.core.errors.StoreError` saying what to free, rather than show stale data.
    (An agent starting during the read writes its WAL, not this file, for its first second.)
    """
    why = f"cannot read store {path}: {cause}"
    running = agent_holds(path.parent)
    if running is not False:
        raise StoreError(
            f"{why}; "
            + ("an agent is writing it" if running else "cannot tell whether an agent writes it")
            + ", so a snapshot could be stale: free some space on its file system and retry"
        )
    wal = Path(f"{path}-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    if wal_bytes > WAL_HEADER_BYTES:
        raise StoreError(
            f"{why}; its write-ahead log {wal} holds {wal_bytes} bytes not yet in the "
            "database file: free some space on its file system (or start the agent) and retry"
        )
    try:
        conn = sqlite3.connect(
            path.absolute().as_uri() + "?mode=ro&immutable=1",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"{why}; reading it as a snapshot failed too: {exc}") from exc
    try:
        version = user_version(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{why}; reading it as a snapshot failed too: {exc}") from exc
    if version != SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"{why}; its schema (version {version}) needs migrating to {SCHEMA_VERSION}, which a "
            "full disk does not allow: free some space on its file system and retry"
        )
    log.warning(
        "no room beside %s for SQLite's shared-memory file (%s): reading the database file "
        "as a read-only snapshot",
        path,
        cause,
    )
    return conn


def is_corruption(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the file is damaged (rather than busy, full or unreadable)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in CORRUPT_CODES


def move_aside(path: Path, now: datetime) -> Path:
    """Rename ``path`` (and its ``-wal``/``-shm``/``-journal``) to ``<name>.corrupt-<ts>``."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    if path.exists():
        os.replace(path, target)
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            # Keep the pair together so ``sqlite3 <target>`` still sees the WAL.
            os.replace(side, Path(f"{target}{suffix}"))
    return target


def _header_problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None  # SQLite treats an empty file as an empty database
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        return "not an SQLite database (bad header)"
    return None


def _check(conn: sqlite3.Connection, quick_check: bool) -> None:
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    if quick_check:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            raise _Corrupt("quick_check: " + "; ".join(str(r[0]) for r in rows[:3]))


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return bool(row[0])


def rollback_quietly(conn: sqlite3.Connection) -> None:
    # After SQLITE_FULL/IOERR SQLite may already have rolled back: "no transaction" is fine.
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
