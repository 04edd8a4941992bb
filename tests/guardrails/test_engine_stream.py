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
# The relay benchmark's policy, masking: every pii entity and 1,000 whole-word keywords.
ZQ_TERMS = [f"zq{i:04d}term" for i in range(1000)]
BENCH_MASK = compile_policy(
    [
        {"type": "pii", "stage": "output", "action": "mask", "entities": ALL_PII},
        {"type": "keyword", "stage": "output", "action": "mask", "keywords": ZQ_TERMS},
    ]
)
POLICIES = [MASKING, PII_KEYWORDS, PII_ONLY, BENCH_MASK]
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
    "zq0042term",
    "ZQ0999TERM",
    "zq00",
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


WORD_CHARS = "abcdeflmnopstzAEIDZ"
WORDS = st.text(alphabet=WORD_CHARS, min_size=1, max_size=8)
GAPS = st.sampled_from([" ", " ", ". ", ", ", "! ", "? ", "\n", ": ", " - "])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(WORDS | st.sampled_from(PIECES), GAPS), min_size=1, max_size=30),
    st.lists(st.booleans(), max_size=60),
)
def test_word_streams_split_at_spaces_equal_screening(items, splits):
    # Fragments as a model streams them (" word", "word ", "word."), texts mostly words.
    text = "".join(word + gap for word, gap in items)
    points = [i for i, c in enumerate(text) if c == " "]
    cuts = [
        p + (1 if i % 2 else 0)
        for i, (p, take) in enumerate(zip(points, splits, strict=False))
        if take
    ]
    for policy in POLICIES:
        released, _ = run(policy, split(text, cuts))
        assert released == policy.screen([text], "output").texts[0]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=WORD_CHARS + " .,!?-@:", max_size=80), st.lists(st.integers(0, 100)))
def test_word_only_texts_split_anywhere_equal_screening(text, cuts):
    for policy in (PII_ONLY, BENCH_MASK):
        released, _ = run(policy, split(text, cuts))
        assert released == policy.screen([text], "output").texts[0]


def test_prose_ending_in_a_space_or_punctuation_is_released_on_the_same_feed():
    screen = BENCH_MASK.stream("output")
    chunks = ["Hello there. ", "How are you? ", "THE END, ", "I am fine! ", "t=biooppmpccmlkbjh "]
    chunks += ["a bad cafe; ", "DE is a code, ", "call me at noon\n", "sky-high: "]
    for chunk in chunks:
        assert screen.feed(chunk) == chunk
    # A word with nothing after it may still become an email address ("yes@x.com"), a ":"
    # an IPv6 address ("::1").
    assert screen.feed(" yes") == " "
    assert screen.feed(":") == "yes"
    assert screen.feed(" zq0042 ") == ": zq0042 "
    assert screen.flush() == ""


def test_entities_and_keywords_split_across_feeds_are_still_masked():
    fragments = ["IBAN DE89 37", "04 0044 0532 01", "30 00, card 4111 ", "1111 1111 11", "11 ok"]
    released, _ = run(BENCH_MASK, fragments)
    assert released == "IBAN [IBAN], card [CREDIT_CARD] ok"
    screen = BENCH_MASK.stream("output")
    assert screen.feed("say ") == "say "
    assert screen.feed("zq00") == ""  # the released space is still the keyword's boundary
    assert screen.feed("42term ") + screen.flush() == "[REDACTED] "


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
    # Held from the space: it and "zq0042term" may be the start of a keyword match.
    assert released == "Hello from the"
    # Complete now, but "zq0042term." may still be an email's local part: held from its "z".
    assert screen.feed(".") == " "
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
    # a keyword rule holds back a term's beginning and the boundary character before it
    assert screen.feed("please do not st") == "please do not"
    assert screen.feed("op") == ""
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
