"""Agents as the formation declares them, including the original muxi agent format.

An original-format agent file looks like::

    name: weather
    description: Weather forecasts
    system_message: You check the weather.
    model: {provider: openai, model: gpt-4o, api_key: "${OPENAI_API_KEY}"}
    mcp_servers:
      - {name: weather, url: http://localhost:5001}
      - {name: files, command: npx, args: [-y, "@modelcontextprotocol/server-filesystem", "."]}
    knowledge:
      - {path: knowledge/facts.txt, description: Facts}

:func:`normalize_agent` turns such an entry into the formation's own shape:
server objects are hoisted into the formation's ``mcp_servers`` and referenced
by name, ``model.api_key`` moves to ``providers.<provider>`` (a bare
``${VAR}`` becomes ``api_key_env: VAR`` so a key kept in the keyring still
works), and a few renamed keys are translated. Everything else is passed
through untouched so the strict schema still reports typos.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muxi_cli.config.expand import KeyPath, format_path
from muxi_cli.errors import ConfigError

_BARE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(slots=True)
class AgentSource:
    """Where one entry of the final ``agents`` list came from (for error messages)."""

    file: Path | None
    #: The key path of the agent inside ``file`` (``()`` for a whole agent file).
    prefix: KeyPath


@dataclass(slots=True)
class Collected:
    """What normalising the agents adds to the formation."""

    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_sources: dict[str, tuple[Path | None, KeyPath]] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _where(file: Path | None, prefix: KeyPath, key: str) -> str:

    path = format_path((*prefix, *key.split(".")))
    return f"{file}: {path}" if file else path


def _hoist_model_key(
    agent: dict[str, Any], file: Path | None, prefix: KeyPath, out: Collected
) -> None:
    model = agent.get("model")
    if not isinstance(model, dict) or "api_key" not in model:
        return
    model = dict(model)
    key = model.pop("api_key")
    agent["model"] = model
    provider = model.get("provider")
    if not isinstance(provider, str) or not isinstance(key, str) or not key:
        return
    match = _BARE_VAR.fullmatch(key.strip())
    entry = {"api_key_env": match.group(1)} if match else {"api_key": key}
    previous = out.providers.get(provider)
    if previous is None:
        out.providers[provider] = entry
    elif previous != entry:
        out.warnings.append(
            f"{_where(file, prefix, 'model.api_key')}: provider {provider!r} already has a key "
            "from another agent; the first one is used"
        )


def _translate_memory(
    agent: dict[str, Any], file: Path | None, prefix: KeyPath, out: Collected
) -> None:
    memory = agent.get("memory")
    if not isinstance(memory, dict):
        return
    memory = dict(memory)
    for old in ("buffer", "buffer_size"):
        if old in memory:
            memory.pop(old)
            out.warnings.append(
                f"{_where(file, prefix, 'memory.' + old)}: ignored; muxi keeps the last "
                "'memory.buffer_tokens' tokens of a conversation instead"
            )
    long_term = memory.get("long_term")
    if isinstance(long_term, str):
        memory["long_term"] = bool(long_term.strip())
        out.warnings.append(
            f"{_where(file, prefix, 'memory.long_term')}: a database address is not used; "
            "long-term memory lives in LanceDB (see 'memory.uri')"
        )
    agent["memory"] = memory


def _translate_tools(
    agent: dict[str, Any], file: Path | None, prefix: KeyPath, out: Collected
) -> None:
    from muxi_cli.config.schema import BUILTIN_TOOLS  # deferred: loads pydantic

    tools = agent.get("tools")
    if not isinstance(tools, list):
        return
    result: list[Any] = []
    for item in tools:
        if isinstance(item, str) and item.startswith("enable_"):
            name = item.removeprefix("enable_")
            if name in BUILTIN_TOOLS:
                result.append(name)
                continue
            out.warnings.append(
                f"{_where(file, prefix, 'tools')}: {item!r} has no built-in equivalent and is "
                f"ignored (built-ins: {', '.join(BUILTIN_TOOLS)})"
            )
            continue
        result.append(item)
    agent["tools"] = result


def _server_from_object(
    obj: dict[str, Any], file: Path | None, where: KeyPath, out: Collected
) -> dict[str, Any]:
    server = {k: v for k, v in obj.items() if k != "name"}
    credentials = server.pop("credentials", None)
    if isinstance(credentials, list):
        for cred in credentials:
            if not isinstance(cred, dict):
                continue
            var = cred.get("env_fallback")
            if server.get("command") and isinstance(var, str) and var:
                env = dict(server.get("env") or {})
                required = cred.get("required", True)
                env.setdefault(var, f"${{{var}}}" if required else f"${{{var}:-}}")
                server["env"] = env
            else:
                out.warnings.append(
                    f"{_where(file, where, 'credentials')}: credentials of HTTP servers are "
                    "not passed on; use 'headers' (for example Authorization: Bearer ${TOKEN})"
                )
                break
    return server


def _hoist_servers(
    agent: dict[str, Any], file: Path | None, prefix: KeyPath, out: Collected
) -> None:
    servers = agent.get("mcp_servers")
    if not isinstance(servers, list):
        return
    names: list[Any] = []
    for index, item in enumerate(servers):
        if not isinstance(item, dict):
            names.append(item)
            continue
        where = (*prefix, "mcp_servers", index)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            loc = format_path(where)
            raise ConfigError(
                f"{file}: {loc}: an MCP server object needs a 'name'"
                if file
                else f"{loc}: an MCP server object needs a 'name'",
                hint="Give each server a name, e.g. {name: files, command: npx, args: [...]}.",
            )
        server = _server_from_object(item, file, where, out)
        previous = out.servers.get(name)
        if previous is not None and previous != server:
            other_file, other_path = out.server_sources[name]
            raise ConfigError(
                f"MCP server {name!r} is defined twice, differently: "
                f"{file or 'muxi.yaml'}: {format_path(where)} and "
                f"{other_file or 'muxi.yaml'}: {format_path(other_path)}",
                hint="Give the servers different names, or make the definitions identical.",
            )
        out.servers[name] = server
        out.server_sources.setdefault(name, (file, where))
        names.append(name)
    agent["mcp_servers"] = names


def _translate_knowledge(agent: dict[str, Any], base: Path | None) -> None:
    knowledge = agent.get("knowledge")
    if not isinstance(knowledge, list):
        return
    result: list[Any] = []
    for item in knowledge:
        entry = {"path": item} if isinstance(item, str) else item
        if isinstance(entry, dict) and base is not None and isinstance(entry.get("path"), str):
            path = Path(entry["path"]).expanduser()
            if not path.is_absolute() and "$" not in entry["path"] and (base / path).exists():
                entry = {**entry, "path": str(base / path)}
        result.append(entry)
    agent["knowledge"] = result


def normalize_agent(
    data: dict[str, Any],
    file: Path | None,
    prefix: KeyPath,
    out: Collected,
    *,
    agent_file: bool,
) -> dict[str, Any]:
    """Translate one agent mapping (inline or from an agent file) to the schema's shape."""
    agent = dict(data)
    if "name" not in agent and isinstance(agent.get("agent_id"), str):
        agent["name"] = agent.pop("agent_id")
    if "name" not in agent and agent_file and file is not None:
        agent["name"] = file.stem
    _hoist_model_key(agent, file, prefix, out)
    _translate_memory(agent, file, prefix, out)
    _translate_tools(agent, file, prefix, out)
    _hoist_servers(agent, file, prefix, out)
    _translate_knowledge(agent, file.parent if (agent_file and file) else None)
    return agent
