"""Token estimates (routing/wire/tokens.py): exact BPE counts for OpenAI's encodings, the
four-characters fallback, and the chat / embeddings request estimates. Pure: no Django, no DB.

The expected counts are OpenAI's: tiktoken's own for these strings (several are the examples
of OpenAI's cookbook "How to count tokens with tiktoken"), computed with tiktoken and its
hash-checked rank files when the package was chosen."""

import logging
import math
import sys
import time
from types import SimpleNamespace

import orjson
import pytest

from routing.wire import tokens

# text -> (o200k_base, cl100k_base) token counts, as tiktoken gives them.
KNOWN = {
    "hello world": (2, 2),
    "tiktoken is great!": (6, 6),
    "Hello, world! How are you today?": (9, 9),
    "China is great!": (4, 4),
    "The quick brown fox jumps over the lazy dog.": (10, 10),
    "antidisestablishmentarianism": (6, 6),
    "お誕生日おめでとう": (8, 9),
    "2 + 2 = 4": (7, 7),
    "你好\uff0c世界": (3, 6),
    "Привет, мир!": (5, 7),
    "🙂👍🏽": (4, 8),
    "def f(x):\n    return x * 2\n": (11, 11),
    "<|endoftext|>": (7, 7),  # a special token's text is ordinary text here
    " ": (1, 1),
    "a" * 1000: (125, 125),
}

# OpenAI cookbook's chat example: 124 prompt tokens for gpt-4o, 129 for gpt-4 / gpt-3.5-turbo,
# as the API reports them.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


@pytest.fixture
def fresh(monkeypatch):
    """No vocabulary loaded yet: the next count loads (or fails to) anew."""
    monkeypatch.setattr(tokens, "_counters", {})


@pytest.fixture
def without_toktok(monkeypatch, fresh):
    monkeypatch.setitem(sys.modules, "toktok", None)  # `import toktok` raises ImportError


# --------------------------------------------------------------------------------------------
# exact counts


@pytest.mark.parametrize("text", KNOWN)
def test_counts_match_openais_tokenizer(text):
    o200k, cl100k = KNOWN[text]
    assert tokens.count_text(text) == o200k
    assert tokens.count_text(text, "gpt-4o") == o200k
    assert tokens.count_text(text, "gpt-4") == cl100k


def test_the_tokenizer_is_in_use():
    assert tokens.exact() and tokens.exact("gpt-4") and tokens.exact("claude-sonnet-4-5")


def test_empty_text_is_no_tokens():
    assert tokens.count_text("") == 0


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        (None, tokens.O200K),
        ("", tokens.O200K),
        ("gpt-4o", tokens.O200K),
        ("gpt-4o-mini-2024-07-18", tokens.O200K),
        ("gpt-4.1", tokens.O200K),
        ("gpt-5", tokens.O200K),
        ("o3-mini", tokens.O200K),
        ("openai/gpt-4o", tokens.O200K),
        ("claude-sonnet-4-5", tokens.O200K),
        ("gemini-2.5-pro", tokens.O200K),
        ("meta-llama/Llama-3.1-8B", tokens.O200K),
        ("gpt-4", tokens.CL100K),
        ("GPT-4", tokens.CL100K),
        ("gpt-4-turbo", tokens.CL100K),
        ("gpt-4-32k-0613", tokens.CL100K),
        ("gpt-3.5-turbo", tokens.CL100K),
        ("openai/gpt-3.5-turbo-0125", tokens.CL100K),
        ("text-embedding-3-small", tokens.CL100K),
        ("text-embedding-ada-002", tokens.CL100K),
    ],
)
def test_encoding_for_model(model, encoding):
    assert tokens.encoding_for(model) == encoding


def test_the_documented_api_counts_the_same_when_the_fast_accessor_is_gone(monkeypatch, fresh):
    toktok = pytest.importorskip("toktok")
    monkeypatch.setitem(sys.modules, "toktok", SimpleNamespace(truncate=toktok.truncate))
    for text, (o200k, cl100k) in KNOWN.items():
        assert tokens.count_text(text) == o200k
        assert tokens.count_text(text, "gpt-3.5-turbo") == cl100k


