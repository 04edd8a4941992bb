"""The fault matrix: every upstream fault, on every client surface against every upstream kind,
streamed and not, through a live gateway. Each call must end in its dialect's error shape (an
in-stream error event once a stream began, never a clean end) within its deadline plus slack,
and be charged at most once, for no more than what was delivered. The fault is asked of the
fake upstream by a marker in the prompt (tests/fakes/faults.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import product

import pytest

from billing.models import LedgerEntry
from tests.fakes import faults
from tests.usage import wait_for_usage

from .clients import ANTHROPIC_TYPES, GEMINI_STATUSES, SURFACES, Outcome, call
from .conftest import INPUT_PRICE, KINDS, MATRIX_TOTAL_TIMEOUT, OUTPUT_PRICE

SLACK = 8.0  # seconds: 24 concurrent calls on a small shared machine
PROMPT_BOUND = 100  # tokens: far more than any prompt here counts or is estimated at
PICO_PER_USD_PER_MILLION = 10**6  # 1 USD per 1M tokens is 10^6 pico-dollars per token


@dataclass(frozen=True)
class Expect:
    status: int  # the HTTP status, or the failure's status once a stream began
    code: str | None  # the gateway's code (OpenAI dialects, usage record); None: upstream's
    deadline: float  # the gateway deadline at play, in seconds
    before_stream: bool = False  # a stream fails before its first byte (an HTTP error)
    plain_code: str | None = None  # the code without stream, when it differs

    def code_for(self, stream: bool) -> str | None:
        return self.code if stream or self.plain_code is None else self.plain_code


FAILURES = {
    "500": Expect(500, None, 0, before_stream=True),
    "429": Expect(429, None, 0, before_stream=True),
    "connect": Expect(502, "upstream_error", 2.0, before_stream=True),
    "first_byte": Expect(504, "upstream_timeout", 1.5, before_stream=True),
    "idle": Expect(504, "upstream_timeout", 1.0),
    "total": Expect(504, "upstream_timeout", MATRIX_TOTAL_TIMEOUT),
    "reset": Expect(502, "upstream_error", 0),
    "malformed_json": Expect(
        502, "upstream_stream_error", 0, plain_code="upstream_invalid_response"
    ),
    "malformed_event": Expect(
        502, "upstream_stream_error", 0, plain_code="upstream_invalid_response"
    ),
}


def run_matrix(
    base_url: str, key: str, models: dict[str, str], prompt: str, workers: int = 24
) -> list[Outcome]:
    """Every surface x kind x stream, ``workers`` at a time (all at once by default)."""
    jobs = list(product(SURFACES, KINDS, (False, True)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(call, base_url, key, surface, models[kind], prompt, stream)
            for surface, kind, stream in jobs
        ]
        return [f.result() for f in futures]


def check_error_shape(o: Outcome, fault: str, expect: Expect) -> None:
    where = o.describe()
    assert not o.transport_error, f"{where}: the transfer broke: {o.transport_error}"
    assert o.request_id.startswith("req_"), where
    assert not o.clean_end, f"{where}: ended like a success: {o.body[-300:]!r}"
    assert o.error is not None, f"{where}: no error in the dialect's shape: {o.body[-300:]!r}"
    either = fault == "malformed_json" and o.stream  # refused before or after the 200
    if o.stream and not expect.before_stream and not (either and o.status != 200):
        assert (o.status, o.in_stream) == (200, True), where
    else:
        assert (o.status, o.in_stream) == (expect.status, False), where
    code = expect.code_for(o.stream and o.in_stream)
    if o.surface in ("chat", "responses"):
        if code is not None:
            assert o.error.get("code") == code, f"{where}: {o.error}"
    elif o.surface == "messages":
        assert o.error.get("type") == ANTHROPIC_TYPES[expect.status], f"{where}: {o.error}"
    else:
        assert o.error.get("code") == expect.status, f"{where}: {o.error}"
        assert o.error.get("status") == GEMINI_STATUSES[expect.status], f"{where}: {o.error}"
    if fault == "429":
        assert o.headers.get("retry-after") == "7", where
    assert o.elapsed < expect.deadline + SLACK, f"{where}: took {o.elapsed:.1f} s"


def delivered_price_bound(pieces: int) -> int:
    """The most `pieces` delivered output tokens (and any prompt here) can cost, in pico."""
    return int((PROMPT_BOUND * INPUT_PRICE + pieces * OUTPUT_PRICE) * PICO_PER_USD_PER_MILLION)


def check_charge(o: Outcome, fault: str, expect: Expect, django_db_blocker) -> None:
    where = o.describe()
    record = wait_for_usage(django_db_blocker, o.request_id, timeout=15)
    assert record.streamed == o.stream, where
    assert record.status_code == expect.status, f"{where}: recorded {record.status_code}"
    code = expect.code_for(o.stream and o.in_stream)
    if code is not None:
        assert record.error_code == code, f"{where}: recorded {record.error_code!r}"
    with django_db_blocker.unblock():
        spends = list(LedgerEntry.objects.filter(request_id=o.request_id, kind="spend"))
    assert len(spends) <= 1, where
    if spends:
        assert spends[0].amount_pico == -record.cost_pico, where
    if not o.in_stream or o.pieces == 0:
        assert record.cost_pico == 0 and not spends, f"{where}: nothing served, yet charged"
        return
    # Role and finish chunks may be counted as output events; the price bound is what matters.
    assert record.cost_pico <= delivered_price_bound(o.pieces), f"{where}: billed undelivered"


@pytest.mark.parametrize("fault", list(FAILURES))
def test_every_fault_is_an_error_in_the_clients_dialect_and_costs_at_most_what_was_delivered(
    fault, live, upstreams, fault_catalog, matrix_server, django_db_blocker
):
    expect = FAILURES[fault]
    if fault == "connect":
        models, prompt = fault_catalog.unreachable, "Say something."
    else:
        models, prompt = fault_catalog.models, f"orca-fault:{fault} Say something."
    outcomes = run_matrix(matrix_server.base_url, fault_catalog.key, models, prompt)
    problems = []
    for o in outcomes:
        try:
            check_error_shape(o, fault, expect)
            check_charge(o, fault, expect, django_db_blocker)
        except AssertionError as exc:  # collected, so one run reports every broken cell
            problems.append(str(exc).splitlines()[0])
    assert not problems, f"{len(problems)} of {len(outcomes)} cells:\n" + "\n".join(problems)
    if fault != "connect":
        served = sum(
            1 for fake in upstreams.values() for name, _ in fake.events if name == f"fault:{fault}"
        )
        assert served == len(outcomes)  # every call reached its fake with the marker intact


@pytest.mark.parametrize("fault", ["slow_drip", "huge"])
def test_slow_and_huge_answers_complete_and_are_charged_once(
    fault, live, upstreams, fault_catalog, django_db_blocker
):
    # The session gateway (20 s total deadline): these are successes, not deadline tests.
    prompt = f"orca-fault:{fault} Say something."
    expected = faults.FAULT_TEXT if fault == "slow_drip" else faults.huge_text()
    # 2 MiB answers a few at a time: the fakes share this process's one core with the client.
    workers = 24 if fault == "slow_drip" else 4
    outcomes = run_matrix(
        live.server.base_url, fault_catalog.key, fault_catalog.models, prompt, workers
    )
    problems = []
    for o in outcomes:
        where = o.describe()
        if not (o.status == 200 and o.clean_end and o.error is None):
            problems.append(f"{where}: {o.status} {o.error} {o.transport_error} {o.body[-200:]!r}")
            continue
        if o.text != expected:
            problems.append(f"{where}: {len(o.text)} characters of {len(expected)}")
            continue
        record = wait_for_usage(django_db_blocker, o.request_id, timeout=15)
        with django_db_blocker.unblock():
            spends = list(LedgerEntry.objects.filter(request_id=o.request_id, kind="spend"))
        if record.status_code != 200 or record.cost_pico <= 0:
            problems.append(f"{where}: recorded {record.status_code}, cost {record.cost_pico}")
        elif [s.amount_pico for s in spends] != [-record.cost_pico]:
            problems.append(f"{where}: spends {[s.amount_pico for s in spends]}")
    assert not problems, f"{len(problems)} of {len(outcomes)} cells:\n" + "\n".join(problems)
