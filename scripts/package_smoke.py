"""The smoke test of each installation option (part of scripts/package-check).

Everything runs on 127.0.0.1 against the suite's fake model (tests/fakellm.py,
started in this process): a ``muxi serve`` from the checkout (the dev venv,
``PYTHONPATH`` = the checkout) for the remote client, and the commands of each
venv as a user types them. Each child gets a home of its own, the keyring's
"fail" backend (so secrets go to muxi's 0600 file in that home, never to the
user's keyring), no warm host (``MUXI_HOST=off``: nothing is left running in
the background) and no ``PYTHONPATH`` (the venv must import its installed
copy, not the checkout). Servers are stopped in ``finally`` blocks; readiness
is waited for with a bound (tests/server/serveproc.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from package_rig import KEY_RE, REPLY, Rig, mkdir
from package_venvs import Venv, clean_python_env, tail

from tests.server.serveproc import ServeProcess
from tests.web.webproc import WebProcess

SCRIPTS = Path(__file__).resolve().parent
TRACEBACK = "Traceback (most recent call last)"


#: The parts ``muxi --version`` must list in each option's venv (muxi_cli/parts.py names).
PARTS_OF: dict[str, set[str]] = {
    "base": {"client"},
    "local": {"client", "local"},
    "memory": {"client", "local", "memory"},
    "server": {"client", "local", "server"},
    "postgres": {"client", "local", "server", "postgres"},
    "web": {"client", "web"},
    "media": {"client", "media"},
    "telemetry": {"client", "telemetry"},
    "all": {"client", "local", "memory", "server", "postgres", "web", "media", "telemetry"},
}


@dataclass
class Step:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Result:
    option: str
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def summary(self) -> str:
        failed = [s.name for s in self.steps if not s.ok]
        notes = [s.detail for s in self.steps if s.ok and s.detail]
        if failed:
            return "FAIL: " + ", ".join(failed)
        return "ok" + (f" ({'; '.join(notes)})" if notes else "")


class Smoke:
    """Runs one option's commands and records each check as a :class:`Step`."""

    def __init__(self, venv: Venv, rig: Rig, work: Path) -> None:
        self.venv = venv
        self.rig = rig
        # A fresh home every run (--reuse keeps venvs, never state: a server's first start).
        shutil.rmtree(work / f"home-{venv.option}", ignore_errors=True)
        self.home = mkdir(work / f"home-{venv.option}")
        self.cwd = mkdir(work / f"cwd-{venv.option}")
        self.result = Result(venv.option)
        self.log: list[str] = []
        self._last = time.monotonic()  # when the previous step ended (for its duration)

    def env(self) -> dict[str, str]:
        env = clean_python_env()
        for name in list(env):
            if name.startswith("MUXI_") or name.endswith("_API_KEY") or name == "CI":
                del env[name]
        env.update(
            MUXI_HOME=str(self.home),
            MUXI_HOST="off",
            MUXI_NO_OLLAMA_PROBE="1",
            XDG_DATA_HOME=str(self.home / "xdg-data"),
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
            LANCEDB_LOG="error",
            NO_COLOR="1",
            COLUMNS="200",
            PATH=f"{self.venv.bin}{os.pathsep}{env.get('PATH', '')}",
        )
        return env

    def step(self, name: str, ok: bool, detail: str = "", report: str = "") -> bool:
        """Record a check; a failed one also goes to the failure log (with ``report``)."""
        self.result.steps.append(Step(name, ok, detail))
        now = time.monotonic()
        note = f": {detail}" if detail else ""
        print(f"   {'ok  ' if ok else 'FAIL'} {name} ({now - self._last:.1f} s){note}", flush=True)
        self._last = now
        if not ok:
            self.log.append(f"[{self.venv.option}] {name}: {report or detail}")
        return ok

    def muxi(
        self,
        name: str,
        *args: str,
        rc: int | tuple[int, ...] = 0,
        want: tuple[str, ...] = (),
        stdin: str = "",
        check: Callable[[str], str | None] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str] | None:
        """``muxi ARGS`` from the venv: exit status in ``rc``, every ``want`` in its
        output, no traceback, and ``check(stdout)`` (an error text or ``None``)."""
        command = [str(self.venv.bin / "muxi"), *args]
        try:
            done = subprocess.run(
                command, input=stdin, capture_output=True, text=True, cwd=self.cwd,
                env=self.env(), timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            self.fail(name, command, f"timed out after {timeout} s", "")
            return None
        output = done.stdout + done.stderr
        codes = (rc,) if isinstance(rc, int) else rc
        problem = None
        if TRACEBACK in output:
            problem = "printed a traceback"
        elif done.returncode not in codes:
            problem = f"exit {done.returncode}, expected {' or '.join(map(str, codes))}"
        elif missing := [w for w in want if w not in output]:
            problem = f"output lacks {missing}"
        elif check is not None:
            problem = check(done.stdout)
        if problem:
            self.fail(name, command, problem, output)
            return None
        self.step(name, True)
        return done

    def fail(self, name: str, command: list[str], problem: str, output: str) -> None:
        shown = " ".join([Path(command[0]).name, *command[1:]])
        self.step(name, False, problem, f"`{shown}`: {problem}\n{tail(output)}")

    # -- shared checks ------------------------------------------------------------

    def version(self, version: str) -> None:
        """``muxi --version``: this version, and exactly the parts this option brings."""
        expected = PARTS_OF[self.venv.option]

        def parts_listed(stdout: str) -> str | None:
            found = re.search(r"\(parts: ([^)]*)\)", stdout)
            listed = {p.strip() for p in found.group(1).split(",")} if found else set()
            return None if listed == expected else f"parts {sorted(listed)} != {sorted(expected)}"

        self.muxi("--version", "--version", want=(f"muxi {version} ",), check=parts_listed)

    def doctor(self) -> None:
        # 1 is a finding about the machine (no provider key), not a broken install.
        self.muxi("doctor", "--config", str(self.rig.formation), "doctor", rc=(0, 1))

    def needs(self, name: str, extra: str, *args: str) -> None:
        """A command whose part is missing: exit 2 naming the extra, no traceback."""
        self.muxi(name, *args, rc=2, want=(f"pip install 'muxi-cli[{extra}]'",))

    def profile(self, name: str, url: str, key: str) -> bool:
        done = self.muxi("profile add", "profile", "add", name, "--url", url, stdin=key + "\n")
        return done is not None

    def remote_chat(self, profile: str) -> None:
        self.muxi("remote chat", "-P", profile, "chat", "hi", want=(REPLY,))

    def local_chat(self, formation: Path, *args: str) -> None:
        self.muxi("local chat", "--config", str(formation), "chat", *args, "hi", want=(REPLY,))

    def web_page(self, name: str, *global_args: str) -> None:
        """``muxi [ARGS] web --port 0`` from this venv: its one-time link opens the page
        (the link sets the session cookie, then ``/`` serves the app's page)."""
        import httpx  # deferred: the dev venv's, only for the web smoke

        web = WebProcess(self.home / "web", *global_args)
        web.command = [str(self.venv.bin / "muxi"), *global_args, "web", "--port", "0"]
        web.env = self.env()
        try:
            web.start(timeout=60)
            with httpx.Client(timeout=10) as client:
                page = client.get(web.link, follow_redirects=True)
            ok = page.status_code == 200 and "data-session-websocket-url" in page.text
            if ok:
                self.step(name, True)
            else:
                self.fail(name, web.command, f"the link answered {page.status_code}", web.log())
        except (AssertionError, httpx.HTTPError) as exc:
            self.fail(name, web.command, "no page", f"{exc}\n{web.log()}")
        finally:
            web.stop()

    def attach(self, name: str, *target: str) -> None:
        def image_seen(stdout: str) -> str | None:
            try:
                out = json.loads(stdout)
                kinds = [m.get("media_type") for m in out.get("media", [])]
            except (ValueError, AttributeError):
                return f"not JSON: {stdout[-300:]!r}"
            if out.get("reply") != REPLY or kinds != ["image/png"]:
                return f"reply {out.get('reply')!r}, media {kinds}"
            return None

        self.muxi(name, *target, "chat", "what is this?", "--attach", str(self.rig.picture),
                  "-o", "json", check=image_seen)  # fmt: skip

    def serve(self, name: str, then: Callable[[ServeProcess], None] | None = None) -> None:
        """``muxi serve`` from this venv: ready (``/health`` and its listening line), then ``then``."""
        server = ServeProcess(self.home / "server", self.rig.formation)
        server.command = [str(self.venv.bin / "muxi"), "serve"]
        server.env = self.env()
        server.env["MUXI_HOME"] = str(self.home / "server")
        try:
            server.start(timeout=90)
        except Exception as exc:
            server.stop()
            self.fail(name, server.command, "did not become ready", str(exc))
            return
        try:
            self.step(name, True)
            if then is not None:
                then(server)
        finally:
            server.stop()

    def chat_app(self, profile: str) -> None:
        """The chat app (Textual, headless) against ``profile``: type a message, see the reply."""
        command = [str(self.venv.python), str(SCRIPTS / "package_tui_smoke.py"),
                   "--profile", profile, "--message", "hi", "--expect", REPLY]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.cwd,
                              env=self.env(), timeout=120)  # fmt: skip
        if done.returncode == 0:
            self.step("chat app", True)
        else:
            self.fail("chat app", command, f"exit {done.returncode}", done.stdout + done.stderr)


