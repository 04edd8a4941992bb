"""JSON logs (ORCA_LOG_FORMAT=json) stay one JSON object a line whatever writes to stderr:
Python warnings (a library's deprecation, Django's note on a synchronous iterator) go through
the log handler instead of being printed as bare text."""

import json
import os
import subprocess
import sys

from tests.live import ROOT

SCRIPT = """
import django, logging, warnings
django.setup()
warnings.warn("a synchronous iterator, for example")
logging.getLogger("orca.test").warning("a plain log line")
"""


def test_a_python_warning_is_a_json_line_too():
    env = {**os.environ, "ORCA_LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "orca.settings"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    by_logger = {entry["logger"]: entry for entry in lines}
    assert "a synchronous iterator" in by_logger["py.warnings"]["message"]
    assert by_logger["py.warnings"]["level"] == "WARNING"
    assert by_logger["orca.test"]["message"] == "a plain log line"
