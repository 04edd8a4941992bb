"""The dashboard acceptance flow in a real browser (issue 6).

Playwright (sync API) drives Debian's Chromium at /usr/bin/chromium, headless, against the
session's live server: sign up -> create a workspace -> create a key and copy it -> a chat
completion with that key through the API -> the request shows in the usage log and chart ->
revoke the key -> the key gets 401. Screenshots of the keys, routers and usage pages go to
<repo>/artefacts/ (git-ignored).

Never `playwright install` here: it downloads a browser build, which this network refuses.

Playwright's sync API keeps an asyncio loop running in the test's thread, which makes Django
refuse ORM calls there (SynchronousOnlyOperation). ORM work therefore runs in one worker
thread, with the database unblocked like the other live tests: rows are committed, so the
server process sees them.
"""

import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from workspaces.keys import KEY_PREFIX

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(__file__).resolve().parents[2] / "artefacts"
# Headless Chromium on a machine without a network: nothing may phone home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "orca-E2E-" + secrets.token_urlsafe(12)
TIMEOUT_MS = 15_000

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    # CI installs it (.ci/run); elsewhere: apt-get install chromium.
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


class Orm:
    """Runs ORM calls in one worker thread, outside Playwright's running event loop."""

    def __init__(self, django_db_blocker) -> None:
        self._blocker = django_db_blocker
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orm")

    def __call__(self, fn, *args, **kwargs):
        def call():
            with self._blocker.unblock():
                return fn(*args, **kwargs)

        return self._pool.submit(call).result(timeout=60)

    def close(self) -> None:
        from django.db import connections

        self(connections.close_all)
        self._pool.shutdown()


@pytest.fixture
def orm(django_db_blocker):
    helper = Orm(django_db_blocker)
    yield helper
    helper.close()


@pytest.fixture
def browser_context(live):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            base_url=live.server.base_url,
            permissions=["clipboard-read", "clipboard-write"],
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
            browser.close()


def _submit(page, form_selector: str) -> None:
    with page.expect_navigation():
        page.locator(f"{form_selector} [type=submit]").click()


def _no_server_error(page) -> None:
    body = page.content()
    assert "Server Error (500)" not in body, f"{page.url} answered a server error"


def _text(page) -> str:
    """The page's main text, for failure messages (never waits long)."""
    main = page.locator("main")
    return main.inner_text(timeout=1_000) if main.count() else page.inner_text("body")


def _workspace(slug):
    from workspaces.models import Workspace

    return Workspace.objects.get(slug=slug)


def _key(workspace_slug, name):
    from workspaces.models import ApiKey

    return ApiKey.objects.get(workspace__slug=workspace_slug, name=name)


def _roll_up_now() -> None:
    from django.utils import timezone

    from billing.rollups import roll_up

    now = timezone.now()
    roll_up("hour", now - timedelta(hours=1), now + timedelta(hours=1))
    roll_up("day", now - timedelta(days=1), now + timedelta(days=1))


def _wait_for_usage(request_id: str, timeout: float = 5.0):
    from billing.models import UsageRecord

    deadline = time.monotonic() + timeout
    while (record := UsageRecord.objects.filter(request_id=request_id).first()) is None:
        assert time.monotonic() < deadline, f"no usage record for {request_id} in {timeout} s"
        time.sleep(0.05)
    return record


