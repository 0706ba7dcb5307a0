"""The one seam between front ends (CLI, TUI, server) and agents.

``open_runtime(profile)`` builds a :class:`LocalRuntime` (in-process) or a
:class:`RemoteRuntime` (a ``muxi serve`` elsewhere); front ends use only the
:class:`Runtime` protocol.
"""

from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.base import Runtime

__all__ = ["ChatRequest", "Runtime"]
