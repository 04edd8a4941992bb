"""The dashboard acceptance flow in a real browser (issues 6 and 15).

Playwright (sync API) drives Debian's Chromium at /usr/bin/chromium, headless, against the
session's live server: the landing page -> sign up -> create a workspace -> top up (Stripe
Checkout on the fake Stripe: tests/e2e/topup.py) -> create a key (shown once, copied; a
reload creates no second one) -> a call with it through the API -> the playground streams
an answer -> the usage log and chart show the calls -> the key's spend matches its usage
records -> edit the key's limit, which the relay then enforces (the refused call shows in
the log) -> a guardrail from a preset, its sandbox masking as one types -> revoke it ->
401. Pages are also opened at 390 px wide (the nav folds, nothing
overflows). Screenshots go to <repo>/artefacts/ (git-ignored).

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

from tests.e2e.topup import top_up
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


def _fits(page, width: int) -> None:
    """Nothing on the page is wider than the viewport (wide tables scroll in their box)."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide at a {width} px viewport"


def _narrow(browser_context, path: str, name: str) -> None:
    """`path` at 390 px in the same session: fits, nav folded behind the Menu toggle."""
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(path)
    _no_server_error(page)
    _fits(page, 390)
    toggle = page.locator("label.nav-toggle-label")
    if toggle.count():
        nav = page.locator(".nav")
        assert not nav.is_visible(), f"the nav of {path} is not folded at 390 px"
        toggle.click()
        assert nav.is_visible()
        page.screenshot(path=ARTEFACTS / f"{name}-390-menu.png", full_page=False)
        toggle.click()
    page.screenshot(path=ARTEFACTS / f"{name}-390.png", full_page=True)
    page.close()


def _spend_of_key(key_id: int) -> int:
    from django.db.models import Sum

    from billing.models import UsageRecord

    return UsageRecord.objects.filter(api_key_id=key_id).aggregate(s=Sum("cost_pico"))["s"] or 0


def _credited(session_id: str) -> tuple[str, int, int]:
    from billing.models import CheckoutTopUp
    from billing.selectors import balance_pico

    topup = CheckoutTopUp.objects.select_related("workspace", "ledger_entry").get(
        session_id=session_id
    )
    return topup.workspace.slug, topup.ledger_entry.amount_pico, balance_pico(topup.workspace_id)


def _top_up(page, orm, live, slug: str) -> None:
    """TOP UP: the new workspace has nothing; Credits → the fake Stripe's Checkout page →
    pay (the fake sends the signed webhook) → back on Credits with the balance raised, and
    the home page shows it."""
    page.goto(f"/w/{slug}/credits/")
    assert "$0" in page.locator(".balance").inner_text()
    session_id = top_up(page, slug, "5", ARTEFACTS)
    assert live.stripe.deliveries[-1].status == 200
    assert orm(_credited, session_id) == (slug, 5 * 10**12, 5 * 10**12)
    page.goto("/")
    assert "$5.00" in _text(page), _text(page)


