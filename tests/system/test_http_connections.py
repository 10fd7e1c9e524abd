"""Keep-alive connections stay in step when firebox answers before reading a request's body.

Raw sockets: an HTTP client library would hide exactly what is tested (which bytes are sent
when, whether the server closes).
"""

from __future__ import annotations

import socket

from support import FireboxServer


class RawConnection:
    """One TCP connection, read one whole HTTP/1.1 response at a time."""

    def __init__(self, server: FireboxServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buffer += data

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """The next response (status, headers, body); interim 1xx responses are returned too."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        pairs = (line.partition(":") for line in lines[1:])
        headers = {name.strip().lower(): value.strip() for name, _, value in pairs}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed(self) -> bool:
        """Whether the server has closed its end (EOF with nothing left unread)."""
        try:
            self._fill()
        except EOFError:
            return not self.buffer
        return False

    def close(self) -> None:
        self.sock.close()


HEALTH = b"GET /_firebox/health HTTP/1.1\r\nHost: x\r\n\r\n"


def test_an_early_answer_to_expect_continue_closes_the_connection(server: FireboxServer) -> None:
    """The client was never told to send its body and will not: the server must not wait for
    it, nor read the client's next request as that body."""
    conn = RawConnection(server)
    try:
        conn.send(b"PUT /no-such-bucket/key HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n"
                  b"Expect: 100-continue\r\n\r\n")  # fmt: skip
        status, headers, _ = conn.response()
        assert status == 404
        assert headers["connection"] == "close"
        assert conn.closed()
    finally:
        conn.close()
    again = RawConnection(server)
    try:
        again.send(HEALTH)
        assert again.response()[0] == 200
    finally:
        again.close()


def test_expect_continue_read_by_the_app_keeps_the_connection(server: FireboxServer) -> None:
    conn = RawConnection(server)
    try:
        body = b'{"not": "a function"}'
        conn.send(b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")  # fmt: skip
        assert conn.response()[0] == 100  # told to go ahead: the app reads the body
        conn.send(body)
        status, headers, _ = conn.response()
        assert status == 400 and headers["x-amzn-errortype"]
        assert headers.get("connection") != "close"
        conn.send(HEALTH)
        assert conn.response()[0] == 200  # the same connection, in step
    finally:
        conn.close()


def test_a_body_sent_after_an_early_answer_is_discarded(server: FireboxServer) -> None:
    """Without Expect the client sends its body whatever the answer: the server must skip it,
    and answer the next request on the connection as that request."""
    conn = RawConnection(server)
    try:
        body = b"GET /_firebox/nothing HTTP/1.1\r\n\r\n"  # looks like a request: must not be one
        conn.send(b"PUT /no-such-bucket/key HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")  # fmt: skip
        assert conn.response()[0] == 404
        conn.send(body + HEALTH)
        status, _, health = conn.response()
        assert status == 200 and b"sandbox" in health
    finally:
        conn.close()
