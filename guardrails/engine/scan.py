"""Scanning units and the one-pass screen of a stage's texts.

Every rule kind becomes a unit over UTF-8 bytes, run through RE2's low-level matcher (one call
per match, no per-character Python). A stage's texts are joined with NUL, which no PII pattern
or keyword can span; a regex rule whose match spans it is re-run text by text. PII detectors
are gated: one RE2 set pass (or a substring test) says which of them occur at all, and only
those run their own pass. The measurements behind this are in docs/guardrails.md.
"""

import importlib
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from guardrails.engine.model import Match, Screening

# RE2's low-level matcher (untyped): Match() on bytes from a position, without the per-match
# str<->bytes bookkeeping of the re-like wrapper, which costs more than the match itself here.
_re2: Any = importlib.import_module("re2._re2")
UNANCHORED = _re2.RE2.Anchor.UNANCHORED
ANCHOR_START = _re2.RE2.Anchor.ANCHOR_START
SEPARATOR = "\x00"
SEP = SEPARATOR.encode()
MAX_MEM = 64 << 20

# (candidate start, resume at, span start, span end, kind); span start -1: a rejected candidate
Event = tuple[int, int, int, int, str]


def re2_options(longest: bool = False) -> Any:
    options = _re2.RE2.Options()
    options.log_errors = False
    options.max_mem = MAX_MEM
    options.longest_match = longest
    return options


def re2_compile(pattern: str, longest: bool = False) -> Any:
    """A low-level RE2 object; ValueError with RE2's message when it refuses the pattern."""
    regexp = _re2.RE2(pattern.encode(), re2_options(longest))
    if not regexp.ok():
        error = regexp.error()
        raise ValueError(error.decode() if isinstance(error, bytes) else str(error))
    return regexp


