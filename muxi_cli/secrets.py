"""Secrets in the OS keyring (service ``muxi``), with a 0600 file fallback.

With ``MUXI_HOME`` set, the service is ``muxi@<that folder>`` so separate
installations (and test runs) never see each other's secrets.

Where no keyring backend works (a headless machine with only the fail
backend), secrets go to ``<config dir>/secrets.json`` with mode 0600 and
``muxi doctor`` says so. Names are namespaced: ``provider:anthropic``,
``profile:prod``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from muxi_cli import paths
from muxi_cli.redact import redact, remember

SERVICE = "muxi"
REDACTED = "[redacted]"


def service_name() -> str:
    """``muxi``, or ``muxi@<MUXI_HOME>`` when ``MUXI_HOME`` sets up a separate
    installation (each one, and each test run, gets its own secrets)."""
    home = os.environ.get("MUXI_HOME")
    if not home:
        return SERVICE
    return f"{SERVICE}@{Path(home).expanduser().resolve()}"


def _fallback_path() -> Path:
    return paths.config_dir() / "secrets.json"


def _keyring_usable() -> bool:
    if os.environ.get("MUXI_SECRETS_FILE") == "1":
        return False
    try:
        import keyring  # deferred: keyring is slow to import
        from keyring.backends import fail  # deferred: keyring is slow to import
    except Exception:  # pragma: no cover - keyring is a dependency
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:
        return False
    if isinstance(backend, fail.Keyring):
        return False
    # The chainer with no real backend behind it is as good as the fail backend.
    return not (
        type(backend).__name__ == "ChainerBackend" and not getattr(backend, "backends", None)
    )


def backend_name() -> str:
    """A human description of where secrets are stored."""
    if _keyring_usable():
        import keyring  # deferred: keyring is slow to import

        backend = keyring.get_keyring()
        return f"keyring ({type(backend).__module__}.{type(backend).__name__})"
    return f"file ({_fallback_path()}, mode 0600)"


def _read_file() -> dict[str, str]:
    path = _fallback_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_file(data: dict[str, str]) -> None:
    paths.write_private(_fallback_path(), json.dumps(data, indent=2, sort_keys=True))


def find_secret(name: str) -> tuple[str | None, str | None]:
    """``(value, where)``: where the secret was actually found, ``"keyring"`` or ``"file"``.

    Said from the lookup itself, not from which backend works now: a key saved
    in the file while no keyring worked is still in the file after a keyring
    backend appears (and is reported as such).
    """
    if _keyring_usable():
        import keyring  # deferred: keyring is slow to import

        try:
            value = keyring.get_password(service_name(), name)
        except Exception:
            value = None
        if value:
            return value, "keyring"
    value = _read_file().get(name)
    return (value, "file") if value else (None, None)


def get_secret(name: str) -> str | None:

    value = find_secret(name)[0]
    remember([value])  # a stored key is never printed back, whatever echoes it
    return value


def set_secret(name: str, value: str) -> str:
    """Store a secret; returns where it went (for the user's information)."""
    if _keyring_usable():
        import keyring  # deferred: keyring is slow to import

        try:
            keyring.set_password(service_name(), name, value)
            return backend_name()
        except Exception:
            pass
    data = _read_file()
    data[name] = value
    _write_file(data)
    return f"file ({_fallback_path()}, mode 0600)"


def delete_secret(name: str) -> bool:
    """Delete a secret wherever it is; True if something was deleted."""
    deleted = False
    if _keyring_usable():
        import keyring  # deferred: keyring is slow to import

        try:
            keyring.delete_password(service_name(), name)
            deleted = True
        except Exception:
            pass
    data = _read_file()
    if name in data:
        del data[name]
        _write_file(data)
        deleted = True
    return deleted


def mask(value: str | None) -> str:
    """``sk-ant-...wxyz``: enough to recognise a key, never enough to use it."""
    if not value:
        return ""
    if len(value) < 16:  # short secrets (passwords) are hidden whole
        return "*" * 8
    return f"{value[:4]}…{value[-4:]}"


def redact_text(text: str) -> str:
    """``text`` with credentials replaced by ``[redacted]`` (see :mod:`muxi_cli.redact`)."""

    return redact(text)