# -- the options ----------------------------------------------------------------------


def smoke_base(s: Smoke, version: str) -> None:
    s.version(version)
    s.doctor()
    s.needs("serve says [server]", "server", "serve", "--port", "0")
    s.needs("local chat says [local]", "local", "--config", str(s.rig.formation), "chat", "hi")
    s.needs("web says [web]", "web", "web", "--port", "0")
    url, key = s.rig.reference_server()
    if s.profile("prod", url, key):
        s.remote_chat("prod")
        s.chat_app("prod")
        # Against a server, a remote client lacks nothing doctor requires: exit 0.
        s.muxi("doctor (profile)", "-P", "prod", "doctor", want=("part local", "not installed"))


def smoke_local(s: Smoke, version: str) -> None:
    s.version(version)
    s.local_chat(s.rig.formation)
    s.needs("memory list says [memory]", "memory", "--config", str(s.rig.formation),
            "memory", "list")  # fmt: skip
    s.needs("serve says [server]", "server", "--config", str(s.rig.formation),
            "serve", "--port", "0")  # fmt: skip


def smoke_memory(s: Smoke, version: str) -> None:
    s.version(version)
    config = ("--config", str(s.rig.memory_formation))
    s.local_chat(s.rig.memory_formation, "--user", "smoke")
    s.muxi("memory list", *config, "memory", "list", "--user", "smoke")
    s.muxi("memory add", *config, "memory", "add", "--user", "smoke", "likes green tea")
    s.muxi("memory search", *config, "memory", "search", "--user", "smoke", "tea",
           want=("green tea",))  # fmt: skip


