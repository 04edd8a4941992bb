"""What recording one relayed call's metrics costs (docs/performance.md, "Metrics").

`python -m bench.metrics_cost` times, with timeit, the pipeline's per-call step
(`routing.telemetry.metrics.record_call` on a real CallRecord of a non-stream call and of a
stream, plus the in-flight count the pipeline keeps) against recording the same values
straight into prometheus-client's pre-bound children, each in prometheus-client's
single-process mode and its multiprocess mode (a child process with PROMETHEUS_MULTIPROC_DIR
set, as `make serve` runs); then what one flush of the tallies costs. Env: METRICS_CALLS
(200000), METRICS_REPEAT (5; the best run is reported). Times are the process's CPU time.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import timeit

CALLS = int(os.environ.get("METRICS_CALLS", "200000"))
REPEAT = int(os.environ.get("METRICS_REPEAT", "5"))


def measure() -> dict[str, float]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orca.settings")
    import django

    django.setup()
    from decimal import Decimal

    from routing.catalog.snapshot import ModelRoute, ProviderRoute
    from routing.proxy.pipeline.record import CallRecord
    from routing.telemetry import metrics
    from routing.wire.usage import Usage

    provider = ProviderRoute(slug="bench", kind="openai", base_url="http://x", credential="")
    route = ModelRoute(
        public_id="bench/model",
        upstream_name="model",
        provider=provider,
        input_price=Decimal(1),
        output_price=Decimal(2),
        cached_input_price=None,
        context_length=128_000,
        max_output_tokens=4096,
        capabilities=(),
        endpoint_types=("chat",),
        created=0,
    )
    plain = CallRecord(key=None, route=route, endpoint="chat.completions", streamed=False)  # type: ignore[arg-type]
    plain.status, plain.cost_pico = 200, 25_000_000
    plain.usage = Usage(prompt_tokens=11, completion_tokens=7)
    plain.first_byte_at = plain.started + 0.001
    stream = CallRecord(key=None, route=route, endpoint="chat.completions", streamed=True)  # type: ignore[arg-type]
    stream.status, stream.cost_pico = 200, 25_000_000
    stream.usage = Usage(prompt_tokens=11, completion_tokens=7)
    stream.first_byte_at = stream.started + 0.001
    live = metrics.live

    def pipeline_step(record):
        def step():
            live.in_flight += 1
            live.in_flight -= 1
            metrics.record_call("chat", record)

        return step

    ok = metrics.REQUESTS.labels("chat", "bench/model", "bench", "200")
    duration = metrics.DURATION.labels("bench/model", "bench")
    ttft = metrics.TTFT.labels("bench/model", "bench")
    tokens_in = metrics.TOKENS.labels("bench/model", "bench", "input")
    tokens_out = metrics.TOKENS.labels("bench/model", "bench", "output")
    cost = metrics.COST.labels("bench/model", "bench")
    in_flight = metrics.IN_FLIGHT

    def direct(streamed: bool):
        def step():
            in_flight.inc()
            in_flight.dec()
            ok.inc()
            duration.observe(0.0012)
            if streamed:
                ttft.observe(0.001)
            tokens_in.inc(11)
            tokens_out.inc(7)
            cost.inc(25e-6)

        return step

    def best(fn) -> float:
        fn()  # the route's tally and children exist from here on
        # CPU time of this process, so that neighbours on a shared machine count less.
        runs = timeit.repeat(fn, number=CALLS, repeat=REPEAT, timer=time.process_time)
        return min(runs) / CALLS * 1e6

    results = {
        "tally, non-stream": best(pipeline_step(plain)),
        "tally, stream": best(pipeline_step(stream)),
        "prometheus-client direct, non-stream": best(direct(False)),
        "prometheus-client direct, stream": best(direct(True)),
    }
    # One flush after a tick's worth of calls on one route (what the poller does).
    flushes = []
    for _ in range(REPEAT):
        for _ in range(1000):
            metrics.record_call("chat", stream)
        started = time.process_time()
        metrics.flush()
        flushes.append((time.process_time() - started) * 1e6)
    results["flush of one route's tally"] = min(flushes)
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(measure()))
        return
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode, extra in (
            ("single-process", {}),
            ("multiprocess", {"PROMETHEUS_MULTIPROC_DIR": folder}),
        ):
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            env.update(extra)
            out = subprocess.run(
                [sys.executable, "-m", "bench.metrics_cost", "--child"],
                env=env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            rows[mode] = json.loads(out.strip().splitlines()[-1])
    print(f"µs per call (best of {REPEAT} runs of {CALLS}):")
    names = list(rows["single-process"])
    print(f"{'':40} {'single-process':>15} {'multiprocess':>13}")
    for name in names:
        print(f"{name:40} {rows['single-process'][name]:15.2f} {rows['multiprocess'][name]:13.2f}")


if __name__ == "__main__":
    main()
