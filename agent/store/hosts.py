"""Host utilisation in 5-minute aggregates (kept ≥ 13 months for the monthly form, Tabel 4.8).

Each sample is folded into the bucket ``floor(at / 5 min)`` of its metric key (``cpu``,
``mem``, ``fs:/var``, ``rx:eth0``, …): count, sum, min, max and the last value. A month's
**average** is the mean of all its samples (Σsum / Σcount). Its **p95** is the 95th percentile
(nearest rank) of the 5-minute **bucket means** — the same thing a Prometheus
``quantile_over_time(0.95, avg_over_time(x[5m])[30d:5m])`` gives, and exact for any month
without keeping raw samples or a histogram whose bin edges would fix the resolution in
advance. A month is ~8 640 buckets per key, so sorting them is cheap.

Filesystems additionally keep the latest used/total bytes of each bucket, so capacity growth
(days until full) can be fitted later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from agent.core.stats import nearest_rank
from agent.store.base import Connection, where
from agent.store.records import (
    FsPoint,
    FsUsage,
    HostBucket,
    HostReading,
    HostSummary,
    from_ms,
    to_ms,
)

BUCKET = timedelta(minutes=5)
BUCKET_MS = 300_000


def bucket_start(at: datetime) -> datetime:
    """Start of the 5-minute bucket holding ``at`` (UTC, aligned to the epoch)."""
    return from_ms(to_ms(at) // BUCKET_MS * BUCKET_MS)


class HostTable:
    """``host_samples`` and ``host_fs``: ``store.hosts``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def add_sample(
        self,
        host: str,
        at: datetime,
        values: Mapping[str, float],
        filesystems: Mapping[str, FsUsage] | None = None,
    ) -> None:
        """Fold one reading of ``host`` into its 5-minute buckets (non-finite values skipped)."""
        at_ms = to_ms(at)
        bucket = at_ms // BUCKET_MS * BUCKET_MS
        rows = [
            (host, bucket, key, v, v, v, v, at_ms) for key, v in values.items() if math.isfinite(v)
        ]
        fs_rows = [
            (host, bucket, mount, u.used_bytes, u.total_bytes, at_ms)
            for mount, u in (filesystems or {}).items()
        ]
        with self._db.transaction():
            self._db.executemany(
                """INSERT INTO host_samples
                       (host, bucket, key, count, sum, min, max, last, last_at)
                   VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)
                   ON CONFLICT (host, bucket, key) DO UPDATE SET
                       count = count + 1,
                       sum = sum + excluded.sum,
                       min = min(host_samples.min, excluded.min),
                       max = max(host_samples.max, excluded.max),
                       last = CASE WHEN excluded.last_at >= last_at
                                   THEN excluded.last ELSE last END,
                       last_at = max(last_at, excluded.last_at)""",
                rows,
            )
            self._db.executemany(
                """INSERT INTO host_fs (host, bucket, mountpoint, used_bytes, total_bytes, at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (host, bucket, mountpoint) DO UPDATE SET
                       used_bytes = excluded.used_bytes,
                       total_bytes = excluded.total_bytes,
                       at = excluded.at
                   WHERE excluded.at >= host_fs.at""",
                fs_rows,
            )

    def series(
        self, host: str, start: datetime, end: datetime, key: str | None = None
    ) -> list[HostBucket]:
        """Buckets of ``host`` starting in ``[start, end)``, by bucket then key."""
        sql, params = where(
            """SELECT key, bucket, count, sum, min, max, last FROM host_samples
               WHERE host = ? AND bucket >= ? AND bucket < ?""",
            ("key = ?", key),
        )
        rows = self._db.query(
            sql + " ORDER BY bucket, key", [host, to_ms(start), to_ms(end), *params]
        )
        return [
            HostBucket(key=k, start=from_ms(b), count=c, sum=s, min=lo, max=hi, last=last)
            for k, b, c, s, lo, hi, last in rows
        ]

    def summary(self, host: str, key: str, start: datetime, end: datetime) -> HostSummary | None:
        """Average, p95 (of 5-minute means) and max of ``key`` over ``[start, end)``.

        ``None`` when there is no sample in the period.
        """
        rows = self._db.query(
            """SELECT count, sum, max FROM host_samples
               WHERE host = ? AND bucket >= ? AND bucket < ? AND key = ?""",
            (host, to_ms(start), to_ms(end), key),
        )
        if not rows:
            return None
        samples = sum(r[0] for r in rows)
        total = math.fsum(r[1] for r in rows)
        return HostSummary(
            avg=total / samples,
            p95=nearest_rank([s / c for c, s, _ in rows], 0.95),
            max=max(r[2] for r in rows),
            buckets=len(rows),
            samples=samples,
        )

    def latest(self, host: str, window: timedelta = timedelta(hours=1)) -> list[HostReading]:
        """The newest sample of each key of ``host``, by key.

        Only keys sampled within ``window`` of the host's newest bucket count: a filesystem or
        interface no longer sampled must not show a months-old figure as if it were current.
        Both reads walk the primary key from its end, so the cost does not grow with history.
        """
        newest = self._db.one("SELECT max(bucket) FROM host_samples WHERE host = ?", (host,))
        if newest is None or newest[0] is None:
            return []
        rows = self._db.query(
            """SELECT key, last, last_at FROM host_samples
               WHERE host = ? AND bucket >= ? ORDER BY key, last_at""",
            (host, newest[0] - int(window.total_seconds() * 1000)),
        )
        latest: dict[str, HostReading] = {}
        for key, value, at in rows:  # ordered by time: the last one of a key wins
            latest[key] = HostReading(key, value, from_ms(at))
        return list(latest.values())

    def keys(self, host: str) -> list[str]:
        """Metric keys ever recorded for ``host`` (within the kept history)."""
        rows = self._db.query(
            "SELECT DISTINCT key FROM host_samples WHERE host = ? ORDER BY key", (host,)
        )
        return [r[0] for r in rows]

    def fs_series(
        self, host: str, mountpoint: str, start: datetime, end: datetime
    ) -> list[FsPoint]:
        """The last used/total bytes of ``mountpoint`` per bucket in ``[start, end)``."""
        rows = self._db.query(
            """SELECT bucket, used_bytes, total_bytes FROM host_fs
               WHERE host = ? AND bucket >= ? AND bucket < ? AND mountpoint = ?
               ORDER BY bucket""",
            (host, to_ms(start), to_ms(end), mountpoint),
        )
        return [FsPoint(mountpoint, from_ms(b), u, t) for b, u, t in rows]
