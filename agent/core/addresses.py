"""Network addresses as the katalog writes them: ``host:port`` and bare IP literals.

One splitter serves the config check (``listen``, a TCP check's ``address``, a DNS check's
``resolver``), the agent's own listener and the probes, so all of them read ``[::1]:9717`` the
same way.
"""

from __future__ import annotations

import ipaddress

HOST_PORT_HINT = "must be host:port, e.g. 127.0.0.1:9717 or [::1]:9717"


def split_host_port(address: str) -> tuple[str, int]:
    """``"[::1]:80"`` → ``("::1", 80)``; ``"db:5432"`` → ``("db", 5432)``.

    The port is what follows the last colon, so a bracketed IPv6 host keeps its own colons.
    Raises ``ValueError`` (with :data:`HOST_PORT_HINT`) without a host or a port in 1–65535.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(HOST_PORT_HINT)
    return host.strip("[]"), int(port)


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 literal (no name to resolve)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
