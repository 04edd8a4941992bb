"""`make bench`'s guardrail figures: the guarded rows against the same worker without the
policy, and the engine's own scan speeds (bench/guardrails_scan.py)."""

import subprocess

from bench.processes import PY, ROOT

GUARDED = "orca+guard"


def guarded_vs_plain(rows: list[dict]) -> list[str]:
    """Orca with the benchmark guardrail (every PII detector and 1,000 keywords) against the
    same worker without it, mode by mode: throughput and CPU per request as ratios."""
    by = {(r["target"], r["mode"], r["concurrency"]): r for r in rows if not r.get("na")}
    lines: list[str] = []
    for (target, mode, conc), guarded in by.items():
        plain = by.get(("orca", mode, conc))
        if target != GUARDED or plain is None or not plain["rps"]:
            continue
        if not lines:
            lines = ["", "Guardrail overhead (orca+guard / orca, same worker, same run):", ""]
            lines += ["| mode | conc | req/s ratio | CPU/req ratio |", "|---|---|---|---|"]
        cpu, base = guarded.get("cpu_ms_per_req"), plain.get("cpu_ms_per_req")
        cpu_ratio = _fmt(cpu / base, 3) if cpu and base else "n/a"
        lines.append(
            f"| {mode} | {conc} | {_fmt(guarded['rps'] / plain['rps'], 3)} | {cpu_ratio} |"
        )
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
