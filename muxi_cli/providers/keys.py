"""Where a provider's API key and base URL come from.

Order for keys: the formation (``providers.X.api_key``, already ``${VAR}``-expanded,
or ``providers.X.api_key_env``), then the environment (the table's variable for
the provider, e.g. ``GROQ_API_KEY``, or ``<NAME>_API_KEY`` for one it does not
know), then the keyring (``provider:<name>``, written by ``muxi keys set <name>``).
"""

from __future__ import annotations

import os
import re
from typing import Protocol

from muxi_cli.providers import table
from muxi_cli.secrets import find_secret


class ProviderSettings(Protocol):
    """The part of a formation's ``providers.<name>`` entry key lookup reads."""

    @property
    def api_key(self) -> str | None: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def base_url(self) -> str | None: ...


def env_var_for(provider: str, config: ProviderSettings | None = None) -> str:
    """The environment variable that holds ``provider``'s key."""
    if config is not None and config.api_key_env:
        return config.api_key_env
    spec = table.get(provider)
    if spec is not None and spec.key_env:
        return spec.key_env
    return re.sub(r"[^A-Za-z0-9]", "_", provider).upper() + "_API_KEY"


def secret_name(provider: str) -> str:
    """The keyring entry for ``provider``'s key."""
    return f"provider:{provider}"


def find_key(
    provider: str, config: ProviderSettings | None = None
) -> tuple[str | None, str | None]:
    """``(key, source)`` for ``provider``; ``(None, None)`` when there is none.

    ``source`` is ``"config"``, ``"env NAME"``, ``"keyring"`` or ``"file"`` (the
    0600 secrets file: where the stored key really is); never log the key.
    """
    if config is not None and config.api_key:
        return config.api_key, "config"
    if config is not None and config.api_key_env:
        value = os.environ.get(config.api_key_env)
        if value:
            return value, f"env {config.api_key_env}"
    env = env_var_for(provider)
    value = os.environ.get(env)
    if value:
        return value, f"env {env}"
    try:
        value, where = find_secret(secret_name(provider))
    except Exception:  # a broken keyring backend must not break a chat
        value, where = None, None
    if value:
        return value, where
    return None, None


def base_url_for(provider: str, config: ProviderSettings | None = None) -> str | None:
    """The configured base URL, else the table's (with its environment override).

    ``None``: the SDK's own default (OpenAI's, Anthropic's) or a provider the
    table does not know.
    """
    if config is not None and config.base_url:
        return config.base_url
    spec = table.get(provider)
    return spec.resolved_base_url(os.environ) if spec is not None else None
