"""Screening streamed output: fragments in, masked text out as soon as it is final.

The screen holds back a bounded tail: from the leftmost point where the rest of the window may
still be the beginning of a match (each unit's tail pattern, guardrails/engine/tails.py), or the
longest match plus one character for regex rules, which have none. Every unit resumes
where the whole-text scan would, so the released text equals `Policy.screen([whole text])`
for mask-only policies (tests/guardrails/test_engine_stream.py checks it on random splits).
Each feed re-encodes only the held-back tail and the new fragment: linear in the stream.

A feed is usually a word or two, so its cost is per-call overhead, not per-character work:
one RE2 set pass over (held tail + fragment) says which units have a candidate in it and
whether anything may be in progress at its end. Only those units run or
get their open point computed; the rest cost nothing (docs/guardrails.md, "Engine: streams").
"""

from typing import Any

from guardrails.engine.model import Blocked, Match
from guardrails.engine.scan import (
    UNANCHORED,
    StageScanner,
    Unit,
    _re2,
    char_offsets,
    encode,
    keyword_detail,
    re2_options,
    re2_quote,
)


class StreamPlan:
    """What every stream of one stage shares, built once per compiled stage.

    The tail is the union of the units' tail patterns, anchored at the end: its leftmost match
    in the window is where a match may still be in progress, so the stream holds back from
    there (units without a tail, regex rules, hold back `fixed` characters instead). The gate
    is one RE2 set over the window with an entry per unit (its pattern, or the literal every
    match contains) and one for the tail. A unit with no hit cannot have a match in the window
    (it only advances its resume point); no tail hit means nothing is in progress."""

    __slots__ = ("always", "always_tail", "fixed", "gate", "scan_of", "tail", "tail_at", "truncate")

    def __init__(self, scanner: StageScanner) -> None:
        units = scanner.units
        self.tail: Any = None
        tailed: list[Unit] = []
        pattern = b""
        # A very large keyword list can make the union too big for RE2: those rules then hold
        # back their longest term instead (the pii tails are small and always fit).
        for with_keywords in (True, False):
            tailed = [u for u in units if u.tail and (with_keywords or not u.keyword)]
            if not tailed:
                break
            pattern = ("(?:" + "|".join(f"(?:{u.tail})" for u in tailed) + ")\\z").encode()
            regexp = _re2.RE2(pattern, re2_options())
            if regexp.ok():
                self.tail = regexp
                break
            tailed = []
        self.fixed = max((u.max_len + 1 for u in units if u not in tailed), default=0)
        masks = [r.limit for r in scanner.limits if r.action == "mask"]
        self.truncate = min(masks) if masks else None
        self.always: list[int] = []  # units scanned on every feed (no usable gate entry)
        self.always_tail = False  # the tail is matched on every feed (no gate entry for it)
        self.scan_of: dict[int, int] = {}  # gate entry -> unit index
        self.tail_at = -1  # the tail's gate entry
        self.gate: Any = None
        # Keyword and regex patterns can be large: when the set refuses them, they run always.
        for with_rules in (True, False):
            if self._build(units, pattern if self.tail is not None else b"", with_rules):
                return
        self.always = list(range(len(units)))
        self.always_tail = self.tail is not None
        self.scan_of, self.tail_at, self.gate = {}, -1, None

    def _build(self, units: list[Unit], tail: bytes, with_rules: bool) -> bool:
        gate = _re2.Set(UNANCHORED, re2_options())
        self.always, self.scan_of, self.tail_at = [], {}, -1
        for index, unit in enumerate(units):
            pii = unit.validate is not None
            entry = re2_quote(unit.gate) if unit.gate else unit.pattern.encode()
            at = gate.Add(entry) if entry and (pii or with_rules) else -1
            if at < 0:
                self.always.append(index)
            else:
                self.scan_of[at] = index
        if tail:
            self.tail_at = gate.Add(tail)
            if self.tail_at < 0:
                return False
        if not gate.Compile():
            return False
        self.gate = gate
        return True

    def held(self, data: bytes) -> int:
        """Characters at the end of `data` that may still be part of a match in progress."""
        start = self.tail.Match(UNANCHORED, data, 0, len(data))[0][0]
        if start < 0:
            return 0
        rest = data[start:]
        return len(rest) if rest.isascii() else len(rest.decode("utf-8", "replace"))


