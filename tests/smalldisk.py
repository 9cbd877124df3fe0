"""A small file system to fill up (FAULTS 11 and the reading commands on a full disk)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def small_disk(tmp_path: Path, size_mib: int = 2) -> Iterator[Path]:
    """A ``size_mib`` file system: tmpfs, or an ext4 loop file where tmpfs cannot be mounted
    (both need root: without it the test skips locally and fails in CI)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        _run("mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(mnt))
    except (OSError, subprocess.SubprocessError) as tmpfs_exc:
        image = tmp_path / "disk.img"
        try:
            with image.open("wb") as f:
                f.truncate(max(4, 2 * size_mib) * 1024 * 1024)
            _run("mkfs.ext4", "-q", "-F", str(image))
            _run("mount", "-o", "loop", str(image), str(mnt))
        except (OSError, subprocess.SubprocessError) as loop_exc:
            message = f"cannot create a small file system: {tmpfs_exc!r}; {loop_exc!r}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    try:
        yield mnt
    finally:
        done = subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30, check=False)
        if done.returncode != 0:  # still busy (a file left open): detach it, never leave it
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30, check=False)


def fill(directory: Path, name: str = "filler") -> Path:
    """Write a file until the file system reports ENOSPC; return it."""
    filler = directory / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
        with pytest.raises(OSError, match="No space left") as info:
            os.write(fd, b"\0")
        assert info.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler
