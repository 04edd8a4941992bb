"""Tail patterns: what the end of a stream window may be the beginning of.

A stream can release text once no match can start in it any more. A unit's tail pattern
matches, anchored at the end of the window, every suffix that is a prefix of one of the unit's
matches (a match itself included: it may still grow, or wait for its closing `\\b`). The
leftmost start of the union of all tails is where a stream must hold back from
(docs/guardrails.md, "Engine: streams").

The prefix language of a bounded regex is built from its parse tree: the non-empty prefixes of
`A B` are those of `A`, or `A` followed by those of `B`; of `A{m,n}`, `A{0,n-1}` followed by those
of `A`. Assertions are dropped where they would look past the end of the window (that only
holds back more). Keyword rules get theirs from the terms directly.
"""

import re._constants as sre_c  # the parser's opcodes (stdlib, stable since 3.11)
import re._parser as sre_parse
from collections.abc import Iterable
from typing import Any

Node = tuple[Any, Any]


class Unbounded(ValueError):
    """A pattern with an unbounded repeat has no bounded tail (regex rules keep the cap)."""


def _char(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"


_CATEGORIES = {
    sre_c.CATEGORY_DIGIT: r"\d",
    sre_c.CATEGORY_NOT_DIGIT: r"\D",
    sre_c.CATEGORY_WORD: r"\w",
    sre_c.CATEGORY_NOT_WORD: r"\W",
    sre_c.CATEGORY_SPACE: r"\s",
    sre_c.CATEGORY_NOT_SPACE: r"\S",
}
_ASSERTIONS = {
    sre_c.AT_BOUNDARY: r"\b",
    sre_c.AT_NON_BOUNDARY: r"\B",
    sre_c.AT_BEGINNING: "^",
    sre_c.AT_BEGINNING_STRING: r"\A",
    sre_c.AT_END: "$",
    sre_c.AT_END_STRING: r"\z",
}


def _class(items: list[Node]) -> str:
    parts: list[str] = []
    for op, av in items:
        if op is sre_c.NEGATE:
            parts.insert(0, "^")
        elif op is sre_c.LITERAL:
            parts.append(_char(av))
        elif op is sre_c.RANGE:
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        elif op is sre_c.CATEGORY:
            parts.append(_CATEGORIES[av])
        else:
            raise ValueError(f"unsupported class item {op}")
    return "[" + "".join(parts) + "]"


def _full(seq: Iterable[Node]) -> str:
    return "".join(_node(op, av) for op, av in seq)


def _node(op: Any, av: Any) -> str:
    """One parse node written back in RE2 syntax."""
    if op is sre_c.LITERAL:
        return _char(av)
    if op is sre_c.NOT_LITERAL:
        return f"[^{_char(av)}]"
    if op is sre_c.IN:
        return _class(av)
    if op is sre_c.ANY:
        return "."
    if op is sre_c.AT:
        return _ASSERTIONS[av]
    if op is sre_c.SUBPATTERN:
        return f"(?:{_full(av[-1])})"
    if op is sre_c.BRANCH:
        return "(?:" + "|".join(_full(alt) for alt in av[1]) + ")"
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        low, high, sub = av
        if high is sre_c.MAXREPEAT:
            raise Unbounded("unbounded repeat")
        return f"(?:{_full(sub)}){{{low},{high}}}"
    raise ValueError(f"unsupported pattern element {op}")


def _alt(options: list[str]) -> str | None:
    options = [o for o in options if o]
    if not options:
        return None
    return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"


def _prefixes(seq: list[Node]) -> str | None:
    """The non-empty prefixes of a sequence, as a pattern (None: there are none)."""
    if not seq:
        return None
    (op, av), rest = seq[0], list(seq[1:])
    head = _node_prefixes(op, av)
    after = _prefixes(rest)
    return _alt([head or "", _node(op, av) + after if after else ""])


def _node_prefixes(op: Any, av: Any) -> str | None:
    if op in (sre_c.LITERAL, sre_c.NOT_LITERAL, sre_c.IN, sre_c.ANY):
        return _node(op, av)  # one character: its only non-empty prefix is itself
    if op is sre_c.AT:
        return None  # nothing to consume; a trailing assertion is dropped
    if op is sre_c.SUBPATTERN:
        return _prefixes(list(av[-1]))
    if op is sre_c.BRANCH:
        return _alt([p for alt in av[1] if (p := _prefixes(list(alt)))])
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        _, high, sub = av
        if high is sre_c.MAXREPEAT:
            raise Unbounded("unbounded repeat")
        inner = _prefixes(list(sub))
        if inner is None or high == 0:
            return None
        return inner if high == 1 else f"(?:{_full(sub)}){{0,{high - 1}}}{inner}"
    raise ValueError(f"unsupported pattern element {op}")


def prefix_pattern(pattern: str) -> str:
    """A pattern for the non-empty prefixes of `pattern`'s matches (an ASCII, flag-free RE2
    pattern with bounded repeats); ValueError when it has none or uses what is not handled."""
    result = _prefixes(list(sre_parse.parse(pattern)))
    if result is None:
        raise ValueError("the pattern matches nothing non-empty")
    return result


def _trie(terms: Iterable[str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for term in terms:
        node = root
        for char in term:  # as written: the rule's (?i) folds case, not casefold()
            node = node.setdefault(char, {})
    return root


def _trie_prefixes(node: dict[str, Any]) -> str:
    """Every non-empty prefix of the trie's words: c(?:rest)? per branch."""
    options = []
    for char, child in sorted(node.items()):
        literal = _char(ord(char))
        options.append(literal + (f"(?:{_trie_prefixes(child)})?" if child else ""))
    return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"


def keyword_tail(whole: Iterable[str], substring: Iterable[str], boundary: str) -> str:
    """The tail of a keyword rule: a whole-word term's prefix after its boundary character
    (or the start), or any substring term's prefix. Case-insensitive like the rule itself."""
    options = []
    whole, substring = list(whole), list(substring)
    if whole:
        options.append(f"(?:^|{boundary}){_trie_prefixes(_trie(whole))}")
    if substring:
        options.append(_trie_prefixes(_trie(substring)))
    return "(?i:" + "|".join(options) + ")"
