"""Usage rollups: recomputed per bucket, idempotent, safe with two workers, equal to the sums
of the records; and the billing Celery tasks."""

import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing import rollups, tasks
from billing.models import StoredExchange, UsageRecord, UsageRollup
from workspaces import services

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
METRICS = rollups.METRICS
_SUMMED = ["prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_pico"]


def make_record(workspace, key, model, created_at, status=200, **fields) -> UsageRecord:
    values = {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "cached_tokens": 3,
        "reasoning_tokens": 2,
        "cost_pico": 123_456_789_013,
        **fields,
    }
    return UsageRecord.objects.create(
        request_id=f"gen-{uuid.uuid4().hex}",
        workspace=workspace,
        api_key=key,
        endpoint="chat.completions",
        model=model,
        upstream_model=model.split("/")[-1],
        status_code=status,
        created_at=created_at,
        **values,
    )


def seed(tag: str = "ru"):
    """Two workspaces' records over three hours and two days, errors and a deleted key."""
    acme, _ = services.get_or_create_workspace(f"{tag}-acme")
    globex, _ = services.get_or_create_workspace(f"{tag}-globex")
    key_a, _ = services.create_api_key(acme, name="a")
    key_b, _ = services.create_api_key(acme, name="b")
    doomed, _ = services.create_api_key(acme, name="doomed")
    key_g, _ = services.create_api_key(globex, name="g")
    n = 0
    for hour in range(3):
        for minute in (0, 17, 59):
            at = T0 + timedelta(hours=hour, minutes=minute, seconds=59, microseconds=999_999)
            n += 1
            make_record(acme, key_a, "openai/gpt-4o", at, prompt_tokens=n, cost_pico=n * 10**9 + 7)
            make_record(acme, key_b, "openai/gpt-4o", at, status=429 if minute == 17 else 200)
            make_record(acme, key_a, "anthropic/claude", at, status=500 if hour == 1 else 200)
            make_record(acme, doomed, "openai/gpt-4o", at, completion_tokens=n * 1000)
            make_record(acme, None, "openai/gpt-4o", at, cost_pico=5)
            make_record(globex, key_g, "openai/gpt-4o", at, cost_pico=999)
    # the next day, and records just outside the windows used below
    make_record(acme, key_a, "openai/gpt-4o", T0 + timedelta(days=1, hours=2))
    make_record(acme, key_a, "openai/gpt-4o", T0 - timedelta(microseconds=1))
    make_record(acme, key_a, "openai/gpt-4o", T0 + timedelta(hours=3))
    doomed.delete()  # its records keep their costs, with api_key NULL
    return acme, globex


def expected(period: str, start: datetime, end: datetime) -> dict:
    """Sums of the records per bucket, computed in Python."""
    sums: dict = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for record in UsageRecord.objects.all():
        bucket = rollups.bucket_floor(period, record.created_at)
        if not start <= bucket < end:
            continue
        row = sums[(period, bucket, record.workspace_id, record.api_key_id, record.model)]
        row["requests"] += 1
        row["errors"] += record.status_code >= 400
        for name in _SUMMED:
            row[name] += getattr(record, name)
    return dict(sums)


def stored(period: str | None = None) -> dict:
    rows = (
        UsageRollup.objects.all() if period is None else UsageRollup.objects.filter(period=period)
    )
    result = {}
    for row in rows:
        key = (row.period, row.start.astimezone(UTC), row.workspace_id, row.api_key_id, row.model)
        assert key not in result, f"duplicate bucket {key}"
        result[key] = {name: getattr(row, name) for name in METRICS}
    return result


