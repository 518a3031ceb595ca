"""A bare leafnode connection for security tests: it speaks the wire protocol itself (TLS, CONNECT,
LS+, LMSG), so what it sends is checked only by the server it connects to. A real nats-server as
the attacking leaf would filter its own traffic by the permissions its hub tells it, and the
test would then prove nothing about the hub."""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path


class LeafRefused(Exception):
    """The server refused the connection (TLS, authentication) before it was established."""


@dataclass
class Frame:
    op: str
    subject: str = ""
    reply: str = ""
    payload: bytes = b""
    text: str = ""


class RawLeaf:
    def __init__(
        self,
        port: int,
        *,
        cert: Path | None,
        key: Path | None,
        ca: Path,
        tls: bool = True,
        host: str = "127.0.0.1",
        timeout: float = 5.0,
    ) -> None:
        self.buffer = b""
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.settimeout(timeout)
        self.sock: socket.socket | ssl.SSLSocket = raw
        try:
            info = self._line()
            if not info.startswith(b"INFO "):
                raise LeafRefused(f"no INFO: {info!r}")
            if tls:
                context = ssl.create_default_context(cafile=str(ca))
                context.minimum_version = ssl.TLSVersion.TLSv1_3
                if cert is not None and key is not None:
                    context.load_cert_chain(str(cert), str(key))
                self.sock = context.wrap_socket(raw, server_hostname=host)
            connect = {"name": "attacker", "headers": True, "protocol": 1, "version": "2.15.1"}
            self._send(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                frame = self.next_frame(timeout)
                if frame is None:
                    break
                if frame.op == "PONG":
                    return
                if frame.op == "-ERR":
                    raise LeafRefused(frame.text)
            raise LeafRefused("no PONG")
        except (OSError, ssl.SSLError) as exc:
            self.close()
            raise LeafRefused(f"{type(exc).__name__}: {exc}") from exc
        except LeafRefused:
            self.close()
            raise

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def next_frame(self, timeout: float) -> Frame | None:
        """The next protocol frame (PINGs answered), or None if the server closed or was quiet."""
        self.sock.settimeout(timeout)
        try:
            while True:
                line = self._line()
                op, _, rest = line.decode().partition(" ")
                if op == "PING":
                    self._send(b"PONG\r\n")
                    continue
                if op in ("LMSG", "HMSG"):
                    args = rest.split()
                    size = int(args[-1])
                    payload = self._exactly(size)
                    reply = args[1] if len(args) == (3 if op == "LMSG" else 4) else ""
                    return Frame(op, subject=args[0], reply=reply, payload=payload)
                return Frame(op, text=rest)
        except TimeoutError:
            return None
        except (ConnectionError, OSError, ssl.SSLError):
            return None

    def subscribe(self, subject: str) -> None:
        self._send(f"LS+ {subject}\r\n".encode())

    def publish(self, subject: str, payload: bytes = b"", reply: str = "") -> None:
        args = f"{subject} {reply}" if reply else subject
        head = f"LMSG {args} {len(payload)}"
        self._send(head.encode() + b"\r\n" + payload + b"\r\n")

    def request(
        self, subject: str, inbox_prefix: str, payload: bytes = b"", timeout: float = 3.0
    ) -> Frame | None:
        """Publish with a reply subject this connection listens on; the first answer, an -ERR
        (the server refusing), or None."""
        inbox = f"{inbox_prefix}.attacker.{time.monotonic_ns()}"
        self.subscribe(inbox)
        self.publish(subject, payload, reply=inbox)
        return self.wait_for(lambda f: f.subject == inbox or f.op == "-ERR", timeout)

    def wait_for(self, match: object, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = self.next_frame(left)
            if frame is None:
                return None
            if callable(match) and match(frame):
                return frame
        return None

    def round_trip(self, timeout: float = 5.0) -> None:
        """PING and wait for the PONG: the server has processed everything sent before it."""
        self._send(b"PING\r\n")
        if self.wait_for(lambda f: f.op == "PONG", timeout) is None:
            raise AssertionError("no PONG from the server")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
