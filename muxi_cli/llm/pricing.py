"""Built-in prices (from the provider table) and the cost formula.

The figures are approximate list prices (USD per million tokens) that each
provider's table entry carries (:mod:`muxi_cli.providers`); a formation's
``pricing:`` section overrides them (keys ``provider/model``). Dated model names
(``claude-haiku-4-5-20251001``) fall back to their undated entry.
"""

from __future__ import annotations

import re

from muxi_cli.providers import table

_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


def builtin_price(model_ref: str) -> tuple[float, float] | None:
    """The built-in ``(input, output)`` price for ``provider/model``, if known."""
    provider, _, model = model_ref.partition("/")
    spec = table.get(provider)
    if spec is None or not model:
        return None
    if model in spec.prices:
        return spec.prices[model]
    return spec.prices.get(_DATE_SUFFIX.sub("", model))


def cost(input_price: float, output_price: float, input_tokens: int, output_tokens: int) -> float:
    """USD for a call, given prices per million tokens."""
    return (input_tokens * input_price + output_tokens * output_price) / 1_000_000