def test_sign_up_to_revoked_key(live, orm, browser_context):
    from billing.services import grant_credits

    ARTEFACTS.mkdir(exist_ok=True)
    page = browser_context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # a confirm() before revoking, if any
    tag = secrets.token_hex(4)

    # Sign up: the new account is logged in and sent on to create a workspace.
    page.goto("/accounts/signup/")
    signup = "form:has([name=password2])"
    page.fill(f"{signup} [name=username]", f"e2e-{tag}")
    page.fill(f"{signup} [name=email]", f"e2e-{tag}@example.com")
    page.fill(f"{signup} [name=password1]", PASSWORD)
    page.fill(f"{signup} [name=password2]", PASSWORD)
    _submit(page, signup)
    _no_server_error(page)
    assert page.url.endswith("/w/new/"), f"after sign-up: {page.url}\n{_text(page)}"

    # Create a workspace: it lands on the workspace's keys page.
    page.fill("form:has([name=name]) [name=name]", f"E2E {tag}")
    _submit(page, "form:has([name=name])")
    _no_server_error(page)
    match = re.search(r"/w/([-a-zA-Z0-9_]+)/keys/$", page.url)
    assert match, f"after creating a workspace: {page.url}\n{_text(page)}"
    slug = match.group(1)
    assert slug.startswith(f"e2e-{tag}")

    # Create a key: shown once in #new-key; the copy button puts it on the clipboard.
    key_form = "form:has([name=expires_in])"
    page.fill(f"{key_form} [name=name]", "browser")
    _submit(page, key_form)
    _no_server_error(page)
    new_key = page.locator("#new-key")
    new_key.wait_for(state="visible")
    raw_key = new_key.inner_text().strip()
    assert raw_key.startswith(KEY_PREFIX), raw_key
    script = page.request.get("/static/orca/dashboard.js")
    assert script.ok, (
        f"the copy button's script /static/orca/dashboard.js answers {script.status}: "
        "the ASGI app serves no static files"
    )
    page.locator("[data-copy='#new-key']").click()
    deadline = time.monotonic() + 5
    while (copied := page.evaluate("navigator.clipboard.readText()").strip()) != raw_key:
        assert time.monotonic() < deadline, f"the copy button put {copied!r} on the clipboard"
        time.sleep(0.1)

    # Credits for the new workspace (committed, so the server sees them).
    workspace = orm(_workspace, slug)
    orm(grant_credits, workspace.id, Decimal("5"), note="browser e2e")

    # A chat completion with the copied key through the API.
    client = openai.OpenAI(base_url=live.base_url, api_key=raw_key, max_retries=0, timeout=20)
    raw = client.chat.completions.with_raw_response.create(
        model="fake/chat", messages=[{"role": "user", "content": "hello from the browser test"}]
    )
    request_id = raw.headers["x-orca-request-id"]
    completion = raw.parse()
    assert completion.choices[0].message.content
    record = orm(_wait_for_usage, request_id)
    assert record.workspace_id == workspace.id and record.model == "fake/chat"
    orm(_roll_up_now)

    # The request appears in the usage log (records are flushed in batches: reload, bounded),
    # and in the charts, which are drawn from the rollups.
    page.goto(f"/w/{slug}/usage/")
    log = page.locator("table.request-log")
    deadline = time.monotonic() + 10
    while request_id not in (log.inner_text() if log.count() else ""):
        _no_server_error(page)
        assert time.monotonic() < deadline, f"{request_id} not in the request log:\n{_text(page)}"
        time.sleep(0.5)
        page.reload()
    row = log.locator("tr", has_text=request_id)
    assert "fake/chat" in row.inner_text()
    requests_chart = page.locator("figure.chart[data-metric=requests] svg")
    assert requests_chart.count() == 1, f"no requests chart on the usage page:\n{_text(page)}"
    bar_titles = requests_chart.locator("rect title").all_text_contents()
    assert any("fake/chat" in title for title in bar_titles), bar_titles
    page.screenshot(path=ARTEFACTS / "usage.png", full_page=True)

    page.goto(f"/w/{slug}/routers/")
    _no_server_error(page)
    page.screenshot(path=ARTEFACTS / "routers.png", full_page=True)

    # The keys page (a plain GET never shows a secret again); then revoke the key.
    page.goto(f"/w/{slug}/keys/")
    _no_server_error(page)
    assert raw_key not in page.content()
    page.screenshot(path=ARTEFACTS / "keys.png", full_page=True)
    key = orm(_key, slug, "browser")
    revoke = f"form[action$='/w/{slug}/keys/{key.pk}/revoke/']"
    _submit(page, revoke)
    _no_server_error(page)
    revoked_at = time.monotonic()
    assert not orm(_key, slug, "browser").enabled
    assert page.locator(revoke).count() == 0
    page.screenshot(path=ARTEFACTS / "keys-revoked.png", full_page=True)

    # Within 2 s of the revocation, the key gets 401.
    while True:
        try:
            client.chat.completions.create(
                model="fake/chat", messages=[{"role": "user", "content": "still there?"}]
            )
        except openai.AuthenticationError as exc:
            assert exc.status_code == 401
            break
        assert time.monotonic() - revoked_at < 2, "the revoked key still works after 2 s"
        time.sleep(0.1)
