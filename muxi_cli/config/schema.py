"""The formation schema: agents, models, providers, MCP servers, memory.

Every model forbids unknown keys so a typo is reported (with the nearest valid
key) instead of being silently ignored.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, field_validator, model_validator

from muxi_cli.config.access import ServerAccess
from muxi_cli.protocol.mentions import AGENT_NAME
from muxi_cli.protocol.records import ApprovalPolicy
from muxi_cli.providers import table
from muxi_cli.providers.spec import Wire

Policy = ApprovalPolicy

BUILTIN_TOOLS = ("calculator", "datetime", "read_file", "list_dir", "fetch_url")
DEFAULT_AGENT_NAME = "assistant"
DEFAULT_SYSTEM_MESSAGE = "You are a helpful assistant. Answer clearly and concisely."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CapabilityOverrides(_Strict):
    """Single capabilities of a model server (``muxi_cli.providers.spec.Capabilities``);
    each one set here wins over the provider's table entry or ``preset``."""

    stream_tools: bool | None = None
    forced_tool_choice: bool | None = None
    explicit_auto: bool | None = None
    stream_usage: bool | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    probe_limits: bool | None = None
    streaming: bool | None = None
    tools: bool | None = None
    vision: bool | None = None
    documents: bool | None = None
    audio_in: bool | None = None
    audio_out: bool | None = None


class ModelCapabilities(_Strict):
    """What one model (or the models a glob matches) of a provider takes, over
    the provider table's rules: ``providers.ollama.models: {"my-llava*": {vision: true}}``."""

    vision: bool | None = None
    documents: bool | None = None
    audio_in: bool | None = None


#: What happens to an image sent to a model without vision: ``error`` refuses
#: it before any model call, naming models that have vision; ``ocr`` sends the
#: text read from the image instead, with a note saying so.
MediaFallback = Literal["error", "ocr"]


class MediaSettings(_Strict):
    """An agent's own ``media`` settings (over the formation's ``media``)."""

    fallback: MediaFallback = "error"


class ProviderConfig(_Strict):
    """Settings of one provider. ``type`` is the wire format, ``anthropic`` or
    ``openai`` (also for any OpenAI-compatible server); a provider in the table
    (:mod:`muxi_cli.providers`) needs neither ``type`` nor ``base_url``."""

    type: Wire | None = None
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    timeout: float = 120.0
    max_retries: int = 3
    headers: dict[str, str] = Field(default_factory=dict)
    #: What kind of server this is, an entry of the provider table: ``llama-cpp``,
    #: ``llama-cpp-python``, ``ollama``, ``vllm``, ``lmstudio``, ``openai-compatible``,
    #: ``groq``, ... (requests adapt to it; its base URL is the default).
    preset: str | None = None
    capabilities: CapabilityOverrides = Field(default_factory=CapabilityOverrides)
    #: Per model (a bare name or a glob such as ``llava*``): what it takes in media.
    models: dict[str, ModelCapabilities] = Field(default_factory=dict)
    #: Largest reply to ask for, for every agent using this provider (an agent's
    #: own ``max_tokens`` wins).
    max_tokens: int | None = Field(default=None, gt=0)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and table.lookup(value) is None:
            close = table.closest(value)
            guess = f" (did you mean {close!r}?)" if close else ""
            raise ValueError(
                f"unknown preset {value!r}{guess}; known presets: {', '.join(table.names())}"
            )
        return value


class Price(_Strict):
    """USD per million tokens."""

    input: float
    output: float


class ModelRef(_Strict):
    """``model: {provider, model}`` as in the original muxi agent format."""

    provider: str
    model: str
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.provider}/{self.model}"


class ToolPolicy(_Strict):
    default: Policy = "ask"
    tools: dict[str, Policy] = Field(default_factory=dict)


class MCPOAuthConfig(_Strict):
    """OAuth for a remote MCP server (see docs/tools.md, "OAuth for remote servers")."""

    enabled: bool = Field(
        default=True, description="answer a 401 with the OAuth flow (false: fixed headers only)"
    )
    client_id: str | None = Field(
        default=None,
        description="a client registered by hand, for servers without dynamic registration",
    )
    client_secret: str | None = None
    scope: str | None = Field(
        default=None, description="scopes to ask for (default: what the server names)"
    )
    redirect_port: int = Field(
        default=0, ge=0, le=65535, description="loopback port of the redirect (0: any free port)"
    )


