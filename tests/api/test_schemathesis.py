"""schemathesis against the management API's own OpenAPI schema (/api/schema/), in process
(WSGI) on the test database, authenticated by an owner management key of a workspace with
rows of every kind: no answer is a 5xx, and every answer conforms to the schema (status
code, content type, headers, body)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.models import UsageRecord
from billing.services import grant_credits
from guardrails.models import GuardrailMatch
from guardrails.services import bind_key, create_guardrail
from prompts import services as prompts
from routing.models import Router
from workspaces import services
from workspaces.models import Role

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 8  # per operation and mode: the whole run stays under a minute


# Loaded once, at collection: the schema view needs neither the database nor a login.
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@dataclass
class Fuzzed:
    slug: str
    headers: dict


@pytest.fixture
def keep_connection():
    """Django closes the database connection after each WSGI request; in a test it is the
    test's transaction (Django's own test client unhooks the same signals)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzzed(db, keep_connection, django_user_model) -> Fuzzed:
    workspace, _ = services.get_or_create_workspace("fuzzed")
    key, _ = services.create_api_key(workspace, name="fuzzed")
    user = django_user_model.objects.create_user("fuzzed-member", "fuzzed@example.test")
    services.add_member(workspace, user, Role.DEVELOPER)
    Router.objects.create(workspace=workspace, name="fuzzed", candidates=["fake/*"])
    UsageRecord.objects.create(
        request_id="req_fuzzed",
        workspace=workspace,
        api_key=key,
        endpoint="chat.completions",
        model="fake/chat",
        status_code=200,
        created_at=datetime.now(UTC),
    )
    grant_credits(workspace.id, Decimal(3), note="fuzzed")
    rules = [{"type": "pii", "stage": "both", "action": "mask", "entities": ["email"]}]
    guardrail = create_guardrail(workspace, name="fuzzed", rules=rules, is_default=True)
    create_guardrail(workspace, name="unbound", rules=[])  # one DELETE may remove
    bind_key(key, guardrail)
    GuardrailMatch.objects.create(
        workspace=workspace, guardrail=guardrail, guardrail_name="fuzzed", version=1,
        api_key=key, request_id="req_fuzzed", stage="input", action="mask", rule_index=0,
        rule_type="pii", entity="email", created_at=datetime.now(UTC),
    )  # fmt: skip
    first = {
        "system": "You help {{customer}}.",
        "variables": [{"name": "customer", "required": True}, {"name": "n", "type": "integer"}],
        "labels": ["production"],
    }
    support = prompts.create_prompt(workspace, name="support", version=prompts.Draft.of(first))
    prompts.create_version(support, prompts.Draft.of({"system": "v2", "labels": ["staging"]}))
    prompts.trash_prompt(prompts.create_prompt(workspace, name="trashed"))  # one to restore
    key.prompt, key.prompt_label = support, "staging"
    key.save(update_fields=["prompt", "prompt_label"])
    _, raw = services.create_management_key(workspace, role=Role.OWNER, name="fuzzer")
    return Fuzzed(workspace.slug, {"Authorization": f"Bearer {raw}"})


def test_the_schema_lists_every_resource():
    paths = {operation.path for operation in OPERATIONS}
    resources = (
        "members",
        "keys",
        "management-keys",
        "routers",
        "guardrails",
        "prompts",
        "usage",
        "ledger",
    )
    for resource in resources:
        assert f"/api/workspaces/{{workspace}}/{resource}/" in paths, resource
    assert "/api/workspaces/{workspace}/guardrails/matches/" in paths
    assert "/api/workspaces/{workspace}/guardrails/{guardrail_id}/test/" in paths
    assert "/api/workspaces/{workspace}/prompts/{prompt_name}/render/" in paths
    assert "/api/workspaces/{workspace}/prompts/{prompt_name}/labels/{label}/" in paths
    assert "/api/workspaces/" in paths and len(OPERATIONS) >= 25


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_the_management_api_conforms_to_its_schema(operation, mode, fuzzed):
    # The workspace is the fuzzed one, so calls reach its rows rather than only 404s.
    fixed = {"workspace": fuzzed.slug} if "{workspace}" in operation.path else None

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        case.call_and_validate(headers=fuzzed.headers, checks=CHECKS)

    run()
