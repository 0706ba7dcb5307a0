"""Connection profiles: named muxi servers in ``profiles.yaml`` (mode 0600).

The file holds names, URLs and which profile is active, never a key: keys live
in the keyring as ``profile:<name>`` (see :mod:`muxi_cli.secrets`), with
``MUXI_API_KEY`` as a fallback. The built-in profile ``local`` runs agents in
this process and cannot be added, changed or removed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from muxi_cli import paths
from muxi_cli.errors import ConfigError, NotFoundError, UsageError

LOCAL = "local"
API_KEY_ENV = "MUXI_API_KEY"
#: A server named by the environment, no profile needed (scripts, CI, the chat
#: app children of ``muxi serve --web``): its key is ``MUXI_API_KEY``.
URL_ENV = "MUXI_URL"
#: The name that connection goes by; not a valid profile name, so never a saved one.
URL_PROFILE = "(MUXI_URL)"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(slots=True)
class Profile:
    name: str
    url: str
    description: str = ""

    @property
    def local(self) -> bool:
        return self.name == LOCAL

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "description": self.description}


def secret_name(name: str) -> str:
    return f"profile:{name}"


def _load() -> dict[str, Any]:
    path = paths.profiles_path()
    if not path.exists():
        return {"active": None, "profiles": {}}
    import yaml  # deferred: PyYAML is slow to import

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", hint="fix the file, or delete it and add profiles again"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a mapping", hint="delete it and add profiles again")
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a mapping", hint="fix or delete the file")
    return {"active": data.get("active"), "profiles": profiles}


def _save(data: dict[str, Any]) -> None:
    import yaml  # deferred: PyYAML is slow to import

    text = "# muxi connection profiles (no secrets here: keys live in the keyring)\n"
    text += yaml.safe_dump(data, sort_keys=True, default_flow_style=False)
    paths.write_private(paths.profiles_path(), text)


def _profile(name: str, raw: Any) -> Profile:
    raw = raw if isinstance(raw, dict) else {}
    return Profile(
        name=name, url=str(raw.get("url") or ""), description=str(raw.get("description") or "")
    )


def list_profiles() -> list[Profile]:
    """Every profile, ``local`` first."""
    data = _load()
    out = [Profile(LOCAL, "", "agents run in this process")]
    out += [_profile(n, p) for n, p in sorted(data["profiles"].items()) if n != LOCAL]
    return out


def get_profile(name: str) -> Profile:
    if name == LOCAL:
        return Profile(LOCAL, "", "agents run in this process")
    if name == URL_PROFILE:
        url = os.environ.get(URL_ENV, "")
        if not url:
            raise NotFoundError(f"{URL_ENV} is not set", hint=f"set {URL_ENV}=http://host:port")
        return Profile(URL_PROFILE, normalize_url(url), f"from {URL_ENV}")
    raw = _load()["profiles"].get(name)
    if raw is None:
        raise NotFoundError(
            f"no connection profile named {name!r}",
            hint=f"add it with `muxi profile add {name} --url URL`, or see `muxi profile list`",
        )
    return _profile(name, raw)


def active_profile_name() -> str | None:
    """The profile chosen with ``muxi profile use`` (None: none chosen, i.e. local)."""
    try:
        active = _load().get("active")
    except ConfigError:
        return None
    return str(active) if active else None


def validate_name(name: str) -> None:
    if name == LOCAL:
        raise UsageError("'local' is built in and cannot be changed", hint="pick another name")
    if not _NAME_RE.match(name):
        raise UsageError(
            f"invalid profile name {name!r}",
            hint="use a letter, then letters, digits, '-' or '_' (max 64)",
        )


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.startswith("unix:"):  # a server on a Unix socket of this machine: unix:/abs/path
        if not url[len("unix:") :].startswith("/"):
            raise UsageError(
                f"invalid server URL {url!r}", hint="a Unix socket is unix:/absolute/path"
            )
        return url
    if not re.match(r"^https?://[^\s/]+", url):
        raise UsageError(
            f"invalid server URL {url!r}",
            hint="use http://host:port, https://host[:port] or unix:/path/to.sock",
        )
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


def add_profile(name: str, url: str, description: str = "") -> Profile:
    """Add or replace a profile (its key is stored separately, see :func:`store_key`)."""
    validate_name(name)
    profile = Profile(name, normalize_url(url), description)
    data = _load()
    data["profiles"][name] = profile.to_dict()
    _save(data)
    return profile


def remove_profile(name: str) -> bool:
    """Remove a profile and its stored key; True if it was active."""
    validate_name(name)
    get_profile(name)
    data = _load()
    del data["profiles"][name]
    was_active = data.get("active") == name
    if was_active:
        data["active"] = None
    _save(data)

    from muxi_cli import secrets  # deferred: its redaction patterns (~3 ms) only for keys

    secrets.delete_secret(secret_name(name))
    return was_active


def use_profile(name: str) -> Profile:
    """Make ``name`` the active profile (``local`` clears the choice)."""
    profile = get_profile(name)
    data = _load()
    data["active"] = None if name == LOCAL else name
    _save(data)
    return profile


def store_key(name: str, key: str) -> str:
    """Store a profile's API key; returns where it went."""

    key = key.strip()
    if not key:
        raise UsageError("the API key is empty", hint="paste the key printed by `muxi serve`")
    from muxi_cli import secrets  # deferred: as in remove_profile

    return secrets.set_secret(secret_name(name), key)


def profile_key(name: str) -> tuple[str | None, str]:
    """The API key of a profile and where it came from (``stored``, ``env``, ``none``)."""

    from muxi_cli import secrets  # deferred: as in remove_profile

    stored = None if name == URL_PROFILE else secrets.get_secret(secret_name(name))
    if stored:
        return stored, "stored"
    env = os.environ.get(API_KEY_ENV)
    if env:
        return env, "env"
    return None, "none"
