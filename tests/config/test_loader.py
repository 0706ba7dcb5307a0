"""The formation loader: finding, expanding, validating, original agent files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from muxi_cli.config.loader import (
    LoadedFormation,
    find_formation,
    load_formation,
    locate_formation,
)
from muxi_cli.config.schema import DEFAULT_AGENT_NAME, ModelRef
from muxi_cli.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_formation(path)
    return info.value


# ---------------------------------------------------------------- defaults and shapes


def test_no_file_gives_the_builtin_assistant() -> None:
    loaded = load_formation()
    assert isinstance(loaded, LoadedFormation)
    assert loaded.path is None
    assert [a.name for a in loaded.formation.agents] == [DEFAULT_AGENT_NAME]
    assert loaded.formation.default_agent == DEFAULT_AGENT_NAME
    assert loaded.raw == {}


def test_empty_file_is_the_default_formation(tmp_path: Path) -> None:
    path = write(tmp_path / "muxi.yaml", "# nothing yet\n")
    loaded = load_formation(path)
    assert loaded.path == path.resolve()
    assert [a.name for a in loaded.formation.agents] == [DEFAULT_AGENT_NAME]


def test_list_of_agents(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        """
default_model: anthropic/claude-sonnet-4-5
agents:
  - name: writer
    description: Writes things
    model: openai/gpt-4o-mini
  - name: coder
    model: {provider: anthropic, model: claude-sonnet-4-5}
    tools: [calculator, {python: "pkg.mod:fn"}]
    delegates: [writer]
""",
    )
    formation = load_formation(path).formation
    assert [a.name for a in formation.agents] == ["writer", "coder"]
    assert formation.default_agent == "writer"
    coder = formation.agent("coder")
    assert coder is not None
    assert isinstance(coder.model, ModelRef)
    assert coder.model_ref == "anthropic/claude-sonnet-4-5"
    assert [t.builtin or t.python for t in coder.tools] == ["calculator", "pkg.mod:fn"]


def test_mapping_of_agents(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        """
agents:
  research:
    description: Finds things
  empty:
""",
    )
    formation = load_formation(path).formation
    assert [a.name for a in formation.agents] == ["research", "empty"]
    assert formation.agents[0].description == "Finds things"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    err = config_error(write(tmp_path / "muxi.yaml", "- a\n- b\n"))
    assert "top level must be a mapping" in err.message
    assert err.hint


# ---------------------------------------------------------------- ${VAR} expansion


def test_env_expansion_with_defaults_and_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUXI_T_MODEL", "openai/gpt-4o")
    monkeypatch.setenv("MUXI_T_TOKEN", "tok-123456789")
    path = write(
        tmp_path / "muxi.yaml",
        """
name: "cost $$5 ${MUXI_T_UNSET:-fallback}"
default_model: ${MUXI_T_MODEL}
turn_timeout: ${MUXI_T_TIMEOUT:-42}
mcp_servers:
  gh:
    command: gh-mcp
    env: {GITHUB_TOKEN: "${MUXI_T_TOKEN}", LITERAL: "$${NOT_EXPANDED}"}
""",
    )
    loaded = load_formation(path)
    formation = loaded.formation
    assert formation.name == "cost $5 fallback"
    assert formation.default_model == "openai/gpt-4o"
    assert formation.turn_timeout == 42.0
    env = formation.mcp_servers["gh"].env
    assert env == {"GITHUB_TOKEN": "tok-123456789", "LITERAL": "${NOT_EXPANDED}"}
    assert loaded.raw["default_model"] == "openai/gpt-4o"


def test_unset_variable_names_file_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path / "muxi.yaml", "agents:\n  - name: a\n    model: ${MUXI_T_NOPE}\n")
    err = config_error(path)
    assert str(path.resolve()) in err.message
    assert "agents[0].model" in err.message
    assert "MUXI_T_NOPE" in err.message
    assert err.hint and "MUXI_T_NOPE" in err.hint


def test_unset_variable_in_mcp_env_and_headers_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        "mcp_servers:\n  web:\n    url: http://127.0.0.1:9/mcp\n"
        "    headers: {Authorization: 'Bearer ${MUXI_T_NOPE}'}\n",
    )
    err = config_error(path)
    assert "mcp_servers.web.headers.Authorization" in err.message
    assert "MUXI_T_NOPE" in err.message
    path = write(
        tmp_path / "muxi.yaml",
        "mcp_servers:\n  s:\n    command: x\n    env: {TOKEN: '${MUXI_T_NOPE}'}\n",
    )
    assert "mcp_servers.s.env.TOKEN" in config_error(path).message


def test_bad_reference_syntax(tmp_path: Path) -> None:
    err = config_error(write(tmp_path / "muxi.yaml", "name: '${1bad}'\n"))
    assert "invalid variable reference" in err.message
    err = config_error(write(tmp_path / "muxi.yaml", "name: 'open ${X'\n"))
    assert "unterminated" in err.message


# ---------------------------------------------------------------- errors


def test_unknown_key_names_file_path_and_nearest_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        "agents:\n  - name: a\n  - name: b\n    modle: openai/gpt-4o\n",
    )
    err = config_error(path)
    assert str(path.resolve()) in err.message
    assert "agents[1].modle" in err.message
    assert "did you mean 'model'?" in err.message
    assert err.hint and "system_message" in err.hint  # lists the valid keys


def test_unknown_key_in_nested_models(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        """
agents:
  - name: a
    model: {provder: openai, model: gpt-4o}
