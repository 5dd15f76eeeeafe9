"""A MySQL-protocol proxy that lets the local MariaDB answer Azure's Entra-only MySQL statements.

Azure Database for MySQL flexible server accepts three things MariaDB cannot parse or answer the
same way, and the product sends exactly these:

- ``SET aad_auth_validate_oids_in_tenant = OFF`` (a server variable only Azure has);
- ``CREATE AADUSER '<name>' IDENTIFIED BY '<client id>'``;
- ``SELECT User, plugin, authentication_string FROM mysql.user WHERE [User = '<name>' AND] Host = '%'``
  (one user, or all of them for the audit), whose rows Azure fills with ``aad_auth`` and
  ``AADSP:<client id>:upn:<name>`` for such users.

The proxy sits between the client and MariaDB (a thread per direction per connection). Bytes from
the server go back untouched. Packets from the client (3-byte length, sequence id, payload) are
parsed: a ``COM_QUERY`` holding one of the statements above is rewritten into its local
equivalent from ``emulator/mysql_local.py`` (a user variable, a procedure call, a view); every
other packet is forwarded as it came. String literals are carried over byte for byte, so a name
is exactly as hostile locally as it would be on Azure.

Logins: Azure checks the Entra token the client sends as its password; MariaDB cannot. As the
local PostgreSQL trusts local logins, the proxy drops the password from the login packets, and
every account the local set-up makes has none: a user logs in by name, and no token reaches
MariaDB. TLS is not spoken locally (the catalog's ``tls: disable``); a client that asks for it,
or for compression, gets its bytes forwarded verbatim without any rewriting.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from collections.abc import Callable
from io import BufferedReader
from types import TracebackType

from emulator.mysql_local import BINDING_VIEW, CREATE_PROCEDURE, VALIDATION_VARIABLE

__all__ = ["MysqlShimProxy", "rewrite_query"]

_log = logging.getLogger(__name__)

COM_QUERY = 0x03
_MAX_PAYLOAD = 0xFFFFFF  # a payload this long continues in the next packet
_CLIENT_COMPRESS = 0x20
_CLIENT_PROTOCOL_41 = 0x200
_CLIENT_SSL = 0x800
_CLIENT_SECURE_CONNECTION = 0x8000
_CLIENT_PLUGIN_AUTH_LENENC = 0x200000
_LOGIN_FIXED = 32  # capabilities, max packet size, charset, 23 reserved bytes

# A string literal as client libraries write it: backslash escapes, or doubled quotes under
# NO_BACKSLASH_ESCAPES. The alternatives are disjoint, so matching stays linear.
_LITERAL = rb"'(?:[^'\\]|\\.|'')*'"
_FLAGS = re.IGNORECASE | re.DOTALL
_SET_VALIDATION = re.compile(rb"\s*SET\s+aad_auth_validate_oids_in_tenant\s*=\s*OFF\s*;?\s*", _FLAGS)
_CREATE_AADUSER = re.compile(
    rb"\s*CREATE\s+AADUSER\s+(" + _LITERAL + rb")\s+IDENTIFIED\s+BY\s+(" + _LITERAL + rb")\s*;?\s*", _FLAGS
)
_READ_BINDING = re.compile(
    rb"(\s*SELECT\s+User\s*,\s*plugin\s*,\s*authentication_string\s+FROM\s+)mysql\.user"
    rb"(\s+WHERE\s+(?:User\s*=\s*" + _LITERAL + rb"\s+AND\s+)?Host\s*=\s*'%'\s*;?\s*)",
    _FLAGS,
)
_REWRITES: tuple[tuple[re.Pattern[bytes], Callable[[re.Match[bytes]], bytes]], ...] = (
    (_SET_VALIDATION, lambda m: b"SET @" + VALIDATION_VARIABLE.encode() + b" = 'OFF'"),
    (_CREATE_AADUSER, lambda m: b"CALL " + CREATE_PROCEDURE.encode() + b"(" + m[1] + b", " + m[2] + b")"),
    (_READ_BINDING, lambda m: m[1] + BINDING_VIEW.encode() + m[2]),
)


def rewrite_query(query: bytes) -> bytes:
    """The local statement for one of Azure's Entra statements; any other query unchanged."""
    for pattern, local in _REWRITES:
        match = pattern.fullmatch(query)
        if match:
            return local(match)
    return query


