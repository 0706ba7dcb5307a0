"""What the container tests share: the Dockerfile read into instructions, and the
entrypoint run in a plain venv as the image runs it.

There is no container engine on the development machines or in CI, so the
image is never built here. Instead :class:`Container` runs docker/entrypoint.sh
with the environment the Dockerfile's ``ENV`` lines give the image, the image's
paths (``/data``, ``/run/secrets``, ``/workspace``) moved into a temp dir, and,
when the suite runs as root, as the image's unprivileged user (its uid and gid,
through ``setpriv``) with that temp dir owned by it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
EXTEND_EXAMPLE = ROOT / "docker" / "Dockerfile.extend-example"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
FORMATION = ROOT / "docker" / "muxi.yaml"
#: Where `npm ci --prefix docker/mcp` puts the filesystem MCP server (not committed).
NODE_BIN = ROOT / "docker" / "mcp" / "node_modules" / ".bin"
VENV_BIN = Path(sys.executable).parent


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int


def instructions(path: Path) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped;
    ``stage`` counts ``FROM``s (0 before the first one, for global ``ARG``s)."""
    out: list[Instruction] = []
    stage = 0
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        out.append(Instruction(keyword.upper(), args.strip(), stage))
    return out


def final_stage(path: Path) -> list[Instruction]:
    found = instructions(path)
    last = max(i.stage for i in found)
    return [i for i in found if i.stage == last]


def arg_defaults(path: Path) -> dict[str, str]:
    """``ARG NAME=default`` of every stage (the last one of a name wins)."""
    out: dict[str, str] = {}
    for ins in instructions(path):
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            out[name] = value
    return out


def image_env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The ``ENV`` the final stage gives the image (``KEY=value`` pairs)."""
    env: dict[str, str] = {}
    for ins in final_stage(path):
        if ins.keyword == "ENV":
            for pair in shlex.split(ins.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def image_uid_gid() -> tuple[int, int]:
    """The numeric ``USER uid:gid`` of the image, its ARG defaults filled in."""
    args = arg_defaults(DOCKERFILE)
    user = next(i.args for i in reversed(final_stage(DOCKERFILE)) if i.keyword == "USER")
    user = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], user)
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


@dataclass
class Container:
    """The image's entrypoint with its paths under one temp dir (see the module docstring)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="muxi-ctr-")))
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("data", "secrets", "workspace", "home"):
            (self.root / name).mkdir(mode=0o700, exist_ok=True)
        self.as_user = os.geteuid() == 0
        if self.as_user:
            uid, gid = image_uid_gid()
            self.root.chmod(0o755)
            for path in (self.root, *self.root.iterdir()):
                os.chown(path, uid, gid)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def secret(self, name: str, value: str) -> Path:
        """A mounted secret file, readable by the image's user only."""
        path = self.secrets / name
        path.write_text(value, encoding="utf-8")
        path.chmod(0o400)
        if self.as_user:
            uid, gid = image_uid_gid()
            os.chown(path, uid, gid)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = image_env()
        path = [str(VENV_BIN)] + ([str(NODE_BIN)] if NODE_BIN.is_dir() else [])
        env.update(
            PATH=os.pathsep.join([*path, "/usr/bin", "/bin"]),
            HOME=str(self.root / "home"),
            MUXI_HOME=str(self.data),
            MUXI_CONFIG=str(FORMATION),
            MUXI_SECRETS_DIR=str(self.secrets),
            MUXI_WORKSPACE=str(self.root / "workspace"),
            # Loopback only: tests never listen on other addresses.
            MUXI_SERVE_HOST="127.0.0.1",
            MUXI_SERVE_PORT=str(self.port),
            # The checkout's muxi, not the one the venv was installed from.
            PYTHONPATH=str(ROOT),
            MUXI_NO_OLLAMA_PROBE="1",
            MUXI_HOST="off",
            LANCEDB_LOG="error",
            NO_COLOR="1",
            COLUMNS="200",
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        prefix: list[str] = []
        if self.as_user:
            uid, gid = image_uid_gid()
            prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
            if _interpreter_hidden():
                # The dev venv's interpreter may sit under a 0700 /root (pyenv as
                # root): the user keeps the right to read and search files, no more.
                # Writes, and so the data folder checks, are still the user's own.
                cap = "+dac_read_search"
                prefix += [f"--inh-caps={cap}", f"--ambient-caps={cap}"]
        return [*prefix, "sh", str(ENTRYPOINT), *args]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The entrypoint to its end (for a command that is not ``serve``)."""
        return subprocess.run(
            self.command(*args),
            env=self.env(**env),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start the entrypoint (``serve`` unless ``args`` say otherwise), stderr to a file."""
        self.log_path = self.root / "entrypoint.log"
        with open(self.log_path, "wb") as log:
            return subprocess.Popen(
                self.command(*args),
                env=self.env(**env),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        """Until ``/health`` answers and the key panel is printed (bounded)."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the entrypoint exited with {proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200 and (
                    "listening on" in self.log()
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"not ready in {timeout} s:\n{self.log()}")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _interpreter_hidden() -> bool:
    """Whether some folder above the venv's real interpreter is closed to other users."""
    real = Path(sys.executable).resolve()
    return any(not p.stat().st_mode & 0o001 for p in real.parents)
