"""PII detectors: a candidate pattern (RE2, ASCII classes) and a validator per entity.

A pattern only proposes candidates; the validator decides (checksums, parsers), so no entity is
a bare pattern. Validators get the candidate text and return the valid spans inside it with a
kind (only api keys have more than one kind), which lets a card number followed by stray digits
or two phone numbers in one digit run still be found.

Every pattern has bounded repeats (`max_len` is its longest match): the stream screen holds back
only a window end that may be the beginning of a match (`detector_tail`, docs/guardrails.md).
"""

import base64
import binascii
import functools
import ipaddress
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import phonenumbers
from stdnum import iban as std_iban
from stdnum.cn import ric as std_cn_ric
from stdnum.jp import in_ as std_jp_in
from stdnum.kr import rrn as std_kr_rrn
from stdnum.us import ssn as std_us_ssn

from guardrails.engine.tails import prefix_pattern

Spans = list[tuple[int, int, str]]
HEX = string.hexdigits
DIGITS = string.digits
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"


@dataclass(frozen=True, slots=True)
class Detector:
    name: str  # the entity family, e.g. "api_key" (its kinds: "openai", "anthropic")
    tag: str  # the default mask, e.g. "[API_KEY]"
    pattern: str
    max_len: int
    validate: Callable[[str], Spans]
    gate: bytes = b""  # a literal every match contains: a substring test instead of the set pass
    # A number that is part of a longer group of digits (12 of a grouped 16-digit card) is not
    # this entity: candidates continued by their own separator and a digit are rejected;
    # max_len counts the two characters of context that takes.
    isolated: bool = False


def detector_tail(detector: Detector) -> str:
    """What the end of a stream window may be the start of (guardrails.engine.tails): a prefix
    of a candidate, or for an isolated number a whole one and a separator (its next digit
    would make it part of a longer group)."""
    tail = prefix_pattern(detector.pattern)
    return f"{tail}|(?:{detector.pattern})[ \\-]" if detector.isolated else tail


def _whole(text: str, kind: str = "") -> Spans:
    return [(0, len(text), kind)]


def _shrinking(text: str, check: Callable[[str], bool], seps: str) -> Spans:
    """The longest prefix ending before a separator that passes `check` (whole text first)."""
    end = len(text)
    while end > 0:
        if check(text[:end]):
            return [(0, end, "")]
        cut = max(text.rfind(s, 0, end) for s in seps)
        if cut <= 0:
            break
        end = cut
    return []


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.strip("0") != "" and _luhn(digits)


def valid_card(text: str) -> Spans:
    return _shrinking(text, _card_ok, " -")


def valid_iban(text: str) -> Spans:
    return _shrinking(text, std_iban.is_valid, " ")


# Labels of letters, digits and inner hyphens; a top-level domain of two letters or more.
DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


def valid_email(text: str) -> Spans:
    at = text.index("@")
    start = 0
    while start < at and text[start] == ".":
        start += 1  # leading dots belong to the prose, not the address
    local = text[start:at]
    if not local or local[-1] == "." or ".." in local or len(text) - at > 254:
        return []
    return [(start, len(text), "")] if DOMAIN.fullmatch(text, at + 1) else []


PHONE_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost",
               "personal_number", "voip", "pager", "uan", "voicemail")  # fmt: skip


@functools.cache
def _country(code: int) -> re.Pattern[str] | None:
    """Every valid national number of a country code (all regions sharing it, as phonenumbers
    has it: a Canadian number is valid written nationally with region US), one pattern.

    phonenumbers' own parse + is_valid_number costs ~150 µs a candidate; this is the same
    metadata (the per-type national number patterns) checked in about a microsecond."""
    patterns = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for desc in (getattr(meta, name, None) for name in PHONE_TYPES):
            if desc is not None and desc.national_number_pattern:
                patterns.append(desc.national_number_pattern)
    return re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(patterns))) if patterns else None


def _valid_national(digits: str, code: int, prefix: str) -> bool:
    pattern = _country(code)
    if pattern is None:
        return False
    if pattern.fullmatch(digits):
        return True
    return (
        bool(prefix)
        and digits.startswith(prefix)
        and bool(pattern.fullmatch(digits[len(prefix) :]))
    )


def _valid_international(digits: str) -> bool:
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            pattern = _country(code)
            return pattern is not None and bool(pattern.fullmatch(digits[size:]))
    return False


def make_phone_validator(region: str) -> Callable[[str], Spans]:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code is None:
        raise ValueError(f"no numbering plan for region {region}")
    code, prefix = int(meta.country_code), meta.national_prefix or ""

    def check(text: str) -> bool:
        digits = "".join(c for c in text if c in DIGITS)
        if text.startswith("+"):
            return 7 <= len(digits) <= 15 and _valid_international(digits)
        return _valid_national(digits, code, prefix)

    def valid_phone(text: str) -> Spans:
        # Two numbers in one run of digits and separators: the longest valid prefix.
        return _shrinking(text, check, " .-")

    return valid_phone


def valid_ssn(text: str) -> Spans:
    return _whole(text) if std_us_ssn.is_valid(text) else []


def valid_ip(text: str) -> Spans:
    if ":" not in text:
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return []
        return _whole(text)
    candidate = text.rstrip(".")
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return []
    groups = [g for g in candidate.replace("::", ":").split(":") if g]
    # `a[::2]`, `std::x`, times like 12:30: not addresses; two groups at least, e.g. fe80::1.
    if len(groups) < 2:
        return []
    return [(0, len(candidate), "")]


