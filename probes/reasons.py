"""Map the exceptions probes meet to the reason vocabulary of :mod:`probes.base`.

There is one function, :func:`reason_for`. It walks the exception's ``__cause__`` /
``__context__`` chain (httpx wraps httpcore, which wraps the OS or ``ssl`` error; anyio wraps
several connection attempts in an ``ExceptionGroup``) and answers from the innermost link it
recognises, because the root cause is the most specific. Exceptions it handles::

    BaseException
     ├── TimeoutError (asyncio.timeout, socket.timeout) .............. timeout
     ├── httpx.HTTPError
     │    ├── TimeoutException (Connect/Read/Write/PoolTimeout) ...... timeout
     │    ├── TooManyRedirects ....................................... too_many_redirects
     │    ├── RemoteProtocolError "disconnected without a response" .. connection_reset
     │    ├── ProtocolError, DecodingError, UnsupportedProtocol ...... protocol_error
     │    └── ConnectError, ReadError, WriteError, ... ............... (cause decides)
     ├── OSError
     │    ├── ssl.SSLError
     │    │    ├── SSLCertVerificationError, by verify_code:
     │    │    │     10 certificate has expired ........................ tls_expired
     │    │    │     18/19/20/21 self-signed / unknown issuer .......... tls_self_signed
     │    │    │     62 hostname / 64 IP address mismatch .............. tls_hostname
     │    │    │     anything else ...................................... tls_invalid
     │    │    └── any other handshake failure ......................... tls_invalid
     │    ├── socket.gaierror
     │    │     EAI_NONAME / EAI_NODATA (no such name or no address) ... dns_nxdomain
     │    │     EAI_AGAIN / EAI_FAIL (resolver failed) .................. dns_servfail
     │    ├── ConnectionRefusedError (ECONNREFUSED) .................... connection_refused
     │    ├── ConnectionResetError, ConnectionAbortedError, EPIPE ....... connection_reset
     │    ├── ENETUNREACH, EHOSTUNREACH, ENETDOWN, EHOSTDOWN ............ network_unreachable
     │    └── ETIMEDOUT ............................................... timeout
     ├── BaseExceptionGroup ......... the reason its members agree on, else the first one's
     └── dns.exception.DNSException
          ├── resolver.NXDOMAIN, resolver.NoAnswer ...................... dns_nxdomain
          ├── exception.Timeout (LifetimeTimeout) ....................... dns_timeout
          └── NoNameservers (SERVFAIL, REFUSED), anything else .......... dns_servfail

Anything not recognised is ``probe_error``. ``dns_nxdomain`` also covers "the name exists but
has no address of the asked type": the system resolver cannot tell the two apart, so the
dnspython path does not either, and dashboards group both as "does not resolve".
"""

from __future__ import annotations

import errno
import socket
import ssl

import dns.exception
import dns.resolver
import httpx

__all__ = ["reason_for"]

_TLS_BY_VERIFY_CODE = {
    10: "tls_expired",  # X509_V_ERR_CERT_HAS_EXPIRED
    18: "tls_self_signed",  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    19: "tls_self_signed",  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    20: "tls_self_signed",  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "tls_self_signed",  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    62: "tls_hostname",  # X509_V_ERR_HOSTNAME_MISMATCH
    64: "tls_hostname",  # X509_V_ERR_IP_ADDRESS_MISMATCH (URL names an IP address)
}

_ERRNO = {
    errno.ECONNREFUSED: "connection_refused",
    errno.ECONNRESET: "connection_reset",
    errno.ECONNABORTED: "connection_reset",
    errno.EPIPE: "connection_reset",
    errno.ENETUNREACH: "network_unreachable",
    errno.EHOSTUNREACH: "network_unreachable",
    errno.ENETDOWN: "network_unreachable",
    errno.EHOSTDOWN: "network_unreachable",
    errno.ETIMEDOUT: "timeout",
}

_GAI = {
    socket.EAI_NONAME: "dns_nxdomain",
    socket.EAI_AGAIN: "dns_servfail",
    socket.EAI_FAIL: "dns_servfail",
}
# EAI_NODATA is glibc-only (and absent from some builds of the socket module).
_EAI_NODATA = getattr(socket, "EAI_NODATA", None)
if _EAI_NODATA is not None:
    _GAI[_EAI_NODATA] = "dns_nxdomain"

_MAX_CHAIN = 32  # a guard: chains are short, but a buggy library could build a cycle


def reason_for(exc: BaseException) -> str:
    """The reason for ``exc``: its innermost recognised cause, else ``probe_error``."""
    chain = _chain(exc)
    for link in reversed(chain):
        reason = _own_reason(link)
        if reason is not None:
            return reason
    return "probe_error"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first (cause, else a wrapped original, else context)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < _MAX_CHAIN and not any(current is s for s in seen):
        seen.append(current)
        wrapped = [a for a in current.args if isinstance(a, BaseException)]
        if current.__cause__ is not None:
            current = current.__cause__
        elif wrapped:
            # httpcore raises ``ReadError(original)``, and on some paths the ``from`` link is
            # lost on the way up, so the wrapped original is the only way to the root cause.
            current = wrapped[0]
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return seen


def _own_reason(exc: BaseException) -> str | None:
    """The reason this exception alone stands for, or None when only its cause can tell."""
    if isinstance(exc, BaseExceptionGroup):
        reasons = [reason_for(e) for e in exc.exceptions]
        known = [r for r in reasons if r != "probe_error"]
        if not known:
            return None
        # Several connection attempts (IPv6 and IPv4) can fail differently; when they do not
        # agree the first attempt's reason is as good as any, and it is what the user sees first.
        return known[0]
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _TLS_BY_VERIFY_CODE.get(exc.verify_code, "tls_invalid")
    if isinstance(exc, ssl.SSLError):
        return "tls_invalid"
    if isinstance(exc, socket.gaierror):
        return _GAI.get(exc.errno or 0, "dns_servfail")
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, OSError):
        return _ERRNO.get(exc.errno or 0) if exc.errno else _os_class_reason(exc)
    if isinstance(exc, httpx.TooManyRedirects):
        return "too_many_redirects"
    if isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc):
        # h11 saw the peer close before a status line: the server dropped the request,
        # which an operator reads as a reset, not as "speaks something that is not HTTP".
        return "connection_reset"
    if isinstance(exc, httpx.ProtocolError | httpx.DecodingError | httpx.UnsupportedProtocol):
        return "protocol_error"
    if isinstance(exc, dns.exception.DNSException):
        return _dns_reason(exc)
    return None


def _os_class_reason(exc: OSError) -> str | None:
    """Reason for an OSError raised without an errno (some libraries do that)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "connection_reset"
    return None


def _dns_reason(exc: dns.exception.DNSException) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN | dns.resolver.NoAnswer):
        return "dns_nxdomain"
    if isinstance(exc, dns.exception.Timeout):
        return "dns_timeout"
    return "dns_servfail"