def stream_plan(scanner: StageScanner) -> StreamPlan:
    # Built on first use and kept on the (immutable, shared) stage; a race builds it twice.
    plan = scanner.stream_plan
    if plan is None:
        plan = scanner.stream_plan = StreamPlan(scanner)
    assert isinstance(plan, StreamPlan)
    return plan


class StreamScreen:
    """One text channel of a streamed response (content, or one tool call's arguments)."""

    def __init__(self, scanner: StageScanner | None, stage: str) -> None:
        self.matches: list[Match] = []
        self._stage = stage
        self._units = scanner.units if scanner else []
        self._plan = stream_plan(scanner) if scanner else None
        self._gate = self._plan.gate.Match if self._plan and self._plan.gate else None
        self._resume = [0] * len(self._units)  # where each unit scans from, at least _cut
        self._terms: dict[int, set[str]] = {}  # keyword unit index -> terms found
        self._limits = list(scanner.limits) if scanner else []
        self._truncate = self._plan.truncate if self._plan else None
        self._through = scanner is None or (not self._units and self._truncate is None)
        # Nothing to do per feed beyond the gate unless it says so (see _advance).
        plan = self._plan
        self._quiet = plan is not None and not (
            plan.always or plan.always_tail or plan.truncate is not None
        )
        self._tail_at = plan.tail_at if plan else -1
        self._fixed = plan.fixed if plan else 0
        self._buf = ""
        self._base = 0  # absolute position of _buf[0]
        self._cut = 0  # everything before it is final
        self._released = 0  # absolute position released up to
        self._region: list[int | str] | None = None  # open mask region [start, end, replacement]
        self._done = False  # truncated by max_chars: nothing more is released
        self._blocked: Match | None = None
        self._total = 0

    def feed(self, fragment: str) -> str:
        if self._blocked is not None:
            raise Blocked(self._blocked)
        if not fragment:
            return ""
        self._total += len(fragment)
        if self._limits:
            self._check_limits()
        if self._through:
            return self._pass_through(fragment)
        self._buf += fragment
        return self._advance(final=False)

    def flush(self) -> str:
        if self._blocked is not None:
            raise Blocked(self._blocked)
        if self._through:
            return ""
        return self._advance(final=True)

    def _pass_through(self, fragment: str) -> str:
        start = self._total - len(fragment)
        if self._truncate is None:
            return fragment
        return fragment[: max(0, self._truncate - start)]

    def _check_limits(self) -> None:
        for rule in list(self._limits):
            if self._total <= rule.limit:
                continue
            self._limits.remove(rule)
            match = Match(
                rule.rule_index,
                "max_chars",
                rule.action,
                self._stage,
                "",
                f"over {rule.limit} chars",
                "",
                0,
                rule.limit,
                self._total,
            )
            if rule.action == "block":
                self._blocked = match
                raise Blocked(match)
            self.matches.append(match)

    def _advance(self, final: bool) -> str:
        buf = self._buf
        try:
            data = buf.encode()
        except UnicodeEncodeError:
            data = encode(buf)
        hits = self._gate(data) if self._gate is not None else ()
        if final or not self._quiet or self._region is not None:
            return self._settle(data, hits, final)
        hold = self._fixed
        if hits:
            if len(hits) > 1 or hits[0] != self._tail_at:
                return self._settle(data, hits, final)
            hold = max(hold, self._plan.held(data))  # type: ignore[union-attr]
        # The usual feed: no unit has a candidate in the window, nothing is open. Release all
        # but what may still be part of a match; keep two characters of context (word
        # boundaries, digit groups) before the cut.
        base = self._base
        cut = max(self._cut, base + len(buf) - hold)
        self._cut = cut
        keep = max(base, cut - 2)
        self._buf = buf[keep - base :]
        self._base = keep
        released = self._released
        if cut <= released:
            return ""
        self._released = cut
        return buf[released - base : cut - base]

    def _settle(self, data: bytes, hits: list[int] | tuple[()], final: bool) -> str:
        plan = self._plan
        assert plan is not None
        buf, base = self._buf, self._base
        n = len(buf)
        chosen = [*plan.always, *(plan.scan_of[h] for h in hits if h in plan.scan_of)]
        if final:
            cut = base + n
        else:
            hold = min(plan.fixed, n)
            if plan.always_tail or plan.tail_at in hits:
                hold = max(hold, min(plan.held(data), n))
            cut = max(self._cut, base + n - hold)
        found = self._scan(chosen, data, cut) if chosen else None
        self._cut = cut
        out: list[str] = []
        if found:
            self._take(found, out)
        if self._region is not None and int(self._region[1]) <= cut:
            self._emit_region(out)
        self._emit_plain(out, cut if self._region is None else int(self._region[0]))
        keep = max(base, min(cut, self._released) - 2)  # context: boundaries, digit groups
        self._buf = buf[keep - base :]
        self._base = keep
        return "".join(out)

    def _scan(
        self, chosen: list[int], data: bytes, cut: int
    ) -> list[tuple[int, int, int, Match, str]]:
        """Findings of the chosen units that start before `cut`: (start, -end, rule, match,
        mask). Units not chosen have no match in the window; their resume point is at least
        `_cut` (the previous cut), which is where they would have stopped."""
        buf, base = self._buf, self._base
        ascii_only = len(data) == len(buf)
        found: list[tuple[int, int, int, Match, str]] = []
        for index in chosen:
            unit = self._units[index]
            # A keyword match starts at the boundary character before its term, which may be
            # released already (the term had not begun): scan from one character before the
            # cut, and take a match as final by where its term starts.
            lead = 1 if unit.keyword else 0
            resume = max(self._resume[index], self._cut - lead, base)
            local = resume - base
            pos = local if ascii_only else len(encode(buf[:local]))
            events = unit.scan(data, pos, len(data))
            if not ascii_only and events:
                chars = char_offsets(data, {x for e in events for x in e[:4] if x >= 0})
                events = [
                    (chars[c], chars[r], chars.get(a, -1), chars.get(b, -1), k)
                    for c, r, a, b, k in events
                ]
            for cand, after, a, b, kind in events:
                if (a if lead else cand) + base >= cut:
                    break
                resume = after + base
                if a < 0:
                    continue
                raw = buf[a:b]
                detail = ""
                if unit.keyword:
                    terms = self._terms.setdefault(index, set())
                    terms.add(raw.casefold())
                    detail = keyword_detail(len(terms))
                for sub in unit.subscribers:
                    if sub.kinds and kind not in sub.kinds:
                        continue
                    match = Match(
                        sub.rule_index,
                        sub.rule_type,
                        sub.action,
                        self._stage,
                        sub.entity,
                        detail or sub.detail,
                        raw,
                        0,
                        a + base,
                        b + base,
                    )
                    found.append((a + base, -(b + base), sub.rule_index, match, sub.replacement))
            self._resume[index] = max(resume, cut - lead)
        return found

    def _take(self, found: list[tuple[int, int, int, Match, str]], out: list[str]) -> None:
        """Record final findings in text order: a block raises; masks open or grow regions."""
        found.sort(key=lambda f: (f[0], f[1], f[2]))
        for *_, match, _ in found:
            if match.action == "block":
                self._blocked = match
                raise Blocked(match)
        for start, negative_end, _, match, replacement in found:
            self.matches.append(match)
            if match.action != "mask":
                continue
            region = self._region
            if region is not None and start < int(region[1]):
                region[1] = max(int(region[1]), -negative_end)
                continue
            if region is not None:
                self._emit_region(out)
            self._region = [start, -negative_end, replacement]

    def _emit_plain(self, out: list[str], upto: int) -> None:
        if not self._done:
            limit = upto if self._truncate is None else min(upto, self._truncate)
            if limit > self._released:
                out.append(self._buf[self._released - self._base : limit - self._base])
            if self._truncate is not None and upto >= self._truncate:
                self._done = True
        self._released = max(self._released, upto)

    def _emit_region(self, out: list[str]) -> None:
        assert self._region is not None
        start, end, replacement = self._region
        self._region = None
        self._emit_plain(out, int(start))
        if not self._done:
            out.append(str(replacement))
            if self._truncate is not None and int(end) >= self._truncate:
                self._done = True
        self._released = max(self._released, int(end))
