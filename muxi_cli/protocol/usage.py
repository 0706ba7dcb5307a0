"""Token and cost totals: of one model, a run, a turn or a whole chat session.

Kept apart from the reducer (protocol/reduce.py) so that what shows totals
before any turn ran (the chat app's status bar) does not load the event
classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from muxi_cli.protocol.events import Usage


@dataclass
class ModelUsage:
    """The tokens and cost of the calls to one model."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    unknown: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }
        if self.unknown:
            out["unknown"] = True
        return out


@dataclass
class UsageTotals:
    """Token and cost totals (of a run, a turn or a whole chat session).

    ``cost_usd`` sums the calls whose price is known (``None`` while none is);
    ``unpriced``: some tokens came from a call with no price, so the cost is a
    lower bound. ``unknown``: some call reported no token counts at all, so the
    counts are a lower bound too. ``model`` is the model of the last call
    counted at the top level (the agent's own model once it has answered).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    model: str | None = None
    unpriced: bool = False
    unknown: bool = False
    by_model: dict[str, ModelUsage] = field(default_factory=dict)

    def add(
        self,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float | None,
        unknown: bool = False,
        model: str | None = None,
    ) -> None:
        tin, tout = int(input_tokens or 0), int(output_tokens or 0)
        self.input_tokens += tin
        self.output_tokens += tout
        if unknown:
            self.unknown = True
        if cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + float(cost_usd)
        elif tin or tout:
            self.unpriced = True
        if model:
            per = self.by_model.setdefault(model, ModelUsage())
            per.input_tokens += tin
            per.output_tokens += tout
            if cost_usd is not None:
                per.cost_usd = (per.cost_usd or 0.0) + float(cost_usd)
            per.unknown = per.unknown or unknown

    def add_event(self, event: Usage, *, top_level: bool = True) -> None:
        self.add(
            event.input_tokens, event.output_tokens, event.cost_usd, event.unknown, event.model
        )
        if top_level and event.model:
            self.model = event.model

    def merged(self, other: UsageTotals) -> UsageTotals:
        """These totals plus ``other``'s (a session's usage after one more turn)."""
        out = UsageTotals(
            self.input_tokens,
            self.output_tokens,
            self.cost_usd,
            other.model or self.model,
            self.unpriced or other.unpriced,
            self.unknown or other.unknown,
            {k: ModelUsage(**vars(v)) for k, v in self.by_model.items()},
        )
        out.input_tokens += other.input_tokens
        out.output_tokens += other.output_tokens
        if other.cost_usd is not None:
            out.cost_usd = (out.cost_usd or 0.0) + other.cost_usd
        for name, per in other.by_model.items():
            mine = out.by_model.setdefault(name, ModelUsage())
            mine.input_tokens += per.input_tokens
            mine.output_tokens += per.output_tokens
            if per.cost_usd is not None:
                mine.cost_usd = (mine.cost_usd or 0.0) + per.cost_usd
            mine.unknown = mine.unknown or per.unknown
        return out

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        """The ``usage`` object of ``muxi chat -o json`` and ``POST /v1/chat``."""
        out: dict[str, Any] = {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }
        if self.unknown:
            out["unknown"] = True
        if self.unpriced:
            out["unpriced"] = True
        out["by_model"] = {name: per.to_dict() for name, per in self.by_model.items()}
        return out