def test_a_long_text_is_sampled_close_to_its_exact_count():
    text = ("The quarterly report shows revenue of $4.2M, up 12% year over year. " * 3000) + (
        "我们的季度报告显示收入为四百二十万美元\uff0c同比增长百分之十二。" * 3000
    )
    assert len(text) > tokens.EXACT_MAX_CHARS
    chunk = 4096  # exact: counted in pieces (a cut costs a token or so of ~110,000)
    exact, start = 0, 0
    while start < len(text):
        end = min(len(text), start + chunk)
        exact += tokens.count_text(text[start:end])
        start = end
    assert abs(tokens.count_text(text) - exact) / exact < 0.03


def test_a_request_past_its_exact_budget_goes_on_at_the_density_seen():
    tally = tokens._Tally(tokens.O200K, budget=1000)
    assert tally("a" * 1000) == 125  # within the budget: counted
    assert tally("你好" * 500) == 125  # past it: at 125 tokens per 1,000 characters
    # A text that crosses the line: its head counted, its tail at the head's density.
    crossing = tokens._Tally(tokens.O200K, budget=1000)
    head = tokens.count_text("a" * 1000)
    assert crossing("a" * 1000 + "你好" * 500) == head + math.ceil(1000 * head / 1000)
    # The reservation's small budget still counts a short prompt exactly.
    prompt = {"messages": [{"role": "user", "content": "hello world"}]}
    assert tokens.estimate_chat_prompt(
        prompt, budget=tokens.RESERVATION_EXACT_CHARS
    ) == tokens.estimate_chat_prompt(prompt)


# --------------------------------------------------------------------------------------------
# the fallback


def test_without_the_package_it_is_four_characters_a_token(without_toktok, caplog):
    with caplog.at_level(logging.WARNING, logger="routing.wire.tokens"):
        assert tokens.count_text("hello world") == 3
        assert tokens.count_text("a" * 1000) == 250
        assert tokens.count_text("你好\uff0c世界", "gpt-4") == 2
    assert not tokens.exact()
    assert "fall back to 4 characters a token" in caplog.text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once an encoding, not once a call


def test_preload_leaves_the_fallback_when_loading_fails(without_toktok):
    tokens.preload()
    assert tokens._counters == {tokens.O200K: None, tokens.CL100K: None}
    assert tokens.count_text("tiktoken is great!") == 5


def test_a_tokenizer_that_counts_wrong_is_not_used(monkeypatch, fresh):
    monkeypatch.setattr(tokens, "_toktok_counter", lambda encoding: len)  # one per character
    assert tokens.count_text("hello world") == tokens.fallback_count("hello world")
    assert not tokens.exact()


def test_a_text_the_tokenizer_refuses_falls_back_alone(monkeypatch):
    def counter(text):
        if "\ud800" in text:
            raise UnicodeEncodeError("utf-8", text, 0, 1, "surrogates not allowed")
        return 7

    monkeypatch.setattr(tokens, "_counters", {tokens.O200K: counter})
    assert tokens.count_text("a\ud800b") == 1  # 3 characters / 4
    assert tokens.count_text("anything else") == 7


def test_a_lone_surrogate_is_counted_either_way():
    assert tokens.count_text("abc\ud800def") > 0


def test_preload_loads_each_encoding_once():
    tokens.preload()
    loaded = dict(tokens._counters)
    tokens.preload(tokens.O200K, tokens.CL100K)
    assert tokens._counters == loaded and all(loaded.values())


# --------------------------------------------------------------------------------------------
# chat requests


def test_cookbook_chat_example_matches_openais_prompt_tokens():
    assert tokens.estimate_chat_prompt({"model": "gpt-4o", "messages": COOKBOOK_MESSAGES}) == 124
    request = {"model": "gpt-4", "messages": COOKBOOK_MESSAGES}
    assert tokens.estimate_chat_prompt(request) == 129
    assert tokens.estimate_chat_prompt(request, "gpt-4o") == 124  # the model argument wins


