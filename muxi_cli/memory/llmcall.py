"""Small model calls made by the memory layer (summaries, fact extraction)."""

from __future__ import annotations

import json
import re
from typing import Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import LLMRequest, Message, ModelResolver, complete

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def model_ref(providers: ModelResolver, agent: AgentConfig, configured: str | None) -> str:
    """``memory.extraction_model``/``summary_model`` when set, else the agent's model."""
    return providers.model_for(agent, configured or None)


async def ask(
    providers: ModelResolver,
    ref: str,
    system: str,
    prompt: str,
    *,
    max_tokens: int = 1024,
    timeout: float = 120.0,
) -> str:
    provider, model = providers.resolve(ref)
    request = LLMRequest(
        model=model,
        messages=[Message(role="user", content=prompt)],
        system=system,
        max_tokens=max_tokens,
        temperature=0.0,
        timeout=timeout,
    )
    result = await complete(provider, request)
    return result.text.strip()


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer (bare, fenced, or inside prose)."""
    candidates = [text.strip()]
    candidates.extend(m.group(1).strip() for m in _FENCE.finditer(text))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def render_messages(messages: list[Message], limit_chars: int = 4000) -> str:
    """A plain transcript of user/assistant messages (tool traffic left out)."""
    lines: list[str] = []
    for message in messages:
        if message.role == "tool" or not message.content.strip():
            continue
        text = message.content.strip()
        if len(text) > limit_chars:
            text = text[:limit_chars] + " [...]"
        lines.append(f"{message.role}: {text}")
    return "\n".join(lines)
