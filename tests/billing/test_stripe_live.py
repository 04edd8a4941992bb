"""A top-up end to end on the live server: the credits page opens a session on the fake
Stripe, its checkout page pays and sends the signed webhook to the server, and the credit is
in the ledger and in Redis's live balance at once: a call refused with 402 before now works."""

import secrets

import httpx
import openai
import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from billing.balances import BALANCE_KEY
from billing.models import CheckoutTopUp, LedgerEntry
from billing.selectors import balance_pico
from workspaces import services
from workspaces.models import Role

PICO = 10**12


def browser_for(live, user) -> httpx.Client:
    """An httpx client with the user's session and a CSRF secret, as a browser would send."""
    client = Client()
    client.force_login(user)
    csrf = secrets.token_hex(16)
    return httpx.Client(
        base_url=live.server.base_url,
        headers={
            "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
        },
        timeout=20,
    )


def test_a_top_up_pays_through_checkout_and_credits_ledger_and_redis_once(live, db_access):
    workspace, _ = services.get_or_create_workspace("stripe-live", "Stripe Live")
    user = get_user_model().objects.create_user("stripe-live-owner", "owner@stripe.example")
    services.add_member(workspace, user, Role.OWNER)
    _, key = services.create_api_key(workspace, name="topped up")
    sdk = openai.OpenAI(base_url=live.base_url, api_key=key, max_retries=0, timeout=20)
    ask = {"model": "fake/chat", "messages": [{"role": "user", "content": "hello"}]}
    with pytest.raises(openai.APIStatusError) as refused:
        sdk.chat.completions.create(**ask)
    assert refused.value.status_code == 402

    with browser_for(live, user) as browser:
        opened = browser.post(f"/w/{workspace.slug}/credits/", data={"amount": "20"})
        assert opened.status_code == 303
        checkout = opened.headers["location"]
        assert checkout.startswith(live.stripe.base_url + "/c/pay/cs_test_")
        page = httpx.get(checkout)
        assert "Pay 20.00 USD" in page.text
        paid = httpx.post(checkout)
        assert paid.status_code == 303
        session_id = checkout.rsplit("/", 1)[1]
        assert paid.headers["location"] == (
            f"{live.server.base_url}/w/{workspace.slug}/credits/"
            f"?checkout=success&session_id={session_id}"
        )
        delivery = live.stripe.deliveries[-1]
        assert (delivery.kind, delivery.status) == ("checkout.session.completed", 200)
        back = browser.get(paid.headers["location"])
        assert "Payment received" in back.text
        assert "$20" in back.text

    assert balance_pico(workspace.id) == 20 * PICO
    [entry] = LedgerEntry.objects.filter(workspace=workspace, kind="grant")
    assert CheckoutTopUp.objects.get(session_id=session_id).ledger_entry_id == entry.id
    if settings.REDIS_URL:  # the gateway loaded the balance at the refused call
        live_balance = redis.Redis.from_url(settings.REDIS_URL).get(
            BALANCE_KEY.format(workspace.id)
        )
        assert int(live_balance) == 20 * PICO

    answer = sdk.chat.completions.create(**ask)
    assert answer.choices[0].message.content

    # Stripe delivers again (its retry, or a replay of the captured request): no second credit.
    again = live.stripe.deliver(delivery.payload)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert LedgerEntry.objects.filter(workspace=workspace, kind="grant").count() == 1
    forged = live.stripe.deliver(delivery.payload, secret="whsec_forged")
    assert forged.status_code == 400
