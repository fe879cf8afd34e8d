"""h11 with modellock's receive-buffer change parses every message exactly as before, however reads split it."""

from __future__ import annotations

import h11
import pytest

from modellock.download import reads

BODY = bytes(range(256)) * 40
PLAIN = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
TWO = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndefg"


def _events(message: bytes, step: int, responses: int = 1) -> list[tuple[str, bytes]]:
    """What h11 makes of `message` fed `step` bytes a read (as `bytes`, like a socket read)."""
    conn = h11.Connection(h11.CLIENT)
    out: list[tuple[str, bytes]] = []
    fed = 0
    for n in range(responses):
        if n:
            conn.start_next_cycle()
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(message[fed : fed + step]))
                fed += step
                continue
            if isinstance(event, h11.Data):
                out.append(("data", bytes(event.data)))
            elif isinstance(event, h11.Response):
                out.append(("response", str(event.status_code).encode()))
            elif isinstance(event, h11.EndOfMessage):
                out.append(("end", b""))
                break
    return out


def _joined(events: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Events with adjacent data merged: how reads split a body is not part of what it means."""
    merged: list[tuple[str, bytes]] = []
    for kind, value in events:
        if kind == "data" and merged and merged[-1][0] == "data":
            merged[-1] = ("data", merged[-1][1] + value)
        else:
            merged.append((kind, value))
    return merged


@pytest.mark.parametrize(
    ("message", "responses", "expected"),
    [
        (PLAIN, 1, [("response", b"200"), ("data", BODY), ("end", b"")]),
        (CHUNKED, 1, [("response", b"200"), ("data", b"hello world"), ("end", b"")]),
        (
            TWO,
            2,
            [
                ("response", b"206"),
                ("data", b"abc"),
                ("end", b""),
                ("response", b"200"),
                ("data", b"defg"),
                ("end", b""),
            ],
        ),
    ],
)
@pytest.mark.parametrize("step", [1, 2, 7, 40, 1000, 4096, 10**6])
def test_messages_parse_the_same_with_the_buffer_change(
    message: bytes, responses: int, expected: list[tuple[str, bytes]], step: int
) -> None:
    reads.install()
    assert _joined(_events(message, step, responses)) == expected


def test_a_body_read_is_handed_out_without_a_copy() -> None:
    reads.install()
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    assert isinstance(conn.next_event(), h11.Response)
    assert conn.next_event() is h11.NEED_DATA
    piece = bytes(50_000)
    conn.receive_data(piece)
    event = conn.next_event()
    assert isinstance(event, h11.Data) and event.data is piece
