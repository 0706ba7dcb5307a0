"""What every command shares: the chosen profile, formation file and verbosity.

Its own module, free of Typer, so ``muxi`` alone can open the chat app
without importing Typer (see ``muxi_cli.__main__``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class CliState:
    profile: str | None = None
    config: str | None = None
    #: ``muxi -v``: say on stderr how the command runs (warm host or in-process).
    verbose: bool = False