def test_landing_to_revoked_key(live, orm, browser_context):
    ARTEFACTS.mkdir(exist_ok=True)
    page = browser_context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # a confirm() before revoking, if any
    tag = secrets.token_hex(4)

    # The landing page: what Orca is, sign-up and log-in; a favicon.
    page.goto("/")
    _no_server_error(page)
    assert "LLM API gateway" in _text(page)
    assert page.request.get("/favicon.ico").ok
    page.screenshot(path=ARTEFACTS / "landing.png", full_page=True)
    _narrow(browser_context, "/", "landing")
    with page.expect_navigation():
        page.locator("main .hero a", has_text="Create an account").click()
    assert page.url.endswith("/accounts/signup/"), page.url

    # Sign up: the new account is logged in and sent on to create a workspace.
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

    _top_up(page, orm, live, slug)
    page.goto(f"/w/{slug}/keys/")

    # Create a key: redirected to the list, shown once in #new-key, copied to the clipboard.
    key_form = "form:has([name=expires_in])"
    page.fill(f"{key_form} [name=name]", "browser")
    _submit(page, key_form)
    _no_server_error(page)
    assert page.url.endswith(f"/w/{slug}/keys/"), page.url  # POST, redirect, GET
    new_key = page.locator("#new-key")
    new_key.wait_for(state="visible")
    raw_key = new_key.inner_text().strip()
    assert raw_key.startswith(KEY_PREFIX), raw_key
    page.screenshot(path=ARTEFACTS / "key-created.png", full_page=True)
    page.locator("[data-copy='#new-key']").click()
    deadline = time.monotonic() + 5
    while (copied := page.evaluate("navigator.clipboard.readText()").strip()) != raw_key:
        assert time.monotonic() < deadline, f"the copy button put {copied!r} on the clipboard"
        time.sleep(0.1)
    page.reload()  # the browser's reload: a GET, no second key, the secret gone
    assert raw_key not in page.content()
    assert page.locator("table.keys tbody tr").count() == 1
    key = orm(_key, slug, "browser")

    # A chat completion with the copied key through the API.
    client = openai.OpenAI(base_url=live.base_url, api_key=raw_key, max_retries=0, timeout=20)
    raw = client.chat.completions.with_raw_response.create(
        model="fake/chat", messages=[{"role": "user", "content": "hello from the browser test"}]
    )
    request_id = raw.headers["x-orca-request-id"]
    assert raw.parse().choices[0].message.content
    record = orm(_wait_for_usage, request_id)
    assert record.workspace_id == key.workspace_id and record.model == "fake/chat"

    # The playground, from the top nav: a system message, a model picked, a streamed answer,
    # then a second turn that carries the first.
    page.locator("nav.sections a", has_text="Playground").click()
    page.wait_for_url(f"**/w/{slug}/playground/")
    _no_server_error(page)
    assert page.input_value("#pg-target") == "orcarouter/auto"  # the default
    page.select_option("#pg-target", "fake/chat")
    page.fill("#pg-system", "You are terse.")
    page.fill("#pg-max-tokens", "64")
    page.fill("#pg-prompt", "Say hi")
    page.click("#pg-send")
    first = page.locator(".turn.assistant").first
    page.wait_for_selector(".turn.assistant.done, .turn.assistant.failed")
    assert "done" in (first.get_attribute("class") or ""), first.inner_text()
    answer = first.locator(".text").inner_text()
    assert answer.strip(), "the playground streamed no text"
    played_id = first.locator("a.request-id").inner_text()
    page.fill("#pg-prompt", "And once more")
    page.click("#pg-send")
    page.wait_for_function("document.querySelectorAll('.turn.assistant.done').length == 2")
    page.screenshot(path=ARTEFACTS / "playground.png", full_page=True)
    played = orm(_wait_for_usage, played_id)
    assert played.streamed and played.model == "fake/chat" and played.status_code == 200
    _narrow(browser_context, f"/w/{slug}/playground/", "playground")

    # The usage log lists the API call and the playground's; the charts (from the rollups,
    # which beat runs under `make run`; rolled up here directly) show fake/chat.
    orm(_roll_up_now)
    page.goto(f"/w/{slug}/usage/")
    log = page.locator("table.request-log")
    deadline = time.monotonic() + 10
    while not all(i in (log.inner_text() if log.count() else "") for i in (request_id, played_id)):
        _no_server_error(page)
        assert time.monotonic() < deadline, f"calls not in the request log:\n{_text(page)}"
        time.sleep(0.5)
        page.reload()
    assert "fake/chat" in log.locator("tr", has_text=request_id).inner_text()
    requests_chart = page.locator("figure.chart[data-metric=requests] svg")
    assert requests_chart.count() == 1, f"no requests chart on the usage page:\n{_text(page)}"
    bar_titles = requests_chart.locator("rect title").all_text_contents()
    assert any("fake/chat" in title for title in bar_titles), bar_titles
    page.screenshot(path=ARTEFACTS / "usage.png", full_page=True)
    _narrow(browser_context, f"/w/{slug}/usage/", "usage")

    # The key's spend is what its usage records cost.
    page.goto(f"/w/{slug}/keys/{key.pk}/")
    _no_server_error(page)
    spent = Decimal(orm(_spend_of_key, key.pk)) / 10**12
    assert spent > 0
    shown = Decimal(page.locator("#spend-total").inner_text().lstrip("$"))
    assert shown == spent.quantize(shown), (shown, spent)

    # Edit the key's limit: a daily cap below what it spent today. The relay enforces it
    # (402) within a second or so, and the refused call shows in the request log.
    page.fill("[name=daily_limit_usd]", "0.000001")
    _submit(page, "form.key-form")
    _no_server_error(page)
    assert "saved" in _text(page)
    page.screenshot(path=ARTEFACTS / "key-edit.png", full_page=True)
    _narrow(browser_context, f"/w/{slug}/keys/{key.pk}/", "key-edit")
    deadline = time.monotonic() + 5
    while True:
        try:
            client.chat.completions.create(
                model="fake/chat", messages=[{"role": "user", "content": "over the cap?"}]
            )
        except openai.APIStatusError as exc:
            assert exc.status_code == 402 and exc.code == "key_spend_limit_exceeded"
            refused_id = exc.response.headers["x-orca-request-id"]
            break
        assert time.monotonic() < deadline, "the new daily limit was never enforced"
        time.sleep(0.2)
    refused = orm(_wait_for_usage, refused_id)
    assert (refused.status_code, refused.cost_pico) == (402, 0)
    page.goto(f"/w/{slug}/usage/?status=error#log")
    assert refused_id in page.locator("table.request-log").inner_text()

    page.goto(f"/w/{slug}/routers/")
    _no_server_error(page)
    page.screenshot(path=ARTEFACTS / "routers.png", full_page=True)

    # A guardrail from a preset (bound to no key, not the default: later calls are as
    # before); its editor's sandbox masks as the user types, calling no model.
    page.goto(f"/w/{slug}/guardrails/")
    guardrail_form = f"form[action$='/w/{slug}/guardrails/']"
    page.select_option(f"{guardrail_form} [name=preset]", "pii-shield")
    _submit(page, guardrail_form)
    _no_server_error(page)
    page.fill("#sandbox-text", "mail jo@example.com")
    page.locator("#sandbox-decision", has_text="mask").wait_for()
    assert page.locator("#sandbox-masked").inner_text() == "mail [EMAIL]"
    page.screenshot(path=ARTEFACTS / "guardrail.png", full_page=True)
    _narrow(browser_context, page.url, "guardrail")

    # The keys page (a plain GET never shows a secret again); then revoke the key.
    page.goto(f"/w/{slug}/keys/")
    _no_server_error(page)
    assert raw_key not in page.content()
    page.screenshot(path=ARTEFACTS / "keys.png", full_page=True)
    _narrow(browser_context, f"/w/{slug}/keys/", "keys")
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
        except openai.APIStatusError as exc:
            # Until the revocation reaches the relay, the key is still over the daily
            # limit set above: a 402, then the 401.
            assert exc.status_code == 402, exc
        assert time.monotonic() - revoked_at < 2, "the revoked key still works after 2 s"
        time.sleep(0.1)

    # Logging out revokes the playground's session key.
    page.locator("form[action$='/accounts/logout/'] button").first.click()
    page.wait_for_load_state()
    session_keys = orm(_playground_keys, slug)
    assert session_keys and not any(session_keys), session_keys


def _playground_keys(slug) -> list[bool]:
    from workspaces.models import ApiKey

    return list(
        ApiKey.objects.filter(workspace__slug=slug, purpose="playground").values_list(
            "enabled", flat=True
        )
    )
