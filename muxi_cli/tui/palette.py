"""The command palette (Ctrl+P) offers every slash command as an action."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from muxi_cli.tui.commands import COMMANDS


class MuxiCommands(Provider):
    """Slash commands as palette entries: "Sessions", "Export session", ..."""

    def _run(self, name: str) -> None:
        run = getattr(self.app, "run_slash", None)
        if run is not None:
            run(name, "")

    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(
                command.title,
                partial(self._run, command.name),
                help=f"/{command.name} · {command.help}",
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in COMMANDS:
            candidate = f"{command.title} /{command.name}"
            score = matcher.match(candidate)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(candidate),
                    partial(self._run, command.name),
                    help=command.help,
                )