def test_chat_text_parts_images_and_media():
    text = {"role": "user", "content": "hello world"}
    parts = {
        "role": "user",
        "content": [
            {"type": "text", "text": "hello world"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 90_000}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "UklGR" * 1000, "format": "wav"}},
        ],
    }
    base = tokens.REPLY_TOKENS + tokens.MESSAGE_TOKENS
    assert tokens.estimate_chat_prompt({"messages": [text]}) == base + 2
    expected = base + 2 + tokens.IMAGE_TOKENS + tokens.IMAGE_TOKENS_LOW + tokens.MEDIA_TOKENS
    assert tokens.estimate_chat_prompt({"messages": [parts]}) == expected


def test_chat_tool_calls_tool_results_and_tool_definitions():
    arguments = '{"city": "Paris"}'
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "not counted " * 100,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    count = tokens.count_text
    expected = (
        tokens.REPLY_TOKENS
        + 3 * tokens.MESSAGE_TOKENS
        + count("weather?")
        + count("get_weather")
        + count(arguments)
        + count("sunny")
    )
    assert tokens.estimate_chat_prompt({"messages": messages}) == expected
    with_tools = tokens.estimate_chat_prompt({"messages": messages, "tools": [tool]})
    assert with_tools == expected + count(orjson.dumps([tool]).decode())


def test_chat_json_schema_counts_and_odd_shapes_do_not_raise():
    schema = {"name": "answer", "schema": {"type": "object"}}
    request = {
        "messages": [{"role": "user", "content": "hi"}, "junk", {"role": "user", "content": 5}],
        "response_format": {"type": "json_schema", "json_schema": schema},
        "model": 42,
    }
    assert tokens.estimate_chat_prompt(request) == (
        tokens.REPLY_TOKENS
        + 2 * tokens.MESSAGE_TOKENS
        + tokens.count_text("hi")
        + tokens.count_text(orjson.dumps(schema).decode())
    )
    assert tokens.estimate_chat_prompt({}) == 0


def test_chat_estimate_without_the_package(without_toktok):
    request = {"messages": [{"role": "user", "content": "x" * 400}]}
    assert tokens.estimate_chat_prompt(request) == tokens.REPLY_TOKENS + tokens.MESSAGE_TOKENS + 100


def test_chinese_is_no_longer_undercounted_fourfold():
    text = "我们的季度报告显示收入为四百二十万美元\uff0c同比增长百分之十二。" * 100
    assert tokens.count_text(text) > 2 * tokens.fallback_count(text)


# --------------------------------------------------------------------------------------------
# embeddings requests


def test_embeddings_strings_and_token_arrays():
    estimate = tokens.estimate_embeddings_input
    assert estimate({"model": "text-embedding-3-small", "input": "hello world"}) == 2
    assert estimate({"input": ["hello world", "tiktoken is great!"]}) == 8
    assert estimate({"input": [[1, 2, 3], [4, 5]]}) == 5
    assert estimate({"input": [1, 2, 3, 4]}) == 4  # one flat token array, not canonical yet
    assert estimate({"input": ["", "a"]}) == 2  # at least one an item
    assert estimate({"input": None}) == 0
    assert estimate({"model": "text-embedding-3-small", "input": ["你好\uff0c世界"]}) == 6  # cl100k
    assert estimate({"model": "text-embedding-3-small", "input": ["你好\uff0c世界"]}, "gpt-4o") == 3


def test_embeddings_without_the_package(without_toktok):
    assert tokens.estimate_embeddings_input({"input": ["x" * 10, [1, 2]]}) == 3 + 2


# --------------------------------------------------------------------------------------------
# speed: a sanity check of the path taken, not a timing assertion


def test_counting_many_requests_stays_on_the_fast_path():
    tokens.preload()
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "The quarterly report shows revenue. " * 28}],
    }
    first = tokens.estimate_chat_prompt(request)
    started = time.perf_counter()
    for _ in range(2000):
        assert tokens.estimate_chat_prompt(request) == first
    elapsed = time.perf_counter() - started
    print(f"estimate_chat_prompt, 1 KB: {elapsed / 2000 * 1e6:.1f} µs a request")
    assert tokens.exact("gpt-4o")  # the numbers above were the tokenizer's, not the fallback's
