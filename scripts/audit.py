"""`make audit`: pip-audit over the lock, telling "no database" apart from "no vulnerabilities".

pip-audit exits 0 with "No known vulnerabilities found" even when every lookup failed: a package
index that serves only the simple API answers 404 for each package's vulnerability record, and
pip-audit records that as a skipped dependency. So the verdict is read from its JSON report:
nothing audited, or a connection error, means the database was unreachable (exit 0, one line);
a vulnerability fails the target. Runs on the tool venv's interpreter; standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SKIPPED = "skipped: vulnerability database unreachable"
# What requests and pip-audit print when the feed cannot be reached at all.
NETWORK_ERRORS = (
    "ConnectionError",
    "Could not connect",
    "Max retries exceeded",
    "NameResolutionError",
    "Name or service not known",
    "Temporary failure in name resolution",
    "timed out",
    "Timeout",
    "Network is unreachable",
    "Connection refused",
)


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    message: str


def verdict(returncode: int, report: str | None, stderr: str) -> Verdict:
    """Decide the target's outcome from one pip-audit run (its exit code, JSON report, stderr)."""
    data = None
    if report:
        try:
            data = json.loads(report)
        except ValueError:
            data = None
    if data is None:
        if any(marker in stderr for marker in NETWORK_ERRORS):
            last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            return Verdict(0, f"{SKIPPED} ({last[:160]})")
        return Verdict(returncode or 1, f"pip-audit failed (exit {returncode}):\n{stderr}")

    dependencies = data.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    if dependencies and not audited:
        return Verdict(0, f"{SKIPPED} (no record for any of {len(dependencies)} packages)")

    found = [
        f"{d['name']}=={d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions']) or '-'})"
        for d in audited
        for v in d.get("vulns", [])
    ]
    skipped = [d["name"] for d in dependencies if "skip_reason" in d]
    note = f"; not audited: {', '.join(skipped)}" if skipped else ""
    if found:
        return Verdict(1, f"{len(found)} known vulnerabilities{note}:\n" + "\n".join(found))
    if returncode != 0:
        return Verdict(returncode, f"pip-audit failed (exit {returncode}):\n{stderr}")
    return Verdict(0, f"{len(audited)} packages audited, no known vulnerabilities{note}")


def main(lock: str, extra: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        # --disable-pip: audit exactly the hashed pins, no throwaway venv and no resolution.
        command = [
            sys.executable, "-m", "pip_audit", "--requirement", lock, "--disable-pip",
            "--require-hashes", "--progress-spinner", "off", "--format", "json",
            "--output", str(report_path), *extra,
        ]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True)
        report = report_path.read_text() if report_path.exists() else None
    result = verdict(run.returncode, report, run.stderr)
    print(result.message)
    return result.exit_code


if __name__ == "__main__":
    # Usage: audit.py LOCK [pip-audit options, e.g. --vulnerability-service osv]
    sys.exit(main(sys.argv[1], sys.argv[2:]))
