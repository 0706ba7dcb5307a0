"""A small built-in price table (USD per million tokens) and the cost formula.

The figures are approximate list prices; a formation's ``pricing:`` section
overrides them (keys ``provider/model``). Dated model names
(``claude-haiku-4-5-20251001``) fall back to their undated entry.
"""

from __future__ import annotations

import re

#: ``provider/model`` -> (input, output) USD per million tokens.
BUILTIN_PRICES: dict[str, tuple[float, float]] = {
    "anthropic/claude-opus-5-5": (5.0, 25.0),
    "anthropic/claude-sonnet-5-5": (3.0, 15.0),
    "anthropic/claude-haiku-5-5": (1.0, 5.0),
    "anthropic/claude-opus-4-5": (5.0, 25.0),
    "anthropic/claude-sonnet-4-5": (3.0, 15.0),
    "anthropic/claude-sonnet-4-6": (3.0, 15.0),
    "anthropic/claude-haiku-4-5": (1.0, 5.0),
    "openai/gpt-5.5": (1.25, 10.0),
    "openai/gpt-5.4": (1.25, 10.0),
    "openai/gpt-5.4-mini": (0.25, 2.0),
    "openai/gpt-5.4-nano": (0.05, 0.4),
    "openai/gpt-5": (1.25, 10.0),
    "openai/gpt-5-mini": (0.25, 2.0),
    "openai/gpt-4.1": (2.0, 8.0),
    "openai/gpt-4o": (2.5, 10.0),
    "openai/gpt-4o-mini": (0.15, 0.6),
}

_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


def builtin_price(model_ref: str) -> tuple[float, float] | None:
    """The built-in ``(input, output)`` price for ``provider/model``, if known."""
    if model_ref in BUILTIN_PRICES:
        return BUILTIN_PRICES[model_ref]
    undated = _DATE_SUFFIX.sub("", model_ref)
    return BUILTIN_PRICES.get(undated)


def cost(input_price: float, output_price: float, input_tokens: int, output_tokens: int) -> float:
    """USD for a call, given prices per million tokens."""
    return (input_tokens * input_price + output_tokens * output_price) / 1_000_000
