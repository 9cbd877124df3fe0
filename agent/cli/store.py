"""The one way a command opens the agent's store."""

from __future__ import annotations

from pathlib import Path

from agent.config.models import Config
from agent.store.database import Store


def open_store(config: Config, *, create: bool = False, read_only: bool = False) -> Store:
    """The store in ``agent.data_dir``, beside a running agent.

    Commands that read it, or change what the agent wrote (tickets), need an existing store:
    a missing one is a :class:`~agent.core.errors.NoStoreError`. Commands that may come before
    the agent ever ran (``backup mark``, drills) pass ``create``. Commands that only read
    (status, incidents, report) pass ``read_only``: they never write, and still read on a
    full disk. None runs the quick check nor moves a damaged file aside: that is the agent's
    own start-up, never a command's.
    """
    return Store.open(
        Path(config.agent.data_dir),
        quick_check=False,
        recover_corrupt=False,
        create=create,
        read_only=read_only,
    )
