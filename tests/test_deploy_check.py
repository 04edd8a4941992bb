"""Production settings pass Django's deployment checklist."""

import os
import secrets
import subprocess
import sys

from tests.live import ROOT


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
        "PRODUCTION": "1",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "DEBUG": "0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_", "SECRET"))
        },
        "PRODUCTION": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "PRODUCTION=1 needs SECRET_KEY" in result.stderr
