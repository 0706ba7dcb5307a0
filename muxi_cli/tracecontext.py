"""W3C trace context in and out of a turn, without importing OpenTelemetry.

Two things cross a turn's edges when telemetry is on (runtime/telemetry.py):

- **In:** the ``traceparent`` (and ``tracestate``) a request to ``muxi serve``
  brought. The server puts them in :data:`INCOMING` for the request; the turn's
  task inherits it (asyncio copies the context into a new task), and the span
  builder makes the turn's span a child of the caller's.
- **Out:** while a tool runs, :data:`CURRENT_CALL` names it (run id, call id);
  the MCP client asks :func:`outgoing` for the ``traceparent`` of that call's
  span and sends it in the request's ``_meta``, so the MCP server's own spans
  join the trace.

With telemetry off nothing is registered and :func:`outgoing` is empty: no
trace ids leave the process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar

#: The W3C trace headers the request that started this turn brought (validated).
INCOMING: ContextVar[Mapping[str, str] | None] = ContextVar("muxi_trace_incoming", default=None)
#: ``(run_id, call_id)`` of the tool call running in this task.
CURRENT_CALL: ContextVar[tuple[str, str] | None] = ContextVar("muxi_trace_call", default=None)

#: Who can name a tool call's span: ``(run_id, call_id) -> traceparent`` or None.
Propagator = Callable[[str, str], str | None]
_propagators: list[Propagator] = []

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
#: Generous for a list of vendor entries, small enough to bound what we keep.
_MAX_STATE = 512


def parse_headers(traceparent: str | None, tracestate: str | None) -> dict[str, str] | None:
    """The trace headers worth keeping, or None: a malformed or all-zero
    ``traceparent`` is ignored (a new trace starts), as the W3C spec says."""
    if not traceparent:
        return None
    value = traceparent.strip().lower()
    match = _TRACEPARENT.match(value)
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    out = {"traceparent": value}
    if tracestate and len(tracestate) <= _MAX_STATE and tracestate.isprintable():
        out["tracestate"] = tracestate.strip()
    return out


def register(propagator: Propagator) -> Callable[[], None]:
    """Add a span builder's lookup; returns what removes it."""
    _propagators.append(propagator)

    def remove() -> None:
        if propagator in _propagators:
            _propagators.remove(propagator)

    return remove


def outgoing() -> dict[str, str]:
    """``{"traceparent": ...}`` for the tool call running now, or ``{}``."""
    call = CURRENT_CALL.get()
    if call is None:
        return {}
    for propagator in tuple(_propagators):
        value = propagator(*call)
        if value:
            return {"traceparent": value}
    return {}
