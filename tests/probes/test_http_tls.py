"""HTTPS probe against real TLS servers with trustme certificates (FAULTS.md row 5)."""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from agent.core.errors import ConfigError
from agent.core.model import Outcome
from tests.probes.conftest import EXPIRED_AT, HttpTarget
from tests.probes.support import make_probe, probe_once, run_probe


def https(target: HttpTarget, **fields: object) -> dict[str, object]:
    return {"type": "http", "url": f"{target.base}/", **fields}


def test_trusted_certificate_passes_with_ca_file_and_exports_expiry(
    good_tls: HttpTarget, ca_file: Path
) -> None:
    result = probe_once(https(good_tls, ca_file=str(ca_file)))
    assert (result.outcome, result.status_code) == (Outcome.UP, 200)
    assert result.tls_expiry is not None
    # trustme's default leaf lives until 2038 or so; it is in the future and aware UTC.
    assert result.tls_expiry > datetime.now(UTC) + timedelta(days=365)
    assert result.tls_expiry.tzinfo is not None


def test_unknown_ca_fails_self_signed_by_default_but_still_exports_expiry(
    good_tls: HttpTarget,
) -> None:
    result = probe_once(https(good_tls))  # system trust store: trustme's CA is not in it
    assert (result.outcome, result.reason) == (Outcome.DOWN, "tls_self_signed")
    assert result.tls_expiry is not None


def test_self_signed_certificate_fails_tls_self_signed(self_signed_tls: HttpTarget) -> None:
    result = probe_once(https(self_signed_tls))
    assert (result.outcome, result.reason) == (Outcome.DOWN, "tls_self_signed")


def test_expired_certificate_fails_tls_expired_with_its_past_expiry(
    expired_tls: HttpTarget, ca_file: Path
) -> None:
    result = probe_once(https(expired_tls, ca_file=str(ca_file)))
    assert (result.outcome, result.reason) == (Outcome.DOWN, "tls_expired")
    # The expiry comes from a second, unverified handshake and is the cert's notAfter.
    assert result.tls_expiry == EXPIRED_AT


def test_certificate_for_another_host_fails_tls_hostname(
    wrong_host_tls: HttpTarget, ca_file: Path
) -> None:
    result = probe_once(https(wrong_host_tls, ca_file=str(ca_file)))
    assert (result.outcome, result.reason) == (Outcome.DOWN, "tls_hostname")
    assert result.tls_expiry is not None


def test_wrong_host_by_name_fails_tls_hostname(wrong_host_tls: HttpTarget, ca_file: Path) -> None:
    # By name the mismatch is X509 error 62 (hostname), by IP address it is 64.
    url = f"https://localhost:{wrong_host_tls.port}/"
    result = probe_once({"type": "http", "url": url, "ca_file": str(ca_file)})
    # localhost may resolve to ::1 first, where nothing listens: httpx falls back to 127.0.0.1.
    assert (result.outcome, result.reason) == (Outcome.DOWN, "tls_hostname")


def test_tls_verify_false_passes_expired_cert_and_warns_once(
    expired_tls: HttpTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pantau.probes")
    probe = make_probe(https(expired_tls, tls_verify=False, name="legacy-portal"))
    results = run_probe(probe, times=3)
    assert [r.outcome for r in results] == [Outcome.UP] * 3
    assert all(r.tls_expiry == EXPIRED_AT for r in results)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per probe object, not once per run
    assert "legacy-portal" in warnings[0].getMessage()
    assert "tls_verify" in warnings[0].getMessage()


def test_ca_file_of_another_ca_does_not_trust_the_server(
    good_tls: HttpTarget, tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = probe_once(https(good_tls, ca_file=str(other)))
    assert result.reason == "tls_self_signed"


def test_expiry_matches_the_served_certificate(good_tls: HttpTarget) -> None:
    # Read the served certificate's notAfter independently of the probe.
    pem = ssl.get_server_certificate(("127.0.0.1", good_tls.port))
    expected = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc
    result = probe_once(https(good_tls, tls_verify=False))
    assert result.tls_expiry == expected


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_unreadable_ca_file_is_a_config_error(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match="ca_file"):
        make_probe({"type": "http", "url": "https://127.0.0.1:1/", "ca_file": str(path)})
