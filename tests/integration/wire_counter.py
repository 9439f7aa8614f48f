"""A TCP proxy in front of the embedded server that records the Query messages each client connection sends.

A simple-query message is one round trip: the client sends it and waits for ReadyForQuery. Counting
them on the wire counts what the driver really sent, whatever Python code sent it.
"""
from __future__ import annotations

import copy
import socket
import threading

from pilotscope.PilotConfig import PostgreSQLConfig

_PRE_STARTUP_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest: untyped, before the startup message


class WireCounter:
    """Forwards connections to (host, port); `messages[i]` is the text of every Query message connection i sent."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.messages: list[list[str]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def proxied(self, config: PostgreSQLConfig) -> PostgreSQLConfig:
        """A copy of `config` whose connections go through this proxy (in clear, so messages can be read)."""
        real = config.connection_kwargs
        proxied = copy.copy(config)
        proxied.connection_kwargs = lambda dbname=None: {**real(dbname), "host": "127.0.0.1", "port": self.port,
                                                         "sslmode": "disable", "gssencmode": "disable"}
        return proxied

    def clear(self) -> None:
        for sent in self.messages:
            sent.clear()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(self.upstream)
            sent: list[str] = []
            self.messages.append(sent)
            threading.Thread(target=_pump, args=(server, client), daemon=True).start()
            threading.Thread(target=self._read_client, args=(client, server, sent), daemon=True).start()

    @staticmethod
    def _read_client(client: socket.socket, server: socket.socket, sent: list[str]) -> None:
        buffer, started = b"", False
        while data := _recv(client):  # recorded before forwarding: a reply never comes before its message is seen
            buffer += data
            while True:
                if not started:  # untyped: length, then a request code
                    if len(buffer) < 8 or len(buffer) < int.from_bytes(buffer[:4], "big"):
                        break
                    started = int.from_bytes(buffer[4:8], "big") not in _PRE_STARTUP_REQUESTS
                    buffer = buffer[int.from_bytes(buffer[:4], "big"):]
                    continue
                if len(buffer) < 5 or len(buffer) < 1 + int.from_bytes(buffer[1:5], "big"):
                    break
                end = 1 + int.from_bytes(buffer[1:5], "big")
                if buffer[:1] == b"Q":
                    sent.append(buffer[5:end].rstrip(b"\0").decode())
                buffer = buffer[end:]
            server.sendall(data)
        server.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _pump(source: socket.socket, destination: socket.socket) -> None:
    while data := _recv(source):
        try:
            destination.sendall(data)
        except OSError:
            break
    destination.close()
