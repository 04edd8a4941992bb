"""`make bench`'s guardrail figures: the guarded rows against the same worker without the
policy, and the engine's own scan speeds (bench/guardrails_scan.py)."""

import os
import subprocess
from dataclasses import replace

from bench.processes import (
    MODEL_ID,
    PY,
    ROOT,
    knows_guardrails,
    knows_prompts,
    post,
    setup_guard,
    setup_prompt,
)

GUARDED = "orca+guard"
PROMPTED = "orca+prompt"


def same_worker_targets(orca, env: dict) -> list:
    """Orca's own worker again, through a key bound to the benchmark guardrail and one bound
    to a registry prompt (BENCH_GUARD=0 / BENCH_PROMPT=0 leave either out)."""
    from bench.run import body_for

    extra = []
    for name, knows, setup, switch in (
        (GUARDED, knows_guardrails, setup_guard, "BENCH_GUARD"),
        (PROMPTED, knows_prompts, setup_prompt, "BENCH_PROMPT"),
    ):
        if not knows(ROOT) or os.environ.get(switch, "1") == "0":
            continue
        target = replace(orca, name=name, key=setup(env, ROOT))
        status, answer = post(target.url, body_for(MODEL_ID, False), target.key)
        if status != 200:
            raise RuntimeError(f"the {name} key answered {status}: {answer[:300]!r}")
        extra.append(target)
    return extra


def guarded_vs_plain(rows: list[dict]) -> list[str]:
    """Orca with the benchmark guardrail (every PII detector and 1,000 keywords), and with a
    bound registry prompt, against the same worker without either, mode by mode: throughput
    and CPU per request as ratios."""
    by = {(r["target"], r["mode"], r["concurrency"]): r for r in rows if not r.get("na")}
    lines: list[str] = []
    for (target, mode, conc), guarded in by.items():
        plain = by.get(("orca", mode, conc))
        if target not in (GUARDED, PROMPTED) or plain is None or not plain["rps"]:
            continue
        if not lines:
            lines = ["", "Guardrail and prompt overhead (against orca, same worker, same run):", ""]
            lines += [
                "| target | mode | conc | req/s ratio | CPU/req ratio |",
                "|---|---|---|---|---|",
            ]
        cpu, base = guarded.get("cpu_ms_per_req"), plain.get("cpu_ms_per_req")
        cpu_ratio = _fmt(cpu / base, 3) if cpu and base else "n/a"
        ratio = _fmt(guarded["rps"] / plain["rps"], 3)
        lines.append(f"| {target} | {mode} | {conc} | {ratio} | {cpu_ratio} |")
    return lines


def _fmt(value, digits=2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def scan_figures() -> list[str]:
    """bench/guardrails_scan.py's table (MB/s, µs per small request and per stream
    fragment), as lines for the results page."""
    try:
        out = subprocess.run(
            [PY, "bench/guardrails_scan.py"], cwd=ROOT, capture_output=True, text=True,
            timeout=900, check=True,
        ).stdout  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        return ["", f"Guardrail scan: failed ({exc})"]
    return [
        "",
        "Guardrail engine scan (bench/guardrails_scan.py, one core):",
        "",
        "```",
        out.rstrip(),
        "```",
    ]
