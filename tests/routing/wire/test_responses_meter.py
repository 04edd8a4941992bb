"""ResponsesStreamMeter: what the pipeline reads off a pass-through Responses stream."""

import orjson

from routing.wire.responses import ResponsesStreamMeter
from routing.wire.responses.upstream_response import HOSTED_TOOLS_KEY


def event(kind: str, **fields) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps({"type": kind, **fields}) + b"\n\n"


USAGE = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 2},
}


def test_usage_and_hosted_calls_come_from_the_terminal_event():
    meter = ResponsesStreamMeter()
    meter.observe(event("response.created", response={"id": "resp_1"}))
    for word in ("Hel", "lo"):
        meter.observe(event("response.output_text.delta", delta=word))
    assert (meter.outputs, meter.done, meter.usage) == (2, False, None)
    output = [{"type": "web_search_call"}, {"type": "web_search_call"}, {"type": "message"}]
    meter.observe(event("response.completed", response={"usage": USAGE, "output": output}))
    assert meter.done and meter.failed is None
    assert meter.usage["prompt_tokens"] == 12 and meter.usage["completion_tokens"] == 9
    assert meter.usage["prompt_tokens_details"]["cached_tokens"] == 4
    assert meter.usage[HOSTED_TOOLS_KEY] == {"web_search": 2}
    meter.observe(event("response.output_text.delta", delta="late"))  # after the end: ignored
    assert meter.outputs == 2


def test_errors_failures_and_undecodable_events_are_failures():
    meter = ResponsesStreamMeter()
    meter.observe(event("error", code="server_error", message="boom"))
    assert meter.failed is not None and meter.failed.message == "boom"

    failed = ResponsesStreamMeter()
    failed.observe(event("response.failed", response={"error": {"message": "gone"}}))
    assert failed.failed is not None and failed.failed.message == "gone" and not failed.done

    broken = ResponsesStreamMeter()
    broken.observe(b"event: response.output_text.delta\ndata: {not json\n\n")
    assert broken.failed is not None

    incomplete = ResponsesStreamMeter()
    incomplete.observe(event("response.incomplete", response={"usage": USAGE}))
    assert incomplete.done and incomplete.usage["completion_tokens"] == 9
