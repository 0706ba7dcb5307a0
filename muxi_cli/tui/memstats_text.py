"""A :class:`~muxi_cli.protocol.memstats.MemoryStats` as plain lines of text, for
``muxi memory stats --user`` and the chat app's memory screen alike.

Pure and standard library only; every line is cleaned of control characters and
memory text is cut to one line (callers print the lines as text, never as markup).
"""

from __future__ import annotations

from muxi_cli.protocol.memstats import DECAY_BINS, MemoryStats
from muxi_cli.termtext import strip_controls
from muxi_cli.tui.mapdraw import one_line

SPARKS = "▁▂▃▄▅▆▇█"
BAR_WIDTH = 20


def bar(value: int, top: int, width: int = BAR_WIDTH) -> str:
    """A bar of up to ``width`` blocks, at least one for any non-zero value."""
    if top <= 0 or value <= 0:
        return ""
    return "█" * max(1, round(width * value / top))


def sparkline(values: list[int]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, v * (len(SPARKS) - 1) // top)] for v in values)


def when(iso: str) -> str:
    """``2026-05-01 10:00`` from an ISO time (UTC)."""
    return iso[:16].replace("T", " ") if iso else "-"


def stats_lines(s: MemoryStats, width: int = 100, chains: int = 5, recent: int = 10) -> list[str]:
    """Sections separated by blank lines: counts, ages, decay scores, replaced facts,
    recalls. ``chains`` and ``recent`` cap how many of each are listed."""
    who = "shared knowledge" if s.user_id == "*" else f"user {s.user_id!r}"
    out = [f"Memories of {who}: {s.current} current, {s.superseded} replaced by newer facts"]
    if s.by_kind:
        kinds = " · ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items(), key=lambda i: -i[1]))
        out.append(f"by kind: {kinds}")
    if s.current:
        top = max((n for _label, n in s.by_age), default=0)
        out += ["", "by age (when written):"]
        out += [f"  {label:<11} {n:>5} {bar(n, top)}" for label, n in s.by_age]
        avg = "-" if s.decay_avg is None else f"{s.decay_avg:.2f}"
        out += [
            "",
            f"decay score (0 fading .. 1 fresh), average {avg}:",
            f"  0 {sparkline(s.decay_bins)} 1",
        ]
        top = max(s.decay_bins, default=0)
        for i, n in enumerate(s.decay_bins):
            if n:
                lo, hi = i / DECAY_BINS, (i + 1) / DECAY_BINS
                out.append(f"  {lo:.1f}-{hi:.1f} {n:>5} {bar(n, top)}")
    if s.chain_count:
        shown = s.chains[:chains]
        out += [
            "",
            f"replaced facts: {s.chain_count} chain(s), each oldest to newest:",
        ]
        for chain in shown:
            for n, link in enumerate(chain):
                lead = "  " if n == 0 else "  → "
                text_width = max(10, width - len(lead) - 12)
                out.append(f"{lead}{link.created_at[:10]}  {one_line(link.text, text_width)}")
        if s.chain_count > len(shown):
            out.append(f"  … and {s.chain_count - len(shown)} more")
    out += ["", f"recalls before turns: {s.recalls} in {s.recall_turns} turn(s)"]
    if s.top_recalled:
        out.append("most recalled:")
        for r in s.top_recalled:
            score = "" if r.avg_score is None else f" avg {r.avg_score:.2f}"
            head = f"  {r.count:>4}×  last {when(r.last_at)}{score}  "
            out.append(head + _text(r.text, r.memory_id, width - len(head)))
    if s.recent_recalls:
        out.append("recent recalls:")
        for rec in s.recent_recalls[:recent]:
            score = "    " if rec.score is None else f"{rec.score:.2f}"
            sid, agent = strip_controls(rec.session_id)[:10], strip_controls(rec.agent)[:12]
            head = f"  {when(rec.at)}  {sid:<10}  {agent:<12} {score}  "
            out.append(head + _text(rec.text, rec.memory_id, width - len(head)))
    # Kinds, dates, ids and agent names come from a server too: no escape sequences.
    return [strip_controls(line) for line in out]


def _text(text: str, memory_id: str, width: int) -> str:
    if text:
        return one_line(text, max(10, width))
    return f"({memory_id[:12]}: no longer stored, or a knowledge file)"
