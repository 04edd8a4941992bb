"""`streamGenerateContent` without `alt=sse` is one JSON array, as Google answers it, both on
the native Gemini path and when another kind serves the model. The google-genai SDK always
asks for SSE, so raw HTTP it is."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.gemini_upstream import REPLY_TEXT as GEMINI_REPLY
from tests.fakes.openai_upstream import REPLY_TEXT as OPENAI_REPLY


@pytest.mark.parametrize(
    ("model", "reply"),
    [("gemini-fake/flash", GEMINI_REPLY), ("fake/chat", OPENAI_REPLY)],
    ids=["native", "translated"],
)
def test_stream_without_alt_sse_is_a_json_array(live, upstreams, model, reply):
    response = httpx.post(
        f"{live.server.base_url}/v1beta/models/{model}:streamGenerateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": live.key},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    chunks = response.json()
    assert isinstance(chunks, list), f"one object, not an array: {response.text[:200]}"
    assert chunks and all("candidates" in chunk for chunk in chunks)
    text = "".join(
        part.get("text", "")
        for chunk in chunks
        for part in chunk["candidates"][0]["content"]["parts"]
    )
    assert text == reply
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
