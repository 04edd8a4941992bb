"""Rows the database would refuse (NUL bytes, lone surrogates, a deleted key, anything
else) never hold back the batch they came in, nor any later one: text is made storable
on the way in, and whatever is still refused is isolated and written in a reduced form
that keeps its billing facts. Real PostgreSQL (with SQLite the refusals do not happen)."""

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from django.db import connection

from billing import services as writer
from billing import usage_buffer
from billing.models import LedgerEntry, StoredExchange, UsageRecord
from billing.services import UsageEvent, grant_credits, write_usage_batch
from billing.text import storable, storable_data, storable_json
from workspaces import services
from workspaces.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "canary-prompt-text"


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
        streamed=True,
        latency_ms=5,
        ttft_ms=1,
        created_at=datetime.now(UTC),
        cost_pico=cost,
    )
    return UsageEvent(**(fields | extra))


@pytest.fixture
def keyed():
    if connection.vendor != "postgresql":
        pytest.skip("the refusals under test are PostgreSQL's")
    workspace, _ = services.get_or_create_workspace("poison", "Poison")
    key, _raw = services.create_api_key(workspace, name="poison")
    return workspace, key


def _spends(workspace) -> dict[str, int]:
    rows = LedgerEntry.objects.filter(workspace=workspace, kind=LedgerEntry.Kind.SPEND)
    return dict(rows.values_list("request_id", "amount_pico"))


def _batch_of_three(workspace, key):
    gone, _raw = services.create_api_key(workspace, name="deleted soon")
    gone_id = gone.id
    ApiKey.objects.filter(pk=gone_id).delete()
    echoed = f'{{"messages": [{{"role": "user", "content": "{SECRET} \\u0000"}}]}}'
    return [
        event("req_p1", workspace.id, key.id, 1_000),
        event(
            "req_p2",
            workspace.id,
            key.id,
            2_000,
            model="fake/\x00chat",
            exchange=(echoed, f"{SECRET}\x00 echoed", 30),
        ),
        event("req_p3", workspace.id, gone_id, 3_000),
    ]


def test_nul_in_the_exchange_and_model_and_a_deleted_key_write_all_three(keyed):
    workspace, key = keyed
    write_usage_batch(_batch_of_three(workspace, key))
    records = {r.request_id: r for r in UsageRecord.objects.filter(workspace=workspace)}
    assert set(records) == {"req_p1", "req_p2", "req_p3"}
    assert records["req_p2"].model == "fake/\ufffdchat"
    assert records["req_p3"].api_key_id is None
    assert _spends(workspace) == {"req_p1": -1_000, "req_p2": -2_000, "req_p3": -3_000}
    kept = StoredExchange.objects.get(usage=records["req_p2"])
    assert kept.response_text == f"{SECRET}\ufffd echoed"
    assert "\\u0000" in kept.request_body  # JSON text in a text column: the escape is fine
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_lone_surrogates_and_json_escapes_jsonb_refuses_are_stored(keyed):
    workspace, key = keyed
    write_usage_batch(
        [
            event(
                "req_s1",
                workspace.id,
                key.id,
                500,
                model="m\ud800",
                upstream_model="u\udfff",
                error_code="e\x00",
                router="orcarouter/\ud83d",
                endpoint="chat\x00",
                attempts='[{"model": "a\\u0000b\\ud800", "status": 500}]',
                exchange=("{}", "lone \udc00 half", 30),
            ),
            event("req_s2", workspace.id, key.id, 700, attempts='[{"model": "\\ud83d\\ude00"}]'),
        ]
    )
    first = UsageRecord.objects.get(request_id="req_s1")
    texts = (first.model, first.upstream_model, first.error_code, first.router, first.endpoint)
    assert texts == ("m\ufffd", "u\ufffd", "e\ufffd", "orcarouter/\ufffd", "chat\ufffd")
    assert first.attempts == [{"model": "a\ufffdb\ufffd", "status": 500}]
    assert first.exchange.response_text == "lone \ufffd half"
    assert UsageRecord.objects.get(request_id="req_s2").attempts == [{"model": "\U0001f600"}]
    assert _spends(workspace) == {"req_s1": -500, "req_s2": -700}


def test_a_row_refused_anyway_is_isolated_and_keeps_its_usage_and_spend(keyed, monkeypatch, caplog):
    """What the sanitiser misses (here: it is switched off) and a refusal in another part of
    the write (an exchange whose retention date cannot be computed) each cost only the
    refused row its text, not the batch its records."""
    workspace, key = keyed
    monkeypatch.setattr(writer, "storable", lambda text: text)
    before = dict(writer.refused_rows)
    caplog.set_level(logging.ERROR, logger="billing.services")
    write_usage_batch(
        [
            event("req_i1", workspace.id, key.id, 1_000),
            event("req_i2", workspace.id, key.id, 2_000, model=f"{SECRET}\x00"),
            event("req_i3", workspace.id, key.id, 3_000, exchange=(SECRET, SECRET, 10**9)),
            event("req_i4", workspace.id, key.id, 4_000, exchange=("{}", "kept", 30)),
        ]
    )
    records = {r.request_id: r for r in UsageRecord.objects.filter(workspace=workspace)}
    assert set(records) == {"req_i1", "req_i2", "req_i3", "req_i4"}
    assert records["req_i2"].model == f"{SECRET}?"  # reduced to ASCII, NUL replaced
    assert _spends(workspace) == {
        "req_i1": -1_000, "req_i2": -2_000, "req_i3": -3_000, "req_i4": -4_000,
    }  # fmt: skip
    assert set(StoredExchange.objects.values_list("usage__request_id", flat=True)) == {"req_i4"}
    outcomes = ("without exchange", "scrubbed", "dropped")
    counted = [writer.refused_rows[k] - before.get(k, 0) for k in outcomes]
    assert counted == [1, 1, 0]
    assert "req_i2" in caplog.text and "req_i3" in caplog.text
    assert SECRET not in caplog.text


