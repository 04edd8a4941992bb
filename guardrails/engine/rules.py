"""Validating a policy (the rules as users author them) and compiling it into scanners."""

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import phonenumbers
import re2

from guardrails.engine.model import ModerationRule, RuleError
from guardrails.engine.pii import (
    DETECTORS,
    EMAIL_DOMAIN,
    ENTITIES,
    LOCAL,
    Detector,
    detector_tail,
    phone_detector,
)
from guardrails.engine.scan import (
    CharLimit,
    EmailUnit,
    StageScanner,
    Subscriber,
    Unit,
    _re2,
    re2_compile,
)
from guardrails.engine.tails import keyword_tail

TYPES = ("keyword", "regex", "pii", "max_chars", "moderation")
RULE_STAGES = ("input", "output", "both")
ACTIONS = ("block", "mask", "flag")
MAX_RULES = 100
MAX_KEYWORDS = 10_000
MAX_TERM = 256
MAX_PATTERN = 2_000
# A regex match can be as long as the text; streams hold back this many characters for one,
# so a regex match longer than this may be missed across chunk boundaries (docs/guardrails.md).
REGEX_STREAM_CAP = 256
DEFAULT_MASK = "[REDACTED]"
ANCHOR_BOTH = _re2.RE2.Anchor.ANCHOR_BOTH
MAX_REPLACEMENT = 100
# What a whole-word keyword may not touch: letters, digits, marks, underscore.
BOUNDARY = r"[^\pL\pN\pM_]"

FIELDS = {
    "keyword": {"keywords", "whole_words", "replacement"},
    "regex": {"pattern", "replacement"},
    "pii": {"entities", "replacement", "phone_region"},
    "max_chars": {"limit"},
    "moderation": {"model", "categories", "threshold"},
}
COMMON = {"type", "stage", "action", "name", "description", "enabled"}


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise RuleError(field, message)


def _choice(rule: Mapping[str, Any], key: str, allowed: Sequence[str], where: str) -> str:
    value = rule.get(key)
    _require(value in allowed, f"{where}.{key}", f"must be one of {', '.join(allowed)}")
    return str(value)


def _replacement(rule: Mapping[str, Any], where: str, default: str) -> str:
    value = rule.get("replacement", default)
    _require(isinstance(value, str), f"{where}.replacement", "must be a string")
    _require(
        len(value) <= MAX_REPLACEMENT,
        f"{where}.replacement",
        f"at most {MAX_REPLACEMENT} characters",
    )
    return str(value)


def _term(value: Any, field: str, whole_default: bool) -> tuple[str, bool]:
    whole = whole_default
    if isinstance(value, Mapping):
        unknown = set(value) - {"term", "whole_word"}
        _require(not unknown, f"{field}.{min(unknown, default='')}", "unknown field")
        whole_value = value.get("whole_word", whole_default)
        _require(isinstance(whole_value, bool), f"{field}.whole_word", "must be true or false")
        whole = bool(whole_value)
        value = value.get("term")
        field = f"{field}.term"
    _require(isinstance(value, str), field, "must be a string or {term, whole_word}")
    term = str(value).strip()
    _require(term != "", field, "must not be empty")
    _require(len(term) <= MAX_TERM, field, f"at most {MAX_TERM} characters")
    _require(
        not any(unicodedata.category(c) == "Cc" for c in term),
        field,
        "must not contain control characters",
    )
    return term, whole


