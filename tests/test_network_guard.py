"""The suite cannot reach beyond loopback: pytest-socket refuses any other address."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


@pytest.mark.parametrize("address", [("93.184.215.14", 80), ("10.0.0.1", 443), ("192.168.1.1", 80)])
def test_non_loopback_connections_are_refused(address: tuple[str, int]) -> None:
    with socket.socket() as sock, pytest.raises(SocketConnectBlockedError):
        sock.connect(address)


def test_loopback_is_allowed() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with socket.create_connection(server.getsockname(), timeout=1) as client:
        assert client.getpeername() == server.getsockname()
    server.close()
