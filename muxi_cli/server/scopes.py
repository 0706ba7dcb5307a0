"""What a caller may do: a key's scopes resolved against the formation, and the checks.

A refused request is a 403 whose error names the missing scope:
``{"error": {"code": "missing_scope", "message", "hint", "scope": "model:x"}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from muxi_cli.config.access import ServerAccess
from muxi_cli.errors import ScopeError

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.stores.server_keys import Principal

ALL = ("*",)


@dataclass(frozen=True, slots=True)
class Grants:
    """Resolved permissions. Each tuple holds glob patterns; ``("*",)`` is "any"."""

    admin: bool = False
    agents: tuple[str, ...] = ALL
    models: tuple[str, ...] = ALL
    system: bool = True
    approve: tuple[str, ...] = ALL
    #: The scopes they came from (shown by ``GET /v1/me``).
    scopes: tuple[str, ...] = ("*",)

    def may_agent(self, name: str) -> bool:
        return any(fnmatchcase(name, p) for p in self.agents)

    def may_model(self, ref: str) -> bool:
        return any(fnmatchcase(ref, p) for p in self.models)

    @property
    def all_agents(self) -> bool:
        return "*" in self.agents

    def to_dict(self) -> dict[str, Any]:
        return {"scopes": list(self.scopes), "admin": self.admin}


EVERYTHING = Grants(admin=True, scopes=("*",))


def resolve(principal: Principal, access: ServerAccess | None) -> Grants:
    """The grants of ``principal`` under the formation's ``server:`` section."""
    access = access or ServerAccess()
    if principal.admin:
        return Grants(admin=True, scopes=("*",))
    own = principal.scopes
    scopes = list(own) if own is not None else access.default_user_scopes()
    expanded: list[str] = []
    for scope in scopes:
        if scope.startswith("set:"):
            # A set the formation no longer has grants nothing (and is not an error).
            expanded.extend(access.scope_sets.get(scope[4:], []))
        else:
            expanded.append(scope)
    if "*" in expanded:
        return Grants(scopes=tuple(scopes))

    def values(kind: str) -> tuple[str, ...]:
        prefix = kind + ":"
        return tuple(s[len(prefix) :] for s in expanded if s.startswith(prefix))

    return Grants(
        agents=values("agent"),
        models=values("model"),
        system="system" in expanded,
        approve=values("approve"),
        scopes=tuple(scopes),
    )


def _refuse(scope: str, what: str) -> ScopeError:
    return ScopeError(
        f"this key may not {what} (missing scope {scope})",
        scope=scope,
        hint="ask the server's admin for a key with that scope (`muxi keys create --scope ...`)",
    )


def check_agent(grants: Grants, name: str) -> None:
    if not grants.may_agent(name):
        raise _refuse(f"agent:{name}", f"use agent {name!r}")


def check_chat(grants: Grants, req: ChatRequest, formation: Formation | None) -> None:
    """Refuse (403) what the request asks beyond the grants; narrow the rest in place.

    A key limited to some agents is not routed: without ``agent`` it talks to the
    default agent if allowed, else to the first agent it may use.
    """
    if grants.admin:
        return
    if req.model is not None and not grants.may_model(req.model):
        raise _refuse(f"model:{req.model}", f"choose the model {req.model!r}")
    if req.system is not None and not grants.system:
        raise _refuse("system", "replace the agent's system message")
    if req.approval == "yes" and not grants.approve:
        raise _refuse(
            "approve:*", "approve tool calls (approval 'yes'); ask tools are denied for it"
        )
    if req.agent is not None:
        check_agent(grants, req.agent)
    elif not grants.all_agents:
        names = [a.name for a in formation.agents] if formation is not None else []
        default = formation.default_agent if formation is not None else None
        allowed = [n for n in names if grants.may_agent(n)]
        if not allowed:
            raise _refuse("agent:*", "use any agent of this server")
        req.agent = default if default in allowed else allowed[0]
    req.approvable = None if "*" in grants.approve else list(grants.approve)


def unknown_names(scopes: list[str], formation: Formation | None) -> list[str]:
    """Scopes naming (without globs) an agent or set the formation does not have."""
    if formation is None:
        return []
    agents = {a.name for a in formation.agents}
    out = formation.server.unknown_sets(scopes)
    for scope in scopes:
        kind, _, value = scope.partition(":")
        if kind == "agent" and not any(c in value for c in "*?[") and value not in agents:
            out.append(scope)
    return out
