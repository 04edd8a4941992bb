"""The batched usage writer: records and ledger spends land together, once, whatever the
batch holds (COPY through a staging table on PostgreSQL, executemany elsewhere)."""

from datetime import UTC, datetime

import pytest

from billing.models import LedgerEntry, UsageRecord
from billing.services import _COLUMNS, UsageEvent, _row_of, write_usage_batch
from workspaces import services
from workspaces.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


def event(request_id: str, workspace_id: int, key_id: int | None, cost: int, **extra):
    fields = dict(
        request_id=request_id,
        workspace_id=workspace_id,
        api_key_id=key_id,
        endpoint="chat",
        model="fake/chat",
        upstream_model="fake-chat",
        prompt_tokens=12,
        completion_tokens=7,
        cached_tokens=0,
        reasoning_tokens=0,
        usage_reported=True,
        status_code=200,
        error_code="",
        streamed=False,
        latency_ms=5,
        ttft_ms=None,
        created_at=datetime.now(UTC),
        attempts='[{"model": "fake/error-500", "status": 500}]',
        cost_pico=cost,
    )
    return UsageEvent(**(fields | extra))


@pytest.fixture
def workspace_key():
    workspace, _ = services.get_or_create_workspace("writer", "Writer")
    key, _raw = services.create_api_key(workspace, name="writer")
    return workspace, key


def test_batch_writes_records_and_spends_for_charged_calls_only(workspace_key):
    workspace, key = workspace_key
    write_usage_batch(
        [
            event("req_w1", workspace.id, key.id, 1_500_000),
            event("req_w2", workspace.id, key.id, 0, status_code=502, error_code="upstream_error"),
            event("req_w3", workspace.id, key.id, 2_000_000, model="m" * 300, streamed=True),
        ]
    )
    records = {r.request_id: r for r in UsageRecord.objects.filter(workspace=workspace)}
    assert set(records) == {"req_w1", "req_w2", "req_w3"}
    assert records["req_w1"].cost_pico == 1_500_000
    assert records["req_w1"].attempts == [{"model": "fake/error-500", "status": 500}]
    assert records["req_w2"].error_code == "upstream_error"
    assert records["req_w3"].model == "m" * 200  # cut to the column, not refused
    spends = dict(
        LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.SPEND).values_list(
            "request_id", "amount_pico"
        )
    )
    assert spends == {"req_w1": -1_500_000, "req_w3": -2_000_000}
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_retried_batch_adds_nothing(workspace_key):
    workspace, key = workspace_key
    batch = [event(f"req_r{i}", workspace.id, key.id, 1_000) for i in range(5)]
    write_usage_batch(batch)
    write_usage_batch([*batch, event("req_r5", workspace.id, key.id, 1_000)])
    assert UsageRecord.objects.filter(workspace=workspace).count() == 6
    spends = LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.SPEND)
    assert sorted(spends.values_list("amount_pico", flat=True)) == [-1_000] * 6


def test_a_row_for_a_deleted_key_keeps_the_record_without_the_key(workspace_key):
    workspace, key = workspace_key
    gone, _raw = services.create_api_key(workspace, name="deleted soon")
    gone_id = gone.id
    ApiKey.objects.filter(pk=gone_id).delete()
    write_usage_batch(
        [
            event("req_d1", workspace.id, key.id, 3_000),
            event("req_d2", workspace.id, gone_id, 4_000),
        ]
    )
    records = {r.request_id: r for r in UsageRecord.objects.filter(workspace=workspace)}
    assert records["req_d1"].api_key_id == key.id
    assert records["req_d2"].api_key_id is None
    spends = LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.SPEND)
    assert sorted(spends.values_list("amount_pico", flat=True)) == [-4_000, -3_000]


def test_a_deleted_workspace_takes_its_calls_along_and_spares_the_rest(workspace_key):
    workspace, key = workspace_key
    doomed, _ = services.get_or_create_workspace("doomed", "Doomed")
    doomed_id = doomed.id
    doomed.delete()
    write_usage_batch(
        [event("req_x1", doomed_id, None, 5_000), event("req_x2", workspace.id, key.id, 6_000)]
    )
    assert not UsageRecord.objects.filter(request_id="req_x1").exists()
    assert UsageRecord.objects.get(request_id="req_x2").cost_pico == 6_000
    assert not LedgerEntry.objects.filter(request_id="req_x1").exists()


def test_rows_follow_the_column_order_and_are_clamped():
    e = event("req_c1", 1, 2, 7, prompt_tokens=-3, completion_tokens=2**40, error_code="x" * 99)
    row = dict(zip(_COLUMNS, _row_of(e, lambda value: value), strict=True))
    plain = {name: getattr(e, name) for name in _COLUMNS}
    clamped = {"prompt_tokens": 0, "completion_tokens": 2**31 - 1, "error_code": "x" * 60}
    assert row == plain | clamped


def test_a_row_the_database_refuses_does_not_hold_back_the_rest(workspace_key):
    workspace, key = workspace_key
    write_usage_batch(
        [
            event("req_n1", workspace.id, key.id, 1_000),
            # PostgreSQL refuses NUL in text; an upstream's error code could carry one.
            event("req_n2", workspace.id, key.id, 0, status_code=502, error_code="bad\x00code"),
            event("req_n3", workspace.id, key.id, 2_000),
        ]
    )
    written = set(
        UsageRecord.objects.filter(workspace=workspace).values_list("request_id", flat=True)
    )
    assert {"req_n1", "req_n3"} <= written
    spends = LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.SPEND)
    assert sorted(spends.values_list("amount_pico", flat=True)) == [-2_000, -1_000]
