"""Canaries: the provider credentials (conftest's *_CREDENTIAL values are canary strings) and
the clients' own sk-orca- keys must never surface anywhere Orca writes.

Each fake upstream echoes the credential it received (and any sk-orca- key in the prompt) in
an error body, in an in-stream error event after the first chunk, and in a response header
(tests/fakes/faults.py: echo_key, echo_header). Every surface x kind x stream is called, from
a workspace that keeps exchanges and response history and from one whose prompt carries its
own key; then the client's answers, the server's log, the usage rows (attempts included),
the stored exchanges and responses, and the admin pages are searched for the secrets."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from itertools import product

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from billing.models import StoredExchange, UsageRecord
from billing.services import grant_credits
from routing.models import Model, StoredResponse
from tests.conftest import ANTHROPIC_CREDENTIAL, GEMINI_CREDENTIAL, UPSTREAM_CREDENTIAL
from tests.usage import wait_for_usage
from workspaces import services

from .clients import SURFACES, Outcome, call
from .conftest import KINDS

CREDENTIALS = (UPSTREAM_CREDENTIAL, ANTHROPIC_CREDENTIAL, GEMINI_CREDENTIAL)
KEY_PREFIX_LEN = len("sk-orca-") + 4  # what the key's display prefix shows


@dataclass
class CanaryRun:
    outcomes: list[tuple[str, Outcome]]  # (what was asked, the answer)
    records: list[UsageRecord]
    client_keys: list[str]
    keep_workspace_id: int

    def secrets(self) -> list[str]:
        """Each secret whole, plus a part of it that nothing legitimate would show."""
        found = []
        for credential in CREDENTIALS:
            found += [credential, "CANARY-" + credential.rsplit("CANARY-", 1)[1]]
        for key in self.client_keys:
            found += [key, key[KEY_PREFIX_LEN:-4]]
        return found


def leaks(text: str, run: CanaryRun) -> list[str]:
    return [secret for secret in run.secrets() if secret in text]


def _workspace(django_db_blocker, slug: str, **settings) -> tuple[int, str]:
    with django_db_blocker.unblock():
        workspace, _ = services.get_or_create_workspace(f"{slug}-{secrets.token_hex(3)}")
        for name, value in settings.items():
            setattr(workspace, name, value)
        workspace.save()
        grant_credits(workspace.id, Decimal(10), note="canaries")
        _, key = services.create_api_key(workspace, name="canaries")
    return workspace.id, key


@pytest.fixture(scope="module")
def run(live, fault_catalog, django_db_blocker) -> Iterator[CanaryRun]:
    keep_id, keep_key = _workspace(
        django_db_blocker,
        "canary-keep",
        data_retention="keep",
        retention_days=7,
        keep_response_history=True,
    )
    _, plain_key = _workspace(django_db_blocker, "canary-plain")
    base = live.server.base_url
    models = fault_catalog.models
    jobs = []
    for surface, kind, stream in product(SURFACES, KINDS, (False, True)):
        model = models[kind]
        for label, key, prompt in (
            ("echo_key", keep_key, "orca-fault:echo_key Say something."),
            ("echo_header", keep_key, "orca-fault:echo_header Say something."),
            ("planted_key", plain_key, f"orca-fault:echo_key my key is {plain_key}"),
        ):
            jobs.append((label, (base, key, surface, model, prompt, stream), {}))
    # A fallback chain whose every model echoes: its attempts are recorded on the usage row.
    # Its models are its own, so the burst's failures cannot put them in cooldown first.
    chained = _chain_models(django_db_blocker, models)
    chain = {"models": chained[1:], "route": "fallback"}
    prompt = "orca-fault:echo_key Say something."
    args = (base, keep_key, "chat", chained[0], prompt, False)
    jobs.append(("chain", args, {"extra": chain}))
    with ThreadPoolExecutor(max_workers=24) as pool:
        futures = [(label, pool.submit(call, *args, **kw)) for label, args, kw in jobs]
        outcomes = [(label, future.result()) for label, future in futures]
    records = [wait_for_usage(django_db_blocker, o.request_id, timeout=15) for _, o in outcomes]
    yield CanaryRun(outcomes, records, [keep_key, plain_key], keep_id)
    with django_db_blocker.unblock():
        Model.objects.filter(public_id__in=chained).delete()


def _chain_models(django_db_blocker, models: dict[str, str]) -> list[str]:
    """A copy of each fault model under a canary-chain/ name, served by the same fake."""
    names = []
    with django_db_blocker.unblock():
        for kind in KINDS:
            model = Model.objects.get(public_id=models[kind])
            model.pk, model.public_id = None, f"canary-chain/{kind}"
            model.save()
            names.append(model.public_id)
    time.sleep(0.6)  # running servers poll the config version every 0.25 s
    return names


def test_the_canaries_were_echoed_and_every_call_answered(run, upstreams):
    for label, o in run.outcomes:
        where = f"{label} {o.describe()}"
        assert o.request_id.startswith("req_"), where
        assert not o.transport_error, where
        if label == "echo_header":
            assert o.status == 200 and o.clean_end, where
        else:
            assert o.error is not None and not o.clean_end, where
    chain = next(o for label, o in run.outcomes if label == "chain")
    assert chain.status == 502 and chain.error["code"] == "fallback_exhausted"


def test_no_secret_reaches_the_client(run):
    problems = []
    for label, o in run.outcomes:
        headers = "\n".join(f"{k}: {v}" for k, v in o.headers.items())
        for secret in leaks(o.body, run):
            problems.append(f"{label} {o.describe()}: body has {secret!r}")
        for secret in leaks(headers, run):
            problems.append(f"{label} {o.describe()}: headers have {secret!r}")
    assert not problems, "\n".join(problems)


def test_no_secret_in_the_server_log(run, live):
    text = live.log_path.read_text(errors="replace")
    assert leaks(text, run) == []


def test_no_secret_in_usage_records_attempts_included(run, django_db_blocker):
    chain = run.records[-1]
    assert [a["model"] for a in chain.attempts] == [f"canary-chain/{kind}" for kind in KINDS]
    problems = []
    for record in run.records:
        fields = json.dumps(model_to_dict(record), default=str)
        problems += [f"{record.request_id}: {secret!r}" for secret in leaks(fields, run)]
    assert not problems, "\n".join(problems)


def test_no_secret_in_stored_exchanges_or_responses(run, django_db_blocker):
    with django_db_blocker.unblock():
        exchanges = list(StoredExchange.objects.filter(usage__in=run.records))
        stored = list(StoredResponse.objects.filter(workspace_id=run.keep_workspace_id))
    assert len(exchanges) >= 24  # at least every served echo_header call was kept
    assert stored  # the served /v1/responses calls were kept for previous_response_id
    problems = []
    for exchange in exchanges:
        text = exchange.request_body + "\n" + exchange.response_text
        problems += [f"exchange {exchange.usage_id}: {s!r}" for s in leaks(text, run)]
    for response in stored:
        text = json.dumps(response.messages)
        problems += [f"response {response.response_id}: {s!r}" for s in leaks(text, run)]
    assert not problems, "\n".join(problems)


def test_no_secret_on_admin_pages(run, django_db_blocker, django_user_model):
    with django_db_blocker.unblock():
        name = f"canary-root-{secrets.token_hex(4)}"
        staff = django_user_model.objects.create_superuser(
            name, f"{name}@example.test", "pw-1-long"
        )
        exchanges = list(StoredExchange.objects.filter(usage__in=run.records))
        stored = list(StoredResponse.objects.filter(workspace_id=run.keep_workspace_id))
        client = Client()
        client.force_login(staff)
        pages = [
            "/admin/billing/usagerecord/?q=canary-",
            "/admin/billing/storedexchange/",
            "/admin/routing/storedresponse/",
            "/admin/billing/ledgerentry/?q=canary-",
            *(f"/admin/billing/usagerecord/{r.pk}/change/" for r in run.records),
            *(f"/admin/billing/storedexchange/{e.pk}/change/" for e in exchanges),
            *(f"/admin/routing/storedresponse/{s.pk}/change/" for s in stored),
        ]
        problems = []
        for url in pages:
            page = client.get(url)
            assert page.status_code == 200, url
            problems += [f"{url}: {s!r}" for s in leaks(page.content.decode(), run)]
    assert not problems, "\n".join(problems)
