"""``Runtime.stats`` for the in-memory fakes: turns completed, by agent."""

from __future__ import annotations

from collections import Counter

from muxi_cli.protocol.stats import StatsGroup, StatsReport


def counted_report(
    agents: list[str], since: str | None, by: str, user_id: str | None
) -> StatsReport:
    """A report of ``agents`` (the agent of each completed turn, in order)."""
    n = len(agents)
    groups = [StatsGroup(key=a, turns=c, runs=c, users=1) for a, c in Counter(agents).most_common()]
    return StatsReport(
        since=since,
        by=by,
        user_id=user_id,
        totals=StatsGroup(turns=n, runs=n, users=1 if n else 0),
        groups=groups if by == "agent" else [],
    )
