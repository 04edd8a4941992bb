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
from django.contrib.auth import get_user_model
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
    # The session's gateway writes JSON logs (tests/conftest.py): one object a line.
    entries = [json.loads(line) for line in text.splitlines()]
    assert any(entry.get("request_id") for entry in entries)


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


OWN_CANARY = "sk-own-provider-key-CANARY-b7e4d1"  # a workspace's own provider key (BYOK)


def test_a_workspaces_own_provider_key_never_surfaces(live, django_db_blocker):
    """The workspace's own key reaches its own server only: the fake echoes it back (error
    body, in-stream error, header, a 401 naming it) and it must appear in no answer, log,
    usage row, stored row, API answer or page, its own workspace's or anyone else's."""
    from rest_framework.test import APIClient

    from routing.models import ProviderCredential
    from tests.fakes.openai_upstream import FakeOpenAIUpstream
    from workspaces.models import Role

    own = FakeOpenAIUpstream(api_key=OWN_CANARY).start()
    try:
        with django_db_blocker.unblock():
            workspace, _ = services.get_or_create_workspace(f"canary-byok-{secrets.token_hex(3)}")
            grant_credits(workspace.id, Decimal(10), note="canaries")
            _, key = services.create_api_key(workspace, name="canaries")
            admin_user = get_user_model().objects.create_user(f"{workspace.slug}-admin")
            services.add_member(workspace, admin_user, Role.ADMIN)
            api = APIClient()
            api.force_authenticate(admin_user)
            saved = api.post(
                f"/api/workspaces/{workspace.slug}/providers/",
                {"provider": "fake", "credential": OWN_CANARY, "base_url": own.base_url,
                 "allow_fallback": False},
                format="json",
            )  # fmt: skip
            assert saved.status_code == 201, saved.content
        time.sleep(0.6)  # the server polls the config version every 0.25 s
        outcomes = [call(live.server.base_url, key, "chat", "fake/leaky", "Hi", False)]
        for surface, stream, fault in product(SURFACES, (False, True), ("echo_key", "echo_header")):
            prompt = f"orca-fault:{fault} Say something."
            outcomes.append(call(live.server.base_url, key, surface, "fake/chat", prompt, stream))
        assert own.requests and all(
            r.headers.get("authorization") == f"Bearer {OWN_CANARY}" for r in own.requests
        )
        assert outcomes[0].status == 502 and outcomes[0].error["code"] == "upstream_auth_failed"
        records = [wait_for_usage(django_db_blocker, o.request_id, timeout=15) for o in outcomes]
        assert all(r.byok for r in records)

        secrets_ = (OWN_CANARY, OWN_CANARY.rsplit("CANARY-", 1)[1])
        texts = {}
        for o in outcomes:
            texts[f"answer {o.describe()}"] = o.body + "\n" + json.dumps(o.headers)
        texts["server log"] = live.log_path.read_text(errors="replace")
        for record in records:
            texts[f"usage {record.request_id}"] = json.dumps(model_to_dict(record), default=str)
        with django_db_blocker.unblock():
            row = ProviderCredential.objects.get(workspace=workspace)
            texts["stored row"] = (
                json.dumps(model_to_dict(row), default=str) + row.credential_encrypted
            )
            base = f"/api/workspaces/{workspace.slug}/providers/"
            texts["API list"] = api.get(base).content.decode()
            texts["API detail"] = api.get(f"{base}fake/").content.decode()
            browser = Client()
            browser.force_login(admin_user)
            texts["dashboard page"] = browser.get(
                f"/w/{workspace.slug}/providers/"
            ).content.decode()
            staff = get_user_model().objects.create_superuser(
                f"{workspace.slug}-root", f"{workspace.slug}@example.test", "pw-1-long"
            )
            root = Client()
            root.force_login(staff)
            for url in (
                "/admin/routing/providercredential/",
                f"/admin/routing/providercredential/{row.pk}/change/",
                "/admin/routing/provider/",
                f"/admin/billing/usagerecord/?q={workspace.slug}",
            ):
                page = root.get(url)
                assert page.status_code == 200, url
                texts[url] = page.content.decode()
            # Another workspace's members and keys see nothing of it.
            other = APIClient()
            other_user = get_user_model().objects.create_user(f"{workspace.slug}-other")
            services.add_member(live.other_workspace, other_user, Role.OWNER)
            other.force_authenticate(other_user)
            assert other.get(base).status_code == 404
            texts["other workspace's list"] = other.get(
                f"/api/workspaces/{live.other_workspace.slug}/providers/"
            ).content.decode()
        # The fake did echo it (so the searches below mean something): scrubbed on the way.
        assert sum("[redacted]" in o.body + json.dumps(o.headers) for o in outcomes) >= 9
        assert "…" + OWN_CANARY[-4:] in texts["dashboard page"]  # the hint, and only it
        leaked = [f"{where}: {s!r}" for where, text in texts.items() for s in secrets_ if s in text]
        assert not leaked, "\n".join(leaked)
    finally:
        own.stop()
