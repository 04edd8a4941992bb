"""Prometheus metrics of the relay, at no measurable cost to a call.

prometheus-client's own recording costs about a microsecond per counter and two per
histogram under several workers (each value is a locked write into a memory-mapped file),
some ten microseconds for what one call reports. So a call adds its numbers, at its end,
to a plain tally of its (surface, model route): integer additions and one bisect, with
nothing allocated once the route was seen. Every gateway tick (the config poller, every
ORCA_CONFIG_POLL_SECONDS) `flush()` moves the tallies into the metrics' label children,
bound once per route; so does a scrape in its own process and the worker's shutdown. A
scrape may therefore lag the calls of other workers by one tick. Error paths (refusals,
upstream errors, cooldowns) are rare and count straight into their children.

With PROMETHEUS_MULTIPROC_DIR set (`make serve` sets it, under var/), each worker writes
its values to files there and a scrape of any worker sums them (prometheus-client's
multiprocess mode); without it the values are this process's.
"""

import bisect
import glob
import math
import os
import re
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from ..catalog.snapshot import ModelRoute
    from ..proxy.pipeline.record import CallRecord

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# Seconds. A relay adds well under a millisecond; an LLM call takes from tens of
# milliseconds (embeddings, a cached answer) to minutes (a long reasoning stream).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)
_DURATION_BOUNDS = (*DURATION_BUCKETS, math.inf)  # as the histogram's children keep them
_TTFT_BOUNDS = (*TTFT_BUCKETS, math.inf)
_PICO = 10**12  # costs are integers of 10^-12 USD

REQUESTS = Counter(
    "orca_requests",
    "Relayed calls by client surface, model, provider and the status the client got "
    "(499: the client left). Calls refused before a model was planned have empty "
    "model and provider.",
    ["surface", "model", "provider", "status"],
)
ERRORS = Counter(
    "orca_errors",
    "Error answers of relay endpoints by surface and error code (in-stream errors too).",
    ["surface", "code"],
)
DURATION = Histogram(
    "orca_request_duration_seconds",
    "Whole relayed calls, from the request to the answer's last byte.",
    ["model", "provider"],
    buckets=DURATION_BUCKETS,
)
TTFT = Histogram(
    "orca_time_to_first_token_seconds",
    "Streams: from the request to the first relayed bytes of output.",
    ["model", "provider"],
    buckets=TTFT_BUCKETS,
)
TOKENS = Counter(
    "orca_tokens",
    "Tokens of relayed calls, as metered for billing; direction is input or output.",
    ["model", "provider", "direction"],
)
COST = Counter(
    "orca_cost_usd", "What relayed calls cost their workspaces, in USD.", ["model", "provider"]
)
UPSTREAM_ERRORS = Counter(
    "orca_upstream_errors",
    "Upstream attempts that failed: the upstream's HTTP status, or 502 (unreachable, "
    "broken) and 504 (timed out) for failures without one.",
    ["model", "provider", "status"],
)
COOLDOWNS = Counter(
    "orca_cooldowns",
    "Times a model was put in cooldown (failures in a row, a 429 with Retry-After, staff).",
    ["model", "provider"],
)
IN_COOLDOWN = Gauge(
    "orca_models_in_cooldown",
    "(provider, model) routes in cooldown now, as the worker that sees most of them knows.",
    multiprocess_mode="livemax",
)
IN_FLIGHT = Gauge(
    "orca_in_flight_requests",
    "Admitted calls not finished yet (sampled every gateway tick).",
    multiprocess_mode="livesum",
)
REFUSED = Counter(
    "orca_admission_refused",
    "Calls refused at admission (balance, spend caps, rate limits, limits unavailable).",
    ["code"],
)
USAGE_PENDING = Gauge(
    "orca_usage_pending_records",
    "Usage records waiting in the gateways' buffers to be written.",
    multiprocess_mode="livesum",
)
USAGE_LAG = Gauge(
    "orca_usage_lag_seconds",
    "Age of the oldest usage record not yet written to the database.",
    multiprocess_mode="livemax",
)


