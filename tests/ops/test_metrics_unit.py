"""The metrics module on its own: tallies flushed into the exposition exactly as
prometheus-client's own observe() would have put them, and bounded error-code labels."""

import time
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from routing.catalog.snapshot import ModelRoute, ProviderRoute
from routing.proxy.pipeline.record import CallRecord
from routing.telemetry import metrics
from routing.wire.usage import Usage


def _route(model: str) -> ModelRoute:
    provider = ProviderRoute(slug="unit", kind="openai", base_url="http://x", credential="")
    return ModelRoute(
        public_id=model,
        upstream_name="m",
        provider=provider,
        input_price=Decimal(1),
        output_price=Decimal(2),
        cached_input_price=None,
        context_length=1000,
        max_output_tokens=100,
        capabilities=(),
        endpoint_types=("chat",),
        created=0,
    )


def _samples(text: str, name: str, **labels: str) -> dict[str, float]:
    """le -> value of a histogram's buckets (or "" -> value for other samples)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                found[sample.labels.get("le", "")] = sample.value
    return found


def test_a_flushed_tally_reads_as_observe_would_have_written_it(monkeypatch):
    # A fixed clock: on a loaded machine the 3 ms call would otherwise drift past 5 ms.
    now = time.perf_counter()
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: now)
    route = _route("unit/flush")
    durations = [0.003, 0.02, 0.02, 0.7, 4.0, 400.0]  # the last one is past every bound
    registry = CollectorRegistry()
    reference = Histogram(
        "reference_seconds", "", registry=registry, buckets=metrics.DURATION_BUCKETS
    )
    for seconds in durations:
        record = CallRecord(key=None, route=route, endpoint="chat", streamed=True)  # type: ignore[arg-type]
        record.status = 200 if seconds < 100 else 502
        record.usage = Usage(prompt_tokens=10, completion_tokens=5)
        record.cost_pico = 1_000_000
        record.started = now - seconds  # the call began `seconds` ago
        record.first_byte_at = record.started + seconds / 2
        metrics.record_call("chat", record)
        reference.observe(seconds)
    metrics.flush()
    ours = generate_latest(metrics.REGISTRY).decode()
    theirs = generate_latest(registry).decode()
    buckets = _samples(ours, "orca_request_duration_seconds_bucket", model="unit/flush")
    assert buckets == _samples(theirs, "reference_seconds_bucket")
    assert buckets["0.025"] == 3 and buckets["300.0"] == 5 and buckets["+Inf"] == 6
    total = _samples(ours, "orca_request_duration_seconds_sum", model="unit/flush")[""]
    assert total == pytest.approx(sum(durations), rel=1e-3)
    requests = _samples(ours, "orca_requests_total", model="unit/flush", status="200")
    assert requests[""] == 5
    assert _samples(ours, "orca_requests_total", model="unit/flush", status="502")[""] == 1
    assert _samples(ours, "orca_tokens_total", model="unit/flush", direction="input")[""] == 60
    assert _samples(ours, "orca_cost_usd_total", model="unit/flush")[""] == pytest.approx(6e-6)
    ttft = _samples(ours, "orca_time_to_first_token_seconds_count", model="unit/flush")
    assert ttft[""] == 6
    metrics.flush()  # nothing new: nothing added twice
    again = generate_latest(metrics.REGISTRY).decode()
    assert _samples(again, "orca_requests_total", model="unit/flush", status="200")[""] == 5


def test_error_codes_are_bounded_label_values():
    assert metrics.code_label("insufficient_quota") == "insufficient_quota"
    assert metrics.code_label("") == "none"
    assert metrics.code_label("Not A Code!") == "other"
    assert metrics.code_label("x" * 65) == "other"
    for index in range(metrics._MAX_CODES + 10):
        metrics.code_label(f"upstream_code_{index}")
    assert metrics.code_label("a_new_code_past_the_cap") == "other"
    assert metrics.code_label("insufficient_quota") == "insufficient_quota"  # kept


def _in_worker(folder, code: str) -> str:
    """Run `code` in a new process with the metrics in multiprocess mode under `folder`."""
    import os
    import subprocess
    import sys

    from tests.live import ROOT

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    env["DJANGO_SETTINGS_MODULE"] = "orca.settings"
    script = "import django; django.setup(); from routing.telemetry import metrics; " + code
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_dead_workers_live_gauges_are_dropped_and_its_counters_kept(tmp_path):
    """A worker that died mid-call left in-flight 2 and one call counted; the next worker to
    start forgets the gauge (nobody is serving those calls) and keeps the counter."""
    _in_worker(
        tmp_path,
        "metrics.live.in_flight = 2; metrics.sample(0, 0, 0.0); metrics.refused('rate_limit')",
    )
    before = _in_worker(tmp_path, "print(metrics.exposition().decode())")
    assert "orca_in_flight_requests 2.0" in before  # the dead worker's calls, still counted
    out = _in_worker(
        tmp_path, "metrics.forget_dead_workers(); print(metrics.exposition().decode())"
    )
    families = {f.name: f for f in text_string_to_metric_families(out)}
    assert [s.value for s in families["orca_in_flight_requests"].samples] in ([], [0.0])
    refused = families["orca_admission_refused"].samples
    assert [(s.labels["code"], s.value) for s in refused if s.name.endswith("_total")] == [
        ("rate_limit", 1.0)
    ]
