"""Every pii entity: a valid value is found and masked with its tag, a look-alike is not."""

import pytest

from guardrails.engine import compile_policy

VALID = {
    "email": "john.doe+tag@mail.example.com",
    "phone": "650-253-0000",
    "credit_card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "123-45-6789",
    "ip": "192.168.1.10",
    "mac_address": "00:1A:2B:3C:4D:5E",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWJ5dGVz",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "api_key": "sk-proj-abc123DEF456ghi789JKL012mno345",
    "cn_resident_id": "11010519491231002X",
    "kr_rrn": "971013-9019902",
    "jp_mynumber": "6214 9832 0257",
}
TAGS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "credit_card": "[CREDIT_CARD]",
    "iban": "[IBAN]",
    "ssn": "[SSN]",
    "ip": "[IP_ADDRESS]",
    "mac_address": "[MAC_ADDRESS]",
    "jwt": "[JWT]",
    "aws_access_key": "[AWS_ACCESS_KEY]",
    "api_key": "[API_KEY]",
    "cn_resident_id": "[CN_RESIDENT_ID]",
    "kr_rrn": "[KR_RRN]",
    "jp_mynumber": "[JP_MYNUMBER]",
}
INVALID = {
    "email": "john..doe@example.com and user@localhost and a@b.c1",
    "phone": "call 555-123-4567 or 12345",
    "credit_card": "4111 1111 1111 1112",  # fails Luhn
    "iban": "DE89 3704 0044 0532 0130 01",  # bad check digits
    "ssn": "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000",
    "ip": "999.1.1.1 and std::cout and a[::2] and 12:30:45",
    "mac_address": "00:00:00:00:00:00",
    "jwt": "eyJub3QiOiJhbGcifQ.eyJzdWIiOiIxIn0.c2ln",  # header without "alg"
    "aws_access_key": "AKIA1111111111111111",  # 0, 1, 8, 9 are not base32
    "api_key": "sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaa",  # no digits: not a key
    "cn_resident_id": "110105194912310021",  # wrong check digit
    "kr_rrn": "971013-9019903",
    "jp_mynumber": "6214 9832 0258",
}


def policy(entity: str, action: str = "mask"):
    return compile_policy(
        [{"type": "pii", "stage": "input", "action": action, "entities": [entity]}]
    )


@pytest.mark.parametrize("entity", sorted(VALID))
def test_valid_value_is_found_and_masked(entity):
    text = f"before {VALID[entity]} after"
    result = policy(entity).screen([text], "input")
    assert result.changed
    assert result.texts == [f"before {TAGS[entity]} after"]
    [match] = result.matches
    assert (match.entity, match.raw, match.detail) == (entity, VALID[entity], f"pii: {entity}")
    assert text[match.start : match.end] == VALID[entity]
    assert VALID[entity] not in match.detail


@pytest.mark.parametrize("entity", sorted(INVALID))
def test_look_alike_is_not_found(entity):
    result = policy(entity).screen([f"x {INVALID[entity]} y"], "input")
    assert result.matches == []
    assert not result.changed


def test_card_formats_and_luhn():
    found = policy("credit_card").screen(
        ["4111111111111111 | 4111-1111-1111-1111 | 3782 822463 10005 | 4111111111111112"],
        "input",
    )
    assert [m.raw for m in found.matches] == [
        "4111111111111111",
        "4111-1111-1111-1111",
        "3782 822463 10005",
    ]


def test_part_of_a_longer_digit_group_is_not_a_national_id():
    assert policy("jp_mynumber").screen(["4111 1111 1111 1112"], "input").matches == []


def test_ipv6_and_international_phone():
    text = "host 2001:db8::ff00:42:8329 or fe80::1, call +44 20 7946 0958"
    result = compile_policy(
        [{"type": "pii", "stage": "input", "action": "mask", "entities": ["ip", "phone"]}]
    ).screen([text], "input")
    assert result.texts == ["host [IP_ADDRESS] or [IP_ADDRESS], call [PHONE]"]


def test_phone_default_region_is_configurable():
    text = "ring 030 901820"  # a Berlin number, written nationally
    us = policy("phone").screen([text], "input")
    de = compile_policy(
        [
            {
                "type": "pii",
                "stage": "input",
                "action": "flag",
                "entities": ["phone"],
                "phone_region": "DE",
            }
        ]
    ).screen([text], "input")
    assert us.matches == []
    assert [m.raw for m in de.matches] == ["030 901820"]


def test_api_key_aliases_select_a_vendor():
    openai = "sk-proj-abc123DEF456ghi789JKL012mno345"
    anthropic = "sk-ant-api03-" + "aB3" * 30 + "AA"
    text = f"{openai} and {anthropic}"
    only_anthropic = compile_policy(
        [{"type": "pii", "stage": "input", "action": "mask", "entities": ["api_key_anthropic"]}]
    ).screen([text], "input")
    assert only_anthropic.texts == [f"{openai} and [API_KEY]"]
    both = policy("api_key").screen([text], "input")
    assert both.texts == ["[API_KEY] and [API_KEY]"]


def test_per_entity_actions_and_custom_replacement():
    rules = [
        {
            "type": "pii",
            "stage": "input",
            "action": "flag",
            "replacement": "<pii>",
            "entities": {"email": "mask", "ssn": "block", "ip": "flag"},
        }
    ]
    p = compile_policy(rules)
    masked = p.screen(["mail a@example.com from 10.0.0.1"], "input")
    assert masked.texts == ["mail <pii> from 10.0.0.1"]
    assert [(m.entity, m.action) for m in masked.matches] == [("email", "mask"), ("ip", "flag")]
    blocked = p.screen(["mail a@example.com ssn 123-45-6789"], "input")
    assert blocked.blocked is not None and blocked.blocked.detail == "pii: ssn"
