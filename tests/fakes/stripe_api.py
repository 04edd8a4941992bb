"""A fake Stripe: the Checkout Sessions API as the official `stripe` library calls it, a hosted
checkout page, and webhooks signed the way Stripe signs them.

- ``POST /v1/checkout/sessions`` takes the form-encoded body the library sends (nested keys
  as ``line_items[0][price_data][unit_amount]``), checks the secret key (``Authorization:
  Bearer sk_...``) and the fields Checkout requires, and answers a ``checkout.session``
  object of the real shape (``url`` pointing at this fake's checkout page). Errors have
  Stripe's envelope: ``{"error": {"type", "message", "param"}}``.
- ``GET /v1/checkout/sessions/{id}`` retrieves one.
- ``GET /c/pay/{id}`` is the checkout page: a form whose button (``POST``) pays the session,
  sends ``checkout.session.completed`` to ``webhook_url`` and redirects the browser to the
  session's ``success_url`` (``{CHECKOUT_SESSION_ID}`` filled in); a link goes to its
  ``cancel_url``.
- Webhook bodies carry the header ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
  "<t>.<body>" under the endpoint's signing secret>``, as Stripe documents.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import httpx
from aiohttp import web

from .base import FakeUpstream

API_VERSION = "2026-10-28.endive"
_INDEX = re.compile(r"\[([^\]]*)\]")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send with `payload`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def parse_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding back into objects: ``a[b][0][c]=1`` -> {"a": {"b": [{"c": "1"}]}}.
    Lists arrive with explicit indexes; they are built as dicts and turned into lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False):
        head = key.split("[", 1)[0]
        path = [head, *_INDEX.findall(key[len(head) :])]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


@dataclass(frozen=True)
class Delivery:
    kind: str  # the event type
    status: int  # what Orca answered
    payload: bytes


class StripeError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param

    def response(self) -> web.Response:
        error = {"type": "invalid_request_error", "message": self.message}
        if self.param:
            error["param"] = self.param
        return web.json_response({"error": error}, status=self.status)


class FakeStripe(FakeUpstream):
    label = "stripe"
    default_api_key = "sk_test_fake_CANARY_4c1e"

    def __init__(self, api_key: str | None = None, webhook_secret: str = "") -> None:
        super().__init__(api_key)
        self.webhook_secret = webhook_secret or "whsec_" + secrets.token_hex(16)
        self.webhook_url = ""  # where paid sessions are announced (set once Orca's URL is known)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.deliveries: list[Delivery] = []  # webhooks the checkout page sent

    # ------------------------------------------------------------------ the API

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/checkout/sessions", self._create_session)
        router.add_get("/v1/checkout/sessions/{id}", self._retrieve_session)
        router.add_get("/c/pay/{id}", self._checkout_page)
        router.add_post("/c/pay/{id}", self._pay)

    def _authenticate(self, request: web.Request) -> web.StreamResponse | None:
        if not request.path.startswith("/v1/"):
            return None  # the checkout page is the browser's, not the API's
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return web.json_response(
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": "Invalid API Key provided: sk_****",
                }
            },
            status=401,
        )

    async def _create_session(self, request: web.Request) -> web.Response:
        try:
            session = self._new_session(parse_form(await request.read()))
        except StripeError as exc:
            return exc.response()
        self.sessions[session["id"]] = session
        return web.json_response(session)

    async def _retrieve_session(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return StripeError(404, "No such checkout.session", "id").response()
        return web.json_response(session)

    def _new_session(self, form: dict[str, Any]) -> dict[str, Any]:
        if form.get("mode") not in ("payment", "setup", "subscription"):
            raise StripeError(400, "Invalid mode: must be one of payment, setup, subscription")
        for name in ("success_url", "cancel_url"):
            if not str(form.get(name, "")).startswith(("http://", "https://")):
                raise StripeError(400, f"Not a valid URL: {name}", name)
        items = form.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(400, "line_items is required in payment mode", "line_items")
        total, currency = 0, None
        for index, item in enumerate(items):
            price = item.get("price_data") or {}
            param = f"line_items[{index}][price_data]"
            amount, quantity = price.get("unit_amount", ""), item.get("quantity", "1")
            if not (amount.isdigit() and quantity.isdigit()):
                raise StripeError(400, "Invalid integer", f"{param}[unit_amount]")
            if not re.fullmatch(r"[a-z]{3}", price.get("currency", "")):
                raise StripeError(400, "Invalid currency", f"{param}[currency]")
            if not (price.get("product_data") or {}).get("name"):
                raise StripeError(400, "Missing required param", f"{param}[product_data][name]")
            total += int(amount) * int(quantity)
            currency = price["currency"]
        now = int(time.time())
        session_id = "cs_test_" + secrets.token_urlsafe(48).replace("-", "a").replace("_", "b")
        return {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": form["cancel_url"],
            "client_reference_id": form.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": (
                {"email": form["customer_email"]} if form.get("customer_email") else None
            ),
            "customer_email": form.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": form.get("metadata") or {},
            "mode": form["mode"],
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": form["success_url"],
            "url": f"{self.base_url}/c/pay/{session_id}",
        }

    # ------------------------------------------------------------------ the checkout page

    async def _checkout_page(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such checkout session")
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        page = (
            "<!doctype html><title>Fake Stripe Checkout</title>"
            f"<h1>Pay {html.escape(amount)}</h1>"
            f'<form method="post"><button type="submit" id="pay">Pay {html.escape(amount)}'
            "</button></form>"
            f'<p><a id="cancel" href="{html.escape(session["cancel_url"])}">Cancel</a></p>'
        )
        return web.Response(text=page, content_type="text/html")

    async def _pay(self, request: web.Request) -> web.StreamResponse:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such checkout session")
        payload = self.paid_event(session["id"])
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                self.webhook_url,
                data=payload,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": sign(payload, self.webhook_secret),
                },
            ) as answer,
        ):
            delivery = Delivery("checkout.session.completed", answer.status, payload)
            self.deliveries.append(delivery)
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        raise web.HTTPSeeOther(target)

    # ------------------------------------------------------------------ for tests

    def paid_event(self, session_id: str, **changes: Any) -> bytes:
        """Mark the session paid and return the body of its checkout.session.completed event
        (a new event id each call). `changes` overrides fields of the session in the event."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status="paid")
        return self.event("checkout.session.completed", {**session, **changes})

    def event(self, kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
        body = {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        return json.dumps(body, indent=2).encode()  # Stripe's bodies are pretty-printed

    def deliver(
        self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> httpx.Response:
        """POST a webhook to Orca as Stripe does (signed now, or at `timestamp`)."""
        return httpx.post(
            self.webhook_url,
            content=payload,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, secret or self.webhook_secret, timestamp),
            },
            timeout=20,
        )
