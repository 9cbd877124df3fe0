"""The one way pantau writes a report file: to a temporary name beside it, then renamed.

A reader (a spreadsheet, a mail job, a web server) sees the old file or the whole new one,
never half of it, and a failed write leaves the old file as it was. The temporary file lives
in the target's directory so the rename stays on one filesystem (atomic). It does not
fsync: a report lost to a power cut is made again from the same data.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from agent.core.errors import ReportError

#: rw-r--r--: a report is for reading by others (``mkstemp`` creates files 0600).
MODE = 0o644


def write_atomic(
    path: str | os.PathLike[str],
    write: Callable[[Path], None],
    *,
    what: str,
    hint: str,
    suffix: str = "",
) -> Path:
    """Let ``write(tmp)`` fill a temporary file, then rename it to ``path``; return the path.

    ``what`` names the file in errors (``"CSV report"``), ``hint`` says what to check when the
    directory cannot take a file. An ``OSError`` becomes a
    :class:`~agent.core.errors.ReportError`; anything ``write`` raises removes the temporary
    file and propagates unchanged.
    """
    target = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise ReportError(f"cannot write {what} {target}: {exc.strerror} ({hint})") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, MODE)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write {what} {target}: {exc.strerror}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
