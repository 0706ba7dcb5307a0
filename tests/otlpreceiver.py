"""A tiny OTLP/HTTP receiver for tests: ``python tests/otlpreceiver.py``.

Listens on 127.0.0.1 (a free port), prints ``listening PORT`` once ready, then
one JSON line per request it receives: ``{"path": "/v1/traces", "spans": [...]}``
with each span's name, ids, parent id and attributes decoded from the protobuf
body (``/v1/metrics``: the metric names). Answers each with an empty success.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def _value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as plain JSON."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def spans_of(body: bytes) -> list[dict[str, Any]]:
    request = ExportTraceServiceRequest.FromString(body)
    out = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    {
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "kind": span.kind,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                        "service": resource.get("service.name"),
                        "scope": scope_spans.scope.name,
                    }
                )
    return out


def metrics_of(body: bytes) -> list[str]:
    request = MessageToDict(ExportMetricsServiceRequest.FromString(body))
    return [
        metric["name"]
        for resource in request.get("resourceMetrics", [])
        for scope in resource.get("scopeMetrics", [])
        for metric in scope.get("metrics", [])
    ]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/v1/traces":
            record: dict[str, Any] = {"path": self.path, "spans": spans_of(body)}
            reply = ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/metrics":
            record = {"path": self.path, "metrics": metrics_of(body)}
            reply = ExportMetricsServiceResponse().SerializeToString()
        else:
            self.send_error(404)
            return
        print(json.dumps(record), flush=True)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:  # stdout is the record
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
