"""Screening texts: keywords, regexes, masking, overlaps, limits, what details may show."""

import orjson

from guardrails.engine import compile_policy


def kw(keywords, action="flag", **extra):
    return {"type": "keyword", "stage": "input", "action": action, "keywords": keywords, **extra}


def screen(rules, texts, stage="input"):
    return compile_policy(rules).screen(texts, stage)


def test_keywords_are_whole_words_and_case_insensitive_by_default():
    result = screen([kw(["cat", "New York"])], ["Cat, concatenate; new york! NEW YORKER cat"])
    assert [m.raw for m in result.matches] == ["Cat", "new york", "cat"]
    assert all(m.detail == "matched 2 keyword(s)" for m in result.matches)


def test_substring_terms_per_term_and_per_rule():
    per_term = screen([kw(["cat", {"term": "dog", "whole_word": False}])], ["concat hotdogs"])
    assert [m.raw for m in per_term.matches] == ["dog"]
    per_rule = screen([kw(["cat"], whole_words=False)], ["concatenate"])
    assert [m.raw for m in per_rule.matches] == ["cat"]


def test_unicode_words_and_case():
    result = screen([kw(["café", "straße", "日本"])], ["CAFÉ cafés Straße 日本語 日本"])
    # "日本語": CJK letters are word characters, so only the standalone "日本" is a whole word
    assert [m.raw for m in result.matches] == ["CAFÉ", "Straße", "日本"]
    masked = screen([kw(["café"], action="mask")], ["Ünïcode café ✓"])
    assert masked.texts == ["Ünïcode [REDACTED] ✓"]
    assert masked.matches[0].start == 8


def test_regex_rules_use_re2_and_inline_flags():
    rules = [
        {
            "type": "regex",
            "stage": "input",
            "action": "mask",
            "pattern": "(?i)ticket-\\d+",
            "replacement": "[TICKET]",
        }
    ]
    result = screen(rules, ["see Ticket-42 and TICKET-7"])
    assert result.texts == ["see [TICKET] and [TICKET]"]
    assert [m.detail for m in result.matches] == ["pattern 1", "pattern 1"]


def test_regex_does_not_match_across_texts_and_anchors_are_per_text():
    rules = [
        {"type": "regex", "stage": "input", "action": "flag", "pattern": "a[\\s\\S]*b"},
        {"type": "regex", "stage": "input", "action": "flag", "pattern": "^start"},
    ]
    result = screen(rules, ["xa", "ab", "start here"])
    assert [(m.text_index, m.raw, m.detail) for m in result.matches] == [
        (1, "ab", "pattern 1"),
        (2, "start", "pattern 2"),
    ]


def test_matches_map_back_to_their_texts():
    rules = [{"type": "pii", "stage": "input", "action": "mask", "entities": ["email"]}]
    texts = ["no pii", "é a@example.com", "", "b@example.org"]
    result = screen(rules, texts)
    assert [(m.text_index, m.start, m.end) for m in result.matches] == [(1, 2, 15), (3, 0, 13)]
    assert result.texts == ["no pii", "é [EMAIL]", "", "[EMAIL]"]
    assert result.texts[0] is texts[0]


def test_unchanged_texts_are_the_same_list():
    texts = ["hello there"]
    result = screen([kw(["absent"], action="mask")], texts)
    assert result.texts is texts and not result.changed and result.blocked is None


def test_block_wins_over_mask():
    rules = [
        {"type": "pii", "stage": "input", "action": "mask", "entities": ["email"]},
        kw(["forbidden"], action="block"),
    ]
    result = screen(rules, ["a@example.com is forbidden"])
    assert result.blocked is not None
    assert (result.blocked.rule_index, result.blocked.detail) == (1, "matched 1 keyword(s)")
    assert [m.action for m in result.matches] == ["mask", "block"]


def test_overlapping_masks_merge_and_leave_nothing_of_either():
    rules = [
        {
            "type": "regex",
            "stage": "input",
            "action": "mask",
            "pattern": "example\\.com/x+",
            "replacement": "[URL]",
        },
        {"type": "pii", "stage": "input", "action": "mask", "entities": ["email"]},
        kw([{"term": "doe@ex", "whole_word": False}], action="mask"),
    ]
    result = screen(rules, ["mail john.doe@example.com/xxx now"])
    # the email starts first, so its tag covers the union of the three spans
    assert result.texts == ["mail [EMAIL] now"]
    for match in result.matches:
        assert match.raw not in result.texts[0]


def test_same_start_longest_wins():
    rules = [
        kw([{"term": "abc", "whole_word": False}], action="mask", replacement="<short>"),
        kw([{"term": "abcdef", "whole_word": False}], action="mask", replacement="<long>"),
    ]
    assert screen(rules, ["xabcdefx"]).texts == ["x<long>x"]


def test_max_chars_counts_all_texts():
    rule = {"type": "max_chars", "stage": "input", "action": "block", "limit": 10}
    assert screen([rule], ["12345", "67890"]).blocked is None
    blocked = screen([rule], ["12345", "678901"]).blocked
    assert blocked is not None and blocked.detail == "over 10 chars" and blocked.raw == ""
    assert (blocked.text_index, blocked.start) == (1, 5)


def test_max_chars_mask_truncates():
    rules = [
        {"type": "max_chars", "stage": "input", "action": "mask", "limit": 8},
        {"type": "pii", "stage": "input", "action": "mask", "entities": ["ssn"]},
    ]
    result = screen(rules, ["abcd", "ef 123-45-6789", "gh"])
    assert result.texts == ["abcd", "ef [SSN]", ""]
    assert [m.rule_type for m in result.matches] == ["pii", "max_chars"]
    flag = screen([{"type": "max_chars", "stage": "input", "action": "flag", "limit": 3}], ["abcd"])
    assert flag.texts == ["abcd"] and flag.matches[0].action == "flag"


def test_tool_arguments_json_text():
    arguments = orjson.dumps(
        {"to": "jane@example.com", "card": "4111-1111-1111-1111", "note": "call 650-253-0000"}
    ).decode()
    rules = [
        {
            "type": "pii",
            "stage": "output",
            "action": "mask",
            "entities": ["email", "credit_card", "phone"],
        }
    ]
    result = screen(rules, [arguments], stage="output")
    assert orjson.loads(result.texts[0]) == {
        "to": "[EMAIL]",
        "card": "[CREDIT_CARD]",
        "note": "call [PHONE]",
    }


def test_details_never_contain_the_matched_text():
    rules = [
        {
            "type": "pii",
            "stage": "input",
            "action": "flag",
            "entities": ["email", "ssn", "credit_card", "ip"],
        },
        kw(["topsecret"]),
        {"type": "regex", "stage": "input", "action": "flag", "pattern": "ZX-[0-9]+"},
        {"type": "max_chars", "stage": "input", "action": "flag", "limit": 20},
    ]
    text = "a@example.com 123-45-6789 4111111111111111 10.1.2.3 topsecret ZX-99"
    result = screen(rules, [text])
    assert len(result.matches) == 7
    for match in result.matches:
        assert match.raw == "" or match.raw not in match.detail
        assert len(match.detail) < 30


def test_stage_selection():
    p = compile_policy([kw(["x"], action="block", stage="output")])
    assert p.screen(["x"], "input").blocked is None
    assert p.screen(["x"], "output").blocked is not None
