"""Server-sent events: split a byte stream into whole events without copying more than needed."""

from collections.abc import Iterator


class EventSplitter:
    """Feed arbitrary chunks; get back complete raw events (each ending in a blank line)."""

    __slots__ = ("_after_cr", "_buffer")

    def __init__(self) -> None:
        self._buffer = b""
        self._after_cr = False  # the last chunk ended in CR: a LF opening the next is its pair

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._after_cr:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        # find(), not `in`: bytes.__contains__ first tries the needle as an int and builds
        # (then drops) a TypeError, ~2k instructions on every read of every stream.
        if chunk.find(b"\r") >= 0:
            # CRLF and a lone CR both end a line (the SSE spec allows all three). Only new
            # bytes are rewritten, so the result cannot depend on where chunks were cut.
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        data = self._buffer + chunk if self._buffer else chunk
        first = data.find(b"\n\n")
        if first < 0:
            self._buffer = data
            return []
        if first == len(data) - 2:
            self._buffer = b""
            return [data]  # the usual chunk: one whole event, passed on uncopied
        # split() cuts at the same leftmost blank lines as a find() loop would
        *events, self._buffer = data.split(b"\n\n")
        return [event + b"\n\n" for event in events]

    def remainder(self) -> bytes:
        return self._buffer


def data_lines(event: bytes) -> Iterator[bytes]:
    """The payloads of an event's `data:` fields."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            yield line[6:] if line[5:6] == b" " else line[5:]


def encode_data(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


DONE = b"data: [DONE]\n\n"