def keyword_unit(rule: Mapping[str, Any], where: str, sub: Subscriber) -> Unit:
    keywords = rule.get("keywords")
    field = f"{where}.keywords"
    _require(isinstance(keywords, list) and keywords != [], field, "must be a non-empty list")
    assert isinstance(keywords, list)
    _require(len(keywords) <= MAX_KEYWORDS, field, f"at most {MAX_KEYWORDS} keywords")
    whole_default = rule.get("whole_words", True)
    _require(isinstance(whole_default, bool), f"{where}.whole_words", "must be true or false")
    whole: set[str] = set()
    substring: set[str] = set()
    for i, value in enumerate(keywords):
        term, is_whole = _term(value, f"{field}[{i}]", bool(whole_default))
        (whole if is_whole else substring).add(term)
    alternatives = []
    if whole:
        terms = "|".join(re2.escape(t) for t in sorted(whole, key=len, reverse=True))
        alternatives.append(f"(?:^|{BOUNDARY})({terms})(?:{BOUNDARY}|$)")
    else:
        alternatives.append("(\\x00\\x01\\x00)")  # keeps the group numbers; never matches text
    if substring:
        alternatives.append("(" + "|".join(re2.escape(t) for t in substring) + ")")
    pattern = "(?i)" + "|".join(alternatives)
    regexp = re2_compile(pattern, longest=True)
    longest = max(len(t) for t in whole | substring) + 2
    tail = keyword_tail(sorted(whole), sorted(substring), BOUNDARY)
    return Unit(regexp, longest, [sub], keyword=True, pattern=pattern, tail=tail)


def regex_unit(rule: Mapping[str, Any], where: str, sub: Subscriber) -> Unit:
    pattern = rule.get("pattern")
    field = f"{where}.pattern"
    _require(isinstance(pattern, str) and pattern != "", field, "must be a non-empty string")
    assert isinstance(pattern, str)
    _require(len(pattern) <= MAX_PATTERN, field, f"at most {MAX_PATTERN} characters")
    try:
        regexp = re2_compile(pattern)
    except ValueError as error:
        hint = ""
        text = str(error)
        if "\\1" in text or "escape" in text or "perl operator" in text:
            hint = " (RE2 runs in linear time: no backreferences, no lookahead or lookbehind)"
        raise RuleError(field, f"not a valid RE2 pattern: {text}{hint}") from None
    empty = regexp.Match(ANCHOR_BOTH, b"", 0, 0)[0]
    _require(empty[0] < 0, field, "must not match the empty text")
    anchored = any(a in pattern for a in ("^", "$", "\\A", "\\z"))
    return Unit(regexp, REGEX_STREAM_CAP, [sub], joinable=not anchored, pattern=pattern)


def pii_subscribers(
    rule: Mapping[str, Any], where: str, index: int, action: str
) -> tuple[str, list[tuple[str, Subscriber]]]:
    entities = rule.get("entities")
    field = f"{where}.entities"
    region = rule.get("phone_region", "US")
    _require(
        isinstance(region, str) and region.upper() in phonenumbers.SUPPORTED_REGIONS,
        f"{where}.phone_region",
        "must be a region code phonenumbers knows, e.g. US",
    )
    region = str(region).upper()
    if isinstance(entities, list):
        _require(entities != [], field, "must list at least one entity")
        pairs = [(e, action) for e in entities]
    elif isinstance(entities, Mapping):
        _require(len(entities) > 0, field, "must name at least one entity")
        pairs = list(entities.items())
    else:
        raise RuleError(field, "must be a list of entities or an {entity: action} object")
    out = []
    for name, entity_action in pairs:
        _require(
            isinstance(name, str) and name in ENTITIES,
            f"{field}.{name}",
            f"unknown entity; known: {', '.join(sorted(ENTITIES))}",
        )
        _require(
            entity_action in ACTIONS,
            f"{field}.{name}",
            f"action must be one of {', '.join(ACTIONS)}",
        )
        family, kinds = ENTITIES[name]
        detector = phone_detector(region) if family == "phone" else DETECTORS[family]
        replacement = _replacement(rule, where, detector.tag)
        sub = Subscriber(index, "pii", entity_action, name, kinds, replacement, f"pii: {name}")
        out.append((detector.name, sub))
    return region, out


