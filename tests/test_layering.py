"""Layering and import-time rules (docs/architecture.md, section 1), checked in fresh processes.

- Headless modules (core, llm, tools, memory, stores, runtime, server, config)
  never pull in ``textual``, ``muxi_cli.tui`` or ``muxi_cli.cli``; ``core``
  does not import ``rich`` or ``typer`` either.
- ``muxi_cli.cli.app`` (what ``muxi --help`` imports) stays free of heavy
  libraries, so the command answers fast.
- Nothing happens at import time: importing every ``muxi_cli`` module creates
  no file under ``MUXI_HOME`` (nor in the working directory).

Each check runs ``sys.executable -c ...`` so the pytest process's own imports
cannot hide or cause a violation. A failure names the module and, for
unwanted imports, the chain of modules that pulled the offender in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import muxi_cli

PKG_DIR = Path(muxi_cli.__file__).resolve().parent
ROOT = PKG_DIR.parent

#: Packages/modules that must run without any UI code.
HEADLESS = [
    "muxi_cli.core",
    "muxi_cli.core.agent",
    "muxi_cli.core.orchestrator",
    "muxi_cli.llm.registry",
    "muxi_cli.tools.host",
    "muxi_cli.memory.service",
    "muxi_cli.stores.sessions",
    "muxi_cli.runtime.local",
    "muxi_cli.runtime.remote",
    "muxi_cli.server",
    "muxi_cli.config.loader",
]
#: Importing any of these (or a submodule) from a headless module is a violation.
UI_MODULES = ("textual", "muxi_cli.tui", "muxi_cli.cli")
#: ``muxi_cli.cli.app`` must not import any of these (or a submodule).
HEAVY = (
    "anthropic",
    "openai",
    "mcp",
    "lancedb",
    "pyarrow",
    "textual",
    "fastapi",
    "uvicorn",
    "httpx",
    "numpy",
    "onnxruntime",
    "pydantic",
    "yaml",
)

# Runs in the child: import one module, print which forbidden top-level
# modules ended up in sys.modules, and who imported each first.
_PROBE = r"""
import json, sys
target, forbidden = sys.argv[1], tuple(json.loads(sys.argv[2]))
importer_of = {}

class Recorder:
    # Notes which module's code asked for each newly imported module.
    @staticmethod
    def find_spec(name, path=None, target=None):
        frame = sys._getframe(1)
        while frame is not None and (
            frame.f_code.co_filename.startswith("<frozen")
            or frame.f_globals.get("__name__") == "importlib"
        ):
            frame = frame.f_back
        if frame is not None:
            importer_of.setdefault(name, frame.f_globals.get("__name__", "?"))
        return None

sys.meta_path.insert(0, Recorder)
import importlib
for name in target.split(","):
    importlib.import_module(name)

def bad(name):
    return any(name == f or name.startswith(f + ".") for f in forbidden)

found = sorted(n for n in sys.modules if bad(n))
roots = sorted({n for n in found if not any(n.startswith(o + ".") for o in found)})
via = {}
for root in roots:
    chain, seen = [root], {root}
    while chain[-1] in importer_of and chain[-1] not in target.split(","):
        parent = importer_of[chain[-1]]
        if parent in seen:
            break
        seen.add(parent)
        chain.append(parent)
    via[root] = " <- ".join(chain)
print(json.dumps({"found": roots, "via": via}))
"""


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MUXI_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONSTARTUP", None)
    return env


def _probe(module: str, forbidden: tuple[str, ...], home: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module, json.dumps(list(forbidden))],
        capture_output=True,
        text=True,
        env=_env(home),
        cwd=home,
        timeout=120,
    )
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr[-3000:]}"
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _require(module: str) -> None:
    """Skip only when the module genuinely does not exist (yet)."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        pytest.skip(f"{module} does not exist yet")


def _server_modules() -> list[str]:
    server = PKG_DIR / "server"
    if not server.is_dir():
        return []
    return [f"muxi_cli.server.{m.name}" for m in pkgutil.iter_modules([str(server)])]


def _all_modules() -> list[str]:
    """Every module of the package, found on disk (no imports), without ``__main__``."""
    names: list[str] = ["muxi_cli"]

    def walk(path: Path, prefix: str) -> None:
        for info in pkgutil.iter_modules([str(path)]):
            name = f"{prefix}.{info.name}"
            if info.name == "__main__":
                continue
            names.append(name)
            if info.ispkg:
                walk(path / info.name, name)

    walk(PKG_DIR, "muxi_cli")
    return names


def _describe(result: dict[str, object]) -> str:
    via = result["via"]
    assert isinstance(via, dict)
    return "; ".join(f"{name} (import chain: {chain})" for name, chain in via.items())


@pytest.mark.parametrize("module", HEADLESS + _server_modules())
def test_headless_module_imports_no_ui(module: str, tmp_path: Path) -> None:
    _require(module)
    result = _probe(module, UI_MODULES, tmp_path)
    assert result["found"] == [], f"{module} imports UI code: {_describe(result)}"


def test_core_imports_no_rich_or_typer(tmp_path: Path) -> None:
    """The agent loop stays free of presentation libraries (docs/architecture.md, section 1)."""
    core = [m for m in _all_modules() if m == "muxi_cli.core" or m.startswith("muxi_cli.core.")]
    result = _probe(",".join(core), ("rich", "typer", *UI_MODULES), tmp_path)
    assert result["found"] == [], f"muxi_cli.core imports presentation code: {_describe(result)}"


def test_cli_app_imports_no_heavy_library(tmp_path: Path) -> None:
    """``muxi --help`` imports the command registry and every command module:
    none of them may import an SDK, LanceDB, Textual, the server stack or
    pydantic/yaml at module level."""
    result = _probe("muxi_cli.cli.app", HEAVY, tmp_path)
    assert result["found"] == [], (
        f"muxi_cli.cli.app pulls in heavy libraries at import time: {_describe(result)}"
    )


_IMPORT_ALL = r"""
import importlib, json, sys, traceback
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=3)
print(json.dumps(failed))
"""


def _created(*dirs: Path) -> list[str]:
    return sorted(str(p) for d in dirs for p in d.rglob("*"))


def test_nothing_happens_at_import_time(tmp_path: Path) -> None:
    """Importing every muxi_cli module creates no file or directory under
    MUXI_HOME (which all of muxi's paths derive from) nor in the cwd."""
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    modules = _all_modules()
    env = _env(home)
    env["XDG_DATA_HOME"] = str(home / "xdg-data")
    env["XDG_CONFIG_HOME"] = str(home / "xdg-config")
    env["XDG_CACHE_HOME"] = str(home / "xdg-cache")
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, json.dumps(modules)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failed, "modules that fail to import:\n" + "\n".join(
        f"{name}:\n{tb}" for name, tb in failed.items()
    )
    created = _created(home, cwd)
    if created:
        # Name the culprit(s): import each module alone in a fresh home.
        culprits = []
        for name in modules:
            one_home = tmp_path / f"one-{name}"
            one_cwd = tmp_path / f"cwd-{name}"
            one_home.mkdir()
            one_cwd.mkdir()
            one_env = dict(env, MUXI_HOME=str(one_home))
            for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
                one_env[var] = str(one_home / var.lower())
            subprocess.run(
                [sys.executable, "-c", _IMPORT_ALL, json.dumps([name])],
                capture_output=True,
                env=one_env,
                cwd=one_cwd,
                timeout=120,
            )
            if made := _created(one_home, one_cwd):
                culprits.append(f"{name}: {made}")
        pytest.fail(
            f"importing muxi_cli modules created {created}; per module: {culprits or 'unclear'}"
        )