def valid_mac(text: str) -> Spans:
    hexdigits = "".join(ch for ch in text if ch in HEX)
    return _whole(text) if hexdigits.strip("0") else []


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def valid_jwt(text: str) -> Spans:
    parts = text.split(".")
    if len(parts) != 3:
        return []
    try:
        header = orjson.loads(_b64url(parts[0]))
        _b64url(parts[1])
        _b64url(parts[2])
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return []
    return _whole(text) if isinstance(header, dict) and "alg" in header else []


BASE32 = frozenset(string.ascii_uppercase + "234567")


def valid_aws(text: str) -> Spans:
    # Access key ids are base32 (A-Z, 2-7) after the four-letter prefix.
    return _whole(text) if BASE32.issuperset(text[4:]) else []


def _mixed(body: str) -> bool:
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


def valid_api_key(text: str) -> Spans:
    body = text[3:]
    if body.startswith("ant-"):
        # sk-ant-api03-..., sk-ant-admin01-...
        kind, _, secret = body[4:].partition("-")
        if kind.rstrip(DIGITS).isalpha() and len(secret) >= 32 and _mixed(secret):
            return _whole(text, "anthropic")
        return []
    for prefix in ("proj-", "svcacct-", "admin-"):
        if body.startswith(prefix):
            body = body[len(prefix) :]
            break
    return _whole(text, "openai") if len(body) >= 20 and _mixed(body) else []


def _stdnum(module: object) -> Callable[[str], Spans]:
    is_valid: Callable[[str], bool] = module.is_valid  # type: ignore[attr-defined]

    def validate(text: str) -> Spans:
        return _whole(text) if is_valid(text) else []

    return validate


LOCAL = ALNUM + "._%+-"
# Emails are searched from their "@" (scan.EmailUnit): the domain after it is this pattern.
EMAIL_DOMAIN = r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,6}"

# name -> (tag, pattern, max_len, validator, gate). Phone gets its region later.
DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector(
            "email",
            "[EMAIL]",
            r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,6}",
            64 + 1 + 63 + 6 * 64,
            valid_email,
            gate=b"@",
        ),
        Detector(
            "credit_card",
            "[CREDIT_CARD]",
            r"\b\d(?:[ \-]?\d){12,18}\b",
            37,
            valid_card,
        ),
        Detector(
            "iban",
            "[IBAN]",
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
            64,
            valid_iban,
        ),
        Detector(
            "ssn",
            "[SSN]",
            r"\b(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b",
            13,
            valid_ssn,
            isolated=True,
        ),
        Detector(
            "ip",
            "[IP_ADDRESS]",
            # IPv4, or IPv6 starting at a word boundary (not `std::x`) or with "::" and two groups.
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b"
            r"|\b[0-9A-Fa-f]{1,4}:[0-9A-Fa-f:.]{2,41}|::[0-9A-Fa-f][0-9A-Fa-f:.]{1,40}",
            45,
            valid_ip,
        ),
        Detector(
            "mac_address",
            "[MAC_ADDRESS]",
            r"\b(?:(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}"
            r"|(?:[0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4})\b",
            17,
            valid_mac,
        ),
        Detector(
            "jwt",
            "[JWT]",
            # Segments up to 1,000 / 2,000 / 1,000 characters (RE2 repeats stop at 1,000).
            r"\beyJ[A-Za-z0-9_\-]{2,1000}\.[A-Za-z0-9_\-]{2,1000}[A-Za-z0-9_\-]{0,1000}"
            r"\.[A-Za-z0-9_\-]{0,1000}",
            4005,
            valid_jwt,
            gate=b"eyJ",
        ),
        Detector(
            "aws_access_key",
            "[AWS_ACCESS_KEY]",
            r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
            20,
            valid_aws,
        ),
        Detector(
            "api_key",
            "[API_KEY]",
            r"\bsk-[A-Za-z0-9_\-]{20,250}",
            253,
            valid_api_key,
            gate=b"sk-",
        ),
        Detector(
            "cn_resident_id",
            "[CN_RESIDENT_ID]",
            r"\b\d{17}[\dXx]\b",
            20,
            _stdnum(std_cn_ric),
            isolated=True,
        ),
        Detector(
            "kr_rrn",
            "[KR_RRN]",
            r"\b\d{6}-?\d{7}\b",
            16,
            _stdnum(std_kr_rrn),
            isolated=True,
        ),
        Detector(
            "jp_mynumber",
            "[JP_MYNUMBER]",
            r"\b\d{4}[ \-]?\d{4}[ \-]?\d{4}\b",
            16,
            _stdnum(std_jp_in),
            isolated=True,
        ),
    )
}

PHONE_PATTERN = r"(?:\+\d|\(\d|\b\d)(?:[ .\-()]{0,2}\d){6,16}\b"


def phone_detector(region: str) -> Detector:
    return Detector(
        f"phone:{region}",
        "[PHONE]",
        PHONE_PATTERN,
        50,
        make_phone_validator(region),
    )


# Entity names a rule may list -> (detector family, kinds it accepts; empty = all).
ENTITIES: dict[str, tuple[str, frozenset[str]]] = {
    **{name: (name, frozenset()) for name in DETECTORS},
    "phone": ("phone", frozenset()),
    "api_key_openai": ("api_key", frozenset({"openai"})),
    "api_key_anthropic": ("api_key", frozenset({"anthropic"})),
}