def moderation_rule(
    rule: Mapping[str, Any], where: str, index: int, stage: str, action: str
) -> ModerationRule:
    _require(action != "mask", f"{where}.action", "moderation can block or flag, not mask")
    # The judge runs beside the upstream call, on what the client sent; an answer is not
    # held back for a second model's verdict (docs/guardrails.md).
    _require(stage == "input", f"{where}.stage", "moderation judges the input stage only")
    model = rule.get("model")
    _require(
        isinstance(model, str) and model.strip() != "",
        f"{where}.model",
        "must be a catalog model id",
    )
    categories = rule.get("categories", [])
    _require(
        isinstance(categories, list) and all(isinstance(c, str) and c for c in categories),
        f"{where}.categories",
        "must be a list of category names",
    )
    threshold = rule.get("threshold")
    if threshold is not None:
        ok = isinstance(threshold, int | float) and not isinstance(threshold, bool)
        _require(ok and 0 <= threshold <= 1, f"{where}.threshold", "must be between 0 and 1")
    return ModerationRule(
        index,
        stage,
        action,
        str(model).strip(),
        tuple(categories),
        None if threshold is None else float(threshold),
    )


class StageBuilder:
    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.units: list[Unit] = []
        self.detectors: dict[str, tuple[Detector, list[Subscriber]]] = {}
        self.limits: list[CharLimit] = []
        self.rules = 0

    def build(self) -> StageScanner | None:
        if not self.rules:
            return None
        units = list(self.units)
        for detector, subs in self.detectors.values():
            if detector.name == "email":
                units.append(
                    EmailUnit(
                        re2_compile(EMAIL_DOMAIN),
                        LOCAL.encode(),
                        detector.max_len,
                        subs,
                        tail=detector_tail(detector),
                        validate=detector.validate,
                        gate=detector.gate,
                    )
                )
                continue
            units.append(
                Unit(
                    re2_compile(detector.pattern),
                    detector.max_len,
                    subs,
                    tail=detector_tail(detector),
                    validate=detector.validate,
                    gate=detector.gate,
                    pattern=detector.pattern,
                    isolated=detector.isolated,
                )
            )
        return StageScanner(self.stage, units, self.limits)


def compile_rules(
    rules: Any,
) -> tuple[StageScanner | None, StageScanner | None, tuple[ModerationRule, ...]]:
    # An empty list is a guardrail with nothing to screen yet (created blank, filled later).
    _require(isinstance(rules, list), "rules", "must be a list of rule objects")
    _require(len(rules) <= MAX_RULES, "rules", f"at most {MAX_RULES} rules")
    builders = {s: StageBuilder(s) for s in ("input", "output")}
    moderation: list[ModerationRule] = []
    regex_count = 0
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        _require(isinstance(rule, Mapping), where, "must be an object")
        kind = _choice(rule, "type", TYPES, where)
        stage = _choice(rule, "stage", RULE_STAGES, where)
        action = _choice(rule, "action", ACTIONS, where)
        unknown = set(rule) - COMMON - FIELDS[kind]
        _require(not unknown, f"{where}.{min(unknown, default='')}", f"unknown field for {kind}")
        stages = [builders[s] for s in ("input", "output") if stage in (s, "both")]
        for builder in stages:
            builder.rules += 1
        if kind == "moderation":
            moderation.append(moderation_rule(rule, where, index, stage, action))
            continue
        if kind == "max_chars":
            limit = rule.get("limit")
            _require(
                isinstance(limit, int) and not isinstance(limit, bool) and limit > 0,
                f"{where}.limit",
                "must be a positive integer",
            )
            for builder in stages:
                builder.limits.append(CharLimit(index, action, int(limit)))
            continue
        if kind == "pii":
            _, subs = pii_subscribers(rule, where, index, action)
            for builder in stages:
                for key, sub in subs:
                    family = key.split(":")[0]
                    detector = (
                        phone_detector(key.split(":")[1])
                        if family == "phone"
                        else DETECTORS[family]
                    )
                    builder.detectors.setdefault(key, (detector, []))[1].append(sub)
            continue
        replacement = _replacement(rule, where, DEFAULT_MASK)
        if kind == "keyword":
            sub = Subscriber(index, kind, action, "", frozenset(), replacement, "")
            unit = keyword_unit(rule, where, sub)
        else:
            regex_count += 1
            sub = Subscriber(
                index, kind, action, "", frozenset(), replacement, f"pattern {regex_count}"
            )
            unit = regex_unit(rule, where, sub)
        for builder in stages:
            builder.units.append(unit)
    return builders["input"].build(), builders["output"].build(), tuple(moderation)
