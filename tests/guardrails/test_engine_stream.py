"""The stream screen: fragments in, the same masked text out as screening the whole text."""

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.engine import Blocked, compile_policy
from guardrails.engine.stream import StreamPlan

ALL_PII = [
    "email",
    "phone",
    "credit_card",
    "iban",
    "ssn",
    "ip",
    "mac_address",
    "jwt",
    "aws_access_key",
    "api_key",
    "cn_resident_id",
    "kr_rrn",
    "jp_mynumber",
]
MASKING = compile_policy(
    [
        {"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII},
        {
            "type": "keyword",
            "stage": "output",
            "action": "mask",
            "keywords": ["secret", "top secret", {"term": "xyz", "whole_word": False}],
        },
        {"type": "regex", "stage": "output", "action": "mask", "pattern": "ID-[0-9]{2,6}"},
    ]
)
# Pii and keywords only: the fixed holdback is short (a keyword's length), so pii units' open
# points decide what is held (MASKING's regex rule holds back 257 characters whatever happens).
PII_KEYWORDS = compile_policy(
    [
        {"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII},
        {"type": "keyword", "stage": "output", "action": "mask", "keywords": ["secret"]},
    ]
)
PII_ONLY = compile_policy(
    [{"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII}]
)
POLICIES = [MASKING, PII_KEYWORDS, PII_ONLY]
PIECES = [
    "4111 1111 1111 1111",
    "4111-1111-1111-1112",
    "john.doe@example.com",
    "650-253-0000",
    "DE89 3704 0044 0532 0130 00",
    "123-45-6789",
    "192.168.1.10",
    "fe80::1",
    "00:1A:2B:3C:4D:5E",
    "AKIAIOSFODNN7EXAMPLE",
    "sk-proj-abc123DEF456ghi789JKL012mno345",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    "6214 9832 0257",
    "secret",
    "top secret",
    "axyzb",
    "ID-1234",
    "john.jacob.jingleheimer.schmidt@example.com",
    "Hello from the mock upstream.",
    "café",
    " ",
    " ",
    "\n",
    ".",
    ",",
    "-",
    "@",
    "1",
    "12",
    "a",
    "Z",
    "é",
    "日本",
    '{"k": "',
    '"}',
]


def run(policy, fragments):
    screen = policy.stream("output")
    return "".join(screen.feed(f) for f in fragments) + screen.flush(), screen


def split(text, cuts):
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES) | st.text(max_size=6), min_size=1, max_size=40),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_stream_output_equals_screening_the_whole_text(pieces, cuts):
    text = "".join(pieces)
    for policy in POLICIES:
        expected = policy.screen([text], "output").texts[0]
        released, _ = run(policy, split(text, cuts))
        assert released == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=30), st.integers(1, 200))
