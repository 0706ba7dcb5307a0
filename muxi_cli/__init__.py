"""muxi: a terminal-first AI agent framework."""

__version__ = "0.1.0"