def _without_password(login: bytes) -> bytes:
    """A HandshakeResponse41 with an empty auth response; anything else unchanged."""
    capabilities = int.from_bytes(login[:4], "little")
    if not capabilities & _CLIENT_PROTOCOL_41 or len(login) <= _LOGIN_FIXED:
        return login
    start = login.index(b"\0", _LOGIN_FIXED) + 1  # after the NUL-terminated user name
    if capabilities & _CLIENT_PLUGIN_AUTH_LENENC:
        length, size = _lenenc(login, start)
        end = start + size + length
    elif capabilities & _CLIENT_SECURE_CONNECTION:
        end = start + 1 + login[start]
    else:
        end = login.index(b"\0", start) + 1
    # An empty response is one zero byte in all three encodings (length 0, or the terminator).
    return login[:start] + b"\0" + login[end:]


def _lenenc(data: bytes, at: int) -> tuple[int, int]:
    """(value, bytes used) of a length-encoded integer."""
    first = data[at]
    widths = {0xFC: 2, 0xFD: 3, 0xFE: 8}
    if first not in widths:
        return first, 1
    width = widths[first]
    return int.from_bytes(data[at + 1 : at + 1 + width], "little"), 1 + width


def _packet(sequence: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


class _Connection:
    """One client connection and its upstream connection, pumped by two threads."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self._running = 2
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client_to_server, name="mysql-shim-up", daemon=True),
            threading.Thread(target=self._server_to_client, name="mysql-shim-down", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def shutdown(self) -> None:
        """Wake both threads; the last one to finish closes the sockets."""
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _finished(self) -> None:
        self.shutdown()
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.client.close()
            self.upstream.close()

    def _server_to_client(self) -> None:
        try:
            while data := self.upstream.recv(65536):
                self.client.sendall(data)
        except OSError:
            pass  # either side went away
        finally:
            self._finished()

    def _client_to_server(self) -> None:
        try:
            with self.client.makefile("rb") as reader:
                self._pump(reader)
        except OSError:
            pass
        finally:
            self._finished()

    def _pump(self, reader: BufferedReader) -> None:
        """Login packets lose their password; commands (sequence 0) may be rewritten."""
        logged_in = False
        while True:
            header = reader.read(4)
            if len(header) < 4:
                return
            length, sequence = int.from_bytes(header[:3], "little"), header[3]
            payload = reader.read(length)
            if len(payload) < length:
                return
            if not logged_in and sequence != 0:
                capabilities = int.from_bytes(payload[:4], "little") if sequence == 1 else 0
                if capabilities & (_CLIENT_SSL | _CLIENT_COMPRESS):
                    self.upstream.sendall(header + payload)
                    self._forward_raw(reader)
                    return
                payload = _without_password(payload) if sequence == 1 else b""
                self.upstream.sendall(_packet(sequence, payload))
                continue
            logged_in = True
            if sequence == 0 and length < _MAX_PAYLOAD and payload[:1] == bytes([COM_QUERY]):
                payload = payload[:1] + rewrite_query(payload[1:])
                if len(payload) < _MAX_PAYLOAD:
                    self.upstream.sendall(_packet(sequence, payload))
                    continue
            self.upstream.sendall(header + payload)

    def _forward_raw(self, reader: BufferedReader) -> None:
        while data := reader.read1(65536):
            self.upstream.sendall(data)


class MysqlShimProxy:
    """Listens on ``host:port`` (an ephemeral port by default) and forwards to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.05)  # so the accept loop notices stop() promptly
        self.host: str = self._listener.getsockname()[0]
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="mysql-shim-accept", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, upstream: tuple[str, int] = ("127.0.0.1", 3306), *, host: str = "127.0.0.1") -> MysqlShimProxy:
        """Serve from background threads until ``stop()``; ``.port`` is where clients connect."""
        return cls(upstream, host=host)

    def stop(self) -> None:
        """Stop listening, cut every connection, and return once no proxy thread is left."""
        self._stopping.set()
        self._thread.join()
        self._listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.shutdown()
        for connection in connections:
            for thread in connection.threads:
                thread.join()

    def __enter__(self) -> MysqlShimProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError as error:
                _log.warning("MySQL shim proxy: upstream %s:%s unreachable: %s", *self.upstream, error)
                client.close()  # the client sees a lost connection, as with a server that is down
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections = [c for c in self._connections if any(t.is_alive() for t in c.threads)]
                self._connections.append(_Connection(client, upstream))
