"""Top-up in a real browser: sign up → create a workspace → Credits → pay on (fake) Stripe
Checkout → back on the credits page with the balance → a call with a new key is served from
that credit. Screenshots of the checkout and credits pages go to artefacts/."""

import re
import secrets

import openai

from tests.e2e.test_browser_flow import (  # the flow's browser, ORM thread and helpers
    ARTEFACTS,
    PASSWORD,
    _no_server_error,
    _submit,
    _text,
    _workspace,
    browser_context,  # noqa: F401  (fixtures, used by name)
    orm,  # noqa: F401
)
from tests.e2e.topup import top_up

PICO = 10**12


def _credited(slug: str, session_id: str) -> tuple[int, int]:
    from billing.models import CheckoutTopUp
    from billing.selectors import balance_pico

    topup = CheckoutTopUp.objects.get(session_id=session_id)
    assert topup.workspace.slug == slug and topup.status == "paid"
    return balance_pico(topup.workspace_id), topup.ledger_entry.amount_pico


def _new_key(workspace_id: int) -> str:
    from workspaces.models import Workspace
    from workspaces.services import create_api_key

    return create_api_key(Workspace.objects.get(pk=workspace_id), name="after top-up")[1]


def test_sign_up_and_top_up_with_stripe_checkout(live, orm, browser_context):  # noqa: F811
    ARTEFACTS.mkdir(exist_ok=True)
    page = browser_context.new_page()
    tag = secrets.token_hex(4)
    page.goto("/accounts/signup/")
    signup = "form:has([name=password2])"
    page.fill(f"{signup} [name=username]", f"topup-{tag}")
    page.fill(f"{signup} [name=email]", f"topup-{tag}@example.com")
    page.fill(f"{signup} [name=password1]", PASSWORD)
    page.fill(f"{signup} [name=password2]", PASSWORD)
    _submit(page, signup)
    _no_server_error(page)
    page.fill("form:has([name=name]) [name=name]", f"Topup {tag}")
    _submit(page, "form:has([name=name])")
    _no_server_error(page)
    match = re.search(r"/w/([-a-zA-Z0-9_]+)/", page.url)
    assert match, f"after creating a workspace: {page.url}\n{_text(page)}"
    slug = match.group(1)

    # A new workspace has nothing; the nav leads to the credits page.
    page.locator("nav.sections a", has_text="Credits").first.click()
    page.wait_for_url(f"**/w/{slug}/credits/")
    assert "$0" in page.locator(".balance").inner_text()

    session_id = top_up(page, slug, "20", ARTEFACTS)
    balance, credited = orm(_credited, slug, session_id)
    assert balance == credited == 20 * PICO
    delivery = live.stripe.deliveries[-1]
    assert delivery.status == 200

    # The credit pays for a call.
    key = orm(_new_key, orm(_workspace, slug).id)
    client = openai.OpenAI(base_url=live.base_url, api_key=key, max_retries=0, timeout=20)
    answer = client.chat.completions.create(
        model="fake/chat", messages=[{"role": "user", "content": "paid for"}]
    )
    assert answer.choices[0].message.content