mcp_servers:
  t: {comand: x}
approval: {default: alow}
""",
    )
    message = config_error(path).message
    assert "agents[0].model.provder: unknown key 'provder' (did you mean 'provider'?)" in message
    assert "mcp_servers.t.comand: unknown key 'comand' (did you mean 'command'?)" in message
    assert "approval.default" in message and "did you mean 'allow'?" in message
    # The failed 'plain string' reading of `model` is not reported.
    assert "valid string" not in message


def test_mapping_agents_errors_use_the_agent_name(tmp_path: Path) -> None:
    path = write(tmp_path / "muxi.yaml", "agents:\n  writer:\n    descripton: x\n")
    err = config_error(path)
    assert "agents.writer.descripton" in err.message
    assert "did you mean 'description'?" in err.message


def test_model_level_errors_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "muxi.yaml", "agents:\n  - name: a\n    mcp_servers: [nope]\n")
    err = config_error(path)
    assert "'nope'" in err.message and "mcp_servers" in err.message
    assert "Value error" not in err.message


def test_many_problems_are_capped(tmp_path: Path) -> None:
    body = "".join(f"bad_key_{i}: 1\n" for i in range(8))
    message = config_error(write(tmp_path / "muxi.yaml", body)).message
    assert "8 problems" in message
    assert "... and 3 more" in message


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "muxi.yaml", "agents:\n  - name: a\n    model: [unclosed\n")
    err = config_error(path)
    assert f"{path.resolve()}:" in err.message or f"{path}:" in err.message
    assert "invalid YAML" in err.message
    # line:col of the problem (1-based).
    import re

    match = re.search(r"muxi\.yaml:(\d+):(\d+)", err.message)
    assert match, err.message
    assert int(match.group(1)) >= 3


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    err = config_error(write(tmp_path / "muxi.yaml", "name: a\nversion: 1\nname: b\n"))
    assert "muxi.yaml:3:1" in err.message
    assert "'name' appears twice" in err.message


def test_missing_explicit_file_hints_init(tmp_path: Path) -> None:
    err = config_error(tmp_path / "nope.yaml")
    assert "not found" in err.message
    assert err.hint and "muxi init" in err.hint


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        "providers:\n  openai:\n    api_key: [sk-secret-value-123]\n",
    )
    err = config_error(path)
    assert "sk-secret-value-123" not in err.message
    assert "providers.openai.api_key" in err.message


# ---------------------------------------------------------------- original muxi agent files


ORIGINAL_AGENT = """
name: weather
description: Weather forecasts
system_message: You check the weather.
model:
  provider: openai
  api_key: "${OPENAI_API_KEY}"
  model: gpt-4o
  temperature: 0.7
memory:
  buffer: 10
  long_term: true
tools:
  - enable_calculator
mcp_servers:
  - name: forecast
    url: http://127.0.0.1:5001/mcp
  - name: files
    command: npx
    args: [-y, server-files, "."]
    env: {ROOT: "."}
knowledge:
  - path: facts.txt
    description: Weather facts
