"""Side-by-side diff of two prompt versions (pure: difflib, no Django).

A version is flattened to lines (system text, then each message, then variables, model
and parameters), so one table shows every change between any two versions."""

import difflib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    kind: str  # same | changed | added | removed
    left_number: int | None
    left: str
    right_number: int | None
    right: str


def version_lines(
    system: str, messages: list[dict], variables: list[dict], model: str, parameters: dict[str, Any]
) -> list[str]:
    lines = ["# system", *(system.splitlines() or [""])]
    for index, message in enumerate(messages):
        lines.append(f"# messages[{index}] {message.get('role', '')}")
        lines.extend(str(message.get("content", "")).splitlines() or [""])
    lines.append("# variables")
    lines.extend(json.dumps(v, ensure_ascii=False, sort_keys=True) for v in variables)
    lines.append("# model " + (model or "(the caller's)"))
    lines.append("# parameters " + json.dumps(parameters, ensure_ascii=False, sort_keys=True))
    return lines


def side_by_side(left: list[str], right: list[str]) -> list[Row]:
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(
                Row("same", i + 1, left[i], j + 1, right[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            i, j = i1 + k, j1 + k
            has_left, has_right = i < i2, j < j2
            kind = "changed" if has_left and has_right else ("removed" if has_left else "added")
            rows.append(
                Row(
                    kind,
                    i + 1 if has_left else None,
                    left[i] if has_left else "",
                    j + 1 if has_right else None,
                    right[j] if has_right else "",
                )
            )
    return rows