def test_stream_truncation_equals_screening(pieces, limit):
    policy = compile_policy(
        [
            {"type": "max_chars", "stage": "output", "action": "mask", "limit": limit},
            {"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII},
        ]
    )
    text = "".join(pieces)
    released, _ = run(policy, list(text))
    assert released == policy.screen([text], "output").texts[0]


def test_without_the_stream_gate_every_unit_runs_on_every_feed(monkeypatch):
    # The fallback when RE2 refuses the gate's set (too large): same output, just slower.
    monkeypatch.setattr(StreamPlan, "_build", lambda *args: False)
    policy = compile_policy(
        [
            {"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII},
            {"type": "keyword", "stage": "output", "action": "mask", "keywords": ["secret"]},
        ]
    )
    text = "".join(PIECES)
    released, screen = run(policy, [text[i : i + 5] for i in range(0, len(text), 5)])
    assert screen._plan.gate is None and screen._plan.always
    assert released == policy.screen([text], "output").texts[0]


def test_matches_straddling_short_fragments_are_found():
    policy = compile_policy(
        [
            {"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII},
            {
                "type": "keyword",
                "stage": "output",
                "action": "block",
                "keywords": [f"zq{i:04d}term" for i in range(1000)],
            },
        ]
    )
    # A local part longer than the keyword holdback is held from its start until the "@" comes.
    screen = policy.stream()
    assert screen.feed("Hello from john.jacob.jingleheimer") == "Hello from "
    assert screen.feed("@example") == ""
    assert screen.feed(".com, bye now") + screen.flush() == "[EMAIL], bye now"
    screen = policy.stream()
    released = "".join(screen.feed(f) for f in ["Hello", " from", " the", " zq00", "42", "term"])
    assert released == "Hello from t"  # the keyword holdback: 13 characters
    assert screen.feed(".") == "h"  # the match starts at its boundary character, the space
    with pytest.raises(Blocked) as caught:
        screen.feed(" ok")
    assert caught.value.match.raw == "zq0042term"


def test_card_split_across_three_fragments_is_masked():
    released, screen = run(MASKING, ["pay with 4111 11", "11 1111 1", "111 today"])
    assert released == "pay with [CREDIT_CARD] today"
    assert [m.entity for m in screen.matches] == ["credit_card"]
    assert screen.matches[0].raw == "4111 1111 1111 1111"


def test_text_is_released_as_soon_as_it_cannot_be_part_of_a_match():
    pii = compile_policy(
        [{"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII}]
    )
    screen = pii.stream("output")
    assert screen.feed("Hello there, ") == "Hello there, "
    assert screen.feed("my card is 4111") == "my card is "
    # "1111." could still go on as an email address or a phone number (joining the card's region)
    assert screen.feed(" 1111 1111 1111.") == ""
    assert screen.feed(", ok ") == "[CREDIT_CARD]., ok "
    assert screen.flush() == ""


def test_tool_arguments_streamed_as_json_fragments():
    arguments = '{"email": "jane@example.com", "note": "ID-42 top secret"}'
    released, _ = run(MASKING, [arguments[i : i + 3] for i in range(0, len(arguments), 3)])
    assert released == '{"email": "[EMAIL]", "note": "[REDACTED] [REDACTED]"}'


def test_block_raises_and_keeps_raising():
    policy = compile_policy(
        [{"type": "pii", "stage": "output", "action": "block", "entities": ["ssn"]}]
    )
    screen = policy.stream()
    assert screen.feed("ok so far ") == "ok so far "
    with pytest.raises(Blocked) as caught:
        screen.feed("123-45-6789 and more")
    assert caught.value.match.detail == "pii: ssn"
    assert "123-45-6789" not in str(caught.value)
    with pytest.raises(Blocked):
        screen.feed("again")


def test_block_at_the_end_is_found_by_flush():
    policy = compile_policy(
        [{"type": "keyword", "stage": "output", "action": "block", "keywords": ["stop"]}]
    )
    screen = policy.stream()
    # keywords hold back their longest term and its two boundary characters
    assert screen.feed("please do not st") == "please do"
    assert screen.feed("op") == " n"
    with pytest.raises(Blocked):
        screen.flush()


def test_flags_are_recorded_and_text_passes():
    policy = compile_policy(
        [{"type": "pii", "stage": "output", "action": "flag", "entities": ["email"]}]
    )
    released, screen = run(policy, ["write to a@exa", "mple.com please"])
    assert released == "write to a@example.com please"
    assert [(m.action, m.start, m.end) for m in screen.matches] == [("flag", 9, 22)]


def test_max_chars_counts_cumulatively():
    block = compile_policy(
        [{"type": "max_chars", "stage": "output", "action": "block", "limit": 10}]
    ).stream()
    assert block.feed("12345") == "12345"
    with pytest.raises(Blocked) as caught:
        block.feed("678901")
    assert caught.value.match.detail == "over 10 chars"
    mask = compile_policy(
        [{"type": "max_chars", "stage": "output", "action": "mask", "limit": 7}]
    ).stream()
    assert [mask.feed(f) for f in ["1234", "5678", "9"]] + [mask.flush()] == ["1234", "567", "", ""]


def test_a_policy_without_output_rules_passes_the_stream_through():
    policy = compile_policy(
        [{"type": "keyword", "stage": "input", "action": "block", "keywords": ["x"]}]
    )
    screen = policy.stream("output")
    assert screen.feed("x marks") == "x marks" and screen.flush() == ""


def test_per_feed_work_is_bounded_by_the_fragment_and_the_holdback():
    screen = MASKING.stream()
    for _ in range(2_000):
        screen.feed("plain words and numbers 42 ")
    assert len(screen._buf) <= MASKING.max_holdback + 30
