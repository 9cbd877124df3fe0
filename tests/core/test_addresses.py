"""``host:port`` as the katalog writes it: one reading for the config, the listener and probes."""

from __future__ import annotations

import pytest

from agent.core.addresses import HOST_PORT_HINT, is_ip, split_host_port


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9717", ("127.0.0.1", 9717)),
        ("0.0.0.0:9717", ("0.0.0.0", 9717)),
        ("[::1]:9717", ("::1", 9717)),  # the brackets go, the port follows the last colon
        ("db.example:5432", ("db.example", 5432)),
        ("host:65535", ("host", 65535)),
    ],
)
def test_host_and_port_are_split_at_the_last_colon(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address) == expected


@pytest.mark.parametrize("address", ["9717", ":9717", "host:", "host:http", "host:0", "h:65536"])
def test_anything_but_host_and_port_is_refused_with_an_example(address: str) -> None:
    with pytest.raises(ValueError, match="must be host:port") as info:
        split_host_port(address)
    assert str(info.value) == HOST_PORT_HINT


def test_ip_literals_are_told_from_names() -> None:
    assert is_ip("192.0.2.1")
    assert is_ip("2001:db8::1")
    assert not is_ip("db.example")
    assert not is_ip("[::1]")