"""


def test_original_agent_file_by_path(tmp_path: Path) -> None:
    write(tmp_path / "agents" / "weather.yaml", ORIGINAL_AGENT)
    write(tmp_path / "agents" / "facts.txt", "rain is wet")
    path = write(
        tmp_path / "muxi.yaml",
        "agents:\n  - agents/weather.yaml\n  - name: helper\n    mcp_servers: [files]\n",
    )
    loaded = load_formation(path)
    formation = loaded.formation
    assert [a.name for a in formation.agents] == ["weather", "helper"]
    weather = formation.agents[0]
    assert weather.system_message == "You check the weather."
    assert weather.model_ref == "openai/gpt-4o"
    assert isinstance(weather.model, ModelRef) and weather.model.temperature == 0.7
    # Server objects are hoisted to the formation and referenced by name.
    assert weather.mcp_servers == ["forecast", "files"]
    assert formation.mcp_servers["forecast"].url == "http://127.0.0.1:5001/mcp"
    assert formation.mcp_servers["files"].command == "npx"
    assert formation.mcp_servers["files"].args == ["-y", "server-files", "."]
    # A bare ${VAR} key becomes api_key_env, so an unset variable is not an error.
    assert formation.providers["openai"].api_key_env == "OPENAI_API_KEY"
    assert formation.providers["openai"].api_key is None
    assert [t.builtin for t in weather.tools] == ["calculator"]
    assert weather.memory.long_term is True
    # Knowledge paths are relative to the agent file when they exist there.
    assert weather.knowledge[0].path == str(tmp_path / "agents" / "facts.txt")
    assert any("memory.buffer" in w for w in loaded.warnings)


def test_agents_directory_is_loaded_when_agents_is_absent(tmp_path: Path) -> None:
    write(tmp_path / "agents" / "b_weather.yaml", ORIGINAL_AGENT)
    write(
        tmp_path / "agents" / "a_writer.yml",
        "agent_id: writer\ndescription: Writes\nmodel: {provider: anthropic, model: claude-x}\n",
    )
    write(tmp_path / "agents" / "notes.txt", "not an agent")
    path = write(tmp_path / "muxi.yaml", "name: team\n")
    formation = load_formation(path).formation
    assert [a.name for a in formation.agents] == ["writer", "weather"]
    assert set(formation.mcp_servers) == {"forecast", "files"}


def test_agent_file_name_defaults_to_file_stem(tmp_path: Path) -> None:
    write(tmp_path / "agents" / "scribe.yaml", "description: no name here\n")
    formation = load_formation(write(tmp_path / "muxi.yaml", "version: 1\n")).formation
    assert formation.agents[0].name == "scribe"


def test_errors_inside_an_agent_file_name_that_file(tmp_path: Path) -> None:
    agent = write(tmp_path / "agents" / "w.yaml", "name: w\nsystem_mesage: hi\n")
    path = write(tmp_path / "muxi.yaml", "agents: [agents/w.yaml]\n")
    err = config_error(path)
    assert str(agent) in err.message
    assert "system_mesage" in err.message and "did you mean 'system_message'?" in err.message


def test_errors_in_hoisted_servers_name_the_agent_file(tmp_path: Path) -> None:
    agent = write(
        tmp_path / "agents" / "w.yaml",
        "name: w\nmcp_servers:\n  - {name: s, command: x, argz: []}\n",
    )
    err = config_error(write(tmp_path / "muxi.yaml", "agents: [agents/w.yaml]\n"))
    assert f"{agent}: mcp_servers[0].argz" in err.message
    assert "did you mean 'args'?" in err.message


def test_missing_agent_file(tmp_path: Path) -> None:
    err = config_error(write(tmp_path / "muxi.yaml", "agents: [agents/nope.yaml]\n"))
    assert "agents/nope.yaml" in err.message and "not found" in err.message


def test_conflicting_hoisted_servers(tmp_path: Path) -> None:
    write(tmp_path / "agents" / "a.yaml", "mcp_servers: [{name: s, command: one}]\n")
    write(tmp_path / "agents" / "b.yaml", "mcp_servers: [{name: s, command: two}]\n")
    err = config_error(write(tmp_path / "muxi.yaml", "version: 1\n"))
    assert "'s' is defined twice" in err.message


def test_stdio_credentials_become_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_T_CRED", "c-1")
    write(
        tmp_path / "agents" / "a.yaml",
        "mcp_servers:\n  - name: s\n    command: x\n    credentials:\n"
        "      - {id: k, env_fallback: MUXI_T_CRED, required: true}\n",
    )
    formation = load_formation(write(tmp_path / "muxi.yaml", "version: 1\n")).formation
    assert formation.mcp_servers["s"].env == {"MUXI_T_CRED": "c-1"}


# ---------------------------------------------------------------- find order


def test_find_order(tmp_path: Path, muxi_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_formation() is None
    assert locate_formation().reason == "default"

    user = write(muxi_home / "config" / "muxi.yaml", "name: user\n")
    assert find_formation() == user
    assert locate_formation().reason == "user"

    cwd_file = write(tmp_path / "muxi.yml", "name: cwd\n")
    assert find_formation() == cwd_file
    cwd_yaml = write(tmp_path / "muxi.yaml", "name: cwd\n")
    assert find_formation() == cwd_yaml  # .yaml before .yml
    assert locate_formation().reason == "cwd"

    env_file = write(tmp_path / "env" / "f.yaml", "name: env\n")
    monkeypatch.setenv("MUXI_CONFIG", str(env_file))
    assert find_formation() == env_file
    assert locate_formation().reason == "env"

    flag_file = write(tmp_path / "flag" / "f.yaml", "name: flag\n")
    assert find_formation(flag_file) == flag_file
    assert locate_formation(flag_file).reason == "flag"
    assert load_formation(flag_file).formation.name == "flag"
    assert load_formation().formation.name == "env"


def test_explicit_directory_means_its_muxi_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "proj" / "muxi.yaml", "name: proj\n")
    assert find_formation(tmp_path / "proj") == path
    assert find_formation(os.fspath(tmp_path / "proj")) == path


def test_keys_are_the_text_written(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        "mcp_servers:\n  off: &base {command: x}\n  yes:\n    <<: *base\n    args: [a]\n"
        "  123: {command: y}\n",
    )
    servers = load_formation(path).formation.mcp_servers
    assert list(servers) == ["off", "yes", "123"]
    assert servers["yes"].command == "x" and servers["yes"].args == ["a"]


def test_mapping_entry_may_be_an_agent_file(tmp_path: Path) -> None:
    write(tmp_path / "team" / "w.yaml", "name: ignored\ndescription: from file\n")
    path = write(tmp_path / "muxi.yaml", "agents:\n  forecaster: team/w.yaml\n")
    agent = load_formation(path).formation.agents[0]
    assert (agent.name, agent.description) == ("forecaster", "from file")


def test_inline_agents_may_use_server_objects(tmp_path: Path) -> None:
    path = write(
        tmp_path / "muxi.yaml",
        "mcp_servers:\n  shared: {command: s}\n"
        "agents:\n  - name: a\n    mcp_servers: [shared, {name: own, url: 'http://127.0.0.1:9/mcp'}]\n",
    )
    formation = load_formation(path).formation
    assert formation.agents[0].mcp_servers == ["shared", "own"]
    assert formation.mcp_servers["own"].transport == "http"


def test_unset_variable_in_an_agent_file_names_that_file(tmp_path: Path) -> None:
    agent = write(tmp_path / "agents" / "w.yaml", "name: w\nsystem_message: ${MUXI_T_NOPE}\n")
    err = config_error(write(tmp_path / "muxi.yaml", "version: 1\n"))
    assert f"{agent}: system_message" in err.message
    assert "MUXI_T_NOPE" in err.message


def test_literal_model_api_key_moves_to_providers(tmp_path: Path) -> None:
    write(
        tmp_path / "agents" / "w.yaml",
        "model: {provider: openai, model: gpt-4o, api_key: sk-literal-123456}\n",
    )
    path = write(tmp_path / "muxi.yaml", "providers:\n  openai: {timeout: 5}\n")
    provider = load_formation(path).formation.providers["openai"]
    assert provider.api_key == "sk-literal-123456"
    assert provider.timeout == 5


def test_unknown_builtin_tool_gets_a_suggestion(tmp_path: Path) -> None:
    err = config_error(
        write(tmp_path / "muxi.yaml", "agents:\n  - name: a\n    tools: [calculater]\n")
    )
    assert "agents[0].tools[0]" in err.message
    assert "did you mean 'calculator'?" in err.message


def test_a_folder_without_muxi_yaml_or_an_unreadable_path_gets_a_hint(tmp_path: Path) -> None:
    from muxi_cli.config.yamlio import read_yaml
    from muxi_cli.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        read_yaml(tmp_path)
    assert "is a directory" in info.value.message and info.value.hint


@pytest.mark.parametrize("value", ["anthropic/claude-embed", "nosuch/model", "word2vec", "openai"])
def test_an_embedding_no_provider_serves_fails_at_load(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "muxi.yaml", f"memory:\n  embedding: {value}\n")
    error = config_error(path)
    assert "memory.embedding" in error.message and "ollama" in error.message


@pytest.mark.parametrize("value", ["local", "hash", "ollama/nomic-embed-text", "mine/e5"])
def test_embeddings_a_provider_serves_load(tmp_path: Path, value: str) -> None:
    providers = "providers:\n  mine:\n    base_url: http://127.0.0.1:9/v1\n"
    path = write(tmp_path / "muxi.yaml", f"{providers}memory:\n  embedding: {value}\n")
    assert load_formation(path).formation.memory.embedding == value