def test_grant_notes_and_stored_responses_are_storable(keyed):
    from routing.models import StoredResponse
    from routing.services import store_response

    workspace, _key = keyed
    entry = grant_credits(workspace.id, __import__("decimal").Decimal("1"), note="top\x00up")
    assert LedgerEntry.objects.get(pk=entry.pk).note == "top\ufffdup"
    messages = [{"role": "user", "content": "echo \x00 this \ud800", "n\x00": ["\x00"]}]
    store_response(workspace.id, "resp_nul", "m\x00", messages)
    stored = StoredResponse.objects.get(response_id="resp_nul")
    assert stored.model == "m\ufffd"
    assert stored.messages == [
        {"role": "user", "content": "echo \ufffd this \ufffd", "n\ufffd": ["\ufffd"]}
    ]


def test_storable_returns_clean_text_as_it_is():
    clean = "plain text, ünïcode and \U0001f600"
    assert storable(clean) is clean
    assert storable_json('{"a": "\\ud83d\\ude00"}') == '{"a": "\U0001f600"}'  # a valid pair
    assert storable_json("not json \\u0000") == '"not json \\\\u0000"'
    assert storable_data({"k": ("a\x00", 1, None)}) == {"k": ["a\ufffd", 1, None]}


# Through the buffer the gateway uses: its writer thread has its own connection.


@pytest.fixture
def buffer():
    buf = usage_buffer.UsageBuffer()
    yield buf
    usage_buffer._writer.submit(lambda: connection.close()).result()


def _flush(buf: usage_buffer.UsageBuffer) -> None:
    asyncio.run(buf.flush())


def test_a_poison_batch_does_not_keep_the_flush_failing(keyed, buffer):
    workspace, key = keyed
    for e in _batch_of_three(workspace, key):
        buffer._pending.append(e)
    _flush(buffer)
    assert buffer.pending == 0
    assert UsageRecord.objects.filter(workspace=workspace).count() == 3
    buffer._pending.append(event("req_p4", workspace.id, key.id, 4_000))
    _flush(buffer)
    assert buffer.pending == 0
    assert set(_spends(workspace)) == {"req_p1", "req_p2", "req_p3", "req_p4"}


def test_a_lost_database_connection_keeps_the_batch_until_it_is_written(keyed, buffer):
    workspace, key = keyed
    buffer._pending.append(event("req_c0", workspace.id, key.id, 10))
    _flush(buffer)  # the writer thread is connected now

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    pid = usage_buffer._writer.submit(backend_pid).result()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    buffer._pending.extend(event(f"req_c{i}", workspace.id, key.id, 10) for i in (1, 2))
    _flush(buffer)
    assert buffer.pending == 2  # unreachable: kept, not dropped
    assert UsageRecord.objects.filter(workspace=workspace).count() == 1
    _flush(buffer)  # reconnected
    assert buffer.pending == 0
    assert set(_spends(workspace)) == {"req_c0", "req_c1", "req_c2"}


def test_a_flush_failing_for_another_reason_gives_up(keyed, buffer, monkeypatch):
    def broken(batch):
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(usage_buffer, "write_usage_batch", broken)
    workspace, key = keyed
    buffer._pending.append(event("req_b1", workspace.id, key.id, 10))
    attempts = 0
    while buffer.pending and attempts < 10:
        _flush(buffer)
        attempts += 1
    assert buffer.pending == 0
    assert attempts == usage_buffer.MAX_ATTEMPTS


def test_a_call_stays_findable_while_its_batch_is_being_written(keyed, buffer, monkeypatch):
    """/v1/generation looks in the buffer, then the database: a batch out to the writer
    thread but not committed yet must still be found (it used to be in neither)."""
    import threading

    workspace, key = keyed
    entered, release = threading.Event(), threading.Event()
    real = usage_buffer._write

    def slow(batch):
        entered.set()
        release.wait(10)
        real(batch)

    monkeypatch.setattr(usage_buffer, "_write", slow)
    buffer._pending.append(event("req_w1", workspace.id, key.id, 10))

    async def go():
        flushing = asyncio.ensure_future(buffer.flush())
        await asyncio.to_thread(entered.wait, 10)
        during = buffer.find(workspace.id, "req_w1")
        release.set()
        await flushing
        return during, buffer.find(workspace.id, "req_w1")

    during, after = asyncio.run(go())
    assert during is not None and during.request_id == "req_w1"
    assert after is None and UsageRecord.objects.filter(request_id="req_w1").exists()
