"""The commented starter ``muxi.yaml`` that ``muxi init`` writes."""

from __future__ import annotations

import json
import re

_MODEL_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/\S+")

_TEMPLATE = """\
# muxi formation: the agents muxi runs, their models, tools and MCP servers.
#
# Check it:      muxi config validate
# See it whole:  muxi config show        (every default filled in, secrets masked)
# Reference:     docs/configuration.md
#
# ${VAR} and ${VAR:-default} are replaced from the environment in any value;
# write $$ for a literal $. Relative paths are relative to this file.

version: 1
name: __NAME__

# --- Providers ------------------------------------------------------------------
# Never write API keys in this file. muxi looks for a provider's key in
#   1. providers.<name>.api_key / api_key_env below,
#   2. the environment: ANTHROPIC_API_KEY, OPENAI_API_KEY, GROQ_API_KEY, ... (each
#      provider muxi knows has its variable; <NAME>_API_KEY for others),
#   3. the OS keyring: `muxi keys set anthropic` (prompts, never echoes).
# `muxi doctor` shows which keys it found and where.
#
#~ providers:
#~   anthropic:
#~     api_key_env: ANTHROPIC_API_KEY   # the variable to read (this is the default)
#~     timeout: 120                     # seconds per request
#~     max_retries: 3                   # on rate limits and server errors
#~   openai:
#~     base_url: https://llm-gateway.example.com/v1   # a proxy or gateway, optional
#~   ollama:                            # known by name, like lmstudio, vllm, llama-cpp,
#~     base_url: http://localhost:11434/v1  # groq, openrouter, mistral, deepseek, gemini
#~   local:                             # any other OpenAI-compatible server. No key needed.
#~     type: openai
#~     base_url: http://localhost:8000/v1

# --- Default model --------------------------------------------------------------
# "provider/model", used by every agent that does not name its own model.
__DEFAULT_MODEL__

# --- Agents ---------------------------------------------------------------------
# A list (or a mapping name -> settings). The first agent is the default one
# unless `default_agent` says otherwise. An entry may also be the path of an
# agent file in the original muxi format (name, description, system_message,
# model: {provider, model}, mcp_servers, knowledge), e.g. `- agents/weather.yaml`;
# with no `agents:` key at all, every agents/*.yaml next to this file is loaded.
agents:
  - name: assistant
    # The router reads descriptions to pick an agent for each message.
    description: A general helper for everyday questions.
    system_message: |
      You are a helpful assistant. Answer clearly and concisely.
    #~ model: openai/gpt-4o-mini        # or {provider: openai, model: gpt-4o-mini, temperature: 0.2}
    #~ temperature: 0.7
    #~ max_tokens: 4096
    #~ max_tool_rounds: 10              # tool calls per turn before the agent must answer
    tools:
      - calculator                     # built-ins: calculator, datetime, read_file,
      - datetime                       # list_dir, fetch_url
      #~ - read_file                    # reads files under `files.roots` only
      #~ - {builtin: fetch_url, approval: ask}
      #~ - {python: "my_package.tools:lookup_order"}   # your own function (type hints
      #                                               # and docstring describe it)
    #~ mcp_servers: [time]              # names declared under mcp_servers below
    #~ delegates: [researcher]          # other agents this one may hand work to
    #~ memory:
    #~   enabled: true                  # keep conversation history
    #~   buffer_tokens: 8000            # recent history sent with each message
    #~   long_term: true                # remember facts about the user across sessions
    #~   extract_every: 6               # messages between memory extractions
    #~   recall_limit: 5                # memories recalled per message
    #~ knowledge:                       # files and folders the agent can search
    #~   - path: docs/
    #~     description: Project documentation

  #~ - name: researcher
  #~   description: Finds and summarises sources on the web.
  #~   system_message: You research carefully and cite your sources.
  #~   model: anthropic/claude-sonnet-4-5
  #~   tools: [fetch_url]

#~ default_agent: assistant

# --- MCP servers ----------------------------------------------------------------
# Tools from Model Context Protocol servers. A server has either `command`
# (muxi starts it and talks over stdio) or `url` (Streamable HTTP; a URL
# ending in /sse uses the older SSE transport).
#
#~ mcp_servers:
#~   time:
#~     command: uvx
#~     args: [mcp-server-time]
#~     env: {TZ: "${TZ:-UTC}"}          # extra environment variables for the server
#~     approval: allow                  # allow | ask | deny for every tool of this server
#~   tracker:
#~     url: https://tracker.example.com/mcp
#~     headers:
#~       Authorization: "Bearer ${TRACKER_TOKEN}"
#~     tools:                           # per-tool approval
#~       delete_issue: deny
#~     startup_timeout: 30
#~     call_timeout: 120

# --- Tool approval --------------------------------------------------------------
# ask: the chat app asks before running a tool; scripts treat ask as deny
# unless run with --yes. Built-in and Python tools are allowed by default.
#
#~ approval:
#~   default: ask                       # for MCP tools: ask | allow | deny
#~   tools:
#~     "time/*": allow                  # every tool of a server
#~     "tracker/create_issue": ask      # one tool

# --- Router ---------------------------------------------------------------------
# With several agents, a small model picks the agent for each message.
#
#~ router:
#~   model: openai/gpt-4o-mini          # default: the default model
#~   cache_ttl: 3600                    # seconds a routing decision is reused
#~   window: 6                          # recent messages the router reads

# --- Memory ---------------------------------------------------------------------
# Long-term memory and knowledge live in LanceDB, in muxi's data directory.
#
#~ memory:
#~   uri: s3://my-bucket/muxi           # any LanceDB URI instead of the local folder
#~   embedding: local                   # a small local model, no API calls
#~   ttl_days: 365                      # forget memories older than this
#~   max_per_user: 5000
#~   extraction_model: openai/gpt-4o-mini

# --- Files and web --------------------------------------------------------------
#~ files:
#~   roots: ["."]                       # where read_file and list_dir may look
#~ fetch:
#~   timeout: 15

# --- Pricing --------------------------------------------------------------------
# USD per million tokens, for the cost shown after each reply. Known models are
# built in; add your own or override them here.
#
#~ pricing:
#~   ollama/llama3.2: {input: 0, output: 0}
#~   openai/gpt-4o-mini: {input: 0.15, output: 0.6}
"""


def valid_model_ref(value: str) -> bool:
    """``provider/model`` with a non-empty provider and model."""
    return bool(_MODEL_REF.fullmatch(value))


def _render(model: str | None, name: str) -> str:
    if model:
        line = f"default_model: {_quote(model)}"
    else:
        line = (
            "#~ default_model: anthropic/claude-sonnet-4-5\n"
            "# (`muxi doctor` lists the providers muxi can use on this machine)"
        )
    return _TEMPLATE.replace("__NAME__", _quote(name)).replace("__DEFAULT_MODEL__", line)


def starter_yaml(model: str | None = None, name: str = "my-agents") -> str:
    """The starter formation; ``model`` (``provider/model``) fills in ``default_model``.

    Only a single ``assistant`` agent is active; every other section is shown
    commented out.
    """
    return _render(model, name).replace("#~ ", "# ")


def full_example(model: str | None = None, name: str = "my-agents") -> str:
    """The starter with every commented example switched on (used to check the
    examples stay valid)."""
    return _render(model, name).replace("#~ ", "")


def _quote(value: str) -> str:

    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/:-]*", value):
        return value
    return json.dumps(value)
