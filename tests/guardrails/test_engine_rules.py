"""Policy validation: every mistake is a RuleError naming the field."""

import pytest

from guardrails.engine import RuleError, compile_policy


def error(rules) -> RuleError:
    with pytest.raises(RuleError) as caught:
        compile_policy(rules)
    return caught.value


def rule(**fields):
    return {"type": "keyword", "stage": "input", "action": "block", "keywords": ["x"], **fields}


def test_an_empty_policy_screens_nothing():
    policy = compile_policy([])
    assert not policy.has_input and not policy.has_output
    assert policy.screen(["mail me at a@b.co"], "input").matches == []


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ("nope", "rules"),
        ([1], "rules[0]"),
        ([rule(type="weird")], "rules[0].type"),
        ([rule(stage="middle")], "rules[0].stage"),
        ([rule(action="delete")], "rules[0].action"),
        ([rule(keywords=[])], "rules[0].keywords"),
        ([rule(keywords=["ok", "  "])], "rules[0].keywords[1]"),
        ([rule(keywords=[{"term": ""}])], "rules[0].keywords[0].term"),
        ([rule(keywords=["x" * 257])], "rules[0].keywords[0]"),
        ([rule(keywords=["x"] * 10_001)], "rules[0].keywords"),
        ([rule(whole_words="yes")], "rules[0].whole_words"),
        ([rule(), rule(colour="red")], "rules[1].colour"),
        (
            [{"type": "regex", "stage": "input", "action": "flag", "pattern": "a" * 2001}],
            "rules[0].pattern",
        ),
        (
            [{"type": "regex", "stage": "input", "action": "flag", "pattern": "a*"}],
            "rules[0].pattern",
        ),
        (
            [{"type": "pii", "stage": "input", "action": "mask", "entities": ["email", "foo"]}],
            "rules[0].entities.foo",
        ),
        (
            [{"type": "pii", "stage": "input", "action": "mask", "entities": {"email": "eat"}}],
            "rules[0].entities.email",
        ),
        (
            [{"type": "pii", "stage": "input", "action": "mask", "entities": []}],
            "rules[0].entities",
        ),
        (
            [
                {
                    "type": "pii",
                    "stage": "input",
                    "action": "mask",
                    "entities": ["phone"],
                    "phone_region": "XX",
                }
            ],
            "rules[0].phone_region",
        ),
        (
            [{"type": "max_chars", "stage": "input", "action": "block", "limit": 0}],
            "rules[0].limit",
        ),
        (
            [{"type": "max_chars", "stage": "input", "action": "block", "limit": True}],
            "rules[0].limit",
        ),
        (
            [{"type": "moderation", "stage": "input", "action": "mask", "model": "m"}],
            "rules[0].action",
        ),
        ([{"type": "moderation", "stage": "input", "action": "flag"}], "rules[0].model"),
        (
            [{"type": "moderation", "stage": "both", "action": "flag", "model": "m"}],
            "rules[0].stage",
        ),
        (
            [
                {
                    "type": "moderation",
                    "stage": "input",
                    "action": "flag",
                    "model": "m",
                    "threshold": 1.5,
                }
            ],
            "rules[0].threshold",
        ),
        (
            [
                {
                    "type": "moderation",
                    "stage": "input",
                    "action": "flag",
                    "model": "m",
                    "categories": "hate",
                }
            ],
            "rules[0].categories",
        ),
    ],
)
def test_invalid_rules_name_the_field(rules, field):
    assert error(rules).field == field


@pytest.mark.parametrize(
    ("pattern", "words"),
    [(r"(a)\1", "backreferences"), ("foo(?=bar)", "lookahead"), ("(?<=a)b", "lookahead")],
)
def test_regex_features_re2_cannot_run_are_refused_clearly(pattern, words):
    caught = error([{"type": "regex", "stage": "both", "action": "flag", "pattern": pattern}])
    assert caught.field == "rules[0].pattern"
    assert "RE2" in caught.message and words in caught.message


def test_invalid_regex_syntax():
    caught = error([{"type": "regex", "stage": "input", "action": "flag", "pattern": "[a-"}])
    assert caught.field == "rules[0].pattern" and "missing ]" in caught.message


def test_moderation_rules_are_compiled_for_the_caller():
    policy = compile_policy(
        [
            {
                "type": "moderation",
                "stage": "input",
                "action": "block",
                "model": "openai/omni",
                "categories": ["hate"],
                "threshold": 0.5,
            },
            {"type": "keyword", "stage": "input", "action": "flag", "keywords": ["x"]},
        ]
    )
    [moderation] = policy.moderation
    assert (moderation.rule_index, moderation.model, moderation.categories) == (
        0,
        "openai/omni",
        ("hate",),
    )
    assert moderation.threshold == 0.5 and moderation.applies("input")
    assert policy.has_input and not policy.has_output
    assert policy.screen(["nothing to see"], "output").matches == []


def test_stages_and_holdback():
    policy = compile_policy([rule(stage="input", keywords=["abcdef"])])
    assert policy.has_input and not policy.has_output and policy.max_holdback == 0
    both = compile_policy([rule(stage="both", keywords=["abcdef", "xy"])])
    assert both.has_output and both.max_holdback == len("abcdef") + 3
    assert both.screen(["ABCDEF"], "output").blocked is not None
    with pytest.raises(ValueError):
        both.screen(["x"], "middle")


def test_thousands_of_keywords_compile_and_match():
    terms = [f"term{i:05d}" for i in range(10_000)]
    policy = compile_policy([rule(action="flag", keywords=terms)])
    result = policy.screen(["nothing term00042 and TERM09999."], "input")
    assert [m.raw for m in result.matches] == ["term00042", "TERM09999"]
