"""The lock covers pyproject.toml; `make audit` tells an unreachable database from a clean run."""

import importlib.util
import json
import re
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.live import ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)(?:\s*;\s*([^\\]+?))?\s*\\$")


def locked() -> dict[str, list[str]]:
    """Package → pinned versions (a package may be pinned twice under exclusive markers)."""
    pins: dict[str, list[str]] = {}
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    for number, line in enumerate(lines):
        found = PIN.match(line)
        if found:
            assert lines[number + 1].strip().startswith("--hash=sha256:"), line
            pins.setdefault(canonicalize_name(found.group(1)), []).append(found.group(2))
    return pins


def test_every_declared_dependency_is_locked_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = locked()
    stale = []
    for text in declared:
        requirement = Requirement(text)
        versions = pins.get(canonicalize_name(requirement.name), [])
        if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            stale.append(f"{text} (locked: {versions or 'missing'})")
    assert not stale, "requirements.lock is stale, run `make lock`: " + "; ".join(stale)


def test_every_pin_is_exact_and_hashed():
    text = (ROOT / "requirements.lock").read_text()
    requirement_lines = [
        line for line in text.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert requirement_lines and all(PIN.match(line) for line in requirement_lines)
    assert len(requirement_lines) == sum(len(v) for v in locked().values())


def load_audit():
    spec = importlib.util.spec_from_file_location("orca_audit", ROOT / "scripts" / "audit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def report(*dependencies: dict) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def test_audit_treats_every_package_skipped_as_an_unreachable_database():
    audit = load_audit()
    result = audit.verdict(
        0,
        report(
            {"name": "django", "skip_reason": "Dependency not found on PyPI and could not be"},
            {"name": "redis", "skip_reason": "Dependency not found on PyPI and could not be"},
        ),
        "",
    )
    assert result.exit_code == 0
    assert result.message.startswith("skipped: vulnerability database unreachable")
    assert "\n" not in result.message


def test_audit_treats_a_connection_error_as_an_unreachable_database():
    audit = load_audit()
    stderr = (
        "Traceback (most recent call last):\n  ...\n"
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='vulns.example', "
        "port=443): Max retries exceeded with url: /v1/query\n"
    )
    result = audit.verdict(1, None, stderr)
    assert result.exit_code == 0
    assert result.message.startswith("skipped: vulnerability database unreachable")
    assert "\n" not in result.message


def test_audit_fails_on_a_found_vulnerability():
    audit = load_audit()
    result = audit.verdict(
        1,
        report(
            {"name": "django", "version": "5.2.0", "vulns": [{"id": "X-1", "fix_versions": []}]},
            {"name": "redis", "version": "6.0.0", "vulns": []},
        ),
        "",
    )
    assert result.exit_code == 1
    assert "django==5.2.0: X-1" in result.message


def test_audit_passes_a_clean_report_and_fails_other_errors():
    audit = load_audit()
    clean = audit.verdict(0, report({"name": "redis", "version": "6.0.0", "vulns": []}), "")
    assert (clean.exit_code, clean.message) == (0, "1 packages audited, no known vulnerabilities")
    broken = audit.verdict(2, None, "pip-audit: error: unrecognized arguments: --bogus")
    assert broken.exit_code == 2 and "unrecognized arguments" in broken.message
