"""Pure wire helpers: SSE splitting and stream metering."""

import orjson

from routing.wire import openai_chat
from routing.wire.sse import DONE, EventSplitter, encode_data


def test_event_splitter_rejoins_events_cut_anywhere():
    events = [encode_data(b'{"a": %d}' % i) for i in range(5)] + [DONE]
    stream = b"".join(events)
    for size in (1, 3, 7, len(stream)):
        splitter = EventSplitter()
        out = []
        for start in range(0, len(stream), size):
            out.extend(splitter.feed(stream[start : start + size]))
        assert out == events
        assert splitter.remainder() == b""


def test_event_splitter_accepts_crlf():
    assert EventSplitter().feed(b"data: 1\r\n\r\ndata: 2\r\n\r\n") == [
        b"data: 1\n\n",
        b"data: 2\n\n",
    ]


def chunk(choices, usage=None, with_usage_key=True):
    body = {"id": "c", "object": "chat.completion.chunk", "choices": choices}
    if with_usage_key:
        body["usage"] = usage
    return encode_data(orjson.dumps(body))


def test_stream_meter_reads_usage_and_flags_the_usage_only_chunk():
    meter = openai_chat.StreamMeter()
    delta = chunk([{"index": 0, "delta": {"content": "hi"}}])
    assert meter.observe(delta) is False
    usage = {
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 1},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    assert meter.observe(chunk([], usage)) is True
    assert meter.observe(DONE) is False
    assert meter.done
    final = meter.final_usage()
    assert (
        final.prompt_tokens,
        final.completion_tokens,
        final.cached_tokens,
        final.reasoning_tokens,
    ) == (5, 2, 1, 1)
    assert final.reported


def test_stream_meter_estimates_when_the_upstream_sends_no_usage():
    meter = openai_chat.StreamMeter()
    for _ in range(3):
        meter.observe(chunk([{"index": 0, "delta": {"content": "x"}}], with_usage_key=False))
    final = meter.final_usage()
    assert final.completion_tokens == 3 and not final.reported
