"""`make run` from a fresh copy of the repository: the key it printed answers, the login it
printed opens the demo workspace's dashboard, the playground's default answers, and the
worker runs beat, so the usage chart fills (with Celery's files under var/)."""

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
        and not k.endswith("_API_KEY")  # no provider credential: only orca/demo is configured
    }
    env["ORCA_ROLLUP_SECONDS"] = "3"  # beat rolls usage up every 3 s instead of make run's 60
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
        # The shipped catalog's other models need a credential that is not set.
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(
                model="openai/gpt-6.1-sol", messages=[{"role": "user", "content": "ping"}]
            )
        assert refused.value.status_code == 503
        assert refused.value.code == "provider_not_configured"
        assert "OPENAI_API_KEY" in refused.value.message
        auto = client.chat.completions.with_raw_response.create(
            model="orcarouter/auto", messages=[{"role": "user", "content": "ping"}]
        )
        assert auto.headers["x-orca-resolved-model"] == "orca/demo"
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert home.status_code == 200 and "Orca" in home.text

        deadline = time.monotonic() + 60
        while "ready" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert re.search(r"celery@\S+ ready", log_path.read_text()), "no Celery worker started"
        assert "beat: Starting" in log_path.read_text(), "the worker runs without beat"

        login = re.search(r"Demo login:\s+(\S+) / (\S+)", log_path.read_text())
        assert login, "make run printed no login:\n" + log_path.read_text()[-3000:]
        browser = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        form = browser.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        signed_in = browser.post(
            "/accounts/login/",
            data={"username": login.group(1), "password": login.group(2)},
            headers={"X-CSRFToken": token},
        )
        assert signed_in.status_code == 302, signed_in.text[:2000]
        home = browser.get("/")
        assert "Demo workspace" in home.text and "Owner" in home.text

        # The playground's default target answers (orcarouter/auto picks the free demo model).
        page = browser.get("/w/demo/playground/")
        default = re.search(r'<option value="([^"]+)" selected>', page.text).group(1)
        assert default == "orcarouter/auto"
        token = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
        answer = browser.post(
            "/w/demo/playground/chat/",
            json={"target": default, "messages": [{"role": "user", "content": "hi"}]},
            headers={"X-CSRFToken": token},
        )
        assert answer.status_code == 200, answer.text[:2000]
        assert "You said: hi" in "".join(re.findall(r'"content":\s*"([^"]*)"', answer.text))
        assert answer.headers["x-orca-resolved-model"] == "orca/demo"

        # Beat rolls the calls up: the usage chart shows the demo model.
        deadline = time.monotonic() + 90
        while (
            "orca/demo"
            not in (usage := browser.get("/w/demo/usage/").text)
            .split('data-metric="requests"')[-1]
            .split("</figure>")[0]
        ):
            assert time.monotonic() < deadline, "the usage chart never filled:\n" + usage[-3000:]
            time.sleep(1)

        assert not (checkout / "control").exists(), "Celery's control/ is at the repository root"
        assert (checkout / "var" / "celery-control").is_dir()
        assert not (checkout / "celerybeat-schedule").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
