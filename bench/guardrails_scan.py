"""What screening costs, per technique tried for the guardrail engine (docs/guardrails.md).

`.venv/bin/python bench/guardrails_scan.py` builds a policy with every pii entity and 1,000
keywords (`... streams`: the stream rows only, a few seconds), then times on one core (best of
GUARD_REPEAT runs, process CPU time):
- MB/s over GUARD_MB (1) MB of mixed text: prose with occasional numbers, emails, URLs, phones;
- µs per small request: three texts, ~1,000 characters in all, as a chat request carries;
- µs per stream fragment: 2,000 fragments of ~20 characters through one StreamScreen;
- held characters after a feed (fed minus released) on ordinary prose, relay policy;
- µs per chat stream as the relay sees it: a new StreamScreen, 9 fragments of 1-2 words, flush,
  with the relay benchmark's policy (all pii masked, 1,000 never-seen keywords blocked);
for the chosen engine (guardrails.engine) and the candidates measured against it: the pii
patterns as separate RE2 passes, as one RE2 alternation, through Hyperscan; keywords through
pyahocorasick, one RE2 alternation and Hyperscan. Candidates whose library is not installed
(hyperscan and pyahocorasick left the lock after this measurement) are skipped with a note.
"""

import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardrails.engine import compile_policy
from guardrails.engine.pii import DETECTORS, PHONE_PATTERN
from guardrails.engine.pii import ENTITIES as PII_NAMES
from guardrails.engine.rules import BOUNDARY
from guardrails.engine.scan import UNANCHORED, _re2, re2_compile, re2_options

MB = float(os.environ.get("GUARD_MB", "1"))
REPEAT = int(os.environ.get("GUARD_REPEAT", "5"))
ENTITIES = [*DETECTORS, "phone"]
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "be",
    "are",
    "or",
    "it",
    "an",
    "have",
    "not",
    "which",
    "but",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "gateway",
    "request",
    "model",
    "latency",
    "token",
    "stream",
    "response",
    "customer",
    "invoice",
    "server",
    "deploy",
    "policy",
    "account",
    "project",
    "python",
    "function",
    "return",
    "value",
    "error",
    "config",
]


def mixed_text(size: int, rnd: random.Random) -> str:
    words: list[str] = []
    total = 0
    while total < size:
        r = rnd.random()
        if r < 0.002:
            word = f"({rnd.randint(200, 999)}) {rnd.randint(200, 999)}-{rnd.randint(1000, 9999)}"
        elif r < 0.004:
            word = f"user{rnd.randint(1, 999)}@example.com"
        elif r < 0.01:
            word = f"https://example.com/p/{rnd.randint(1, 99999)}"
        elif r < 0.04:
            word = str(rnd.randint(1, 2030))
        elif r < 0.0405:
            word = "kubernetes"  # one of the keywords, now and then
        else:
            word = rnd.choice(WORDS)
        words.append(word)
        total += len(word) + 1
    return " ".join(words)


def keywords(rnd: random.Random) -> list[str]:
    terms = {"kubernetes"}
    while len(terms) < 1000:
        terms.add(
            "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(5, 12)))
        )
    return sorted(terms)


def best(fn: Callable[[], object], repeat: int = REPEAT) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def per_call(fn: Callable[[], object], calls: int) -> float:
    """µs per call, best of REPEAT batches."""
    return best(lambda: [fn() for _ in range(calls)]) / calls * 1e6


def finditer_count(regexp: object, data: bytes) -> int:
    match = regexp.Match  # type: ignore[attr-defined]
    pos, end, count = 0, len(data), 0
    while True:
        start, stop = match(UNANCHORED, data, pos, end)[0]
        if start < 0:
            return count
        count += 1
        pos = stop if stop > pos else pos + 1


def row(
    label: str, large_s: float | None, size: int, small_us: float | None, note: str = ""
) -> None:
    rate = f"{size / large_s / 1e6:8.1f} MB/s" if large_s else " " * 13
    small = f"{small_us:8.2f} µs/request" if small_us is not None else ""
    print(f"{label:58s} {rate}  {small} {note}".rstrip())


