"""The usage and ledger API: one workspace's rows only, filters, cursor pages, CSV, series."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from rest_framework.test import APIClient

from billing import api, rollups
from billing.models import LedgerEntry, UsageRecord
from billing.services import grant_credits
from workspaces import services
from workspaces.models import Role

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
BASE = "/api/workspaces/use-acme/"
OTHER = "/api/workspaces/use-globex/"
URLS = ["usage/", "usage/export.csv", "usage/series/", "ledger/"]


def make_record(workspace, key, model, created_at, status=200, **fields) -> UsageRecord:
    return UsageRecord.objects.create(
        request_id=f"gen-{uuid.uuid4().hex}",
        workspace=workspace,
        api_key=key,
        endpoint="chat.completions",
        model=model,
        upstream_model=model.split("/")[-1],
        status_code=status,
        created_at=created_at,
        **{"prompt_tokens": 10, "completion_tokens": 5, "cost_pico": 1_500_000, **fields},
    )


@pytest.fixture
def team(django_user_model):
    acme, _ = services.get_or_create_workspace("use-acme")
    globex, _ = services.get_or_create_workspace("use-globex")
    people = {}
    for name, workspace, role in (
        ("owner", acme, Role.OWNER),
        ("viewer", acme, Role.VIEWER),
        ("outsider", globex, Role.OWNER),
    ):
        user = django_user_model.objects.create_user(name, f"{name}@example.test")
        services.add_member(workspace, user, role)
        client = APIClient()
        client.force_authenticate(user)
        people[name] = client
    alpha, raw_alpha = services.create_api_key(acme, name="alpha")
    beta, _ = services.create_api_key(acme, name="=HYPERLINK(evil)")
    gkey, _ = services.create_api_key(globex, name="g")
    records = []
    for i in range(60):
        # pairs of records share a timestamp: ties must not repeat or vanish across pages
        at = T0 + timedelta(minutes=i // 2)
        records.append(
            make_record(
                acme,
                alpha if i % 3 else beta,
                "openai/gpt-4o" if i % 2 else "anthropic/claude",
                at,
                status=(500 if i % 10 == 0 else 429 if i % 10 == 5 else 200),
                cost_pico=1_500_000 + i,
                attempts=[{"model": "x/y", "status": 502}] if i == 59 else [],
                router="orcarouter/auto" if i == 59 else "",
                fallback_level=1 if i == 59 else None,
                ttft_ms=42 if i == 59 else None,
            )
        )
    deleted_key_record = make_record(acme, None, "openai/gpt-4o", T0 - timedelta(hours=1))
    secret = make_record(globex, gkey, "secret/model", T0 + timedelta(minutes=5), cost_pico=7)
    return {
        **people,
        "acme": acme,
        "globex": globex,
        "alpha": alpha,
        "raw_alpha": raw_alpha,
        "beta": beta,
        "gkey": gkey,
        "records": records,
        "orphan": deleted_key_record,
        "secret": secret,
    }


def all_pages(client, url: str, params: dict) -> list[dict]:
    rows = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        rows.extend(body["results"])
        if not body["next"]:
            return rows
        response = client.get(body["next"])


def test_rows_newest_first_with_exact_costs_and_key_details(team):
    body = team["owner"].get(BASE + "usage/").json()
    assert len(body["results"]) == 50 and body["next"] and body["previous"] is None
    newest = body["results"][0]
    record = team["records"][59]
    assert newest == {
        "request_id": record.request_id,
        "created_at": record.created_at.isoformat(),
        "key": {"id": team["alpha"].id, "name": "alpha", "prefix": team["alpha"].prefix},
        "model": "openai/gpt-4o",
        "upstream_model": "gpt-4o",
        "endpoint": "chat.completions",
        "tokens": {"prompt": 10, "completion": 5, "cached": 0, "reasoning": 0, "reported": True},
        "cost_usd": "0.000001500059",
        "status_code": 200,
        "error_code": "",
        "streamed": False,
        "latency_ms": 0,
        "ttft_ms": 42,
        "router": "orcarouter/auto",
        "fallback_level": 1,
        "attempts": [{"model": "x/y", "status": 502}],
    }
    times = [row["created_at"] for row in body["results"]]
    assert times == sorted(times, reverse=True)
    text = str(body)
    assert team["raw_alpha"] not in text and team["alpha"].key_hash not in text


def test_cursor_pages_cover_every_row_once(team):
    rows = all_pages(team["owner"], BASE + "usage/", {"page_size": 7})
    ids = [row["request_id"] for row in rows]
    assert len(ids) == len(set(ids)) == 61
    assert set(ids) == {r.request_id for r in team["records"]} | {team["orphan"].request_id}
    assert rows[-1]["key"] is None  # the deleted key's record, oldest
    # and backwards from the second page
    first = team["owner"].get(BASE + "usage/", {"page_size": 7}).json()
    second = team["owner"].get(first["next"]).json()
    back = team["owner"].get(second["previous"]).json()
    assert [r["request_id"] for r in back["results"]] == ids[:7]
    big = team["owner"].get(BASE + "usage/", {"page_size": 100000}).json()
    assert len(big["results"]) == 61 and big["next"] is None  # capped at 500


def test_filters(team):
    owner = team["owner"]
    records = team["records"]

    def ids(**params) -> set[str]:
        return {row["request_id"] for row in all_pages(owner, BASE + "usage/", params)}

    assert ids(key=team["beta"].id) == {r.request_id for r in records if r.api_key == team["beta"]}
    assert ids(model="anthropic/claude") == {
        r.request_id for r in records if r.model == "anthropic/claude"
    }
    assert ids(status="error") == {r.request_id for r in records if r.status_code >= 400}
    assert ids(status="429") == {r.request_id for r in records if r.status_code == 429}
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    window = {r.request_id for r in records if since <= r.created_at < until}
    assert len(window) == 20
    assert ids(since=since.isoformat(), until=until.isoformat()) == window
    assert ids(since="2025-05-01T12:10:00Z", until="2025-05-01T12:20:00") == window
    assert ids(since="2025-05-01 12:10:00 00:00", until=until.isoformat()) == window  # '+' lost
    both = ids(key=team["alpha"].id, model="openai/gpt-4o", status="error")
    assert both == {
        r.request_id
        for r in records
        if r.api_key == team["alpha"] and r.model == "openai/gpt-4o" and r.status_code >= 400
    }
    assert ids(key=team["gkey"].id) == set()  # another workspace's key: nothing
    assert ids(model="secret/model") == set()


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"key": "abc"}, "key"),
        ({"key": "-1"}, "key"),
        ({"key": "0"}, "key"),
        ({"status": "bad"}, "status"),
        ({"status": "99"}, "status"),
        ({"status": "600"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-01T00:00:00Z"}, "until"),
        ({"since": "2025-05-02T00:00:00Z", "until": "2025-05-01T00:00:00Z"}, "until"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(team, params, parameter):
    response = team["owner"].get(BASE + "usage/", params)
    assert response.status_code == 400
    assert parameter in response.json()
    if parameter not in ("page_size", "cursor"):
        export = team["owner"].get(BASE + "usage/export.csv", params)
        assert export.status_code == 400 and parameter in export.json()


def test_other_workspaces_answer_like_missing_ones(team):
    owner, outsider = team["owner"], team["outsider"]
    for url in URLS:
        assert owner.get(OTHER + url).status_code == 404, url
        assert outsider.get(BASE + url).status_code == 404, url
        assert owner.get("/api/workspaces/no-such/" + url).status_code == 404, url
        assert APIClient().get(BASE + url).status_code == 401, url  # anonymous
    seen = {row["request_id"] for row in all_pages(owner, BASE + "usage/", {})}
    assert team["secret"].request_id not in seen
    mine = outsider.get(OTHER + "usage/").json()["results"]
    assert [row["request_id"] for row in mine] == [team["secret"].request_id]


def test_viewers_read_everything_but_nobody_grants_through_the_api(team):
    viewer, owner = team["viewer"], team["owner"]
    for url in URLS:
        assert viewer.get(BASE + url).status_code == 200, url
    before = LedgerEntry.objects.count()
    assert viewer.post(BASE + "ledger/", {"amount_usd": "5"}, format="json").status_code == 403
    assert owner.post(BASE + "ledger/", {"amount_usd": "5"}, format="json").status_code == 405
    assert owner.post(BASE + "ledger/grants/", {"amount_usd": "5"}).status_code == 404
    assert LedgerEntry.objects.count() == before


def parse_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


def test_csv_export_has_the_header_and_the_filtered_rows(team, monkeypatch):
    monkeypatch.setattr(api, "_CSV_CHUNK", 4)  # several chunks, with ties on their edges
    response = team["viewer"].get(BASE + "usage/export.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = parse_csv(b"".join(response.streaming_content))
    assert lines[0] == api.CSV_HEADER
    rows = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    assert len(rows) == 61 == len({row["request_id"] for row in rows})
    newest = rows[0]
    assert newest["request_id"] == team["records"][59].request_id
    assert newest["cost_usd"] == "0.000001500059"
    assert newest["key_prefix"] == team["alpha"].prefix
    assert newest["attempts"] == '[{"model":"x/y","status":502}]'
    assert rows[-1]["key_id"] == ""  # the deleted key
    # a key name that a spreadsheet would run as a formula is defused
    assert {row["key_name"] for row in rows} == {"alpha", "'=HYPERLINK(evil)", ""}
    assert team["secret"].request_id not in {row["request_id"] for row in rows}

    errors = team["owner"].get(BASE + "usage/export.csv", {"status": "error", "model": "x/none"})
    assert parse_csv(b"".join(errors.streaming_content)) == [api.CSV_HEADER]
    only = team["owner"].get(BASE + "usage/export.csv", {"status": "500"}, HTTP_ACCEPT="text/csv")
    got = {line[0] for line in parse_csv(b"".join(only.streaming_content))[1:]}
    assert got == {r.request_id for r in team["records"] if r.status_code == 500}


def test_csv_export_streams_under_asgi(team, monkeypatch, django_user_model):
    monkeypatch.setattr(api, "_CSV_CHUNK", 7)
    client = AsyncClient()
    client.force_login(django_user_model.objects.get(username="viewer"))

    async def fetch() -> tuple[int, bool, bytes]:
        response = await client.get(BASE + "usage/export.csv", {"key": team["alpha"].id})
        body = b"".join([part async for part in response.streaming_content])
        return response.status_code, response.is_async, body

    status, is_async, body = async_to_sync(fetch)()
    assert status == 200 and is_async
    lines = parse_csv(body)
    assert lines[0] == api.CSV_HEADER
    assert {line[0] for line in lines[1:]} == {
        r.request_id for r in team["records"] if r.api_key == team["alpha"]
    }


def test_series_reads_the_rollups(team):
    rollups.roll_up("hour", T0 - timedelta(hours=2), T0 + timedelta(hours=2))
    rollups.roll_up("day", T0 - timedelta(days=1), T0 + timedelta(days=1))
    owner = team["owner"]
    params = {"period": "hour", "since": "2025-05-01T11:30:00Z", "until": "2025-05-01T13:00:00Z"}
    body = owner.get(BASE + "usage/series/", params).json()
    assert body["since"] == "2025-05-01T11:00:00+00:00"  # the bucket `since` falls in
    assert [(row["start"], row["model"]) for row in body["data"]] == [
        ("2025-05-01T11:00:00+00:00", "openai/gpt-4o"),  # the deleted key's record
        ("2025-05-01T12:00:00+00:00", "anthropic/claude"),
        ("2025-05-01T12:00:00+00:00", "openai/gpt-4o"),
    ]
    records = [*team["records"], team["orphan"]]
    totals = body["totals"]
    assert totals["requests"] == 61
    assert totals["errors"] == sum(r.status_code >= 400 for r in records)
    assert totals["prompt_tokens"] == 610
    assert Decimal(totals["cost_usd"]) == Decimal(sum(r.cost_pico for r in records)) / 10**12
    assert "secret/model" not in str(body)

    by_key = owner.get(BASE + "usage/series/", {**params, "group_by": "key"}).json()
    keys = {(row["key"] or {}).get("name") for row in by_key["data"]}
    assert keys == {None, "alpha", "=HYPERLINK(evil)"}
    alpha = [row for row in by_key["data"] if row["key"] and row["key"]["name"] == "alpha"]
    assert alpha[0]["key"] == {
        "id": team["alpha"].id,
        "name": "alpha",
        "prefix": team["alpha"].prefix,
    }
    assert by_key["totals"] == totals

    daily = owner.get(
        BASE + "usage/series/", {"period": "day", "since": "2025-04-30", "until": "2025-05-02"}
    ).json()
    assert sum(row["requests"] for row in daily["data"]) == 61
    assert daily["totals"]["cost_usd"] == totals["cost_usd"]

    other = team["outsider"].get(OTHER + "usage/series/", params).json()
    assert [row["model"] for row in other["data"]] == ["secret/model"]
    assert other["totals"]["cost_usd"] == "0.000000000007"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"period": "week"}, "period"),
        ({"group_by": "colour"}, "group_by"),
        ({"since": "soon"}, "since"),
        ({"since": "2025-05-02T00:00:00Z", "until": "2025-05-01T00:00:00Z"}, "until"),
        ({"period": "hour", "since": "2020-01-01T00:00:00Z", "until": "2025-01-01"}, "since"),
    ],
)
def test_bad_series_parameters_are_400(team, params, parameter):
    response = team["owner"].get(BASE + "usage/series/", params)
    assert response.status_code == 400
    assert parameter in response.json()


def test_ledger_lists_entries_and_the_exact_balance(team):
    acme, globex = team["acme"], team["globex"]
    grant_credits(acme.id, Decimal("10.5"), note="invoice 1")
    LedgerEntry.objects.create(
        workspace=acme, kind="spend", amount_pico=-1_500_059, request_id="gen-x", note="m"
    )
    grant_credits(globex.id, Decimal("999"), note="theirs")
    body = team["viewer"].get(BASE + "ledger/").json()
    assert body["balance_usd"] == "10.499998499941"
    assert [(e["kind"], e["amount_usd"], e["note"]) for e in body["results"]] == [
        ("spend", "-0.000001500059", "m"),
        ("grant", "10.5", "invoice 1"),
    ]
    assert "theirs" not in str(body)
    grants = team["viewer"].get(BASE + "ledger/", {"kind": "grant"}).json()["results"]
    assert [e["amount_usd"] for e in grants] == ["10.5"]
    bad = team["viewer"].get(BASE + "ledger/", {"kind": "gift"})
    assert bad.status_code == 400 and "kind" in bad.json()
    assert team["outsider"].get(OTHER + "ledger/").json()["balance_usd"] == "999"