@pytest.mark.django_db
def test_roll_up_twice_gives_the_same_rows_equal_to_the_sums_of_the_records():
    acme, globex = seed()
    end = T0 + timedelta(hours=3)
    written = rollups.roll_up("hour", T0, end)
    first = stored("hour")
    assert written == len(first) > 0
    assert first == expected("hour", T0, end)
    assert rollups.roll_up("hour", T0, end) == written
    assert stored("hour") == first

    # a deleted key's records roll up under api_key NULL, with the keyless record
    nulls = {k: v for k, v in first.items() if k[3] is None and k[2] == acme.id}
    assert len(nulls) == 3 and all(v["requests"] == 6 for v in nulls.values())

    # whole-window totals per workspace equal the records' sums, to the last pico-dollar
    for workspace in (acme, globex):
        records = UsageRecord.objects.filter(
            workspace=workspace, created_at__gte=T0, created_at__lt=end
        )
        rows = [v for k, v in first.items() if k[2] == workspace.id]
        assert sum(r["requests"] for r in rows) == records.count()
        assert sum(r["errors"] for r in rows) == records.filter(status_code__gte=400).count()
        for name in _SUMMED:
            assert sum(r[name] for r in rows) == sum(getattr(x, name) for x in records)


@pytest.mark.django_db
def test_daily_buckets_and_rerun_picks_up_changes():
    acme, _ = seed()
    start, end = datetime(2025, 3, 9, tzinfo=UTC), T0 + timedelta(days=2)
    make_record(acme, None, "openai/gpt-4o", datetime(2025, 3, 9, 23, 59, 59, 999_999, tzinfo=UTC))
    rollups.roll_up("day", start, end)
    rollups.roll_up("day", start, end)
    assert stored("day") == expected("day", start, end)
    days = {k[1] for k in stored("day")}
    assert days == {
        datetime(2025, 3, 9, tzinfo=UTC),
        datetime(2025, 3, 10, tzinfo=UTC),
        datetime(2025, 3, 11, tzinfo=UTC),
    }

    # a late record and a removed one both show after the next run; emptied buckets go
    UsageRecord.objects.filter(created_at__lt=T0).delete()
    make_record(acme, None, "late/model", T0 + timedelta(hours=20), cost_pico=1)
    rollups.roll_up("day", start, end)
    assert stored("day") == expected("day", start, end)
    assert datetime(2025, 3, 9, tzinfo=UTC) not in {k[1] for k in stored("day")}


@pytest.mark.django_db
def test_only_buckets_starting_in_the_window_are_touched():
    seed()
    rollups.roll_up("hour", T0 - timedelta(hours=1), T0 + timedelta(hours=4))
    before = stored("hour")
    # Change a record of 10:00, then recompute only [10:00, 11:00): 09:00 and 11:00 keep
    # their rows, 10:00 is recomputed.
    record = UsageRecord.objects.filter(created_at__gte=T0 + timedelta(hours=1)).earliest(
        "created_at"
    )
    record.cost_pico += 1
    record.save()
    record2 = UsageRecord.objects.filter(created_at__lt=T0 + timedelta(hours=1)).latest(
        "created_at"
    )
    record2.cost_pico += 1
    record2.save()
    rollups.roll_up("hour", T0 + timedelta(minutes=30), T0 + timedelta(hours=2))
    after = stored("hour")
    changed = {k for k in after if after[k] != before.get(k)}
    assert {k[1] for k in changed} == {T0 + timedelta(hours=1)}
    assert set(after) == set(before)


@pytest.mark.django_db
def test_a_window_covers_the_buckets_that_start_in_it():
    seed()
    # [08:00, 11:30): hours 08:00 .. 11:00 (11:00 starts inside); no day starts in it
    rollups.roll_up("hour", T0 - timedelta(hours=1), T0 + timedelta(hours=2, minutes=30))
    assert {k[1] for k in stored("hour")} == {T0 + timedelta(hours=h) for h in (-1, 0, 1, 2)}
    assert rollups.roll_up("day", T0 - timedelta(hours=1), T0 + timedelta(hours=3)) == 0


@pytest.mark.django_db
def test_bad_periods_are_refused():
    with pytest.raises(ValueError, match="period"):
        rollups.roll_up("week", T0, T0 + timedelta(days=7))
    with pytest.raises(ValueError, match="group_by"):
        rollups.usage_series(1, "hour", T0, T0, group_by="colour")
    assert rollups.roll_up("hour", T0, T0) == 0


