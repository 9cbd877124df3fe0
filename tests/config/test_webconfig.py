"""agent.config.webconfig: exporter-toolkit web config (TLS, basic auth), FAULTS row 28."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import threading
from pathlib import Path

import bcrypt
import pytest
import trustme

from agent.config.webconfig import WebConfig, load_web_config, parse_web_config
from agent.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = b"rahasia-prometheus"
# Cost 4 keeps the tests fast; the behaviour does not depend on the cost.
HASH = bcrypt.hashpw(PASSWORD, bcrypt.gensalt(4)).decode()


def basic(user: bytes, password: bytes) -> str:
    return "Basic " + base64.b64encode(user + b":" + password).decode()


@pytest.fixture
def auth() -> WebConfig:
    return parse_web_config(f"basic_auth_users:\n  prometheus: {HASH}\n", "web.yml")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_dir(tmp_path: Path, ca: trustme.CA) -> Path:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    (tmp_path / "tls").mkdir()
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls" / "pantau.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "tls" / "pantau.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "tls" / "ca.crt"))
    return tmp_path


def test_right_user_and_password_pass(auth: WebConfig) -> None:
    assert auth.check_basic_auth(basic(b"prometheus", PASSWORD))
    assert auth.check_basic_auth(basic(b"prometheus", PASSWORD))  # second time from the cache
    assert auth.check_basic_auth("basic " + basic(b"prometheus", PASSWORD)[6:])  # scheme case


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        basic(b"prometheus", b"salah"),  # wrong password
        basic(b"prometheus", b""),  # empty password
        basic(b"mallory", PASSWORD),  # unknown user
        basic(b"prometheus", b"x" * 100),  # 100 bytes: bcrypt 5 raises ValueError (FAULTS 28)
        basic(b"prometheus", PASSWORD + b"x" * 60),  # right prefix, 78 bytes
        basic(b"\xff\xfe", PASSWORD),  # user name not UTF-8
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic ñ",  # non-ASCII in the header
        "Bearer " + base64.b64encode(b"prometheus:" + PASSWORD).decode(),
        basic(b"prometheus", PASSWORD)[:-2],  # truncated base64
    ],
    ids=["missing", "blank", "wrong", "empty", "unknown-user", "100-bytes", "78-bytes",
         "non-utf8-user", "no-token", "bad-base64", "no-colon", "non-ascii", "bearer",
         "truncated"],
)  # fmt: skip
def test_bad_credentials_give_false_never_an_exception(auth: WebConfig, header: str | None) -> None:
    assert auth.check_basic_auth(header) is False


def test_a_cached_success_does_not_let_a_wrong_password_in(auth: WebConfig) -> None:
    assert auth.check_basic_auth(basic(b"prometheus", PASSWORD))
    assert not auth.check_basic_auth(basic(b"prometheus", PASSWORD + b"!"))


def test_unknown_users_still_cost_one_bcrypt_check(
    auth: WebConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return bool(real(password, hashed))

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    assert not auth.check_basic_auth(basic(b"mallory", PASSWORD))
    assert not auth.check_basic_auth(basic(b"prometheus", b"y" * 100))
    assert len(calls) == 2  # one decoy check each, so timing does not reveal who exists
    assert calls[0].startswith(b"$2b$04$")  # the decoy uses the configured cost


def test_no_users_means_no_authentication_required() -> None:
    config = parse_web_config("{}", "web.yml")
    assert not config.auth_required
    assert config.check_basic_auth(None)
    assert config.ssl_context() is None


def test_load_errors_name_file_line_and_key() -> None:
    text = (
        "tls_server_config:\n"
        "  cert_file: a.crt\n"
        "  key_fiel: a.key\n"
        "  min_version: TLS15\n"
        "basic_auth_users:\n"
        "  prometheus: rahasia\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_web_config(text, "web.yml")
    lines = str(err.value).splitlines()
    assert lines[0].startswith("web.yml:3:3 tls_server_config.key_fiel: unknown key")
    assert lines[1].startswith("web.yml:4:3 tls_server_config.min_version:")
    assert lines[2].startswith("web.yml:6:3 basic_auth_users.prometheus: not a bcrypt hash")
    assert "rahasia" not in str(err.value)  # the (wrongly placed) password is not echoed


def test_cross_field_rules_are_located(tls_dir: Path) -> None:
    text = (
        "tls_server_config:\n"
        "  cert_file: tls/pantau.crt\n"
        "  key_file: tls/pantau.key\n"
        "  client_auth_type: RequireAnyClientCert\n"
        "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
        "http_server_config:\n"
        "  headers: {X-Frame-Options: allow, Server: pantau}\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_web_config(text, "web.yml", base_dir=tls_dir)
    message = str(err.value)
    assert "web.yml:4:3 tls_server_config.client_auth_type: not supported" in message
    assert "web.yml:5:3 tls_server_config.cipher_suites: not supported" in message
    assert "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin" in message
    assert "http_server_config.headers.Server: header 'Server' cannot be set" in message


def test_missing_certificate_file_is_a_load_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    with pytest.raises(ConfigError) as err:
        load_web_config(path)
    assert str(err.value).startswith(f"{path}:2:3 tls_server_config.cert_file: cannot load")


def test_key_without_certificate_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"tls_server_config\.cert_file: required: one of cert"):
        parse_web_config("tls_server_config:\n  key_file: a.key\n", "web.yml")


def _serve_once(ctx: ssl.SSLContext) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass  # a refused client handshake ends here

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def test_tls_context_serves_a_trustme_certificate(tls_dir: Path, ca: trustme.CA) -> None:
    path = tls_dir / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: tls/pantau.crt\n  key_file: tls/pantau.key\n"
                    "  min_version: TLS13\n")  # fmt: skip
    ctx = load_web_config(path).ssl_context()
    assert ctx is not None
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    port, thread = _serve_once(ctx)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.3"
        assert tls.recv(2) == b"ok"
    thread.join(timeout=10)


def test_mutual_tls_refuses_a_client_without_certificate(tls_dir: Path, ca: trustme.CA) -> None:
    path = tls_dir / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: tls/pantau.crt\n  key_file: tls/pantau.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: tls/ca.crt\n"
    )
    ctx = load_web_config(path).ssl_context()
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    port, thread = _serve_once(ctx)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    # The refusal surfaces on the first read after the client handshake.
    with (
        pytest.raises((ssl.SSLError, ConnectionResetError)),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.recv(2)
    thread.join(timeout=10)


def test_inline_certificate_and_key_work(ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost")
    pem = cert.cert_chain_pems[0].bytes().decode()
    key = cert.private_key_pem.bytes().decode()

    def indent(block: str) -> str:
        return "\n".join("    " + line for line in block.splitlines())

    text = f"tls_server_config:\n  cert: |\n{indent(pem)}\n  key: |\n{indent(key)}\n"
    assert parse_web_config(text, "web.yml").ssl_context() is not None


def test_rate_limit_is_a_token_bucket() -> None:
    config = parse_web_config("rate_limit: {interval: 1s, burst: 2}", "web.yml")
    # burst 2 at t=0, refilled one token per second.
    assert [config.allow_request(0.0) for _ in range(3)] == [True, True, False]
    assert config.allow_request(1.0)
    assert not config.allow_request(1.5)


def test_example_file_loads_and_its_hash_matches_the_documented_password(
    tmp_path: Path, tls_dir: Path
) -> None:
    shutil.copy(ROOT / "config" / "web-config.example.yml", tls_dir / "web.yml")
    config = load_web_config(tls_dir / "web.yml")
    assert config.tls_enabled
    assert config.response_headers == {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "deny",
    }
    assert config.check_basic_auth(basic(b"prometheus", b"ganti-saya"))
