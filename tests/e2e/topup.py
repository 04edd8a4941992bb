"""The browser's top-up step against the fake Stripe (tests/fakes/stripe_api.py): the credits
page → Stripe's (fake) checkout page → pay → back on the credits page, credited. Shared by
the browser flows."""

import re
from pathlib import Path


def top_up(page, slug: str, amount: str, artefacts: Path | None = None) -> str:
    """Pay `amount` USD through Checkout in `page`; returns the Checkout Session id. The fake
    sends the signed webhook before it redirects back, so the balance is already there."""
    page.goto(f"/w/{slug}/credits/")
    form = "form:has([name=amount])"
    page.fill(f"{form} [name=amount]", amount)
    with page.expect_navigation(url=re.compile(r"/c/pay/cs_test_")):
        page.locator(f"{form} [type=submit]").click()
    session_id = page.url.rsplit("/", 1)[1]
    heading = page.locator("h1").inner_text()
    assert heading == f"Pay {float(amount):.2f} USD", heading
    if artefacts is not None:
        page.screenshot(path=artefacts / "checkout.png", full_page=True)
    with page.expect_navigation(url=re.compile(rf"/w/{slug}/credits/\?checkout=success")):
        page.locator("#pay").click()
    assert f"session_id={session_id}" in page.url
    text = page.locator("main").inner_text()
    assert f"Payment received: ${float(amount):.2f} added to the balance" in text, text
    balance = page.locator(".balance").inner_text()
    assert f"${float(amount):g}" in balance, balance
    if artefacts is not None:
        page.screenshot(path=artefacts / "credits.png", full_page=True)
    return session_id