class MCPServerConfig(_Strict):
    """An MCP server: ``command``+``args``+``env`` (stdio) or ``url``+``headers``."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    oauth: MCPOAuthConfig = Field(default_factory=MCPOAuthConfig)
    approval: Policy = "ask"
    tools: dict[str, Policy] = Field(default_factory=dict, description="per-tool approval")
    startup_timeout: float = 30.0
    call_timeout: float = 120.0
    enabled: bool = True

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError("an MCP server needs exactly one of 'command' (stdio) or 'url' (HTTP)")
        return self

    @property
    def transport(self) -> Literal["stdio", "http", "sse"]:
        if self.command:
            return "stdio"
        assert self.url is not None
        return "sse" if self.url.rstrip("/").endswith("/sse") else "http"


class ToolEntry(_Strict):
    """One entry of an agent's ``tools:`` list."""

    python: str | None = None
    builtin: str | None = None
    approval: Policy | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ToolEntry:
        if bool(self.python) == bool(self.builtin):
            raise ValueError("a tool entry needs exactly one of 'python' or 'builtin'")
        if self.python and ":" not in self.python:
            raise ValueError("python tools are written 'package.module:function'")
        if self.builtin and self.builtin not in BUILTIN_TOOLS:
            close = difflib.get_close_matches(self.builtin, BUILTIN_TOOLS, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown built-in tool {self.builtin!r}{guess}; known: {', '.join(BUILTIN_TOOLS)}"
            )
        return self


class KnowledgeEntry(_Strict):
    path: str
    description: str = ""


