#!/usr/bin/env python3
"""Container health check: exit 0 when the agent's ``GET /healthz`` answers 200, else 1.

The slim image has no curl, so Docker's ``HEALTHCHECK`` runs this (installed as
``/usr/local/bin/pantau-healthcheck``). Standard library only, so it works with any Python.

The URL is ``PANTAU_HEALTHCHECK_URL`` when set (e.g. ``https://127.0.0.1:9717/healthz`` with a
``web_config`` that enables TLS), otherwise built from ``PANTAU_LISTEN`` (the address the
agent binds, default ``0.0.0.0:9717``): a wildcard host is replaced by loopback, because the
check runs inside the container next to the agent.

With TLS, ``PANTAU_HEALTHCHECK_INSECURE=1`` skips certificate verification: the check only
talks to the agent in its own container over loopback, where the certificate (issued for the
server's public name, often by a private CA) cannot match ``127.0.0.1`` anyway.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

DEFAULT_LISTEN = "0.0.0.0:9717"
#: Below the HEALTHCHECK --timeout, so the script reports its own error instead of being killed.
TIMEOUT_SECONDS = 4.0
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}


def healthz_url(environ: Mapping[str, str]) -> str:
    """Return the URL to check, from ``PANTAU_HEALTHCHECK_URL`` or ``PANTAU_LISTEN``."""
    explicit = environ.get("PANTAU_HEALTHCHECK_URL", "").strip()
    if explicit:
        return explicit
    listen = environ.get("PANTAU_LISTEN", "").strip() or DEFAULT_LISTEN
    host, sep, port = listen.rpartition(":")
    if not sep:
        # A bare port ("9717") or a host without port: the agent's port default applies.
        host, port = ("", listen) if listen.isdigit() else (listen, "9717")
    host = _WILDCARDS.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def check(url: str, timeout: float = TIMEOUT_SECONDS, insecure: bool = False) -> tuple[bool, str]:
    """GET ``url``; return (healthy, one-line explanation)."""
    context = None
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{url}: {exc}"
    if status != 200:
        return False, f"{url}: HTTP {status}"
    return True, f"{url}: HTTP 200"


def main() -> int:
    """Run the check once and print its result (Docker keeps it in ``docker inspect``)."""
    insecure = os.environ.get("PANTAU_HEALTHCHECK_INSECURE", "").lower() in {"1", "true", "yes"}
    healthy, message = check(healthz_url(os.environ), insecure=insecure)
    print(message)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
