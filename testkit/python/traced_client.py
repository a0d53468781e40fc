"""A client instrumented with the OpenTelemetry Python SDK, for Switchyard's tests.

Reads a JSON list of calls on stdin — {"url", "body", "sampled": true|false} — and makes
each inside its own CLIENT span of the SDK's tracer, with the span's context injected
into the request headers by the SDK's propagator (W3C `traceparent`, and `tracestate`
when the call gives one). Prints one JSON list: per call the client span's trace id and
span id (from the SDK's finished span), the headers sent, and the gateway's status,
response headers and body.
"""

import json
import sys
import urllib.error
import urllib.request

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import SpanKind

calls = json.load(sys.stdin)
out = []
for call in calls:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON if call.get("sampled", True) else ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("switchyard-test-client")
    with tracer.start_as_current_span("call gateway", kind=SpanKind.CLIENT) as span:
        headers = {"content-type": "application/json"}
        propagate.inject(headers)
        if "tracestate" in call:
            headers["tracestate"] = call["tracestate"]
        req = urllib.request.Request(call["url"], data=call["body"].encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, resp_headers, body = resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as e:
            status, resp_headers, body = e.code, dict(e.headers), e.read().decode()
        ctx = span.get_span_context()
        sent = {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
    finished = exporter.get_finished_spans()
    out.append({
        "trace_id": sent["trace_id"],
        "span_id": sent["span_id"],
        "exported_by_client": len(finished),
        "sent": headers,
        "status": status,
        "headers": {k.lower(): v for k, v in resp_headers.items()},
        "body": body,
    })
print(json.dumps(out))