class _Live:
    """Counts the pipeline keeps on the hot path, sampled into gauges each tick."""

    __slots__ = ("in_flight",)

    def __init__(self) -> None:
        self.in_flight = 0


live = _Live()


class _Tally:
    """One (surface, route)'s calls since the last flush, and its children to flush into."""

    __slots__ = (
        "c_cost",
        "c_duration",
        "c_input",
        "c_ok",
        "c_output",
        "c_ttft",
        "cost_pico",
        "dirty",
        "duration",
        "duration_sum",
        "input",
        "labels",
        "ok",
        "output",
        "statuses",
        "ttft",
        "ttft_sum",
    )

    def __init__(self, surface: str, model: str, provider: str) -> None:
        self.labels = (surface, model, provider)
        self.c_ok = REQUESTS.labels(surface, model, provider, "200")
        self.c_duration = DURATION.labels(model, provider)
        self.c_ttft = TTFT.labels(model, provider)
        self.c_input = TOKENS.labels(model, provider, "input")
        self.c_output = TOKENS.labels(model, provider, "output")
        self.c_cost = COST.labels(model, provider)
        self.ok = self.input = self.output = self.cost_pico = 0
        self.duration = [0] * len(_DURATION_BOUNDS)
        self.ttft = [0] * len(_TTFT_BOUNDS)
        self.duration_sum = self.ttft_sum = 0.0
        self.statuses: dict[int, int] = {}  # other statuses than 200
        self.dirty = False

    def flush(self) -> None:
        if self.ok:
            self.c_ok.inc(self.ok)
            self.ok = 0
        for status, count in self.statuses.items():
            if count:
                _requests_child(self.labels, status).inc(count)
                self.statuses[status] = 0
        _push(self.c_duration, self.duration, self.duration_sum)
        self.duration_sum = 0.0
        if self.ttft_sum or any(self.ttft):
            _push(self.c_ttft, self.ttft, self.ttft_sum)
            self.ttft_sum = 0.0
        if self.input:
            self.c_input.inc(self.input)
            self.input = 0
        if self.output:
            self.c_output.inc(self.output)
            self.output = 0
        if self.cost_pico:
            self.c_cost.inc(self.cost_pico / _PICO)
            self.cost_pico = 0
        self.dirty = False


def _push(child: Any, counts: list[int], total: float) -> None:
    """Add a tally's observations to a histogram child. prometheus-client offers only
    observe(), one value at a time, so this adds to the child's per-bucket values and its
    sum directly (the pinned version's layout; tests/routing/test_metrics.py checks the
    exposition it gives)."""
    buckets = child._buckets
    for index, count in enumerate(counts):
        if count:
            buckets[index].inc(count)
            counts[index] = 0
    if total:
        child._sum.inc(total)


# surface -> route health key -> tally
_tallies: dict[str, dict[str, _Tally]] = {}


def _tally(surface: str, route: "ModelRoute") -> _Tally:
    routes = _tallies.setdefault(surface, {})
    tally = routes[route.health_key] = _Tally(surface, route.public_id, route.provider.slug)
    return tally


def record_call(surface: str, record: "CallRecord") -> None:
    """A finished call that was admitted (the pipeline's settle-and-record step)."""
    status = record.status
    routes = _tallies.get(surface)
    tally = routes.get(record.route.health_key) if routes is not None else None
    if tally is None:
        tally = _tally(surface, record.route)
    now = time.perf_counter()
    if status == 200:
        tally.ok += 1
    else:
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
    seconds = now - record.started
    tally.duration[bisect.bisect_left(_DURATION_BOUNDS, seconds)] += 1
    tally.duration_sum += seconds
    first = record.first_byte_at
    if first is not None and record.streamed:
        ttft = first - record.started
        tally.ttft[bisect.bisect_left(_TTFT_BOUNDS, ttft)] += 1
        tally.ttft_sum += ttft
    usage = record.usage
    if usage is not None:
        tally.input += usage.prompt_tokens
        tally.output += usage.completion_tokens
    tally.cost_pico += record.cost_pico
    tally.dirty = True


