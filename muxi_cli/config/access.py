"""Who may do what on ``muxi serve``: the scope grammar and the ``server:`` section.

A key (or a JWT) carries a role (``admin`` or ``user``) and, for user keys,
scopes. Admin keys may do everything. A user key's scopes say:

``*``                 everything a user key could do before scopes existed
``agent:NAME``        talk to agent NAME (a glob: ``agent:*``, ``agent:support-*``)
``model:REF``         pick model REF instead of the agent's own (``model:*``)
``system``            replace the agent's system message
``approve:TOOL``      approve the ``ask`` tool TOOL (``approve:*``, ``approve:time/*``;
                      TOOL is the model-facing name or ``server/tool``)
``set:NAME``          every scope of the named set ``server.scope_sets.NAME``

A user key without scopes of its own gets the formation's default: ``*`` (the
``single-user`` preset, today's behaviour) or ``agent:*`` only (the
``multi-user`` preset), or ``server.user_scopes`` when given.

This module is pure (no server imports) so the formation loader, the CLI and
the server all validate scopes the same way.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Scope kinds that take a value (``kind:value``) and the bare ones.
VALUE_KINDS = ("agent", "model", "approve", "set")
BARE_SCOPES = ("*", "system")
#: What the ``multi-user`` preset gives a user key that has no scopes of its own.
MULTI_USER_SCOPES = ("agent:*",)
SINGLE_USER_SCOPES = ("*",)
_VALUE_RE = re.compile(r"^[A-Za-z0-9*?_.:/@+-][A-Za-z0-9*?_.:/@+\[\]-]{0,199}$")
_SET_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
SCOPE_HELP = (
    "scopes are *, system, agent:NAME, model:REF, approve:TOOL or set:NAME "
    "(NAME, REF and TOOL may use * globs), e.g. --scope agent:support --scope approve:calculator"
)


def scope_problem(scope: str) -> str | None:
    """Why ``scope`` is not a valid scope (None when it is)."""
    if scope in BARE_SCOPES:
        return None
    kind, sep, value = scope.partition(":")
    if not sep:
        return f"unknown scope {scope!r}"
    if kind not in VALUE_KINDS:
        return f"unknown scope kind {kind!r} in {scope!r}"
    if kind == "set":
        return None if _SET_RE.match(value) else f"invalid scope set name in {scope!r}"
    if not _VALUE_RE.match(value):
        return f"invalid value in scope {scope!r}"
    return None


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """The scopes, stripped and de-duplicated (order kept); ValueError names the first bad one."""
    out: list[str] = []
    if len(scopes) > 100:
        raise ValueError("at most 100 scopes per key")
    for raw in scopes:
        scope = str(raw).strip()
        problem = scope_problem(scope)
        if problem is not None:
            raise ValueError(f"{problem}; {SCOPE_HELP}")
        if scope not in out:
            out.append(scope)
    return out


class JWTConfig(BaseModel):
    """Accept bearer JWTs from an identity provider (OIDC) besides muxi keys."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(min_length=1, description="the required `iss` claim")
    audience: str = Field(min_length=1, description="the required `aud` claim")
    jwks_url: str = Field(min_length=1, description="where the provider publishes its keys")
    #: The claim whose value becomes the muxi user id.
    user_claim: str = "sub"
    #: A claim holding a role name or a list of them (e.g. ``roles``, ``groups``).
    role_claim: str | None = None
    #: Values of ``role_claim`` that make the caller an admin.
    admin_values: list[str] = Field(default_factory=lambda: ["admin"])
    #: A claim holding muxi scopes (a space-separated string or a list);
    #: entries that are not muxi scopes (``openid``, ``email``) are ignored.
    scopes_claim: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    #: Seconds of clock skew tolerated on ``exp``/``nbf``/``iat``.
    leeway: float = Field(default=30.0, ge=0, le=600)
    #: Seconds a fetched key set is trusted before it is fetched again.
    jwks_ttl: float = Field(default=3600.0, ge=10)
    #: At most one fetch per this many seconds (an unknown ``kid`` triggers one).
    jwks_min_refresh: float = Field(default=60.0, ge=0)
    #: Seconds one key set fetch may take.
    jwks_timeout: float = Field(default=5.0, gt=0, le=60)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        # HS* would let anyone who can read the JWKS (it is public) sign tokens.
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                   "ES512", "EdDSA"}  # fmt: skip
        bad = [a for a in value if a not in allowed]
        if bad or not value:
            raise ValueError(
                f"unsupported JWT algorithm(s) {bad or value}; use asymmetric ones: "
                + ", ".join(sorted(allowed))
            )
        return value


class ServerAccess(BaseModel):
    """The formation's ``server:`` section: presets, default and named scopes, JWT."""

    model_config = ConfigDict(extra="forbid")

    preset: Literal["single-user", "multi-user"] = "single-user"
    #: Scopes of user keys that have none of their own (default: from the preset).
    user_scopes: list[str] | None = None
    #: Named scope sets, used as ``set:NAME`` in keys, defaults and tokens.
    scope_sets: dict[str, list[str]] = Field(default_factory=dict)
    jwt: JWTConfig | None = None

    @field_validator("user_scopes")
    @classmethod
    def _valid_defaults(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_scopes(value)

    @field_validator("scope_sets")
    @classmethod
    def _valid_sets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {}
        for name, scopes in value.items():
            if not _SET_RE.match(name):
                raise ValueError(f"invalid scope set name {name!r}")
            checked = check_scopes(scopes)
            if any(s.startswith("set:") for s in checked):
                raise ValueError(f"scope set {name!r} may not contain other sets")
            out[name] = checked
        return out

    def default_user_scopes(self) -> list[str]:
        if self.user_scopes is not None:
            return list(self.user_scopes)
        return list(MULTI_USER_SCOPES if self.preset == "multi-user" else SINGLE_USER_SCOPES)

    def unknown_sets(self, scopes: list[str] | tuple[str, ...]) -> list[str]:
        """``set:NAME`` scopes that name no set of this formation."""
        return [s for s in scopes if s.startswith("set:") and s[4:] not in self.scope_sets]
