"""OpenTelemetry traces and GenAI client metrics of local turns (docs/telemetry.md).

Off unless the formation's ``telemetry.otlp_endpoint`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` names a collector (``OTEL_SDK_DISABLED=true``
turns it off again). When on, an observer on the runtime's
:class:`~muxi_cli.runtime.observe.EventTap` turns each turn's events into spans
(runtime/spans.py) that a ``BatchSpanProcessor`` exports over OTLP/HTTP from its
own thread; :meth:`Telemetry.shutdown` flushes them when the runtime closes.

Nothing of OpenTelemetry is imported until telemetry is on: this module only
reads settings, and the SDK comes in with :func:`start`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muxi_cli import __version__, parts, tracecontext
from muxi_cli.config.schema import Formation, TelemetryConfig

if TYPE_CHECKING:
    from muxi_cli.runtime.observe import EventTap

log = logging.getLogger("muxi.telemetry")

#: What the tracer and meter call themselves (the instrumentation scope).
SCOPE = "muxi_cli"
#: Seconds one export may take, retries included (the SDK's default is 10).
EXPORT_TIMEOUT = 3.0


def _env_timeout() -> bool:
    return any(
        os.environ.get(f"OTEL_EXPORTER_OTLP{kind}_TIMEOUT") for kind in ("", "_TRACES", "_METRICS")
    )


@dataclass(frozen=True)
class Settings:
    """Where spans go and what they may carry."""

    #: The collector's base URL (``None``: spans go only to the exporter given).
    endpoint: str | None
    service_name: str = "muxi"
    capture_content: bool = False

    @property
    def traces_url(self) -> str:
        return f"{(self.endpoint or '').rstrip('/')}/v1/traces"

    @property
    def metrics_url(self) -> str:
        return f"{(self.endpoint or '').rstrip('/')}/v1/metrics"


def settings_for(config: TelemetryConfig, env: Mapping[str, str] | None = None) -> Settings | None:
    """The settings ``config`` and the environment ask for; ``None`` when off."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    endpoint = config.otlp_endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not endpoint:
        return None
    service = config.service_name or env.get("OTEL_SERVICE_NAME", "").strip() or "muxi"
    return Settings(endpoint, service, config.capture_content)


class Telemetry:
    """The tracer and meter providers of one runtime and the observer feeding them."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, stop: Callable[[], None]):
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._stop = stop
        self._closed = False

    def shutdown(self) -> None:
        """Stop observing, then export what is buffered (blocks up to the exporters'
        timeouts: call it from a thread on an event loop)."""
        if self._closed:
            return
        self._closed = True
        self._stop()
        for provider in (self.tracer_provider, self.meter_provider):
            try:
                provider.shutdown()
            except Exception as exc:  # a collector that is down must not fail the close
                log.warning("flushing telemetry failed: %s", exc)


def required(formation: Formation) -> Settings | None:
    """The settings if the formation or the environment turns telemetry on and its
    part is installed. The formation asking without the part is an error
    (:class:`~muxi_cli.errors.MissingPartError`); the environment alone, a warning."""
    settings = settings_for(formation.telemetry)
    if settings is None or parts.has("telemetry"):
        return settings
    if formation.telemetry.otlp_endpoint:
        parts.require("telemetry", "telemetry (OpenTelemetry traces)")
    # Only the environment asks (set for other programs, perhaps): not a reason to
    # refuse to run; said once in the log.
    log.warning(
        "OTEL_EXPORTER_OTLP_ENDPOINT is set but the telemetry part is not installed: no "
        "traces (%s)",
        parts.part("telemetry").install,
    )
    return None


def start(
    tap: EventTap,
    settings: Settings,
    *,
    span_exporter: Any = None,
    metric_reader: Any = None,
) -> Telemetry:
    """Observe ``tap`` and export spans and metrics as ``settings`` say.

    ``span_exporter``/``metric_reader`` replace the OTLP ones (tests pass the SDK's
    in-memory exporter and reader).
    """
    # deferred: the SDK and the OTLP exporter (protobuf) cost tens of milliseconds
    # and megabytes that a runtime without telemetry never pays.
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from muxi_cli.runtime.span_ids import PresetIds
    from muxi_cli.runtime.spans import SpanBuilder

    # Each retry against a collector that is down is a warning; the give-up is an
    # error: one line per failed export on a one-shot's stderr is enough.
    logging.getLogger("opentelemetry.exporter").setLevel(logging.ERROR)
    resource = Resource.create(
        {"service.name": settings.service_name, "service.version": __version__}
    )
    ids = PresetIds()
    tracer_provider = TracerProvider(resource=resource, id_generator=ids)
    # A collector that is down must not hold a one-shot command's exit for the
    # exporter's default 10 s of retries: 3 s unless the standard variable says.
    timeout = None if _env_timeout() else EXPORT_TIMEOUT  # None: the variable's
    if span_exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.traces_url, timeout=timeout))
        )
    else:  # a test's exporter sees each span as it ends
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    if metric_reader is None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        metric_reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=settings.metrics_url, timeout=timeout)
        )
    meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader])
    builder = SpanBuilder(
        tracer_provider.get_tracer(SCOPE, __version__),
        meter_provider.get_meter(SCOPE, __version__),
        capture_content=settings.capture_content,
        ids=ids,
    )
    unobserve = tap.add(builder)
    unregister = tracecontext.register(builder.traceparent)

    def stop() -> None:
        unobserve()
        unregister()

    log.info("telemetry on: OTLP/HTTP to %s", settings.endpoint)
    return Telemetry(tracer_provider, meter_provider, stop)
