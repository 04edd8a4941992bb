"""Property tests of the SSE splitter: any chunking of a stream (down to single bytes, through
multi-byte characters) yields the events of the unsplit stream, and their data is what the
SSE spec says it is."""

import re
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.wire.sse import EventSplitter, data_lines

FAST = settings(max_examples=150, deadline=None, derandomize=True)

# Field values: any text without line breaks, multi-byte characters included.
_values = st.text(st.characters(codec="utf-8", blacklist_characters="\r\n"), max_size=16)
_field = st.one_of(
    st.tuples(st.just("data"), _values),
    st.tuples(st.sampled_from(["event", "id"]), _values),
    st.tuples(st.just(""), _values),  # a comment line, ": ..."
)
_events = st.lists(st.lists(_field, min_size=1, max_size=4), max_size=6)


def _line(name: str, value: str, spaced: bool) -> str:
    return f"{name}:{' ' if spaced else ''}{value}"


@st.composite
def sse_streams(draw: st.DrawFn, endings: tuple[str, ...]) -> bytes:
    """Events of fields, each line ended by one of `endings`, each event by a blank line, and
    maybe an unfinished event at the end."""
    out = []
    for fields in draw(_events):
        for name, value in fields:
            out.append(_line(name, value, draw(st.booleans())) + draw(st.sampled_from(endings)))
        out.append(draw(st.sampled_from(endings)))
    if draw(st.booleans()):
        out.append(_line("data", draw(_values), True))
    return "".join(out).encode()


def split_points(data_size: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, data_size), max_size=20)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(points)), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def split(chunks: list[bytes]) -> tuple[list[bytes], bytes]:
    splitter = EventSplitter()
    events = [event for chunk in chunks for event in splitter.feed(chunk)]
    return events, splitter.remainder()


def payloads(events: list[bytes]) -> list[bytes]:
    """The data of each event that has any, as the decoders read it."""
    return [b"\n".join(data_lines(e)) for e in events if any(True for _ in data_lines(e))]


def spec_payloads(stream: bytes) -> list[bytes]:
    """The SSE spec's reading: lines end in CRLF, LF or CR; a blank line dispatches the data
    fields gathered so far (value after `data:`, one leading space dropped), joined by LF."""
    out, data = [], []
    for line in re.split(rb"\r\n|\r|\n", stream)[:-1]:  # the last piece is an unended line
        if not line:
            if data:
                out.append(b"\n".join(data))
            data = []
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    return out


@FAST
@given(data=st.data(), stream=sse_streams(("\n", "\r\n")))
def test_any_chunking_yields_the_events_of_the_whole_stream(data, stream):
    whole = split([stream])
    assert split(cut(stream, data.draw(split_points(len(stream))))) == whole
    assert split([stream[i : i + 1] for i in range(len(stream))]) == whole
    events, rest = whole
    assert b"".join(events) + rest == stream.replace(b"\r\n", b"\n")


@FAST
@given(stream=sse_streams(("\n", "\r\n")))
def test_event_data_is_what_the_spec_reads(stream):
    assert payloads(split([stream])[0]) == spec_payloads(stream)


@FAST
@given(stream=sse_streams(("\n", "\r\n")), at=st.integers(0, 10_000))
def test_multi_byte_characters_split_anywhere_come_out_whole(stream, at):
    at = at % (len(stream) + 1)
    events, _ = split([stream[:at], stream[at:]])
    for event in events:
        event.decode()  # each complete event is valid UTF-8 again


# --- a bare CR ending a line (the spec allows it; no upstream Orca speaks to sends it) -------


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data(), stream=sse_streams(("\n", "\r\n", "\r")))
def test_any_chunking_is_the_same_with_bare_cr_endings(data, stream):
    whole = split([stream])
    assert split(cut(stream, data.draw(split_points(len(stream))))) == whole
    assert payloads(whole[0]) == spec_payloads(stream)


def test_cr_then_crlf_reads_the_same_whole_and_split():
    # The property's minimal example, split after byte 8. Whole, "\r\r\n" becomes "\r\n" in
    # one rewrite and stays, so the first data line is "\r"; split, the buffered "\r\n" is
    # rewritten again on the next feed and the first data line is empty.
    stream = b"data:\r\r\ndata:\ndata:\n\n"
    assert split([stream[:8], stream[8:]]) == split([stream])


def test_bare_cr_line_endings_end_events():
    assert payloads(split([b"data: a\r\rdata: b\r\r"])[0]) == [b"a", b"b"]
