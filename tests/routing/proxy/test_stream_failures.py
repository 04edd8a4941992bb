"""Every stream decoder treats an undecodable event as an upstream failure, and relayed
bytes lose the provider's credential (routing/proxy/streams.py)."""

import pytest

from routing.catalog.snapshot import ProviderRoute
from routing.proxy.errors import scrub_bytes
from routing.wire import anthropic, gemini, openai_chat
from routing.wire.canonical import StreamError

CUT = b'data: {"choices": [{"index": 0, "delta": {"content": "hel\n\n'
GOOD = b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'


@pytest.mark.parametrize(
    "decoder",
    [
        openai_chat.OpenAIStreamDecoder(),
        anthropic.AnthropicStreamDecoder(),
        gemini.GeminiStreamDecoder(model="m"),
    ],
    ids=["openai", "anthropic", "gemini"],
)
@pytest.mark.parametrize("event", [CUT, b"data: [1, 2]\n\n", b"data: 42\n\n"])
def test_an_undecodable_event_is_a_malformed_stream_error(decoder, event):
    if isinstance(decoder, anthropic.AnthropicStreamDecoder):
        event = b"event: content_block_delta\n" + event
    with pytest.raises(StreamError) as caught:
        decoder.feed(event)
    assert caught.value.malformed
    assert "malformed" in caught.value.message


def test_openai_decoder_reports_an_error_event_as_not_malformed():
    decoder = openai_chat.OpenAIStreamDecoder()
    assert decoder.feed(GOOD)[0]["choices"][0]["delta"]["content"] == "hi"
    with pytest.raises(StreamError) as caught:
        decoder.feed(b'data: {"error": {"message": "overloaded"}}\n\n')
    assert caught.value.message == "overloaded" and not caught.value.malformed


def test_stream_meter_flags_malformed_and_error_events():
    meter = openai_chat.StreamMeter()
    assert meter.observe(GOOD) is False
    assert meter.failed is None and meter.content_chunks == 1
    meter.observe(CUT)
    assert meter.failed is not None and meter.failed.malformed

    meter = openai_chat.StreamMeter()
    meter.observe(b'data: {"error": {"message": "quota"}}\n\n')
    assert meter.failed is not None and meter.failed.message == "quota"
    assert not meter.failed.malformed


def test_stream_meter_still_reads_usage_and_done():
    meter = openai_chat.StreamMeter()
    usage_only = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}\n\n'
    assert meter.observe(usage_only) is True
    meter.observe(b"data: [DONE]\n\n")
    assert meter.done and meter.failed is None
    assert (meter.final_usage().prompt_tokens, meter.final_usage().completion_tokens) == (3, 5)


def test_provider_secrets_scrub_relayed_bytes():
    provider = ProviderRoute(slug="p", kind="openai", base_url="", credential="sk-live-1234")
    event = b'data: {"error": {"message": "bad key sk-live-1234 (sk-live-1234)"}}\n\n'
    assert scrub_bytes(event, provider.secrets) == (
        b'data: {"error": {"message": "bad key [redacted] ([redacted])"}}\n\n'
    )
    clean = b"data: {}\n\n"
    assert scrub_bytes(clean, provider.secrets) is clean  # nothing to do: the same object
    assert ProviderRoute(slug="d", kind="demo", base_url="", credential="").secrets == ()
