"""Span ids a tool call's MCP request names before the span exists.

The MCP client asks for a tool call's ``traceparent`` when it sends the request
(muxi_cli/tracecontext.py), which can be before that call's ``tool.requested``
event reaches the span builder. The id is chosen then and kept here; the span
gets it when it starts, through :class:`PresetIds` (the tracer provider's id
generator).
"""

from __future__ import annotations

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

#: Ids promised to calls not yet seen, kept at most (a call whose event never
#: comes must not grow the table forever).
MAX_PROMISED = 1024


class PresetIds(RandomIdGenerator):
    """Random ids, except the next span id when one was promised."""

    def __init__(self) -> None:
        self.next_span_id: int | None = None
        self._promised: dict[tuple[str, str], int] = {}

    def generate_span_id(self) -> int:
        preset, self.next_span_id = self.next_span_id, None
        return preset if preset is not None else super().generate_span_id()

    def promise(self, run_id: str, call_id: str) -> int:
        """The span id call ``call_id`` of run ``run_id`` will have."""
        key = (run_id, call_id)
        span_id = self._promised.get(key)
        if span_id is None:
            span_id = self._promised[key] = super().generate_span_id()
            if len(self._promised) > MAX_PROMISED:
                self._promised.pop(next(iter(self._promised)))
        return span_id

    def starting(self, run_id: str, call_id: str) -> None:
        """The call's span starts now: it gets the id promised to it, if any."""
        self.next_span_id = self._promised.pop((run_id, call_id), None)

    def forget(self, run_id: str) -> None:
        """The run ended: its calls' promises are void."""
        for key in [k for k in self._promised if k[0] == run_id]:
            del self._promised[key]
