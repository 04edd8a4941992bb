"""`make run` from a fresh copy of the repository answers with the key it printed."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.live import ROOT, free_port

pytestmark = pytest.mark.slow


def fresh_checkout(target: Path) -> Path:
    """The files a clone would have: tracked plus new, unignored ones (so it works pre-commit)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_make_run_serves_the_demo_model_with_the_printed_key(tmp_path):
    checkout = fresh_checkout(tmp_path / "orca")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_", "ORCA_"))
        and k not in {"SECRET_KEY", "VIRTUAL_ENV"}
    }
    log_path = tmp_path / "make-run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        key = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()[-3000:]
            output = log_path.read_text()
            if key is None:
                found = re.search(r"Demo API key:\s+(sk-orca-\S+)", output)
                key = found.group(1) if found else None
            if key:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                    break
                except httpx.TransportError:
                    pass
            time.sleep(0.5)
        assert key, "make run printed no key:\n" + log_path.read_text()[-3000:]

        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        completion = client.chat.completions.create(
            model="orca/demo", messages=[{"role": "user", "content": "ping"}]
        )
        assert completion.choices[0].message.content == (
            "Hello from Orca's demo model. You said: ping"
        )
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert home.status_code == 200 and "Orca" in home.text

        deadline = time.monotonic() + 60
        while "ready" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert re.search(r"celery@\S+ ready", log_path.read_text()), "no Celery worker started"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
