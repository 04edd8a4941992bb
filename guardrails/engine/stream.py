"""Screening streamed output: fragments in, masked text out as soon as it is final.

The screen holds back a bounded tail. A unit's match is final once it starts before the unit's
open point: the start of the trailing run of characters its matches are made of, but never more
than its longest match (plus one character of lookahead) before the end. Every unit resumes
where the whole-text scan would, so the released text equals `Policy.screen([whole text])`
for mask-only policies (tests/guardrails/test_engine_stream.py checks it on random splits).
Each feed re-encodes only the held-back tail and the new fragment: linear in the stream.
"""

from guardrails.engine.model import Blocked, Match
from guardrails.engine.scan import StageScanner, char_offsets, encode, keyword_detail


class StreamScreen:
    """One text channel of a streamed response (content, or one tool call's arguments)."""

    def __init__(self, scanner: StageScanner | None, stage: str) -> None:
        self.matches: list[Match] = []
        self._scanner = scanner
        self._stage = stage
        self._units = scanner.units if scanner else []
        self._alphabets = sorted(
            {
                (u.alphabet, u.starts or u.alphabet, u.max_len + 1)
                for u in self._units
                if u.alphabet is not None
            },
            key=lambda entry: entry[2],
        )
        fixed = [u.max_len + 1 for u in self._units if u.alphabet is None]
        self._fixed = max(fixed, default=0)
        self._resume = [0] * len(self._units)
        self._terms: list[set[str]] = [set() for _ in self._units]
        self._limits = list(scanner.limits) if scanner else []
        masks = [r.limit for r in self._limits if r.action == "mask"]
        self._truncate = min(masks) if masks else None
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
        self._check_limits()
        if self._scanner is None or (not self._units and self._truncate is None):
            return self._pass_through(fragment)
        self._buf += fragment
        return self._advance(final=False)

    def flush(self) -> str:
        if self._blocked is not None:
            raise Blocked(self._blocked)
        if self._scanner is None or (not self._units and self._truncate is None):
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

    def _open_point(self) -> int:
        """The earliest position a future fragment can still change a match at."""
        buf = self._buf
        n = len(buf)
        hold = min(self._fixed, n)
        for alphabet, starts, most in self._alphabets:
            if most <= hold:
                continue
            # The trailing run of characters matches are made of, from its first possible start.
            limit = min(most, n)
            i = n
            while n - i < limit and buf[i - 1] in alphabet:
                i -= 1
            while i < n and buf[i] not in starts:
                i += 1
            hold = max(hold, n - i)
        return self._base + n - hold

    def _advance(self, final: bool) -> str:
        assert self._scanner is not None
        buf, base = self._buf, self._base
        end = base + len(buf)
        cut = end if final else max(self._cut, self._open_point())
        data = encode(buf)
        ascii_only = len(data) == len(buf)
        chosen = set(map(id, self._scanner.gate.units(data))) if self._units else set()
        found: list[tuple[int, int, int, Match, str]] = []  # (start, -end, rule, match, mask)
        for index, unit in enumerate(self._units):
            resume = self._resume[index]
            if id(unit) not in chosen:
                self._resume[index] = max(resume, cut)
                continue
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
                if cand + base >= cut:
                    break
                resume = after + base
                if a < 0:
                    continue
                raw = buf[a:b]
                detail = ""
                if unit.keyword:
                    self._terms[index].add(raw.casefold())
                    detail = keyword_detail(len(self._terms[index]))
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
            self._resume[index] = max(resume, cut)
        self._cut = cut
        found.sort(key=lambda f: (f[0], f[1], f[2]))
        for *_, match, _ in found:
            if match.action == "block":
                self._blocked = match
                raise Blocked(match)
        out: list[str] = []
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
        if self._region is not None and int(self._region[1]) <= cut:
            self._emit_region(out)
        self._emit_plain(out, cut if self._region is None else int(self._region[0]))
        keep = max(self._base, min(cut, self._released) - 2)  # context: boundaries, digit groups
        self._buf = buf[keep - base :]
        self._base = keep
        return "".join(out)

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
