"""Small text helpers shared by widgets and screens (no Textual imports)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text

from muxi_cli.termtext import strip_controls

if TYPE_CHECKING:
    from muxi_cli.tui.model import Usage


def tokens(n: int) -> str:
    """``950``, ``1.2k``, ``3.4M``."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def cost(usd: float | None) -> str:
    if usd is None:
        return "cost unknown"
    if usd == 0:
        return "$0.00"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def usage_cost(usage: Usage) -> str | None:
    """The cost of ``usage`` as shown everywhere (status bar, replies, ``/cost``).

    ``None`` when nothing was used yet; ``$0.00`` for a free (local) model;
    ``cost unknown`` when no price is known; ``$0.12 + unknown`` when only some
    calls had a price.
    """
    if usage.cost_usd is None:
        return "cost unknown" if usage.unpriced or usage.unknown else None
    if usage.unpriced or usage.unknown:
        return f"{cost(usage.cost_usd)} + unknown"
    return cost(usage.cost_usd)


def usage_tokens(usage: Usage) -> str:
    """The token count as shown in the status bar: ``1.2k tokens``, or
    ``usage unknown`` / ``1.2k+ tokens`` when a server reported no counts."""
    if usage.unknown:
        return f"{tokens(usage.total)}+ tokens" if usage.total else "usage unknown"
    return f"{tokens(usage.total)} tokens"


def duration(ms: int | float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def short_date(iso: str | None) -> str:
    """``2026-11-24T04:35:44Z`` -> ``2026-11-24 04:35`` (unparseable text is returned as is)."""
    if not iso:
        return ""
    try:
        value = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return value.strftime("%Y-%m-%d %H:%M")


def pretty_json(value: Any, limit: int = 4000) -> str:
    """Indented JSON (or the text itself), cut to ``limit`` characters."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return clip(value, limit)
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return clip(text, limit)


def one_line(value: Any, limit: int = 60) -> str:
    """A compact single-line preview of arguments."""
    if isinstance(value, dict):
        text = ", ".join(
            f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in value.items()
        )
    else:
        text = str(value)
    text = " ".join(text.split())
    return clip(text, limit)


def stored_text(text: str, style: str = "") -> Text:
    """Text someone stored (a title, a memory, a name) as a widget shows it: as is,
    never markup (a str is markup to Textual: "[/b]" would crash a screen), no controls."""
    return Text(strip_controls(text), style=style)


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def slug(text: str, limit: int = 40) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    out = "-".join(part for part in out.split("-") if part)
    return out[:limit].strip("-") or "session"