def main() -> None:
    rnd = random.Random(7)
    text = mixed_text(int(MB * 1_000_000), rnd)
    data = text.encode()
    small = [mixed_text(300, rnd), mixed_text(500, rnd), mixed_text(200, rnd)]
    small_data = "\x00".join(small).encode()
    terms = keywords(rnd)
    rules = [
        {"type": "pii", "stage": "both", "action": "mask", "entities": ENTITIES},
        {"type": "keyword", "stage": "both", "action": "flag", "keywords": terms},
    ]
    start = time.process_time()
    policy = compile_policy(rules)
    compile_ms = (time.process_time() - start) * 1e3
    print(
        f"text: {len(data) / 1e6:.1f} MB mixed; small request: {sum(map(len, small))} chars "
        f"in 3 texts; policy: {len(ENTITIES)} pii entities + {len(terms)} keywords "
        f"(compiled in {compile_ms:.0f} ms)\n"
    )

    print(
        "chosen: guardrails.engine (RE2 set gate + RE2 pass per present entity, one RE2 "
        "alternation per keyword rule)"
    )
    found = len(policy.screen([text], "input").matches)
    row(
        "  Policy.screen, all pii + 1,000 keywords",
        best(lambda: policy.screen([text], "input")),
        len(data),
        per_call(lambda: policy.screen(small, "input"), 2000),
        f"({found} matches)",
    )
    pii_only = compile_policy(rules[:1])
    row(
        "  Policy.screen, all pii",
        best(lambda: pii_only.screen([text], "input")),
        len(data),
        per_call(lambda: pii_only.screen(small, "input"), 2000),
    )
    kw_only = compile_policy(rules[1:])
    row(
        "  Policy.screen, 1,000 keywords",
        best(lambda: kw_only.screen([text], "input")),
        len(data),
        per_call(lambda: kw_only.screen(small, "input"), 2000),
    )
    row(
        "  Policy.screen, small request text by text (no joining)",
        None,
        0,
        per_call(lambda: [policy.screen([t], "input") for t in small], 2000),
    )
    stream_rows(policy, text)

    print("\npii candidates (pattern passes only, no validation)")
    patterns = {name: d.pattern for name, d in DETECTORS.items()} | {"phone": PHONE_PATTERN}
    compiled = {name: re2_compile(p) for name, p in patterns.items()}
    row(
        "  RE2: one pass per entity, no gate",
        best(lambda: [finditer_count(r, data) for r in compiled.values()]),
        len(data),
        per_call(lambda: [finditer_count(r, small_data) for r in compiled.values()], 2000),
    )
    regex_set = _re2.Set(UNANCHORED, re2_options())
    for p in patterns.values():
        regex_set.Add(p.encode())
    regex_set.Compile()
    row(
        "  RE2 Set: which entities occur (the gate alone)",
        best(lambda: regex_set.Match(data)),
        len(data),
        per_call(lambda: regex_set.Match(small_data), 5000),
    )
    alternation = re2_compile("|".join(f"({p})" for p in patterns.values()))
    row(
        "  RE2: one alternation with a group per entity",
        best(lambda: finditer_count(alternation, data)),
        len(data),
        per_call(lambda: finditer_count(alternation, small_data), 5000),
        "(leftmost-first: hides overlapping entities)",
    )
    hyperscan_rows(patterns, data, small_data)

    print("\nkeyword candidates (1,000 terms, case-insensitive)")
    whole = re2_compile(
        f"(?i)(?:^|{BOUNDARY})(" + "|".join(terms) + f")(?:{BOUNDARY}|$)", longest=True
    )
    row(
        "  RE2: one alternation, Unicode whole-word boundaries (chosen)",
        best(lambda: finditer_count(whole, data)),
        len(data),
        per_call(lambda: finditer_count(whole, small_data), 5000),
    )
    try:
        import ahocorasick
    except ImportError:
        print("  pyahocorasick: not installed (measured numbers in docs/guardrails.md)")
    else:
        automaton = ahocorasick.Automaton()
        for term in terms:
            automaton.add_word(term, term)
        automaton.make_automaton()
        small_text = "\x00".join(small)
        row(
            "  pyahocorasick: lower() then iter (whole words checked after)",
            best(lambda: sum(1 for _ in automaton.iter(text.lower()))),
            len(data),
            per_call(lambda: list(automaton.iter(small_text.lower())), 5000),
        )
    hyperscan_keywords(terms, data, small_data)


def stream_rows(policy: object, text: str) -> None:
    fragments = [text[i : i + 20] for i in range(0, 40_000, 20)]

    def stream() -> None:
        screen = policy.stream("output")  # type: ignore[attr-defined]
        for fragment in fragments:
            screen.feed(fragment)
        screen.flush()

    per_fragment = best(stream) / len(fragments) * 1e6
    print(
        f"{'  StreamScreen.feed, 20-char fragments, same policy':58s} "
        f"{per_fragment:8.2f} µs/fragment"
    )
    short_stream_row()


def streams_only() -> None:
    """`guardrails_scan.py streams`: the stream rows alone (a few seconds)."""
    rnd = random.Random(7)
    text = mixed_text(50_000, rnd)
    rules = [
        {"type": "pii", "stage": "both", "action": "mask", "entities": ENTITIES},
        {"type": "keyword", "stage": "both", "action": "flag", "keywords": keywords(rnd)},
    ]
    stream_rows(compile_policy(rules), text)