def flush() -> None:
    """Move every tally into the metrics (on the event loop's thread, as the calls add)."""
    for routes in _tallies.values():
        for tally in routes.values():
            if tally.dirty:
                tally.flush()


# --- the rare paths: straight into their (cached) children ---------------------------------

_children: dict[tuple, Any] = {}


def _requests_child(labels: tuple[str, str, str], status: int) -> Any:
    key = ("requests", *labels, status)
    child = _children.get(key)
    if child is None:
        child = _children[key] = REQUESTS.labels(*labels, str(status))
    return child


_CODE = re.compile(r"[a-z0-9_.\-]{1,64}")
_MAX_CODES = 200
_codes: dict[str, str] = {}


def code_label(code: str) -> str:
    """An error code as a label value. Upstream errors carry the upstream's own codes: any
    that does not look like one, or past the first 200 distinct ones, counts as "other",
    so an odd upstream cannot grow the series without bound."""
    label = _codes.get(code)
    if label is None:
        if not code:
            label = "none"
        elif len(_codes) < _MAX_CODES and _CODE.fullmatch(code):
            label = code
        else:
            label = "other"
        if len(_codes) < 4 * _MAX_CODES:
            _codes[code] = label
    return label


def error(surface: str, code: str) -> None:
    """An error answer of a relay endpoint (any surface, any stage)."""
    label = code_label(code)
    key = ("error", surface, label)
    child = _children.get(key)
    if child is None:
        child = _children[key] = ERRORS.labels(surface, label)
    child.inc()


def unadmitted(surface: str, route: "ModelRoute | None", status: int) -> None:
    """A relay call that ended before admission let it through (bad key or body, unknown
    model, a refusal): counted in orca_requests at its planned model, if it had one."""
    labels = (surface, "", "")
    if route is not None:
        labels = (surface, route.public_id, route.provider.slug)
    _requests_child(labels, status).inc()


def refused(code: str) -> None:
    key = ("refused", code)
    child = _children.get(key)
    if child is None:
        child = _children[key] = REFUSED.labels(code_label(code))
    child.inc()


def upstream_error(route: "ModelRoute", status: int) -> None:
    key = ("upstream", route.health_key, status)
    child = _children.get(key)
    if child is None:
        child = _children[key] = UPSTREAM_ERRORS.labels(
            route.public_id, route.provider.slug, str(status)
        )
    child.inc()


def cooldown_started(health_key: str) -> None:
    """A model went into cooldown (routing.health's key: "provider|model")."""
    provider, _, model = health_key.partition("|")
    COOLDOWNS.labels(model, provider).inc()


def sample(in_cooldown: int, usage_pending: int, usage_lag: float) -> None:
    """The gauges, once a tick."""
    IN_FLIGHT.set(live.in_flight)
    IN_COOLDOWN.set(in_cooldown)
    USAGE_PENDING.set(usage_pending)
    USAGE_LAG.set(usage_lag)


# --- exposition --------------------------------------------------------------------------


def exposition() -> bytes:
    """The text format of every worker's metrics (this process's alone without
    PROMETHEUS_MULTIPROC_DIR). Reads files: run it off the event loop."""
    if not MULTIPROCESS_DIR:
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST


def forget_dead_workers() -> None:
    """A worker that died (and was replaced) leaves its live gauges' file behind, which
    would keep counting its in-flight calls and pending records: drop those. Its counters
    stay, as counters must."""
    if not MULTIPROCESS_DIR:
        return
    from prometheus_client import multiprocess

    for path in glob.glob(os.path.join(MULTIPROCESS_DIR, "gauge_live*_*.db")):
        pid_text = path.rsplit("_", 1)[1].removesuffix(".db")
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            multiprocess.mark_process_dead(int(pid_text), MULTIPROCESS_DIR)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
