"""Where a provider's API key and base URL come from.

Order for keys: the formation (``providers.X.api_key``, already ``${VAR}``-expanded,
or ``providers.X.api_key_env``), then the environment (``ANTHROPIC_API_KEY``,
``OPENAI_API_KEY``, or ``<NAME>_API_KEY``), then the keyring
(``provider:<name>``, written by ``muxi keys set <name>``).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from muxi_cli.config.schema import ProviderConfig

KNOWN_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
BASE_URL_ENV = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}


def env_var_for(provider: str, config: ProviderConfig | None = None) -> str:
    """The environment variable that holds ``provider``'s key."""
    if config is not None and config.api_key_env:
        return config.api_key_env
    if provider in KNOWN_ENV:
        return KNOWN_ENV[provider]
    return re.sub(r"[^A-Za-z0-9]", "_", provider).upper() + "_API_KEY"


def secret_name(provider: str) -> str:
    """The keyring entry for ``provider``'s key."""
    return f"provider:{provider}"


def find_key(provider: str, config: ProviderConfig | None = None) -> tuple[str | None, str | None]:
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
    from muxi_cli.secrets import find_secret

    try:
        value, where = find_secret(secret_name(provider))
    except Exception:  # a broken keyring backend must not break a chat
        value, where = None, None
    if value:
        return value, where
    return None, None


def base_url_for(provider: str, config: ProviderConfig | None = None) -> str | None:
    """The configured base URL, else ``ANTHROPIC_BASE_URL``/``OPENAI_BASE_URL`` for those providers."""
    if config is not None and config.base_url:
        return config.base_url
    env = BASE_URL_ENV.get(provider)
    if env:
        return os.environ.get(env) or None
    return None