def smoke_server(s: Smoke, version: str) -> None:
    s.version(version)

    def chat_through(server: ServeProcess) -> None:
        keys = KEY_RE.findall(server.log())
        found = s.step("server keys", len(keys) == 2, "" if len(keys) == 2 else f"{len(keys)} keys")
        if found and s.profile("own", server.url, keys[1]):
            s.remote_chat("own")

    s.serve("serve /health", chat_through)


def smoke_postgres(s: Smoke, version: str) -> None:
    s.version(version)  # the part is listed; the suite runs the stores on a real server


def smoke_web(s: Smoke, version: str) -> None:
    s.version(version)
    s.muxi("web --help", "web", "--help")
    url, key = s.rig.reference_server()
    if s.profile("prod", url, key):
        s.web_page("web page (profile)", "-P", "prod")


def smoke_media(s: Smoke, version: str) -> None:
    s.version(version)
    url, key = s.rig.reference_server()
    if s.profile("prod", url, key):
        s.attach("remote attachment", "-P", "prod")


def smoke_telemetry(s: Smoke, version: str) -> None:
    s.version(version)  # the part is listed; the exporter is tested by the suite


def smoke_all(s: Smoke, version: str) -> None:
    s.version(version)
    s.doctor()
    s.attach("local attachment", "--config", str(s.rig.formation))
    s.muxi("memory list", "--config", str(s.rig.memory_formation), "memory", "list")
    s.web_page("web page (local)", "--config", str(s.rig.formation))
    s.serve("serve /health")


SMOKES: dict[str, Callable[[Smoke, str], None]] = {
    "base": smoke_base,
    "local": smoke_local,
    "memory": smoke_memory,
    "server": smoke_server,
    "postgres": smoke_postgres,
    "web": smoke_web,
    "media": smoke_media,
    "telemetry": smoke_telemetry,
    "all": smoke_all,
}


def run(venv: Venv, rig: Rig, work: Path, version: str) -> tuple[Result, list[str]]:
    """The option's smoke test: its result and the failure reports (command, output tail)."""
    smoke = Smoke(venv, rig, work)
    started = time.monotonic()
    try:
        SMOKES[venv.option](smoke, version)
    except Exception as exc:  # a broken rig (reference server) still reports per option
        smoke.step(
            "smoke", False, f"{type(exc).__name__}", f"{type(exc).__name__}: {tail(str(exc))}"
        )
    smoke.result.seconds = time.monotonic() - started
    return smoke.result, smoke.log