@pytest.mark.django_db
def test_usage_series_reads_one_workspace_by_model_or_key():
    acme, globex = seed()
    rollups.roll_up("hour", T0, T0 + timedelta(hours=3))
    by_model = rollups.usage_series(acme.id, "hour", T0, T0 + timedelta(hours=2))
    assert [(r["start"], r["model"]) for r in by_model] == [
        (T0, "anthropic/claude"),
        (T0, "openai/gpt-4o"),
        (T0 + timedelta(hours=1), "anthropic/claude"),
        (T0 + timedelta(hours=1), "openai/gpt-4o"),
    ]
    gpt = by_model[1]
    assert gpt["requests"] == 12  # a, b, the deleted key and the keyless call, 3 times each
    assert gpt["errors"] == 1
    by_key = rollups.usage_series(acme.id, "hour", T0, T0 + timedelta(hours=1), group_by="key")
    assert {r["api_key_id"] for r in by_key} == set(acme.api_keys.values_list("id", flat=True)) | {
        None
    }
    assert sum(r["cost_pico"] for r in by_key) == sum(r["cost_pico"] for r in by_model[:2])
    other = rollups.usage_series(globex.id, "hour", T0, T0 + timedelta(hours=3))
    assert {r["model"] for r in other} == {"openai/gpt-4o"}
    assert sum(r["cost_pico"] for r in other) == 9 * 999


@pytest.mark.django_db
def test_roll_up_recent_usage_covers_the_last_hours_and_days():
    workspace, _ = services.get_or_create_workspace("recent")
    now = timezone.now()
    recent = make_record(workspace, None, "m/recent", now - timedelta(minutes=10))
    make_record(workspace, None, "m/older", now - timedelta(hours=5))
    make_record(workspace, None, "m/old", now - timedelta(days=3))
    result = tasks.roll_up_recent_usage()
    assert result == tasks.roll_up_recent_usage()  # idempotent
    hourly = set(UsageRollup.objects.filter(period="hour").values_list("model", "start"))
    assert hourly == {("m/recent", rollups.bucket_floor("hour", recent.created_at))}
    daily = set(UsageRollup.objects.filter(period="day").values_list("model", flat=True))
    assert daily == {"m/recent", "m/older"}


@pytest.mark.django_db
def test_roll_up_window_task_takes_iso_strings():
    seed()
    assert tasks.roll_up_window("hour", "2025-03-10T09:00:00Z", "2025-03-10T12:00:00+00:00") > 0
    assert tasks.roll_up_window.apply(args=["hour", "2025-03-10T09:00", "2025-03-10T12:00"]).get()
    assert stored("hour") == expected("hour", T0, T0 + timedelta(hours=3))
    with pytest.raises(ValueError, match="start_iso"):
        tasks.roll_up_window("hour", "yesterday", "2025-03-10T12:00:00Z")
    with pytest.raises(ValueError, match="after"):
        tasks.roll_up_window("hour", "2025-03-10T12:00:00Z", "2025-03-10T09:00:00Z")


@pytest.mark.django_db
def test_purge_deletes_only_expired_exchanges():
    workspace, _ = services.get_or_create_workspace("purge")
    other, _ = services.get_or_create_workspace("purge-other")
    now = timezone.now()
    kept = []
    for n, (ws, delta) in enumerate(
        [(workspace, -1), (workspace, 60), (other, -3600), (other, 3600), (workspace, -86400)]
    ):
        record = make_record(ws, None, "m/x", now - timedelta(minutes=n))
        exchange = StoredExchange.objects.create(
            usage=record,
            workspace=ws,
            request_body='{"messages": []}',
            response_text="hi",
            delete_after=now + timedelta(seconds=delta),
        )
        if delta > 0:
            kept.append(exchange.id)
    assert tasks.purge_expired_exchanges() == 3
    assert sorted(StoredExchange.objects.values_list("id", flat=True)) == sorted(kept)
    assert tasks.purge_expired_exchanges() == 0
    assert UsageRecord.objects.count() == 5  # the records themselves stay


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_give_the_same_rows():
    seed("cc")
    end = T0 + timedelta(days=2)
    want_hours = expected("hour", T0 - timedelta(hours=1), end)
    want_days = expected("day", T0 - timedelta(hours=1), end)  # buckets starting in it
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(period: str) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(3):
                rollups.roll_up(period, T0 - timedelta(hours=1), end)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in ("hour", "hour", "day", "day")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert stored("hour") == want_hours
    assert stored("day") == want_days
