"""OpenTelemetry traces from a live gateway (OTEL_EXPORTER_OTLP_ENDPOINT set) to a fake OTLP/HTTP
collector that decodes the protobuf exports with opentelemetry-proto: one span per relayed
call with its attributes, the client's traceparent as its parent, the span's own traceparent
on the upstream request. With the variable unset (the session's gateway) no OpenTelemetry
module is loaded and no traceparent goes upstream."""

import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.live import ROOT, LiveServer

BODY = {"model": "fake/chat", "messages": [{"role": "user", "content": "hi"}]}


def _value(any_value):
    return getattr(any_value, any_value.WhichOneof("value"))


class FakeCollector:
    """OTLP/HTTP's trace endpoint: POST /v1/traces, an ExportTraceServiceRequest in protobuf
    (gzip when the exporter compresses), answered with an empty ExportTraceServiceResponse."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                assert self.headers["Content-Type"] == "application/x-protobuf"
                collector.receive(self.path, ExportTraceServiceRequest.FromString(raw))
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def receive(self, path: str, export: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.paths.append(path)
            for resource_spans in export.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "kind": span.kind,
                                "status": span.status.code,
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                                "resource": resource,
                                "scope": scope_spans.scope.name,
                            }
                        )

    def span_of(self, request_id: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for span in self.spans:
                    if span["attributes"].get("orca.request_id") == request_id:
                        return span
            time.sleep(0.05)
        raise AssertionError(f"no span for {request_id} within {timeout} s")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def traced(live, collector, tmp_path_factory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("traced") / "server.log",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.base_url,
        OTEL_BSP_SCHEDULE_DELAY="100",  # ms: export batches quickly
    ).start()
    yield server
    server.stop()


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def chat(server: LiveServer, key: str, headers: dict | None = None, **body) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/v1/chat/completions",
        json={**BODY, **body},
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        timeout=20,
    )


def test_a_call_is_one_span_under_the_clients_traceparent(traced, collector, live, upstream):
    header, trace_id, parent_id = traceparent()
    response = chat(traced, live.key, {"traceparent": header, "tracestate": "vendor=abc"})
    assert response.status_code == 200
    span = collector.span_of(response.headers["x-orca-request-id"])
    assert span["trace_id"] == trace_id
    assert span["parent_span_id"] == parent_id
    assert span["kind"] == Span.SPAN_KIND_SERVER
    assert span["status"] == Status.STATUS_CODE_UNSET
    assert span["name"] == "chat fake/chat"
    assert span["scope"] == "orca.relay"
    assert span["resource"]["service.name"] == "orca"
    attributes = span["attributes"]
    assert attributes["orca.model"] == attributes["gen_ai.response.model"] == "fake/chat"
    assert attributes["gen_ai.request.model"] == "fake/chat"
    assert attributes["orca.provider"] == "fake"
    assert attributes["orca.surface"] == "chat"
    assert attributes["gen_ai.usage.input_tokens"] == response.json()["usage"]["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert attributes["orca.cost_usd"] == pytest.approx(float(response.headers["x-orca-cost"]))
    assert attributes["http.response.status_code"] == 200
    assert attributes["orca.workspace_id"] == live.workspace.id
    assert collector.paths[-1] == "/v1/traces"
    # The upstream continues the trace from this span, with the client's tracestate.
    sent = upstream.requests[-1].headers
    assert sent["traceparent"] == f"00-{trace_id}-{span['span_id']}-01"
    assert sent["tracestate"] == "vendor=abc"
    text = json.dumps(span)
    assert live.key not in text and "hi" not in attributes.values()


def test_a_call_without_a_traceparent_starts_a_trace(traced, collector, live, upstream):
    response = chat(traced, live.key, stream=True)
    assert response.status_code == 200
    span = collector.span_of(response.headers["x-orca-request-id"])
    assert span["parent_span_id"] == ""
    assert span["attributes"]["orca.streamed"] is True
    version, trace_id, parent_id, flags = upstream.requests[-1].headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", span["trace_id"], span["span_id"])
    assert int(flags, 16) & 1  # sampled (the SDK may also set 0x02: a random trace id)


def test_an_upstream_error_is_an_error_span(traced, collector, live):
    header, trace_id, _ = traceparent()
    response = chat(traced, live.key, {"traceparent": header}, model="fake/error-500")
    assert response.status_code == 500
    span = collector.span_of(response.headers["x-orca-request-id"])
    assert span["trace_id"] == trace_id
    assert span["status"] == Status.STATUS_CODE_ERROR
    assert span["attributes"]["http.response.status_code"] == 500
    assert span["attributes"]["orca.model"] == "fake/error-500"


def test_a_refused_call_has_a_span_too(traced, collector):
    response = chat(traced, "sk-orca-" + "q" * 40)
    assert response.status_code == 401
    span = collector.span_of(response.headers["x-orca-request-id"])
    assert span["attributes"]["http.response.status_code"] == 401
    assert span["attributes"]["orca.error_code"] == "invalid_api_key"
    assert span["status"] == Status.STATUS_CODE_UNSET  # a 4xx is the client's, not an error
    assert "orca.model" not in span["attributes"]


def test_without_tracing_no_traceparent_goes_upstream(live, upstream):
    header, _, _ = traceparent()
    response = chat(live.server, live.key, {"traceparent": header})
    assert response.status_code == 200
    assert "traceparent" not in upstream.requests[-1].headers


def test_without_the_variable_no_opentelemetry_module_is_loaded():
    """The app as a worker loads it (orca.asgi, the relay, a call's modules)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["DJANGO_SETTINGS_MODULE"] = "orca.settings"
    code = (
        "import sys, orca.asgi, routing.proxy.consumers, routing.proxy.pipeline.attempt; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