SHORT_FRAGMENTS = ["Hello", " from", " the", " mock", " upstream", ".", " How", " are you?", " Ok."]


def short_stream_row() -> None:
    """A chat stream as the relay screens it (make bench's guarded policy, its mock's chunks)."""
    policy = compile_policy(
        [
            {"type": "pii", "stage": "both", "action": "mask", "entities": sorted(PII_NAMES)},
            {
                "type": "keyword",
                "stage": "both",
                "action": "block",
                "keywords": [f"zq{i:04d}term" for i in range(1000)],
            },
        ]
    )

    def stream() -> None:
        screen = policy.stream("output")
        for fragment in SHORT_FRAGMENTS:
            screen.feed(fragment)
        screen.flush()

    per_stream = per_call(stream, 2000)
    label = f"  StreamScreen, {len(SHORT_FRAGMENTS)} short fragments + flush, relay policy"
    print(
        f"{label:58s} {per_stream / len(SHORT_FRAGMENTS):8.2f} µs/fragment "
        f"{per_stream:8.1f} µs/stream"
    )
    held_rows(policy)


def held_rows(policy: object) -> None:
    """Characters still held after each feed (fed so far minus released), on ordinary prose:
    what a guarded stream delivers late. The stamped chunks are the relay benchmark's
    chunk-latency probe (`t=<letters> `): complete in their chunk, so 0 is the goal."""
    rnd = random.Random(11)
    words = [rnd.choice(WORDS) for _ in range(4000)]
    cases = {
        "relay mock's fragments": SHORT_FRAGMENTS,
        "prose, one ' word' a fragment": [" " + w for w in words],
        "prose, one 'word ' a fragment": [w + " " for w in words],
        "prose, 20-char fragments": [" ".join(words)[i : i + 20] for i in range(0, 40_000, 20)],
        "probe's stamped chunks": [
            "t=" + "".join(rnd.choice("abcdefghijklmnop") for _ in range(15)) + " "
            for _ in range(500)
        ],
    }
    for name, fragments in cases.items():
        screen = policy.stream("output")  # type: ignore[attr-defined]
        fed = released = held = 0
        for fragment in fragments:
            fed += len(fragment)
            released += len(screen.feed(fragment))
            held += fed - released
        print(f"{'  held chars after a feed, ' + name:58s} {held / len(fragments):8.2f} mean")


def hyperscan_rows(patterns: dict[str, str], data: bytes, small_data: bytes) -> None:
    try:
        import hyperscan
    except ImportError:
        print("  Hyperscan: not installed (measured numbers in docs/guardrails.md)")
        return
    import re

    # Start-of-match tracking refuses the bounded repeats ("Pattern is too large"): unbounded.
    unbounded = [re.sub(r"\{(\d+),\d{2,}\}", r"{\1,}", p).encode() for p in patterns.values()]
    ids = list(range(len(unbounded)))
    som = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    som.compile(
        expressions=unbounded,
        ids=ids,
        elements=len(ids),
        flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(ids),
    )
    gate = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    gate.compile(
        expressions=[p.encode() for p in patterns.values()],
        ids=ids,
        elements=len(ids),
        flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(ids),
    )

    def scan(db: object, payload: bytes) -> int:
        hits: list[int] = []
        db.scan(payload, match_event_handler=lambda i, a, b, f, c: hits.append(i))  # type: ignore[attr-defined]
        return len(hits)

    row(
        "  Hyperscan: all entities, start of match (unbounded repeats)",
        best(lambda: scan(som, data)),
        len(data),
        per_call(lambda: scan(som, small_data), 5000),
        "(a callback per match end)",
    )
    row(
        "  Hyperscan: which entities occur (SINGLEMATCH gate)",
        best(lambda: scan(gate, data)),
        len(data),
        per_call(lambda: scan(gate, small_data), 5000),
    )


def hyperscan_keywords(terms: list[str], data: bytes, small_data: bytes) -> None:
    try:
        import hyperscan
    except ImportError:
        print("  Hyperscan: not installed (measured numbers in docs/guardrails.md)")
        return
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=[f"\\b{t}\\b".encode() for t in terms],
        ids=list(range(len(terms))),
        elements=len(terms),
        flags=[hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SOM_LEFTMOST] * len(terms),
    )

    def scan(payload: bytes) -> int:
        hits: list[int] = []
        db.scan(payload, match_event_handler=lambda i, a, b, f, c: hits.append(i))
        return len(hits)

    row(
        "  Hyperscan: literals, caseless, ASCII \\b",
        best(lambda: scan(data)),
        len(data),
        per_call(lambda: scan(small_data), 5000),
        "(ASCII-only case and word boundaries)",
    )


if __name__ == "__main__":
    streams_only() if sys.argv[1:] == ["streams"] else main()
