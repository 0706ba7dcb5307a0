"""Entry point of the ``muxi`` command and ``python -m muxi_cli``."""

from __future__ import annotations

import os


def main() -> None:

    # Plain help text answers `muxi --help` in a fraction of the time rich help
    # needs (typer reads this when it is imported); TYPER_USE_RICH=1 brings it back.
    os.environ.setdefault("TYPER_USE_RICH", "0")
    from muxi_cli.cli.app import run  # deferred: loads Typer

    run()


if __name__ == "__main__":
    main()
