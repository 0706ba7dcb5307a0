from __future__ import annotations

import json
import sys
from pathlib import Path

from muxi_cli.config.schema import Formation, ToolEntry
from muxi_cli.paths import settings_path
from muxi_cli.tools.base import ToolDef
from muxi_cli.tools.policy import load_always_allow, resolve_policy, save_always_allow


def formation(**extra: object) -> Formation:
    data = {
        "mcp_servers": {
            "fs": {"command": sys.executable},
            "web": {"command": sys.executable, "approval": "allow", "tools": {"post": "deny"}},
        }
    }
    data.update(extra)  # type: ignore[arg-type]
    return Formation.model_validate(data)


def test_defaults() -> None:
    f = formation()
    assert resolve_policy(f, "fs", "read") == "ask"
    assert resolve_policy(f, "builtin", "calculator", kind="builtin") == "allow"
    assert resolve_policy(f, "python", "my_fn", kind="python") == "allow"


def test_formation_default_applies_to_servers_without_their_own() -> None:
    f = formation(approval={"default": "deny"})
    assert resolve_policy(f, "fs", "read") == "deny"
    assert resolve_policy(f, "web", "get") == "allow"  # the server's own setting is more specific
    assert (
        resolve_policy(f, "builtin", "calculator", kind="builtin") == "allow"
    )  # built-ins are not servers


def test_the_kind_decides_not_the_server_name() -> None:
    """MCP servers named like local sources get the MCP defaults and their own config."""
    f = Formation.model_validate(
        {
            "mcp_servers": {
                "builtin": {"command": sys.executable},
                "python": {"command": sys.executable, "tools": {"run": "deny"}},
            }
        }
    )
    assert resolve_policy(f, "builtin", "calculator") == "ask"
    assert resolve_policy(f, "builtin", "calculator", kind="builtin") == "allow"
    assert resolve_policy(f, "python", "run") == "deny"
    assert resolve_policy(f, "python", "run", kind="python") == "allow"


def test_per_tool_beats_per_server() -> None:
    f = formation()
    assert resolve_policy(f, "web", "get") == "allow"
    assert resolve_policy(f, "web", "post") == "deny"


def test_formation_rules_server_wildcard_and_tool() -> None:
    f = formation(approval={"tools": {"fs/*": "allow", "fs/delete": "deny", "web/post": "ask"}})
    assert resolve_policy(f, "fs", "read") == "allow"
    assert resolve_policy(f, "fs", "delete") == "deny"
    assert resolve_policy(f, "web", "post") == "ask"  # formation tool rule beats the server's map


def test_agent_entry_is_most_specific_for_local_tools() -> None:
    f = formation(approval={"tools": {"builtin/*": "deny"}})
    assert resolve_policy(f, "builtin", "calculator", kind="builtin") == "deny"
    entry = ToolEntry(builtin="calculator", approval="ask")
    assert resolve_policy(f, "builtin", "calculator", kind="builtin", entry=entry) == "ask"
    entry = ToolEntry(python="m:f", approval="deny")
    assert resolve_policy(f, "python", "f", kind="python", entry=entry) == "deny"


def test_always_allow_relaxes_ask_but_never_deny() -> None:
    f = formation()
    allowed = {"fs/read", "web/post"}
    assert resolve_policy(f, "fs", "read", always_allow=allowed) == "allow"
    assert resolve_policy(f, "fs", "write", always_allow=allowed) == "ask"
    assert resolve_policy(f, "web", "post", always_allow=allowed) == "deny"


def test_save_always_allow_keeps_other_settings(muxi_home: Path) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"theme": "dark"}))
    save_always_allow("fs/read")
    save_always_allow("fs/read")
    save_always_allow("web/get")
    data = json.loads(path.read_text())
    assert data["theme"] == "dark"
    assert data["always_allow"] == ["fs/read", "web/get"]
    assert load_always_allow() == {"fs/read", "web/get"}
    assert path.stat().st_mode & 0o777 == 0o600


def test_corrupt_settings_file_is_ignored(muxi_home: Path) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert load_always_allow() == set()
    save_always_allow("fs/read")
    assert load_always_allow() == {"fs/read"}


async def test_remember_allow_persists_for_later_managers(muxi_home: Path, tmp_path: Path) -> None:
    from muxi_cli.tools.host import ToolManager

    f = Formation.model_validate(
        {"agents": [{"name": "a", "tools": [{"python": "mytools:ping", "approval": "ask"}]}]}
    )
    (tmp_path / "mytools.py").write_text("def ping() -> str:\n    return 'pong'\n")
    first = ToolManager(f, base_dir=tmp_path)
    [tool] = await first.tools_for(f.agents[0])
    assert tool.policy == "ask"
    first.remember_allow(tool)
    [again] = await first.tools_for(f.agents[0])
    assert again.policy == "allow"
    later = ToolManager(f, base_dir=tmp_path)
    [tool_later] = await later.tools_for(f.agents[0])
    assert tool_later.policy == "allow"
    assert "python/ping" in json.loads(settings_path().read_text())["always_allow"]
    assert isinstance(tool_later, ToolDef)