class AgentMemory(_Strict):
    enabled: bool = True
    buffer_tokens: int = 8000
    long_term: bool = True
    extract_every: int = 6
    recall_limit: int = 5
    #: Offer the ``memory_search`` tool: ``auto`` when the model can call tools and
    #: the user has memories stored, ``on`` whenever long-term memory is on, ``off`` never.
    search_tool: Literal["auto", "on", "off"] = "auto"

    @field_validator("search_tool", mode="before")
    @classmethod
    def _yaml_switch(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `on`/`off` as a boolean.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value


class AgentConfig(_Strict):
    name: str
    description: str = ""
    system_message: str = DEFAULT_SYSTEM_MESSAGE
    model: str | ModelRef | None = None
    mcp_servers: list[str] = Field(default_factory=list)
    tools: list[ToolEntry] = Field(default_factory=list)
    delegates: list[str] = Field(default_factory=list)
    knowledge: list[KnowledgeEntry] = Field(default_factory=list)
    memory: AgentMemory = Field(default_factory=AgentMemory)
    max_tool_rounds: int = 10
    temperature: float | None = None
    max_tokens: int | None = None
    #: Overrides the formation's ``media`` settings for this agent.
    media: MediaSettings | None = None

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_shorthand(cls, value: Any) -> Any:
        # `tools: [calculator, {python: "m:f"}]` - bare strings are built-ins.
        if isinstance(value, list):
            return [{"builtin": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:

        if not re.fullmatch(AGENT_NAME, value):
            raise ValueError(
                "agent names start with a letter and use letters, digits, '-' and '_' (max 64)"
            )
        return value

    @property
    def model_ref(self) -> str | None:
        if isinstance(self.model, ModelRef):
            return self.model.ref
        return self.model


class RouterConfig(_Strict):
    model: str | None = None
    cache_ttl: float = 3600.0
    cache_size: int = 1024
    window: int = 6
    timeout: float = 20.0


#: ``memory.embedding`` values served in-process (no provider): see memory/embeddings.py.
BUILTIN_EMBEDDINGS = frozenset(
    {"local", "local/all-MiniLM-L6-v2-int8", "local/minilm", "hash", "hash/384"}
)


class MemoryConfig(_Strict):
    #: A folder, or ``s3://BUCKET/PREFIX?endpoint=URL&region=REGION[&commit_table=T]``
    #: (stores/lance_uri.py; credentials from the AWS_* environment); unset: the data dir.
    uri: str | None = None
    embedding: str = "local"
    ttl_days: float | None = None
    max_per_user: int = 5000
    extraction_model: str | None = None
    summary_model: str | None = None
    #: Extraction also writes 2-3 short questions each fact answers, embedded for
    #: search (docs/memory.md): ``auto`` is on unless the extraction model runs on a
    #: local server (where the extra answer tokens cost time on this machine).
    questions: Literal["auto", "on", "off"] = "auto"
    #: A new extracted fact that is related to a current one of the same subject
    #: (but not the same) is checked with one short model call: does it replace it?
    supersede_check: bool = True
    #: Seconds a closing process (a one-shot `muxi chat`) waits for memory
    #: extraction after the reply; unfinished extraction runs after a later turn.
    exit_wait: float = Field(default=2.0, ge=0)


class FileToolsConfig(_Strict):
    roots: list[str] = Field(default_factory=lambda: ["."])
    max_bytes: int = 1_000_000
    #: ``read_file``/``list_dir`` in turns that ``muxi serve`` runs for a user
    #: key: ``off`` (refused), ``per_user`` (each root's ``users/<user id>``
    #: folder) or ``shared`` (the same roots as the owner).
    user_keys: Literal["off", "per_user", "shared"] = "off"


class AudioConfig(_Strict):
    """Speech in and out (docs/media.md): models of an OpenAI-compatible audio API."""

    #: ``provider/model`` for speech to text (``/v1/audio/transcriptions``); unset: none.
    transcribe: str | None = None
    #: ``provider/model`` for text to speech (``/v1/audio/speech``); unset: espeak-ng.
    speech: str | None = None
    #: The speech model's voice (``alloy`` when unset).
    voice: str | None = None
    #: Language of the speech to transcribe (ISO 639-1, e.g. ``en``); unset: detected.
    language: str | None = None


class VideoConfig(_Strict):
    """How a video attachment becomes images: frames per second sampled when the
    video has too few scene changes, and the most frames sent."""

    fps: float = Field(default=0.5, gt=0, le=10)
    max_frames: int = Field(default=8, ge=1, le=64)


class FetchConfig(_Strict):
    timeout: float = 15.0
    max_bytes: int = 2_000_000
    #: Let ``fetch_url`` reach loopback, private and link-local addresses (off:
    #: a prompt-injected agent must not probe the machine or its network).
    allow_private: bool = False


class MediaConfig(_Strict):
    """Where attached files are kept and how much (docs/media.md, "The media store")."""

    #: ``s3://BUCKET/PREFIX?endpoint=URL&region=REGION`` keeps the bytes in
    #: object storage (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY);
    #: unset: files under the data folder. ``MUXI_MEDIA_URL`` wins over it.
    url: str | None = None
    #: The largest file accepted: bytes, or a size such as ``20MiB`` or ``50MB``.
    max_file_size: ByteSize = Field(default=ByteSize(20 * 1024 * 1024), gt=0)
    #: What one user may store in all (each file counted once); unset: no limit.
    quota: ByteSize | None = Field(default=None, gt=0)
    #: Images for a model without vision: ``error`` or ``ocr`` (see MediaFallback).
    fallback: MediaFallback = "error"

    @field_validator("url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(
            r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|\?|$)", value
        ):
            raise ValueError(
                "media.url must look like s3://BUCKET/PREFIX?endpoint=URL&region=REGION"
            )
        return value


class HostConfig(_Strict):
    """The warm local host (docs/host.md). Commands read these two keys with a
    plain YAML read before anything is loaded; the host validates them here."""

    #: False: commands of this formation always run in their own process.
    enabled: bool = True
    #: Seconds without a request and without a running turn before the host exits
    #: (``MUXI_HOST_IDLE`` wins over it).
    idle_timeout: float = Field(default=600.0, gt=0)


class TelemetryConfig(_Strict):
    """OpenTelemetry traces and GenAI metrics over OTLP/HTTP (docs/telemetry.md); off
    unless an endpoint is set here or in ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    #: The collector's base URL (``/v1/traces`` and ``/v1/metrics`` are added).
    otlp_endpoint: str | None = None
    #: ``service.name`` of the resource (``OTEL_SERVICE_NAME`` wins over the default).
    service_name: str | None = None
    #: Put message, tool argument and tool result text in spans (off: names and numbers only).
    capture_content: bool = False


class Formation(_Strict):
    """A whole ``muxi.yaml``."""

    version: int = 1
    name: str = "muxi"
    default_agent: str | None = None
    default_model: str | None = None
    agents: list[AgentConfig] = Field(default_factory=list)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    pricing: dict[str, Price] = Field(default_factory=dict)
    mcp_servers: dict[str, MCPServerConfig] = Field(default_factory=dict)
    approval: ToolPolicy = Field(default_factory=ToolPolicy)
    router: RouterConfig = Field(default_factory=RouterConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    files: FileToolsConfig = Field(default_factory=FileToolsConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    media: MediaConfig = Field(default_factory=MediaConfig)
    #: Who may do what on `muxi serve` (scopes, presets, JWT): docs/security.md.
    server: ServerAccess = Field(default_factory=ServerAccess)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    host: HostConfig = Field(default_factory=HostConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    tool_result_limit: int = 16_000
    turn_timeout: float = 600.0

    @field_validator("agents", mode="before")
    @classmethod
    def _agents_mapping(cls, value: Any) -> Any:
        # `agents: {name: {...}}` is accepted as well as a list.
        if isinstance(value, dict):
            return [{"name": k, **(v or {})} for k, v in value.items()]
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Formation:
        if not self.agents:
            self.agents = [AgentConfig(name=DEFAULT_AGENT_NAME)]
        names = [a.name for a in self.agents]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"agent names must be unique; repeated: {', '.join(dupes)}")
        if self.default_agent is None:
            self.default_agent = self.agents[0].name
        elif self.default_agent not in names:
            raise ValueError(
                f"default_agent {self.default_agent!r} is not an agent; agents: {', '.join(names)}"
            )
        for agent in self.agents:
            for server in agent.mcp_servers:
                if server not in self.mcp_servers:
                    raise ValueError(
                        f"agent {agent.name!r} uses MCP server {server!r}, which is not declared "
                        f"under mcp_servers"
                    )
            for delegate in agent.delegates:
                if delegate not in names or delegate == agent.name:
                    raise ValueError(
                        f"agent {agent.name!r} delegates to {delegate!r}, which is not another agent"
                    )
        missing = self.server.unknown_sets(self.server.user_scopes or [])
        if missing:
            raise ValueError(f"server.user_scopes uses {missing[0]}, which is not in scope_sets")
        self._check_embedding()
        return self

    def _check_embedding(self) -> None:
        """A ``memory.embedding`` no provider can serve fails at load, not at first recall."""
        value = (self.memory.embedding or "local").strip()
        if value in BUILTIN_EMBEDDINGS:
            return
        provider, _, model = value.partition("/")
        if provider and model and provider in self.embedding_providers():
            return
        raise ValueError(
            f"memory.embedding {value!r} is not 'local' or '<provider>/<model>' with a provider "
            f"that serves /v1/embeddings: {', '.join(self.embedding_providers())}"
        )

    def embedding_providers(self) -> list[str]:
        """Every provider ``memory.embedding`` may name: the table's and this
        formation's entries that speak the openai wire (``/v1/embeddings``)."""
        names = [s.name for s in table.specs() if s.wire == "openai"]
        for name, config in self.providers.items():
            spec = table.get(name) or (table.lookup(config.preset) if config.preset else None)
            wire = config.type or (spec.wire if spec is not None else "openai")
            if wire == "openai" and name not in names:
                names.append(name)
            elif wire != "openai" and name in names:
                names.remove(name)
        return names

    def agent(self, name: str) -> AgentConfig | None:
        for agent in self.agents:
            if agent.name == name:
                return agent
        return None

    @property
    def default(self) -> AgentConfig:
        agent = self.agent(self.default_agent or "")
        assert agent is not None
        return agent
