"""One agent per data directory (FAULTS 42): an exclusive ``flock`` on ``<data_dir>/pantau.lock``.

Why a file of its own, and why ``flock``: the store relies on SQLite's POSIX (``fcntl``)
locks, and closing *any* descriptor of the database file drops every POSIX lock the process
holds on it — locking the database file itself would break SQLite. A ``flock`` lock belongs to
one open file description, never touches SQLite's locks, and is released by the kernel when
its holder dies, so a ``kill -9`` leaves at most a stale pid in the file, never a stale lock.

The file holds the holder's pid (as its own pid namespace sees it: inside a container that is
the container's pid) so a refused agent can name it. The file is never removed: unlinking a
lock file races with the next agent opening it. Only ``pantau run`` takes the lock; the other
commands read and write the store beside the running agent, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

from agent.core.errors import StoreError

log = logging.getLogger("pantau.store")

LOCK_FILENAME = "pantau.lock"


class DataDirLock:
    """The held lock on a data directory; :meth:`release` it (or use ``with``)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Lock ``data_dir`` for this process (creating both) or raise
        :class:`~agent.core.errors.StoreError` (exit 2) naming the agent that holds it."""
        path = Path(data_dir) / LOCK_FILENAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot create the lock file {path}: {exc.strerror or exc}; "
                "check agent.data_dir and its permissions"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"pid {pid}" if pid is not None else "pid not yet written: it is starting"
            raise StoreError(
                f"agent.data_dir {path.parent} is in use by another pantau agent ({who}); "
                "stop that agent first, or give this one its own agent.data_dir"
            ) from None
        except OSError as exc:  # e.g. ENOLCK on a network file system without lock support
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {exc.strerror or exc}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # a full disk: the lock holds all the same, only the pid is lost
            log.warning("could not write the pid into %s (%s); the lock holds", path, exc)
        return cls(path, fd)

    def release(self) -> None:
        """Unlock and close (idempotent); the file stays for the next agent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def agent_holds(data_dir: Path) -> bool | None:
    """Whether a running agent holds the lock of ``data_dir``: ``False`` when none does (or
    the directory never had one), ``None`` when it cannot be told (the file is unreadable).

    Probes with a shared lock taken and dropped at once, so it never keeps an agent from
    starting.
    """
    path = Path(data_dir) / LOCK_FILENAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
