"""``muxi doctor``: check this machine's setup and say what to fix.

Exit 0 when every required check passes, 1 otherwise. Warnings (a provider
without a key while another one works, the file fallback for secrets) never
fail the run.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from muxi_cli import parts, paths, secrets
from muxi_cli.cli import output
from muxi_cli.cli.config_cmd import formation_source
from muxi_cli.cli.context import state
from muxi_cli.cli.output import Column, print_table
from muxi_cli.errors import MuxiError

if TYPE_CHECKING:
    from muxi_cli.config.loader import FormationSource
    from muxi_cli.config.providers import ProviderStatus
    from muxi_cli.config.schema import Formation

Status = Literal["ok", "warn", "fail", "skip", "info"]

MIN_PYTHON = (3, 11)


@dataclass(slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def check_python() -> Check:
    version = ".".join(str(p) for p in sys.version_info[:3])
    if sys.version_info[:2] >= MIN_PYTHON:
        return Check("python", "ok", f"Python {version} ({sys.executable})")
    return Check(
        "python",
        "fail",
        f"Python {version} is too old",
        f"Install Python {'.'.join(map(str, MIN_PYTHON))} or newer and reinstall muxi.",
    )


def check_config(source: FormationSource) -> tuple[Check, Formation | None]:
    from muxi_cli.config.loader import load_formation  # deferred: keeps start-up light

    try:
        loaded = load_formation(source.path)
    except MuxiError as exc:
        where = str(source.path) if source.path else "formation"
        return (
            Check("config", "fail", f"{where} is invalid: {exc.message}", exc.hint or ""),
            None,
        )
    formation = loaded.formation
    agents = ", ".join(a.name for a in formation.agents)
    if loaded.path is None:
        detail = f"no muxi.yaml: built-in formation (agent: {agents})"
        return Check(
            "config", "ok", detail, "Run `muxi init` to write one you can edit."
        ), formation
    detail = f"{loaded.path} ({source.reason}); agents: {agents}"
    if loaded.warnings:
        return (
            Check(
                "config",
                "warn",
                detail + f"; {len(loaded.warnings)} warning(s)",
                "Run `muxi config validate` to see them.",
            ),
            formation,
        )
    return Check("config", "ok", detail), formation


OLLAMA = "ollama"


def _local_check(status: ProviderStatus, used: bool, ollama_ok: bool | None) -> Check:
    """A local server: no key needed; is it set up, and does it answer?"""
    from muxi_cli.providers.local import probe  # deferred: keeps start-up light

    name = f"provider {status.name}"
    if status.name == OLLAMA and ollama_ok is False:
        return Check(
            name,
            "warn" if used else "info",
            f"local server {status.base_url} is not reachable",
            "Start it (`ollama serve`) or change providers.ollama.base_url.",
        )
    if not status.declared and not (status.name == OLLAMA and ollama_ok):
        # Not named by the formation (a running Ollama is found by itself).
        return Check(
            name,
            "info",
            f"local server, not used (default {status.base_url}); "
            f"use it with model {status.name}/<model>",
            status.hint,
        )
    if status.name != OLLAMA and status.base_url:
        # "No key needed" says nothing about whether anything listens there: ask it.
        found = probe(status.base_url)
        if not found.reachable:
            return Check(
                name,
                "warn" if used else "info",
                f"local server {found.detail}",
                f"Start the model server, or fix providers.{status.name}.base_url in muxi.yaml.",
            )
        return Check(name, "ok", f"local server {found.detail} (no key needed)")
    return Check(name, "ok", f"local server {status.base_url} (no key needed)")


def _provider_check(status: ProviderStatus, used: bool, ollama_ok: bool | None) -> Check:
    name = f"provider {status.name}"
    if status.kind is None:
        return Check(
            name,
            "warn",
            "unknown provider: not in muxi's provider table and not declared under `providers:`",
            f"Add providers.{status.name} with `type: openai` (or anthropic) and a base_url, "
            "or fix the provider part of the model name.",
        )
    if status.has_key:
        return Check(name, "ok", f"key {status.masked} from {status.source}")
    if status.local:
        return _local_check(status, used, ollama_ok)
    if not status.needs_key and status.base_url is None:
        # A preset for servers the table does not name: nothing to check until declared.
        return Check(
            name, "info", "a preset: use it with a base_url under `providers:`", status.hint
        )
    fix = f"Run `muxi keys set {status.name}` or export {status.env_var}."
    if used:
        return Check(name, "warn", "no API key, and the formation uses this provider", fix)
    return Check(name, "info", "no API key", fix)


def check_ollama() -> tuple[Check, bool | None]:
    from muxi_cli.providers.local import (  # deferred: keeps start-up light
        NO_OLLAMA_PROBE_ENV,
        probe_ollama,
    )

    found = probe_ollama()
    if found is None:
        return Check("ollama", "skip", f"probe disabled ({NO_OLLAMA_PROBE_ENV}=1)"), None
    if found.reachable:
        return Check("ollama", "ok", found.detail), True
    return (
        Check("ollama", "info", found.detail, "Optional: install Ollama for local models."),
        False,
    )


def check_providers(formation: Formation | None, ollama_ok: bool | None) -> list[Check]:
    from muxi_cli.config.providers import (  # deferred: loads pydantic
        all_provider_status,
        referenced_providers,
    )

    statuses = all_provider_status(formation)
    used = set(referenced_providers(formation)) if formation is not None else set()
    checks = [_provider_check(s, s.name in used, ollama_ok) for s in statuses]
    usable = any(
        s.kind is not None
        and (s.has_key or (s.usable and not (s.name == OLLAMA and ollama_ok is False)))
        for s in statuses
    )
    if usable or ollama_ok:
        return checks
    checks.append(
        Check(
            "providers",
            "fail",
            "no model provider is usable: no API key found and no local server",
            "Run `muxi keys set anthropic` (or openai, groq, ...: `muxi doctor` lists them), "
            "export ANTHROPIC_API_KEY, or start a local server (Ollama, LM Studio, ...) and "
            "use it as the model (ollama/<model>).",
        )
    )
    return checks


def check_keyring() -> Check:

    try:
        backend = secrets.backend_name()
    except Exception as exc:  # a broken backend is reported, not raised
        return Check("keyring", "warn", f"keyring error: {exc}", "Check your keyring setup.")
    if backend.startswith("file"):
        return Check(
            "keyring",
            "warn",
            f"no OS keyring: secrets are kept in a {backend}",
            "For the OS keyring run a Secret Service (GNOME Keyring, KWallet) or use "
            "macOS Keychain / Windows Credential Manager; or keep keys in environment variables.",
        )
    if "keyrings.alt" in backend or "Plaintext" in backend:
        return Check(
            "keyring",
            "warn",
            f"{backend} stores secrets unencrypted",
            "Use an OS keyring (unset PYTHON_KEYRING_BACKEND), or keep keys in environment variables.",
        )
    return Check("keyring", "ok", backend)


def _writable(path: Path) -> tuple[bool, str]:
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False, "no existing parent directory"
        probe = probe.parent
    if not probe.is_dir():
        return False, f"{probe} is not a directory"
    if os.access(probe, os.W_OK | os.X_OK):
        return True, "writable" if probe == path else f"not created yet; {probe} is writable"
    return False, f"{probe} is not writable"


def check_dirs() -> list[Check]:

    checks = []
    for label, path in (("config dir", paths.config_dir()), ("data dir", paths.data_dir())):
        ok, detail = _writable(path)
        if ok:
            checks.append(Check(label, "ok", f"{path} ({detail})"))
        else:
            checks.append(
                Check(
                    label,
                    "fail",
                    f"{path}: {detail}",
                    "Fix the permissions, or set MUXI_HOME to a writable directory.",
                )
            )
    return checks


def check_mcp_servers(formation: Formation | None) -> list[Check]:

    if formation is None:
        return []
    from muxi_cli.cli.doctor_parts import check_mcp_logins  # deferred: imports this module

    checks = check_mcp_logins(formation)
    for name, server in formation.mcp_servers.items():
        label = f"mcp {name}"
        if not server.enabled:
            checks.append(Check(label, "skip", "disabled"))
            continue
        if server.transport != "stdio":
            checks.append(
                Check(label, "info", f"{server.transport} server {server.url} (not probed)")
            )
            continue
        command = server.command or ""
        found = shutil.which(command)
        if found is None and server.cwd and os.sep in command:
            candidate = Path(server.cwd).expanduser() / command
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found = str(candidate)
        if found:
            checks.append(Check(label, "ok", f"{command} -> {found}"))
        else:
            checks.append(
                Check(
                    label,
                    "fail",
                    f"command {command!r} not found on PATH",
                    f"Install {command!r} or fix mcp_servers.{name}.command "
                    "(use an absolute path if it lives outside PATH).",
                )
            )
    return checks


def check_media(formation: Formation | None) -> list[Check]:
    """What attachments and speech rely on beyond Python packages: the OCR
    engine (OpenCV needs libGL), the bundled ffmpeg, espeak-ng or a speech
    model, a transcription model (docs/media.md). None of them fails the run:
    muxi works without them and says so when a file needs one."""
    audio = getattr(formation, "audio", None)
    checks: list[Check] = []
    try:
        import cv2  # noqa: F401  # deferred: OpenCV (the OCR engine's), only to see it loads
    except ImportError as exc:
        checks.append(
            Check(
                "ocr",
                "warn",
                f"the OCR engine cannot load: {exc}",
                "Install the OS package libgl1 (scripts/os-packages installs it).",
            )
        )
    else:
        checks.append(Check("ocr", "ok", "offline OCR (RapidOCR) for scans and images"))
    try:
        import imageio_ffmpeg  # deferred: only to find the bundled binary

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # a missing or broken wheel reports in many ways
        checks.append(
            Check("ffmpeg", "warn", f"no ffmpeg: {exc}", "Reinstall muxi (imageio-ffmpeg).")
        )
    else:
        checks.append(Check("ffmpeg", "ok", f"{exe} (audio and video)"))
    espeak = shutil.which("espeak-ng")
    model = getattr(audio, "speech", None)
    if model:
        checks.append(Check("speech", "ok", f"{model} (espeak-ng: {espeak or 'not found'})"))
    elif espeak:
        checks.append(Check("speech", "ok", f"offline with {espeak} (no audio.speech model)"))
    else:
        checks.append(
            Check(
                "speech",
                "info",
                "no speech model (audio.speech) and no espeak-ng: --speak and /speak fail",
                "Install espeak-ng, or set audio.speech in muxi.yaml.",
            )
        )
    transcribe = getattr(audio, "transcribe", None)
    checks.append(
        Check("transcription", "ok", f"{transcribe}")
        if transcribe
        else Check(
            "transcription",
            "info",
            "no audio.transcribe model: audio (and a video's sound) cannot be transcribed",
            "Set audio.transcribe in muxi.yaml (e.g. openai/whisper-1).",
        )
    )
    return checks


def check_profile(name: str) -> Check:
    """The connection profile commands use; a remote one is asked for health and auth."""
    import asyncio  # deferred: asyncio is slow to import

    from muxi_cli.cli.profile import _check  # deferred: loads muxi's cli, protocol, runtime
    from muxi_cli.runtime import profiles  # deferred: keeps start-up light

    if name == profiles.LOCAL:
        return Check("profile", "ok", "local (agents run in this process)")
    url = "?"
    try:
        profile = profiles.get_profile(name)
        url = profile.url
        key, _source = profiles.profile_key(name)
        me = asyncio.run(_check(profile.url, key))
    except MuxiError as exc:
        return Check("profile", "fail", f"{name} ({url}): {exc.message}", exc.hint or "")
    return Check(
        "profile",
        "ok",
        f"{name}: {url} is muxi {me.get('server_version')}; "
        f"{me.get('role')} key for user {me.get('user_id')}",
    )


def _remote_providers(checks: list[Check], profile: str) -> list[Check]:
    """With a remote profile the server runs the models: local keys are optional."""
    for check in checks:
        if check.name == "providers" and check.status == "fail":
            check.status = "info"
            check.detail += f" (not needed while profile {profile!r} runs the agents remotely)"
    return checks


def run_checks(source: FormationSource, profile: str | None = None) -> list[Check]:
    from muxi_cli.cli.doctor_parts import (  # deferred: imports this module
        check_parts,
        local_skipped,
    )
    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: keeps start-up light

    selected = selected_profile(profile)
    checks = [check_python(), *check_parts(selected == LOCAL), check_profile(selected)]
    if not parts.has("local"):
        # No formation schema without the local part: what needs it is skipped.
        checks += local_skipped()
        checks.append(check_keyring())
        checks += check_dirs()
        return checks
    config, formation = check_config(source)
    checks.append(config)
    ollama, ollama_ok = check_ollama()
    providers = check_providers(formation, ollama_ok)
    checks += providers if selected == LOCAL else _remote_providers(providers, selected)
    checks.append(ollama)
    checks.append(check_keyring())
    checks += check_dirs()
    checks += check_mcp_servers(formation)
    if parts.has("media"):
        checks += check_media(formation)
    return checks


_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim", "info": "cyan"}


def _print_table(checks: list[Check]) -> None:
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [Column("CHECK"), Column("STATUS"), Column("DETAIL", wrap=True)]
    rows = [
        [
            escape(check.name),
            f"[{_STYLE[check.status]}]{check.status}[/]",
            escape(check.detail),
            escape(check.fix) if check.status in ("warn", "fail") else "",
        ]
        for check in checks
    ]
    print_table([*columns, Column("FIX", wrap=True)], rows, title="muxi doctor")


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check Python, the installed parts, the formation, provider keys, Ollama, the keyring, dirs, MCP commands and media tools."""

    checks = run_checks(formation_source(ctx), state(ctx).profile)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        output.print_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
    else:
        _print_table(checks)
        if failed:
            output.err_console().print(
                f"[red]{len(failed)} problem(s) to fix[/red]: " + ", ".join(c.name for c in failed)
            )
        else:
            warned = sum(1 for c in checks if c.status == "warn")
            output.info(
                "all required checks passed" + (f" ({warned} warning(s))" if warned else "")
            )
    if failed:
        raise typer.Exit(1)
