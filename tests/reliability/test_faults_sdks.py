"""The official SDKs meet the faults as exceptions (or, for Responses streams, the terminal
`response.failed` event OpenAI's own API sends), never as a truncated success."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import product

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from .clients import SURFACES
from .conftest import KINDS

SDK_ERRORS = (openai.APIError, anthropic.APIError, genai_errors.APIError)


def _sdk_call(base_url: str, key: str, surface: str, model: str, prompt: str, stream: bool):
    """Run one call through the surface's SDK; return what a caller would end up with."""
    if surface in ("chat", "responses"):
        client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=20)
        if surface == "chat":
            messages = [{"role": "user", "content": prompt}]
            if not stream:
                return client.chat.completions.create(model=model, messages=messages)
            chunks = client.chat.completions.create(model=model, messages=messages, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        if not stream:
            return client.responses.create(model=model, input=prompt).output_text
        return [
            event.type for event in client.responses.create(model=model, input=prompt, stream=True)
        ]
    if surface == "messages":
        claude = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0, timeout=20)
        messages = [{"role": "user", "content": prompt}]
        if not stream:
            return claude.messages.create(model=model, max_tokens=64, messages=messages)
        with claude.messages.stream(model=model, max_tokens=64, messages=messages) as s:
            return s.get_final_text()
    client = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=base_url, timeout=20_000)
    )
    if not stream:
        return client.models.generate_content(model=model, contents=prompt).text
    return "".join(
        c.text or "" for c in client.models.generate_content_stream(model=model, contents=prompt)
    )


def _verdict(job: Callable[[], object], surface: str, stream: bool) -> str | None:
    """None when the SDK surfaced the failure; otherwise what it did instead."""
    try:
        result = job()
    except SDK_ERRORS:
        return None
    except Exception as exc:  # a decode error, say: the SDK was handed something unreadable
        return f"raised {type(exc).__name__}: {exc}"
    failed_events = isinstance(result, list) and result[-1:] == ["response.failed"]
    if surface == "responses" and stream and failed_events and "error" in result:
        return None
    return f"returned {str(result)[:120]!r}"


@pytest.mark.parametrize("fault", ["500", "idle", "reset", "malformed_event"])
def test_the_sdks_raise_instead_of_returning_a_truncated_answer(
    fault, live, upstreams, fault_catalog, matrix_server
):
    prompt = f"orca-fault:{fault} Say something."
    jobs = list(product(SURFACES, KINDS, (False, True)))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            (surface, kind, stream): pool.submit(
                _verdict,
                lambda s=surface, k=kind, st=stream: _sdk_call(
                    matrix_server.base_url,
                    fault_catalog.key,
                    s,
                    fault_catalog.models[k],
                    prompt,
                    st,
                ),
                surface,
                stream,
            )
            for surface, kind, stream in jobs
        }
        problems = [
            f"{surface} {kind} stream={stream}: {verdict}"
            for (surface, kind, stream), future in futures.items()
            if (verdict := future.result()) is not None
        ]
    assert not problems, f"{len(problems)} of {len(jobs)} cells:\n" + "\n".join(problems)