def encode(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates: one "?" each keeps the character count
        return text.encode("utf-8", "replace")


def next_char(data: bytes, pos: int) -> int:
    pos += 1
    while pos < len(data) and data[pos] & 0xC0 == 0x80:
        pos += 1
    return pos


def _digit(data: bytes, i: int) -> bool:
    return 0 <= i < len(data) and 48 <= data[i] <= 57


def _grouped(data: bytes, start: int, stop: int) -> bool:
    """Whether the span is part of a longer group of digits written with its own separator:
    "4111 1111 1111" of "4111 1111 1111 1112", but not "123-45-6789" of "123-45-6789 4111"."""
    span = data[start:stop]
    seps = [s for s in b" -" if s in span]
    before = start >= 2 and data[start - 1] in seps and _digit(data, start - 2)
    return before or (stop < len(data) and data[stop] in seps and _digit(data, stop + 1))


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A rule (and, for pii, one of its entities) that a unit's findings are reported to."""

    rule_index: int
    rule_type: str
    action: str
    entity: str
    kinds: frozenset[str]  # pii kinds accepted; empty: all
    replacement: str
    detail: str


class Unit:
    """One pass over the text: a pii detector, a keyword rule or a regex rule."""

    __slots__ = (
        "gate",
        "isolated",
        "joinable",
        "keyword",
        "max_len",
        "pattern",
        "regexp",
        "set_index",
        "subscribers",
        "tail",
        "validate",
    )

    def __init__(
        self,
        regexp: Any,
        max_len: int,
        subscribers: list[Subscriber],
        *,
        tail: str | None = None,
        validate: Callable[[str], list[tuple[int, int, str]]] | None = None,
        keyword: bool = False,
        joinable: bool = True,
        gate: bytes = b"",
        pattern: str = "",
        isolated: bool = False,
    ) -> None:
        self.isolated = isolated
        self.regexp = regexp
        self.pattern = pattern  # kept for the gate's sets (screen: pii only; streams: all)
        self.max_len = max_len  # the longest match, in characters
        # What the end of a stream window may be the start of (guardrails.engine.tails);
        # None: streams hold back max_len + 1 characters for this unit.
        self.tail = tail
        self.subscribers = subscribers
        self.validate = validate
        self.keyword = keyword
        self.joinable = joinable  # False: anchors (^ $) make the joined text wrong for it
        self.gate = gate
        self.set_index = -1

    def scan(self, data: bytes, pos: int, end: int) -> list[Event]:
        match = self.regexp.Match
        validate = self.validate
        events: list[Event] = []
        while pos <= end:
            spans = match(UNANCHORED, data, pos, end)
            start, stop = spans[0]
            if start < 0:
                break
            if validate is not None:
                if self.isolated and _grouped(data, start, stop):
                    events.append((start, stop, -1, -1, ""))
                    pos = stop
                    continue
                found = validate(data[start:stop].decode("latin-1"))
                if found:
                    events.extend((start, stop, start + a, start + b, k) for a, b, k in found)
                else:
                    events.append((start, stop, -1, -1, ""))
                pos = stop
            elif self.keyword:
                # Group 1: a whole-word term between its boundary characters; group 2: substring.
                a, b = spans[1] if spans[1][0] >= 0 else spans[2]
                events.append((start, b, a, b, ""))
                pos = b
            elif stop == start:
                pos = next_char(data, stop)  # an empty match (e.g. only `\b`): not a finding
            else:
                events.append((start, stop, start, stop, ""))
                pos = stop
        return events


class EmailUnit(Unit):
    """Email addresses found from their "@" (a substring search in C) rather than by a regex
    pass: the local part is the run of local-part characters before it (at most 64, not
    before `pos`), the domain an anchored RE2 match after it. 2-3x cheaper on small texts."""

    __slots__ = ("local",)

    def __init__(
        self, domain: Any, local: bytes, max_len: int, subscribers: list[Subscriber], **options: Any
    ) -> None:
        super().__init__(domain, max_len, subscribers, **options)
        self.local = frozenset(local)

    def scan(self, data: bytes, pos: int, end: int) -> list[Event]:
        events: list[Event] = []
        assert self.validate is not None
        local, match = self.local, self.regexp.Match
        at = data.find(b"@", pos, end)
        while at >= 0:
            start, lowest = at, max(pos, at - 64)
            while start > lowest and data[start - 1] in local:
                start -= 1
            stop = match(ANCHOR_START, data, at + 1, end)[0][1] if start < at else -1
            if stop < 0:
                at = data.find(b"@", at + 1, end)
                continue
            found = self.validate(data[start:stop].decode("latin-1"))
            if found:
                events.extend((start, stop, start + a, start + b, k) for a, b, k in found)
            else:
                events.append((start, stop, -1, -1, ""))
            pos = stop
            at = data.find(b"@", stop, end)
        return events


@dataclass(frozen=True, slots=True)
class CharLimit:
    rule_index: int
    action: str
    limit: int


class Gate:
    """Which pii units can match at all, in one RE2 set pass: their patterns, or for units
    with a literal gate (a substring every match has) that literal. Three `bytes in` tests
    cost as much as the whole set pass on a 1 KB text, so literals go into the set too."""

    __slots__ = ("set", "set_units", "ungated")

    def __init__(self, units: Sequence[Unit]) -> None:
        self.ungated = [u for u in units if u.validate is None]
        self.set_units = [u for u in units if u.validate is not None]
        self.set: Any = None
        if self.set_units:
            self.set = _re2.Set(UNANCHORED, re2_options())
            for unit in self.set_units:
                pattern = re2_quote(unit.gate) if unit.gate else unit.pattern.encode()
                unit.set_index = self.set.Add(pattern)
            if not self.set.Compile():
                raise ValueError("the pii patterns do not compile as a set")

    def units(self, data: bytes) -> list[Unit]:
        if self.set is None:
            return self.ungated
        hits = self.set.Match(data)
        if not hits:
            return self.ungated
        return [*self.ungated, *(self.set_units[i] for i in hits)]


def re2_quote(literal: bytes) -> bytes:
    return bytes(_re2.RE2.QuoteMeta(literal))


def char_offsets(data: bytes, offsets: set[int]) -> dict[int, int]:
    """Byte offsets (at character boundaries) -> character offsets, one pass over the data."""
    result: dict[int, int] = {}
    last_byte = last_char = 0
    for offset in sorted(offsets):
        last_char += len(data[last_byte:offset].decode("utf-8", "replace"))
        last_byte = offset
        result[offset] = last_char
    return result


def keyword_detail(count: int) -> str:
    return f"matched {count} keyword(s)"


def findings(
    unit: Unit, events: list[Event], text: str, stage: str, starts: list[int], index: int = 0
) -> list[tuple[Match, str]]:
    """(match, replacement) per subscriber that wants the event's kind. Event positions are in
    characters of `text`: the joined texts when `starts` (each text's offset in it) has more
    than one entry, else the single text `index`."""
    out: list[tuple[Match, str]] = []
    spans = [(a, b, k) for _, _, a, b, k in events if a >= 0]
    if not spans:
        return out
    detail = ""
    if unit.keyword:
        detail = keyword_detail(len({text[a:b].casefold() for a, b, _ in spans}))
    many = len(starts) > 1
    for a, b, kind in spans:
        raw = text[a:b]
        i, base = index, 0
        if many:
            i = bisect_right(starts, a) - 1
            base = starts[i]
        for sub in unit.subscribers:
            if sub.kinds and kind not in sub.kinds:
                continue
            match = Match(
                sub.rule_index,
                sub.rule_type,
                sub.action,
                stage,
                sub.entity,
                detail or sub.detail,
                raw,
                i,
                a - base,
                b - base,
            )
            out.append((match, sub.replacement))
    return out


def apply_masks(text: str, masks: list[tuple[int, int, int, str]], cut: int | None) -> str:
    """Replace mask spans (start, end, rule index, replacement): overlapping spans merge into one
    region that takes the replacement of its earliest, then longest, then first rule's span.
    `cut`: a max_chars truncation point; a region starting before it is replaced whole."""
    masks.sort(key=lambda m: (m[0], -m[1], m[2]))
    parts: list[str] = []
    pos = 0
    region: list[Any] | None = None  # [start, end, replacement]
    limit = len(text) if cut is None else cut
    for start, end, _, replacement in masks:
        if region is not None and start < region[1]:
            region[1] = max(region[1], end)
            continue
        if region is not None:
            parts.append(text[pos : region[0]])
            parts.append(region[2])
            pos = region[1]
        if start >= limit:
            region = None
            break
        region = [start, end, replacement]
    if region is not None:
        parts.append(text[pos : region[0]])
        parts.append(region[2])
        pos = region[1]
    if pos < limit:
        parts.append(text[pos:limit])
    return "".join(parts)


class StageScanner:
    """Everything a policy checks on one stage (input or output)."""

    __slots__ = ("gate", "limits", "max_holdback", "stage", "stream_plan", "units")

    def __init__(self, stage: str, units: list[Unit], limits: list[CharLimit]) -> None:
        self.stage = stage
        self.units = units
        self.limits = limits
        self.gate = Gate(units)
        self.max_holdback = max((u.max_len for u in units), default=0) + 1
        self.stream_plan: Any = None  # stream.StreamPlan, built by the first stream

    def screen(self, texts: Sequence[str]) -> Screening:
        count = len(texts)
        joined = texts[0] if count == 1 else SEPARATOR.join(texts)
        data = encode(joined)
        ascii_only = len(data) == len(joined)
        starts = [0]
        if count > 1:
            for text in texts[:-1]:
                starts.append(starts[-1] + len(text) + 1)
        per_text: list[tuple[Unit, int, list[Event]]] = []  # (unit, text index, events)
        joined_events: list[tuple[Unit, list[Event]]] = []
        for unit in self.gate.units(data) if self.units else ():
            if count > 1 and not unit.joinable:
                per_text.extend(
                    (unit, i, unit.scan(encode(t), 0, len(encode(t)))) for i, t in enumerate(texts)
                )
                continue
            events = unit.scan(data, 0, len(data))
            regex = unit.validate is None and not unit.keyword
            if count > 1 and regex and any(SEP in data[a:b] for _, _, a, b, _ in events):
                per_text.extend(
                    (unit, i, unit.scan(encode(t), 0, len(encode(t)))) for i, t in enumerate(texts)
                )
                continue
            if events:
                joined_events.append((unit, events))
        results: list[tuple[Match, str]] = []
        stage = self.stage
        if joined_events and not ascii_only:
            offsets = {x for _, events in joined_events for e in events for x in e[2:4] if x >= 0}
            chars = char_offsets(data, offsets)
            joined_events = [
                (unit, [(s, r, chars.get(a, -1), chars.get(b, -1), k) for s, r, a, b, k in events])
                for unit, events in joined_events
            ]
        for unit, events in joined_events:
            results.extend(findings(unit, events, joined, stage, starts))
        for unit, i, events in per_text:
            text = texts[i]
            local = encode(text)
            if len(local) != len(text):
                chars = char_offsets(local, {x for e in events for x in e[2:4] if x >= 0})
                events = [(s, r, chars.get(a, -1), chars.get(b, -1), k) for s, r, a, b, k in events]
            results.extend(findings(unit, events, text, stage, [0], i))
        cut = self._limits(texts, results)
        return _finish(texts, results, cut)

    def _limits(self, texts: Sequence[str], results: list[tuple[Match, str]]) -> int | None:
        """max_chars rules over all texts: findings appended; the truncation point returned."""
        if not self.limits:
            return None
        total = sum(len(t) for t in texts)
        cut: int | None = None
        for rule in self.limits:
            if total <= rule.limit:
                continue
            i, offset = locate(texts, rule.limit)
            match = Match(
                rule.rule_index,
                "max_chars",
                rule.action,
                self.stage,
                "",
                f"over {rule.limit} chars",
                "",
                i,
                offset,
                len(texts[i]),
            )
            results.append((match, ""))
            if rule.action == "mask":
                cut = rule.limit if cut is None else min(cut, rule.limit)
        return cut


def locate(texts: Sequence[str], position: int) -> tuple[int, int]:
    """(text index, offset) of a character position counted over all texts."""
    for i, text in enumerate(texts):
        if position < len(text) or i == len(texts) - 1:
            return i, min(position, len(text))
        position -= len(text)
    return 0, 0


def _order(item: tuple[Match, str]) -> tuple[int, int, int]:
    match = item[0]
    return match.text_index, match.start, match.rule_index


def _finish(texts: Sequence[str], results: list[tuple[Match, str]], cut: int | None) -> Screening:
    out = texts if isinstance(texts, list) else list(texts)
    if not results:
        return Screening(None, [], out, False)
    results.sort(key=_order)
    matches = [m for m, _ in results]
    blocked = next((m for m in matches if m.action == "block"), None)
    masks: dict[int, list[tuple[int, int, int, str]]] = {}
    for match, replacement in results:
        if match.action == "mask" and match.rule_type != "max_chars":
            masks.setdefault(match.text_index, []).append(
                (match.start, match.end, match.rule_index, replacement)
            )
    if blocked is not None or (not masks and cut is None):
        return Screening(blocked, matches, out, False)
    masked = list(out)
    offset = 0
    for i, text in enumerate(out):
        local_cut = None if cut is None else max(0, min(len(text), cut - offset))
        offset += len(text)
        spans = masks.get(i)
        if spans:
            masked[i] = apply_masks(text, spans, local_cut)
        elif local_cut is not None and local_cut < len(text):
            masked[i] = text[:local_cut]
    changed = any(a is not b and a != b for a, b in zip(masked, out, strict=True))
    return Screening(None, matches, masked if changed else out, changed)
