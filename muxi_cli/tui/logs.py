"""Route Python logging to a file while the full-screen app runs.

Anything written to the terminal's stderr would draw over the screen (the MCP
SDK installs a Rich stderr handler on the root logger if nothing is there), so
this runs before anything builds a runtime.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from muxi_cli import paths
from muxi_cli.redact import RedactingFormatter

LOG_NAME = "tui.log"


def log_dir() -> Path:
    return paths.data_dir() / "logs"


def configure_file_logging(level: int = logging.INFO) -> Path:
    """Send every log record (and warnings) to ``<data dir>/logs/tui.log``; return its path."""
    directory = paths.ensure_dir(log_dir())
    path = directory / LOG_NAME
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
    )

    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
    return path
